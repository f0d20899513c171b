"""Tracing: X-Amzn-Trace-Id accepted, generated and passed on, and with the
seed's `tracingEnabled` the stage's, authorizer's, integration's and Lambda
invocation's spans exported over OTLP/HTTP to a receiver this test runs
(which decodes the protobuf with OpenTelemetry's own generated classes).
"""

import io
import json
import signal
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from conftest import Server, make_client
from seed_api import http_proxy_seed
from test_data_plane import UPSTREAM_KEY, Upstream

CLIENT_ROOT = "1-5759e988-bd862e3fe1be46a994272793"
CLIENT_PARENT = "53995c3f42cd8ad8"


class Receiver(BaseHTTPRequestHandler):
    spans = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        assert self.path == "/v1/traces" and self.headers["Content-Type"] == "application/x-protobuf"
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            service = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    Receiver.spans.append({
                        "service": service.get("service.name"),
                        "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                        "parent": span.parent_span_id.hex(), "name": span.name, "kind": span.kind,
                        "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
                        "attributes": {kv.key: kv.value.string_value or kv.value.int_value
                                       for kv in span.attributes},
                        "status": span.status.code,
                    })
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def receiver():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory, receiver):
    srv = Server(tmp_path_factory.mktemp("tollgate-data"), args=["--otlp-endpoint", receiver]).start()
    yield srv
    srv.stop(signal.SIGTERM)


@pytest.fixture(scope="module")
def upstream():
    u = Upstream("--api-key", UPSTREAM_KEY)
    yield u
    u.stop()


@pytest.fixture(scope="module")
def seed(server, apigw, upstream):
    seed = http_proxy_seed(server, apigw, upstream)
    stage = apigw.get_stage(restApiId=seed["api_id"], stageName="prod")
    assert stage["tracingEnabled"] is True, "the guide's setup turns tracing on"
    return seed


def spans_of(trace_id, want, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        found = [s for s in Receiver.spans if s["trace_id"] == trace_id]
        if len(found) >= want or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def upstream_header(upstream, path):
    seen = [r for r in upstream.recorded() if r["path"] == path]
    assert seen, path
    headers = {k.lower(): v for k, v in seen[-1]["headers"].items()}
    return dict(p.split("=", 1) for p in headers["x-amzn-trace-id"].split(";"))


def test_a_clients_trace_continues_through_the_gateway(seed, upstream):
    header = f"Root={CLIENT_ROOT};Parent={CLIENT_PARENT};Sampled=1"
    r = requests.get(f"{seed['endpoint']}/api/v1/jobs", headers={"x-api-key": seed["key"],
                                                                 "X-Amzn-Trace-Id": header}, timeout=10)
    assert r.status_code == 200, r.text
    sent = upstream_header(upstream, "/api/v1/jobs")
    assert sent["Root"] == CLIENT_ROOT and sent["Sampled"] == "1"
    trace_id = CLIENT_ROOT[2:].replace("-", "")
    spans = spans_of(trace_id, 2)
    by_name = {s["name"]: s for s in spans}
    stage = by_name[f"{seed['api_id']}/prod"]
    integration = by_name["integration"]
    assert stage["service"] == "tollgate"
    assert stage["parent"] == CLIENT_PARENT, "the stage's span is a child of the client's"
    assert integration["parent"] == stage["span_id"]
    assert integration["span_id"] == sent["Parent"], "the upstream's parent is the exported integration span"
    assert stage["start"] <= integration["start"] <= integration["end"] <= stage["end"]
    assert stage["attributes"]["http.response.status_code"] == 200
    assert stage["attributes"]["http.route"] == "/api/{proxy+}"
    assert stage["attributes"]["aws.request_id"] == r.headers["x-amzn-RequestId"]


def test_a_trace_is_started_when_the_client_sends_none(seed, upstream):
    r = requests.get(f"{seed['endpoint']}/api/v1/health", headers={"x-api-key": seed["key"]}, timeout=10)
    assert r.status_code == 200
    sent = upstream_header(upstream, "/api/v1/health")
    assert sent["Root"].startswith("1-") and len(sent["Parent"]) == 16
    assert r.headers["X-Amzn-Trace-Id"].startswith(f"Root={sent['Root']}")
    spans = spans_of(sent["Root"][2:].replace("-", ""), 2)
    stage = next(s for s in spans if s["name"].endswith("/prod"))
    assert stage["parent"] == "", "a new trace's first span has no parent"


def test_sampled_0_exports_nothing(seed, upstream):
    root = "1-5759e988-00000000000000000000abcd"
    header = f"Root={root};Sampled=0"
    r = requests.get(f"{seed['endpoint']}/api/v1/jobs/unsampled", headers={"x-api-key": seed["key"],
                                                                           "X-Amzn-Trace-Id": header}, timeout=10)
    assert r.status_code == 404, "the upstream's answer for an unknown job"
    assert upstream_header(upstream, "/api/v1/jobs/unsampled") == {"Root": root, "Sampled": "0"}
    time.sleep(1.5)
    assert spans_of(root[2:].replace("-", ""), 1, timeout=0.5) == []


FUNCTION = '''
import json, os
def handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"trace": os.environ.get("_X_AMZN_TRACE_ID"),
                                                   "header": event["headers"].get("X-Amzn-Trace-Id")})}
'''


def test_the_lambda_invocation_joins_the_trace(server, apigw, seed):
    lam = make_client(server.endpoint, "lambda")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", FUNCTION)
    lam.create_function(FunctionName="traced", Runtime="python3.11", Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/lambda", Code={"ZipFile": buf.getvalue()})
    lam.get_waiter("function_active_v2").wait(FunctionName="traced")
    api = seed["api_id"]
    root_id = next(r["id"] for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/")
    resource = apigw.create_resource(restApiId=api, parentId=root_id, pathPart="traced")["id"]
    apigw.put_method(restApiId=api, resourceId=resource, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=resource, httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST",
                          uri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                              "arn:aws:lambda:us-east-1:000000000000:function:traced/invocations")
    apigw.create_deployment(restApiId=api, stageName="prod")
    header = f"Root={CLIENT_ROOT[:-4]}beef;Sampled=1"
    r = requests.get(f"{seed['endpoint']}/traced", headers={"X-Amzn-Trace-Id": header}, timeout=30)
    assert r.status_code == 200, r.text
    seen = json.loads(r.text)
    inside = dict(p.split("=", 1) for p in seen["trace"].split(";"))
    assert inside["Root"] == CLIENT_ROOT[:-4] + "beef"
    assert seen["header"] == seen["trace"], "the event's header and _X_AMZN_TRACE_ID agree"
    spans = spans_of((CLIENT_ROOT[:-4] + "beef")[2:].replace("-", ""), 3)
    by_name = {s["name"]: s for s in spans}
    assert by_name["integration"]["span_id"] == inside["Parent"]
    assert by_name["traced"]["parent"] == inside["Parent"], "the invocation is the integration's child"

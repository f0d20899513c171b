"""The data plane: deployed APIs invoked over HTTP, as a client of the seed's API would.

Drives `tollgate serve` and the reference MultiTalk upstream (`multitalk-upstream`,
a development stand-in that does not run the model) over loopback only.
"""

import json
import os
import re
import socket
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import TOLLGATE_BIN

# Beside the tollgate binary under test: the same target directory, whatever
# CARGO_TARGET_DIR says.
UPSTREAM_BIN = os.environ.get(
    "MULTITALK_UPSTREAM_BIN", os.path.join(os.path.dirname(TOLLGATE_BIN), "multitalk-upstream")
)
UPSTREAM_KEY = "upstream-secret-key-0123456789"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class Upstream:
    def __init__(self, *args):
        if not os.path.exists(UPSTREAM_BIN):
            pytest.fail(f"{UPSTREAM_BIN} not found: build it with `cargo build -p multitalk-upstream`")
        self.proc = subprocess.Popen(
            [UPSTREAM_BIN, "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (http://[\d.:]+)", line)
        assert m, f"multitalk-upstream did not start: {line!r}"
        self.url = m.group(1)
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def recorded(self):
        return requests.get(f"{self.url}/_upstream/requests", timeout=5).json()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def upstream():
    u = Upstream("--api-key", UPSTREAM_KEY, "--job-seconds", "1.0")
    yield u
    u.stop()


@pytest.fixture(scope="module")
def slow_upstream():
    u = Upstream("--delay-ms", "1500")
    yield u
    u.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def root_id(apigw, api_id):
    return next(r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")


def add_resource(apigw, api_id, parent, part):
    return apigw.create_resource(restApiId=api_id, parentId=parent, pathPart=part)["id"]


@pytest.fixture(scope="module")
def seed_api(apigw, upstream):
    """The seed's API with an HTTP_PROXY integration to the reference upstream,
    injecting the upstream's bearer key as the seed's Lambda proxy did."""
    api_id = apigw.create_rest_api(
        name="MeiGen-MultiTalk-API", endpointConfiguration={"types": ["REGIONAL"]}
    )["id"]
    api_res = add_resource(apigw, api_id, root_id(apigw, api_id), "api")
    proxy = add_resource(apigw, api_id, api_res, "{proxy+}")
    apigw.put_method(
        restApiId=api_id, resourceId=proxy, httpMethod="ANY", authorizationType="NONE",
        requestParameters={"method.request.path.proxy": True},
    )
    apigw.put_integration(
        restApiId=api_id, resourceId=proxy, httpMethod="ANY", type="HTTP_PROXY",
        integrationHttpMethod="ANY", uri=f"{upstream.url}/api/{{proxy}}",
        requestParameters={
            "integration.request.path.proxy": "method.request.path.proxy",
            "integration.request.header.Authorization": f"'Bearer {UPSTREAM_KEY}'",
        },
    )
    apigw.create_deployment(restApiId=api_id, stageName="prod", stageDescription="Production stage")
    return api_id


def url_forms(endpoint, api_id, stage="prod"):
    """The three invoke-URL forms: (base URL, extra headers)."""
    host = endpoint.split("//", 1)[1]
    return {
        "user_request": (f"{endpoint}/restapis/{api_id}/{stage}/_user_request_", {}),
        "aws_path": (f"{endpoint}/_aws/execute-api/{api_id}/{stage}", {}),
        "host": (f"{endpoint}/{stage}", {"Host": f"{api_id}.execute-api.localhost:{host.split(':')[1]}"}),
    }


@pytest.mark.parametrize("form", ["user_request", "aws_path", "host"])
def test_job_lifecycle_through_every_url_form(server, seed_api, upstream, form):
    base, extra = url_forms(server.endpoint, seed_api)[form]
    client_headers = {**extra, "Authorization": "Bearer client-own-token", "Content-Type": "application/json"}
    job = {"prompt": f"A person speaking ({form})", "image_s3_url": "s3://bucket/image.png",
           "audio_s3_urls": ["s3://bucket/audio.wav"]}
    r = requests.post(f"{base}/api/v1/generate", headers=client_headers, json=job, timeout=10)
    assert r.status_code == 200, r.text
    assert UUID_RE.match(r.headers["x-amzn-RequestId"])
    assert re.match(r"^[A-Za-z0-9]{15}=$", r.headers["x-amz-apigw-id"])
    assert r.headers["X-Amzn-Trace-Id"].startswith("Root=1-")
    job_id = r.json()["job_id"]
    assert r.json()["status"] == "pending"

    # The upstream saw the injected key, never the client's own Authorization.
    seen = [q for q in upstream.recorded() if q["path"].startswith("/api/v1/generate")
            and form in (q.get("body") or "")]
    assert seen, "the upstream did not receive the submission"
    auth = {k.lower(): v for k, v in seen[-1]["headers"].items()}["authorization"]
    assert auth == f"Bearer {UPSTREAM_KEY}"

    deadline = time.monotonic() + 10
    status = None
    while time.monotonic() < deadline:
        r = requests.get(f"{base}/api/v1/jobs/{job_id}", headers=extra, timeout=10)
        assert r.status_code == 200, r.text
        status = r.json()["status"]
        if status == "completed":
            break
        time.sleep(0.2)
    assert status == "completed"

    r = requests.get(f"{base}/api/v1/jobs", params={"limit": 50}, headers=extra, timeout=10)
    assert r.status_code == 200
    assert job_id in [j["job_id"] for j in r.json()["jobs"]]

    # A second job, cancelled while pending.
    r = requests.post(f"{base}/api/v1/generate", headers=client_headers, json=job, timeout=10)
    other = r.json()["job_id"]
    r = requests.delete(f"{base}/api/v1/jobs/{other}", headers=extra, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"job_id": other, "status": "cancelled", "message": "Job cancelled"}
    # Upstream errors pass through a proxy integration untouched.
    r = requests.delete(f"{base}/api/v1/jobs/{other}", headers=extra, timeout=10)
    assert r.status_code == 400


def assert_gateway_error(r, status, error_type, body):
    assert r.status_code == status, r.text
    assert r.headers["x-amzn-ErrorType"] == error_type
    assert r.headers["Content-Type"] == "application/json"
    assert UUID_RE.match(r.headers["x-amzn-RequestId"])
    assert r.content == body


def test_unknown_route_is_missing_authentication_token(server, seed_api):
    base, _ = url_forms(server.endpoint, seed_api)["aws_path"]
    for path in ("/nothing", "/", "/api"):
        r = requests.get(base + path, timeout=10)
        assert_gateway_error(r, 403, "MissingAuthenticationTokenException",
                             b'{"message":"Missing Authentication Token"}')


def test_unknown_stage_and_api_are_forbidden(server, seed_api):
    for base in (f"{server.endpoint}/_aws/execute-api/{seed_api}/nostage",
                 f"{server.endpoint}/_aws/execute-api/noapi12345/prod"):
        r = requests.get(base + "/api/v1/health", timeout=10)
        assert_gateway_error(r, 403, "ForbiddenException", b'{"message":"Forbidden"}')


def http_proxy_api(apigw, uri, timeout_ms=29000, stage="s"):
    api_id = apigw.create_rest_api(name=f"proxy-{uuid.uuid4().hex[:6]}")["id"]
    res = add_resource(apigw, api_id, root_id(apigw, api_id), "{proxy+}")
    apigw.put_method(restApiId=api_id, resourceId=res, httpMethod="ANY", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=res, httpMethod="ANY", type="HTTP_PROXY",
                          integrationHttpMethod="ANY", uri=uri, timeoutInMillis=timeout_ms)
    apigw.create_deployment(restApiId=api_id, stageName=stage)
    return api_id


def test_upstream_down_is_internal_server_error(server, apigw):
    api_id = http_proxy_api(apigw, f"http://127.0.0.1:{free_port()}/{{proxy}}")
    r = requests.get(f"{server.endpoint}/_aws/execute-api/{api_id}/s/x", timeout=20)
    assert_gateway_error(r, 500, "InternalServerErrorException", b'{"message": "Internal server error"}')


def test_slow_upstream_times_out_at_the_configured_timeout(server, apigw, slow_upstream):
    api_id = http_proxy_api(apigw, f"{slow_upstream.url}/api/{{proxy}}", timeout_ms=300)
    started = time.monotonic()
    r = requests.get(f"{server.endpoint}/_aws/execute-api/{api_id}/s/v1/health", timeout=20)
    elapsed = time.monotonic() - started
    assert_gateway_error(r, 504, "InternalServerErrorException", b'{"message": "Endpoint request timed out"}')
    assert 0.25 <= elapsed < 1.4, elapsed
    # Beyond AWS's 29 s ceiling a slow GPU API can be given minutes; 1.5 s is enough here.
    api_id = http_proxy_api(apigw, f"{slow_upstream.url}/api/{{proxy}}", timeout_ms=5000)
    r = requests.get(f"{server.endpoint}/_aws/execute-api/{api_id}/s/v1/health", timeout=20)
    assert r.status_code == 200 and r.json()["status"] == "healthy"


def test_oversize_body_is_rejected(server, seed_api):
    base, _ = url_forms(server.endpoint, seed_api)["aws_path"]
    r = requests.post(f"{base}/api/v1/generate", data=b"x" * (10 * 1024 * 1024 + 1), timeout=30)
    assert r.status_code == 413
    assert r.headers["x-amzn-ErrorType"] == "RequestTooLargeException"


def mock_api(apigw, name):
    api_id = apigw.create_rest_api(name=name)["id"]
    res = add_resource(apigw, api_id, root_id(apigw, api_id), "mock")
    apigw.put_method(restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(
        restApiId=api_id, resourceId=res, httpMethod="GET", type="MOCK",
        requestTemplates={"application/json":
                          "#if($input.params('fail') == 'yes'){\"statusCode\": 503}#else{\"statusCode\": 200}#end"},
    )
    for code in ("200", "503"):
        apigw.put_method_response(restApiId=api_id, resourceId=res, httpMethod="GET", statusCode=code,
                                  responseParameters={"method.response.header.X-Mock": False})
    apigw.put_integration_response(
        restApiId=api_id, resourceId=res, httpMethod="GET", statusCode="200",
        responseTemplates={"application/json": '{"ok": true, "stage": "$context.stage", "deployment": "$context.deploymentId"}'},
        responseParameters={"method.response.header.X-Mock": "'yes'"},
    )
    apigw.put_integration_response(
        restApiId=api_id, resourceId=res, httpMethod="GET", statusCode="503", selectionPattern="5\\d\\d",
        responseTemplates={"application/json": '{"ok": false}'},
    )
    return api_id, res


def test_mock_integration_selects_responses_by_pattern(server, apigw):
    api_id, _ = mock_api(apigw, "mock-selection")
    deployment = apigw.create_deployment(restApiId=api_id, stageName="dev")["id"]
    base = f"{server.endpoint}/_aws/execute-api/{api_id}/dev/mock"
    r = requests.get(base, timeout=10)
    assert r.status_code == 200
    assert r.json() == {"ok": True, "stage": "dev", "deployment": deployment}
    assert r.headers["X-Mock"] == "yes"
    assert r.headers["Content-Type"] == "application/json"
    r = requests.get(base, params={"fail": "yes"}, timeout=10)
    assert r.status_code == 503
    assert r.json() == {"ok": False}


def test_gateway_response_overrides(server, apigw):
    api_id, _ = mock_api(apigw, "gateway-responses")
    apigw.put_gateway_response(
        restApiId=api_id, responseType="MISSING_AUTHENTICATION_TOKEN", statusCode="404",
        responseParameters={"gatewayresponse.header.X-Tollgate": "'custom'"},
        responseTemplates={"application/json": '{"error":"no such route","request":"$context.requestId","msg":$context.error.messageString}'},
    )
    apigw.put_gateway_response(restApiId=api_id, responseType="DEFAULT_5XX", statusCode="599",
                               responseTemplates={"application/json": '{"oops":true}'})
    apigw.create_deployment(restApiId=api_id, stageName="dev")
    r = requests.get(f"{server.endpoint}/_aws/execute-api/{api_id}/dev/missing", timeout=10)
    assert r.status_code == 404
    assert r.headers["X-Tollgate"] == "custom"
    assert r.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert r.json() == {"error": "no such route", "request": r.headers["x-amzn-RequestId"],
                        "msg": "Missing Authentication Token"}
    # Deleting the override brings the default back after the next deployment.
    apigw.delete_gateway_response(restApiId=api_id, responseType="MISSING_AUTHENTICATION_TOKEN")
    apigw.create_deployment(restApiId=api_id, stageName="dev")
    r = requests.get(f"{server.endpoint}/_aws/execute-api/{api_id}/dev/missing", timeout=10)
    assert_gateway_error(r, 403, "MissingAuthenticationTokenException",
                         b'{"message":"Missing Authentication Token"}')


SEED_TEMPLATE = """#set($inputRoot = $input.path('$'))
{
  "prompt": "$inputRoot.prompt",
  "image_s3_url": "$inputRoot.image_url",
  "audio_s3_urls": ["$inputRoot.audio_url"],
  "options": {
    "sample_steps": #if($inputRoot.steps) $inputRoot.steps #else 20 #end
  }
}"""


def test_http_integration_maps_requests_with_the_seed_template(server, apigw, upstream):
    api_id = apigw.create_rest_api(name="mapped")["id"]
    res = add_resource(apigw, api_id, root_id(apigw, api_id), "generate")
    apigw.put_method(restApiId=api_id, resourceId=res, httpMethod="POST", authorizationType="NONE")
    apigw.put_integration(
        restApiId=api_id, resourceId=res, httpMethod="POST", type="HTTP", integrationHttpMethod="POST",
        uri=f"{upstream.url}/api/v1/generate", passthroughBehavior="NEVER",
        requestTemplates={"application/json": SEED_TEMPLATE},
        requestParameters={"integration.request.header.Authorization": f"'Bearer {UPSTREAM_KEY}'"},
    )
    for code in ("200", "400"):
        apigw.put_method_response(restApiId=api_id, resourceId=res, httpMethod="POST", statusCode=code)
    apigw.put_integration_response(restApiId=api_id, resourceId=res, httpMethod="POST", statusCode="200")
    apigw.put_integration_response(
        restApiId=api_id, resourceId=res, httpMethod="POST", statusCode="400", selectionPattern="4\\d\\d",
        responseTemplates={"application/json": '{"rejected": true}'},
    )
    apigw.create_deployment(restApiId=api_id, stageName="v1")
    url = f"{server.endpoint}/_aws/execute-api/{api_id}/v1/generate"
    marker = uuid.uuid4().hex
    r = requests.post(url, json={"prompt": marker, "image_url": "s3://b/i.png", "audio_url": "s3://b/a.wav"},
                      timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    sent = [q for q in upstream.recorded() if marker in (q.get("body") or "")][-1]
    assert json.loads(sent["body"]) == {"prompt": marker, "image_s3_url": "s3://b/i.png",
                                        "audio_s3_urls": ["s3://b/a.wav"], "options": {"sample_steps": 20}}
    # The upstream's 422 is selected by the 4xx pattern and mapped to the method's 400.
    r = requests.post(url, json={"prompt": "x", "image_url": "not-s3", "audio_url": "s3://b/a.wav"}, timeout=10)
    assert r.status_code == 400 and r.json() == {"rejected": True}
    # NEVER passthrough: an unmapped content type is refused before the upstream.
    r = requests.post(url, data="a=b", headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert_gateway_error(r, 415, "UnsupportedMediaTypeException", b'{"message":"Unsupported Media Type"}')


def test_redeploying_under_load_switches_atomically(server, apigw):
    api_id, res = mock_api(apigw, "redeploy")
    deployments = {apigw.create_deployment(restApiId=api_id, stageName="live")["id"]: 0}
    url = f"{server.endpoint}/_aws/execute-api/{api_id}/live/mock"
    stop = threading.Event()
    results = []

    def hammer():
        session = requests.Session()
        while not stop.is_set():
            r = session.get(url, timeout=10)
            results.append((r.status_code, r.text))

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(hammer) for _ in range(4)]
        for version in range(1, 6):
            apigw.update_integration_response(
                restApiId=api_id, resourceId=res, httpMethod="GET", statusCode="200",
                patchOperations=[{"op": "replace", "path": "/responseTemplates/application~1json",
                                  "value": '{"version": %d, "deployment": "$context.deploymentId"}' % version}],
            )
            deployments[apigw.create_deployment(restApiId=api_id, stageName="live")["id"]] = version
            time.sleep(0.15)
        stop.set()
        for f in futures:
            f.result()
    assert len(results) > 50
    assert all(status == 200 for status, _ in results), {s for s, _ in results}
    for _, text in results:
        body = json.loads(text)
        if "version" in body:
            # the template and the deployment id come from the same deployment
            assert deployments[body["deployment"]] == body["version"]
    assert json.loads(requests.get(url, timeout=10).text)["version"] == 5


def test_test_invoke_method(server, apigw):
    api_id, res = mock_api(apigw, "test-invoke")
    out = apigw.test_invoke_method(restApiId=api_id, resourceId=res, httpMethod="GET",
                                   pathWithQueryString="/mock?fail=yes")
    assert out["status"] == 503
    assert json.loads(out["body"]) == {"ok": False}
    assert "Method completed with status: 503" in out["log"]
    assert isinstance(out["latency"], int)
    out = apigw.test_invoke_method(restApiId=api_id, resourceId=res, httpMethod="GET")
    # HTTP header names are case-insensitive; Tollgate reports them lower-cased.
    headers = {k.lower(): v for k, v in out["headers"].items()}
    assert out["status"] == 200 and headers["x-mock"] == "yes"


def test_https_upstream_with_a_private_ca(tmp_path):
    """An https:// integration, verified against a CA given with --upstream-ca-file."""
    import ssl
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from conftest import Server, make_client

    # A private CA and a server certificate it signed (webpki refuses a CA as a server certificate).
    ca, ca_key = tmp_path / "ca.pem", tmp_path / "ca-key.pem"
    cert, key, csr = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "req.csr"
    ext = tmp_path / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    for argv in (
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Tollgate test CA",
         "-keyout", str(ca_key), "-out", str(ca)],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(key),
         "-out", str(csr)],
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
         "-days", "1", "-extfile", str(ext), "-out", str(cert)],
    ):
        subprocess.run(argv, check=True, capture_output=True)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"secure": True, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]
    trusted = Server(tmp_path / "trusted", args=["--upstream-ca-file", str(ca)])
    (tmp_path / "trusted").mkdir()
    trusted.start()
    try:
        apigw = make_client(trusted.endpoint)
        api_id = http_proxy_api(apigw, f"https://127.0.0.1:{port}/{{proxy}}")
        r = requests.get(f"{trusted.endpoint}/_aws/execute-api/{api_id}/s/hello", timeout=20)
        assert r.status_code == 200, r.text
        assert r.json() == {"secure": True, "path": "/hello"}
    finally:
        trusted.stop()
    # Without the CA the certificate is not trusted: the integration fails, nothing leaks.
    untrusted = Server(tmp_path / "untrusted")
    (tmp_path / "untrusted").mkdir()
    untrusted.start()
    try:
        apigw = make_client(untrusted.endpoint)
        api_id = http_proxy_api(apigw, f"https://127.0.0.1:{port}/{{proxy}}")
        r = requests.get(f"{untrusted.endpoint}/_aws/execute-api/{api_id}/s/hello", timeout=20)
        assert_gateway_error(r, 500, "InternalServerErrorException", b'{"message": "Internal server error"}')
    finally:
        untrusted.stop()
        httpd.shutdown()


def test_request_head_limit(server, seed_api):
    base, _ = url_forms(server.endpoint, seed_api)["aws_path"]
    ok = requests.get(f"{base}/api/v1/health", headers={"X-Pad": "a" * 8000}, timeout=10)
    assert ok.status_code == 200
    too_big = requests.get(f"{base}/api/v1/health", headers={"X-Pad": "a" * 12000}, timeout=10)
    assert too_big.status_code == 431


def test_client_chosen_request_id(server, seed_api):
    base, _ = url_forms(server.endpoint, seed_api)["aws_path"]
    chosen = str(uuid.uuid4())
    r = requests.get(f"{base}/api/v1/health", headers={"x-amzn-RequestId": chosen}, timeout=10)
    assert r.headers["x-amzn-RequestId"] == chosen
    r = requests.get(f"{base}/api/v1/health", headers={"x-amzn-RequestId": "not-a-uuid"}, timeout=10)
    assert UUID_RE.match(r.headers["x-amzn-RequestId"])


def test_binary_content_handling(server, apigw):
    """contentHandling converts between base64 text and binary payloads."""
    api_id = apigw.create_rest_api(name="binary", binaryMediaTypes=["image/png"])["id"]
    res = add_resource(apigw, api_id, root_id(apigw, api_id), "logo")
    apigw.put_method(restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=res, httpMethod="GET", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    apigw.put_method_response(restApiId=api_id, resourceId=res, httpMethod="GET", statusCode="200")
    png = b"\x89PNG\r\n\x1a\n\x00\x01binary"
    import base64
    apigw.put_integration_response(
        restApiId=api_id, resourceId=res, httpMethod="GET", statusCode="200",
        responseTemplates={"image/png": base64.b64encode(png).decode()}, contentHandling="CONVERT_TO_BINARY",
    )
    apigw.create_deployment(restApiId=api_id, stageName="v1")
    r = requests.get(f"{server.endpoint}/_aws/execute-api/{api_id}/v1/logo", headers={"Accept": "image/png"}, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "image/png"
    assert r.content == png


def test_h2c_clients_are_served(server, seed_api):
    """HTTP/2 without TLS (prior knowledge) is served beside HTTP/1.1. (curl 7.88
    cannot reuse a prior-knowledge connection for a second URL, so one per call.)"""
    base, _ = url_forms(server.endpoint, seed_api)["aws_path"]
    for path in ("/api/v1/health", "/api/v1/jobs?limit=1"):
        p = subprocess.run(
            ["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
             "-H", "Authorization: Bearer x", f"{base}{path}"],
            capture_output=True, text=True, timeout=30,
        )
        assert p.stdout == "2 200", (path, p.stdout)


def test_h2c_upstreams_named_in_the_configuration(tmp_path):
    """`--upstream-h2c HOST:PORT` makes Tollgate speak HTTP/2 (prior knowledge) to that
    upstream; the reference server records the version it was spoken to in."""
    from conftest import Server, make_client

    h2 = Upstream("--api-key", UPSTREAM_KEY, "--job-seconds", "1.0")
    authority = h2.url.removeprefix("http://")
    (tmp_path / "data").mkdir()
    srv = Server(tmp_path / "data", args=["--upstream-h2c", authority])
    srv.start()
    try:
        apigw = make_client(srv.endpoint)
        api_id = http_proxy_api(apigw, f"{h2.url}/api/{{proxy}}")
        base = f"{srv.endpoint}/_aws/execute-api/{api_id}/s"
        auth = {"Authorization": f"Bearer {UPSTREAM_KEY}"}
        job = {"prompt": "over h2c", "image_s3_url": "s3://bucket/image.png",
               "audio_s3_urls": ["s3://bucket/audio.wav"]}
        job = requests.post(f"{base}/v1/generate", json=job, headers=auth, timeout=20)
        assert job.status_code == 200, job.text
        job_id = job.json()["job_id"]
        polled = requests.get(f"{base}/v1/jobs/{job_id}", headers=auth, timeout=20)
        assert polled.status_code == 200 and polled.json()["job_id"] == job_id
        seen = [r for r in h2.recorded() if r["path"].startswith(("/api/v1/generate", "/api/v1/jobs"))]
        assert [r["version"] for r in seen] == ["HTTP/2.0", "HTTP/2.0"], seen
        assert seen[0]["method"] == "POST"
    finally:
        srv.stop()
        h2.stop()

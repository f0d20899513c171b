"""Resource policies (`policy` on a REST API) and PRIVATE APIs, on the data plane.

Requests come from chosen loopback source addresses (127.0.0.x are all this
machine), so `aws:SourceIp` conditions are tested as a client would meet them.
"""

import http.client
import json
import signal
import socket
import urllib.parse

import pytest

from conftest import ACCOUNT, REGION, Server

TRUSTED_PROXY = "127.0.0.3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server with a public listener, and 127.0.0.3 as its one trusted proxy."""
    public = f"127.0.0.1:{free_port()}"
    srv = Server(tmp_path_factory.mktemp("tollgate-data"),
                 args=["--public-listen", public, "--trusted-proxy", TRUSTED_PROXY]).start()
    srv.public_endpoint = f"http://{public}"
    yield srv
    srv.stop(signal.SIGTERM)


def get(url, source="127.0.0.1", headers=None):
    """GET from `source`: (status, headers, body as JSON)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", u.path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.headers, json.loads(r.read() or b"null")
    finally:
        conn.close()


def mock_api(apigw, name, policy=None, types=("REGIONAL",)):
    """A deployed API whose GET /who answers the caller's sourceIp."""
    kwargs = {"endpointConfiguration": {"types": list(types)}}
    if policy is not None:
        kwargs["policy"] = json.dumps(policy)
    api_id = apigw.create_rest_api(name=name, **kwargs)["id"]
    root = next(r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
    res = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="who")["id"]
    apigw.put_method(restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=res, httpMethod="GET", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    apigw.put_method_response(restApiId=api_id, resourceId=res, httpMethod="GET", statusCode="200")
    apigw.put_integration_response(
        restApiId=api_id, resourceId=res, httpMethod="GET", statusCode="200",
        responseTemplates={"application/json": '{"ip": "$context.identity.sourceIp"}'})
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    return api_id


def denied(api_id, explicit):
    arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/prod/GET/who"
    message = f"User: anonymous is not authorized to perform: execute-api:Invoke on resource: {arn}"
    return {"Message": message + (" with an explicit deny" if explicit else "")}


LOOPBACK_BUT_ONE = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}},
        {"Effect": "Deny", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "execute-api:/*",
         "Condition": {"IpAddress": {"aws:SourceIp": ["127.0.0.2/32"]}}},
    ],
}


def test_a_policy_allows_a_range_and_denies_one_address_in_it(server, apigw):
    api_id = mock_api(apigw, "policy-cidr", LOOPBACK_BUT_ONE)
    url = f"{server.endpoint}/_aws/execute-api/{api_id}/prod/who"
    status, _, body = get(url, source="127.0.0.1")
    assert (status, body) == (200, {"ip": "127.0.0.1"})
    status, headers, body = get(url, source="127.0.0.2")
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert body == denied(api_id, explicit=True)


def test_no_allow_matching_is_an_implicit_deny(server, apigw):
    only_ten = {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "execute-api:Invoke",
                               "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]}
    api_id = mock_api(apigw, "policy-implicit", only_ten)
    status, _, body = get(f"{server.endpoint}/_aws/execute-api/{api_id}/prod/who")
    assert (status, body) == (403, denied(api_id, explicit=False))


def test_a_referer_condition(server, apigw):
    policy = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke",
                             "Resource": "execute-api:/prod/GET/*",
                             "Condition": {"StringLike": {"aws:Referer": "https://app.example.com/*"}}}]}
    api_id = mock_api(apigw, "policy-referer", policy)
    url = f"{server.endpoint}/_aws/execute-api/{api_id}/prod/who"
    assert get(url, headers={"Referer": "https://app.example.com/page"})[0] == 200
    assert get(url, headers={"Referer": "https://elsewhere.example.net/"})[0] == 403
    assert get(url)[0] == 403


def test_an_api_without_a_policy_is_unaffected(server, apigw):
    api_id = mock_api(apigw, "no-policy")
    url = f"{server.endpoint}/_aws/execute-api/{api_id}/prod/who"
    for source in ("127.0.0.1", "127.0.0.2"):
        assert get(url, source=source)[:3:2] == (200, {"ip": source})


def test_a_policy_that_cannot_be_evaluated_fails_closed(server, apigw):
    unsupported = {"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
                                  "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}]}
    api_id = mock_api(apigw, "policy-unsupported", unsupported)
    assert get(f"{server.endpoint}/_aws/execute-api/{api_id}/prod/who")[0] == 403


def test_a_private_api_is_refused_on_the_public_listener(server, apigw):
    api_id = mock_api(apigw, "private", LOOPBACK_BUT_ONE, types=("PRIVATE",))
    public_api = mock_api(apigw, "regional")
    status, headers, body = get(f"{server.public_endpoint}/_aws/execute-api/{api_id}/prod/who")
    assert (status, body) == (403, {"message": "Forbidden"})
    assert headers["x-amzn-ErrorType"] == "ForbiddenException"
    # A REGIONAL API is served there; the PRIVATE one on the control listener,
    # where its resource policy applies.
    assert get(f"{server.public_endpoint}/_aws/execute-api/{public_api}/prod/who")[0] == 200
    assert get(f"{server.endpoint}/_aws/execute-api/{api_id}/prod/who")[:3:2] == (200, {"ip": "127.0.0.1"})
    status, _, body = get(f"{server.endpoint}/_aws/execute-api/{api_id}/prod/who", source="127.0.0.2")
    assert (status, body) == (403, denied(api_id, explicit=True))


def test_forwarded_for_counts_only_from_a_trusted_proxy(server, apigw):
    api_id = mock_api(apigw, "policy-xff", LOOPBACK_BUT_ONE)
    url = f"{server.endpoint}/_aws/execute-api/{api_id}/prod/who"
    # From an untrusted peer the header is the client's word: ignored.
    status, _, body = get(url, source="127.0.0.1", headers={"X-Forwarded-For": "127.0.0.2"})
    assert (status, body) == (200, {"ip": "127.0.0.1"})
    status, _, body = get(url, source="127.0.0.2", headers={"X-Forwarded-For": "127.0.0.1"})
    assert status == 403
    # From the trusted proxy its last untrusted hop is the client.
    status, _, body = get(url, source=TRUSTED_PROXY, headers={"X-Forwarded-For": "127.0.0.9, 127.0.0.2"})
    assert (status, body) == (403, denied(api_id, explicit=True))
    status, _, body = get(url, source=TRUSTED_PROXY, headers={"X-Forwarded-For": "127.0.0.2, 127.0.0.9"})
    assert (status, body) == (200, {"ip": "127.0.0.9"})


@pytest.fixture(scope="module")
def echo_upstream():
    """An upstream that answers the X-Forwarded-For it was sent."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Echo(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"xff": self.headers.get("X-Forwarded-For")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_the_upstream_sees_the_chain_with_the_proxy_as_the_last_hop(server, apigw, echo_upstream):
    api_id = apigw.create_rest_api(name="xff-chain")["id"]
    root = next(r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="HTTP_PROXY",
                          integrationHttpMethod="GET", uri=f"{echo_upstream}/")
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    url = f"{server.endpoint}/_aws/execute-api/{api_id}/prod/"
    # Through the trusted proxy: its client, then the proxy, as a chain of hops.
    assert get(url, source=TRUSTED_PROXY, headers={"X-Forwarded-For": "127.0.0.9"})[2] == {"xff": "127.0.0.9, 127.0.0.3"}
    # Directly: the client's claim is passed on, and the real peer appended (as AWS does).
    assert get(url, source="127.0.0.1", headers={"X-Forwarded-For": "1.2.3.4"})[2] == {"xff": "1.2.3.4, 127.0.0.1"}

"""Lambda functions run by Tollgate, driven with the aws CLI and boto3, and
behind API Gateway's AWS_PROXY integration: the event a handler receives,
AWS's answers for failing handlers (through Invoke and through API Gateway),
Node.js and `provided` functions, and reserved concurrency."""

import base64
import io
import json
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import make_client

ROLE = "arn:aws:iam::000000000000:role/lambda"

PYTHON = r'''
import json, os, time

def echo(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(event)}

def misbehave(event, context):
    what = (event.get("queryStringParameters") or {}).get("what") or event.get("what")
    if what == "raise":
        raise RuntimeError("the handler failed")
    if what == "garbage":
        return "not a proxy response"
    if what == "bad-status":
        return {"statusCode": "two hundred", "body": "x"}
    if what == "body-not-string":
        return {"statusCode": 200, "body": {"a": 1}}
    if what == "sleep":
        time.sleep(5)
        return {"statusCode": 200, "body": "late"}
    if what == "exit":
        os._exit(1)
    if what == "slow":
        time.sleep(0.6)
    return {"statusCode": 200, "body": "fine:" + str(os.getpid())}
'''


def zip_bytes(files, modes=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((modes or {}).get(name, 0o644)) << 16
            z.writestr(info, text)
    return buf.getvalue()


@pytest.fixture(scope="module")
def lam(server):
    return make_client(server.endpoint, "lambda")


def create(lam, name, runtime, handler, files, timeout=3, modes=None, **extra):
    lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE,
                        Code={"ZipFile": zip_bytes(files, modes)}, Timeout=timeout, **extra)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def proxy_api(apigw, function, path_part="{proxy+}", stage_variables=None, binary=None):
    api = apigw.create_rest_api(name=f"lambda-{function}", binaryMediaTypes=binary or [])
    root = api["rootResourceId"]
    res = apigw.create_resource(restApiId=api["id"], parentId=root, pathPart="items")["id"]
    child = apigw.create_resource(restApiId=api["id"], parentId=res, pathPart=path_part)["id"]
    uri = ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
           f"arn:aws:lambda:us-east-1:000000000000:function:{function}/invocations")
    for resource in (res, child):
        apigw.put_method(restApiId=api["id"], resourceId=resource, httpMethod="ANY", authorizationType="NONE")
        apigw.put_integration(restApiId=api["id"], resourceId=resource, httpMethod="ANY", type="AWS_PROXY",
                              integrationHttpMethod="POST", uri=uri)
    apigw.create_deployment(restApiId=api["id"], stageName="test", variables=stage_variables or {})
    return api["id"]


@pytest.fixture(scope="module")
def echo_api(server, apigw, lam):
    create(lam, "echo", "python3.11", "app.echo", {"app.py": PYTHON})
    api_id = proxy_api(apigw, "echo", path_part="{id}", stage_variables={"env": "test"},
                       binary=["application/octet-stream"])
    return api_id, f"{server.endpoint}/test"


def host_of(api_id, base):
    """The execute-api Host (the name need not resolve: the request goes to 127.0.0.1)."""
    return f"{api_id}.execute-api.localhost:{base.rsplit(':', 1)[1].split('/')[0]}"


def event_of(response):
    assert response.status_code == 200, response.text
    return response.json()


def test_the_proxy_event_of_a_get(server, echo_api):
    api_id, base = echo_api
    r = requests.get(f"{base}/items/42?color=red&size=L",
                     headers={"X-Custom": "yes", "Host": host_of(api_id, base)}, timeout=10)
    e = event_of(r)
    assert e["resource"] == "/items/{id}"
    assert e["path"] == "/items/42"
    assert e["httpMethod"] == "GET"
    assert e["headers"]["X-Custom"] == "yes", "names as the client sent them"
    assert e["multiValueHeaders"]["X-Custom"] == ["yes"]
    assert e["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert e["headers"]["X-Forwarded-Proto"] == "http"
    assert e["headers"]["X-Forwarded-Port"] == server.endpoint.rsplit(":", 1)[1]
    assert e["headers"]["X-Amzn-Trace-Id"].startswith("Root=1-")
    assert e["headers"]["Host"].startswith(f"{api_id}.execute-api.localhost")
    assert "Content-Length" not in e["headers"]
    assert e["queryStringParameters"] == {"color": "red", "size": "L"}
    assert e["multiValueQueryStringParameters"] == {"color": ["red"], "size": ["L"]}
    assert e["pathParameters"] == {"id": "42"}
    assert e["stageVariables"] == {"env": "test"}
    assert e["body"] is None and e["isBase64Encoded"] is False
    rc = e["requestContext"]
    assert rc["resourcePath"] == "/items/{id}" and rc["httpMethod"] == "GET"
    assert rc["path"] == "/test/items/42" and rc["stage"] == "test"
    assert rc["apiId"] == api_id and rc["accountId"] == "000000000000"
    assert rc["protocol"] == "HTTP/1.1"
    assert rc["requestId"] == r.headers["x-amzn-RequestId"]
    assert rc["extendedRequestId"] == r.headers["x-amz-apigw-id"]
    assert rc["domainPrefix"] == api_id
    assert rc["identity"]["sourceIp"] == "127.0.0.1"
    assert "apiKey" not in rc["identity"]
    assert isinstance(rc["requestTimeEpoch"], int)
    assert rc["deploymentId"]


def test_the_proxy_event_of_a_post_with_json_and_repeated_keys(echo_api):
    api_id, base = echo_api
    body = json.dumps({"prompt": "hi"})
    r = requests.post(f"{base}/items/7?tag=a&tag=b", data=body,
                      headers={"Content-Type": "application/json", "Host": host_of(api_id, base)}, timeout=10)
    e = event_of(r)
    assert e["httpMethod"] == "POST"
    assert e["body"] == body and e["isBase64Encoded"] is False
    assert e["headers"]["Content-Type"] == "application/json"
    assert e["queryStringParameters"] == {"tag": "b"}, "the last value of a repeated key"
    assert e["multiValueQueryStringParameters"] == {"tag": ["a", "b"]}


def test_repeated_headers_and_a_binary_body(echo_api):
    import http.client
    from urllib.parse import urlsplit
    api_id, base = echo_api
    parts = urlsplit(base)
    conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=10)
    payload = bytes(range(256))
    conn.putrequest("PUT", f"{parts.path}/items/bin", skip_host=True)
    conn.putheader("Host", host_of(api_id, base))
    conn.putheader("X-Multi", "one")
    conn.putheader("X-Multi", "two")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(len(payload)))
    conn.endheaders(payload)
    response = conn.getresponse()
    e = json.loads(response.read())
    assert e["headers"]["X-Multi"] == "two"
    assert e["multiValueHeaders"]["X-Multi"] == ["one", "two"]
    assert e["isBase64Encoded"] is True
    assert base64.b64decode(e["body"]) == payload


def _raw_exchange(port, head, trickle=False, timeout=10):
    """Sends `head` (bytes) to 127.0.0.1:port, one byte at a time when
    `trickle`, and returns (status, headers, body) of the answer (the request
    says Connection: close)."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        if trickle:
            for i in range(len(head)):
                s.sendall(head[i:i + 1])
                time.sleep(0.001)
        else:
            s.sendall(head)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


def test_hostile_heads_and_slow_clients_reach_the_event_as_sent(echo_api):
    """The head as the client sent it travels beside the request to the
    Lambda event: names in any case, repeated in different cases, values with
    bytes that are not UTF-8, a head trickled in a byte at a time; heads the
    HTTP/1 front end must refuse never reach the function; a client that
    leaves before the answer costs no later request its event."""
    from urllib.parse import urlsplit
    api_id, base = echo_api
    parts = urlsplit(base)
    host = host_of(api_id, base).encode()
    path = f"{parts.path}/items/h".encode()

    def head(extra, method=b"GET", target=path):
        return (method + b" " + target + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + extra
                + b"Connection: close\r\n\r\n")

    odd = (b"x-CaSe: 1\r\nX-case: 2\r\nX-Latin: \xe9t\xe9\r\n"
           b"User-Agent: agent\xff\xfe\r\nx-lower-only: ok\r\n")
    for trickle in (False, True):
        status, headers, body = _raw_exchange(parts.port, head(odd), trickle=trickle)
        assert status == 200, body
        e = json.loads(body)
        h, mh = e["headers"], e["multiValueHeaders"]
        assert h["x-CaSe"] == "1" and h["X-case"] == "2", h
        assert mh["x-CaSe"] == ["1"] and mh["X-case"] == ["2"]
        assert "x-case" not in h and "X-Case" not in h, "no name the client did not send"
        assert h["x-lower-only"] == "ok"
        assert h["X-Latin"].startswith("\ufffd"), "bytes that are not UTF-8 are replaced, not dropped"
        assert "agent" in h["User-Agent"]
        assert e["requestContext"]["requestId"] == headers["x-amzn-requestid"]

    # Heads the front end refuses: a NUL in a value, an 11 000-byte name;
    # methods API Gateway does not have.
    status, _, _ = _raw_exchange(parts.port, head(b"X-Nul: a\x00b\r\n"))
    assert status == 400
    status, _, _ = _raw_exchange(parts.port, head(b"X-" + b"n" * 11_000 + b": v\r\n"))
    assert status == 431
    for method in (b"FOO", b"get", b"TRACE"):
        status, _, body = _raw_exchange(parts.port, head(b"", method=method))
        assert status == 403, (method, status, body)

    # A client that sends its head and leaves before the function answers.
    import socket
    with socket.create_connection(("127.0.0.1", parts.port), timeout=10) as s:
        s.sendall(head(b"X-Gone: yes\r\n"))
    status, headers, body = _raw_exchange(parts.port, head(b"X-After: yes\r\n"))
    assert status == 200, body
    e = json.loads(body)
    assert e["headers"]["X-After"] == "yes" and "X-Gone" not in e["headers"]
    assert e["requestContext"]["requestId"] == headers["x-amzn-requestid"]


@pytest.fixture(scope="module")
def misbehaving(server, apigw, lam):
    create(lam, "misbehave", "python3.11", "app.misbehave", {"app.py": PYTHON}, timeout=1)
    api_id = proxy_api(apigw, "misbehave")
    return f"{server.endpoint}/_aws/execute-api/{api_id}/test/items/x"


@pytest.mark.parametrize("what", ["raise", "garbage", "bad-status", "body-not-string", "sleep", "exit"])
def test_failing_handlers_through_api_gateway(misbehaving, what):
    r = requests.get(misbehaving, params={"what": what}, timeout=15)
    assert r.status_code == 502, (what, r.status_code, r.text)
    assert r.json() == {"message": "Internal server error"}
    assert r.headers["x-amzn-ErrorType"] == "InternalServerErrorException"
    ok = requests.get(misbehaving, timeout=15)
    assert ok.status_code == 200 and ok.text.startswith("fine:"), "the next invocation works at once"


def test_failing_handlers_through_invoke(lam, misbehaving):
    def invoke(what):
        answer = lam.invoke(FunctionName="misbehave", Payload=json.dumps({"what": what}).encode())
        return answer.get("FunctionError"), json.loads(answer["Payload"].read())

    kind, error = invoke("raise")
    assert kind == "Unhandled"
    assert error["errorType"] == "RuntimeError" and error["errorMessage"] == "the handler failed"
    assert error["stackTrace"]
    kind, error = invoke("sleep")
    assert kind == "Unhandled" and error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 1.00 seconds")
    kind, error = invoke("exit")
    assert kind == "Unhandled" and error["errorType"] == "Runtime.ExitError"
    kind, answer = invoke("fine")
    assert kind is None and answer["body"].startswith("fine:")


def test_a_timed_out_answer_never_reaches_another_request(lam, misbehaving):
    # The slept invocation is killed at 1 s; it would have answered "late" at 5 s.
    lam.invoke(FunctionName="misbehave", Payload=b'{"what": "sleep"}')
    seen = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        answer = json.loads(lam.invoke(FunctionName="misbehave", Payload=b"{}")["Payload"].read())
        seen.append(answer["body"])
        time.sleep(0.2)
    assert seen and all(b.startswith("fine:") for b in seen), seen
    assert "late" not in seen


def test_invoke_errors_and_log_tail(lam, misbehaving):
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName="nobody-here", Payload=b"{}")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName="misbehave", Payload=b"{not json")
    assert e.value.response["Error"]["Code"] == "InvalidRequestContentException"
    answer = lam.invoke(FunctionName="misbehave", Payload=b"{}", LogType="Tail")
    log = base64.b64decode(answer["LogResult"]).decode()
    assert log.startswith("START RequestId: ") and "REPORT RequestId: " in log
    assert lam.invoke(FunctionName="misbehave", InvocationType="DryRun")["StatusCode"] == 204
    assert lam.invoke(FunctionName="misbehave", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202


def test_nodejs_and_provided_functions(lam, aws, tmp_path):
    create(lam, "node-esm", "nodejs20.x", "index.handler", {
        "index.mjs": "export const handler = async (event) => ({ statusCode: 200, body: `node:${event.n}` });"})
    answer = json.loads(lam.invoke(FunctionName="node-esm", Payload=b'{"n": 3}')["Payload"].read())
    assert answer == {"statusCode": 200, "body": "node:3"}
    bootstrap = """#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  H=$(mktemp)
  EVENT=$(wget -q -S -O - "$API/invocation/next" 2>"$H")
  ID=$(grep -i 'Lambda-Runtime-Aws-Request-Id' "$H" | tr -d '\\r' | awk '{print $2}')
  rm -f "$H"
  wget -q -O /dev/null --post-data="{\\"shell\\": true, \\"got\\": $EVENT}" "$API/invocation/$ID/response"
done
"""
    zip_path = tmp_path / "provided.zip"
    zip_path.write_bytes(zip_bytes({"bootstrap": bootstrap}, {"bootstrap": 0o755}))
    aws("lambda", "create-function", "--function-name", "shell-fn", "--runtime", "provided.al2023",
        "--handler", "unused", "--role", ROLE, "--zip-file", f"fileb://{zip_path}")
    aws("lambda", "wait", "function-active-v2", "--function-name", "shell-fn")
    answer = json.loads(lam.invoke(FunctionName="shell-fn", Payload=b'{"x": 1}')["Payload"].read())
    assert answer == {"shell": True, "got": {"x": 1}}


def test_reserved_concurrency(server, apigw, lam):
    create(lam, "bounded", "python3.11", "app.misbehave", {"app.py": PYTHON}, timeout=10)
    lam.put_function_concurrency(FunctionName="bounded", ReservedConcurrentExecutions=5)
    assert lam.get_function_concurrency(FunctionName="bounded")["ReservedConcurrentExecutions"] == 5
    # Wait until the host has the new concurrency.
    time.sleep(0.5)

    def call(_):
        try:
            answer = lam.invoke(FunctionName="bounded", Payload=b'{"what": "slow"}')
            return ("ok", json.loads(answer["Payload"].read())["body"])
        except ClientError as e:
            return (e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"])

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(call, range(20)))
    ok = [r for r in results if r[0] == "ok"]
    throttled = [r for r in results if r[0] == "TooManyRequestsException"]
    assert len(ok) + len(throttled) == 20, results
    assert len(throttled) >= 10, results
    assert all(status == 429 for _, status in throttled)
    # A worker runs one invocation at a time: at most 5 workers, at most 5 at once.
    pids = {body.split(":")[1] for _, body in ok}
    assert 1 <= len(pids) <= 5, f"at most 5 workers ran: {pids}"

    # Through API Gateway a throttled function is a 500, as AWS answers it.
    api_id = proxy_api(apigw, "bounded")
    url = f"{server.endpoint}/_aws/execute-api/{api_id}/test/items/x"
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda _: requests.get(url, params={"what": "slow"}, timeout=30).status_code,
                                 range(20)))
    assert set(statuses) <= {200, 500}, statuses
    assert statuses.count(200) >= 1 and statuses.count(500) >= 10, statuses


def test_the_lambda_control_plane(lam, unique, tmp_path):
    name = f"ctl-{unique}"
    create(lam, name, "python3.11", "app.misbehave", {"app.py": PYTHON},
           Environment={"Variables": {"A": "1"}}, Description="first")
    got = lam.get_function(FunctionName=name)
    c = got["Configuration"]
    assert c["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert c["State"] == "Active" and c["Description"] == "first"
    assert c["Environment"] == {"Variables": {"A": "1"}}
    assert c["PackageType"] == "Zip" and c["Architectures"] == ["x86_64"]
    # By ARN too, and with the $LATEST qualifier.
    assert lam.get_function_configuration(FunctionName=c["FunctionArn"])["FunctionName"] == name
    assert lam.get_function_configuration(FunctionName=f"{name}:$LATEST")["FunctionName"] == name

    updated = lam.update_function_configuration(FunctionName=name, Timeout=9, Description="second")
    assert updated["LastUpdateStatus"] == "InProgress"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    c2 = lam.get_function_configuration(FunctionName=name)
    assert (c2["Timeout"], c2["Description"], c2["LastUpdateStatus"]) == (9, "second", "Successful")
    assert c2["RevisionId"] != c["RevisionId"]

    new_code = zip_bytes({"app.py": "def misbehave(e, c):\n    return {'statusCode': 200, 'body': 'v2'}\n"})
    code = lam.update_function_code(FunctionName=name, ZipFile=new_code)
    assert code["CodeSha256"] != c["CodeSha256"]
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    answer = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert answer["body"] == "v2", "the new code runs"

    lam.add_permission(FunctionName=name, StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn="arn:aws:execute-api:us-east-1:000000000000:abc/*/*/*")
    with pytest.raises(ClientError) as e:
        lam.add_permission(FunctionName=name, StatementId="apigw", Action="lambda:InvokeFunction",
                           Principal="apigateway.amazonaws.com")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    policy = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    assert policy["Statement"][0]["Sid"] == "apigw"
    assert policy["Statement"][0]["Principal"] == {"Service": "apigateway.amazonaws.com"}
    lam.remove_permission(FunctionName=name, StatementId="apigw")
    with pytest.raises(ClientError) as e:
        lam.get_policy(FunctionName=name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"

    names = [f["FunctionName"] for f in lam.get_paginator("list_functions").paginate(
        PaginationConfig={"PageSize": 2}).build_full_result()["Functions"]]
    assert name in names and len(names) == len(set(names))

    with pytest.raises(ClientError) as e:
        create(lam, name, "python3.11", "app.misbehave", {"app.py": PYTHON})
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    for bad, code in [
        ({"Runtime": "cobol85"}, "ValidationException"),
        ({"Timeout": 901}, "ValidationException"),
        ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "InvalidParameterValueException"),
        ({"Layers": ["arn:aws:lambda:us-east-1:000000000000:layer:x:1"]}, "InvalidParameterValueException"),
    ]:
        args = {"FunctionName": f"bad-{unique}", "Runtime": "python3.11", "Handler": "a.b", "Role": ROLE,
                "Code": {"ZipFile": zip_bytes({"a.py": ""})}, **bad}
        with pytest.raises(ClientError) as e:
            lam.create_function(**args)
        assert e.value.response["Error"]["Code"] == code, bad
    evil = zip_bytes({"../escape.py": "x"})
    with pytest.raises(ClientError) as e:
        lam.create_function(FunctionName=f"evil-{unique}", Runtime="python3.11", Handler="a.b", Role=ROLE,
                            Code={"ZipFile": evil})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"

    lam.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as e:
        lam.get_function(FunctionName=name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_runtime_that_cannot_run_here_fails_with_a_reason(lam, unique):
    name = f"java-{unique}"
    lam.create_function(FunctionName=name, Runtime="java21", Handler="x::y", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"x.class": ""})})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        c = lam.get_function_configuration(FunctionName=name)
        if c["State"] != "Pending":
            break
        time.sleep(0.1)
    assert c["State"] == "Failed" and "java21" in c["StateReason"]
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"


AWS_INTEGRATION = r'''
def handler(event, context):
    if event.get("fail"):
        raise ValueError("Invalid input: " + event["fail"])
    return {"greeting": "hello " + event["name"]}
'''


def test_the_non_proxy_aws_integration(server, apigw, lam):
    create(lam, "greeter", "python3.11", "app.handler", {"app.py": AWS_INTEGRATION})
    api = apigw.create_rest_api(name="aws-integration")
    res = apigw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="greet")["id"]
    apigw.put_method(restApiId=api["id"], resourceId=res, httpMethod="POST", authorizationType="NONE")
    # The function's name comes from a stage variable.
    uri = ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
           "arn:aws:lambda:us-east-1:000000000000:function:${stageVariables.fn}/invocations")
    apigw.put_integration(restApiId=api["id"], resourceId=res, httpMethod="POST", type="AWS",
                          integrationHttpMethod="POST", uri=uri,
                          requestTemplates={"application/json":
                                            '{"name": "$input.path(\'$.who\')", "fail": "$input.path(\'$.fail\')"}'})
    for code in ("200", "400"):
        apigw.put_method_response(restApiId=api["id"], resourceId=res, httpMethod="POST", statusCode=code)
    apigw.put_integration_response(restApiId=api["id"], resourceId=res, httpMethod="POST", statusCode="200",
                                   responseTemplates={"application/json": '{"said": "$input.path(\'$.greeting\')"}'})
    apigw.put_integration_response(restApiId=api["id"], resourceId=res, httpMethod="POST", statusCode="400",
                                   selectionPattern="Invalid input.*",
                                   responseTemplates={"application/json": '{"error": "$input.path(\'$.errorMessage\')"}'})
    apigw.create_deployment(restApiId=api["id"], stageName="test", variables={"fn": "greeter"})
    apigw.create_deployment(restApiId=api["id"], stageName="missing", variables={"fn": "nobody"})
    url = f"{server.endpoint}/_aws/execute-api/{api['id']}/test/greet"
    ok = requests.post(url, json={"who": "ada"}, timeout=10)
    assert (ok.status_code, ok.json()) == (200, {"said": "hello ada"})
    bad = requests.post(url, json={"who": "x", "fail": "no name"}, timeout=10)
    assert (bad.status_code, bad.json()) == (400, {"error": "Invalid input: no name"})
    missing = requests.post(url.replace("/test/", "/missing/"), json={"who": "x"}, timeout=10)
    assert missing.status_code == 500
    assert missing.json() == {"message": "Internal server error"}


def test_a_function_hosted_elsewhere(server, lam, unique):
    """A function declared with an invoke URL (a Runtime Interface Emulator's)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Emulator(BaseHTTPRequestHandler):
        def do_POST(self):
            event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body = json.dumps({"emulated": True, "event": event}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    emulator = ThreadingHTTPServer(("127.0.0.1", 0), Emulator)
    threading.Thread(target=emulator.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{emulator.server_address[1]}/2015-03-31/functions/function/invocations"
        name = f"elsewhere-{unique}"
        lam.create_function(FunctionName=name, Runtime="python3.11", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": zip_bytes({"placeholder.txt": ""})},
                            Tags={"tollgate:invoke-url": url})
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        answer = json.loads(lam.invoke(FunctionName=name, Payload=b'{"a": 1}')["Payload"].read())
        assert answer == {"emulated": True, "event": {"a": 1}}
    finally:
        emulator.shutdown()


def test_function_logs_and_metrics_in_cloudwatch(server, lam, unique):
    """A function's output in /aws/lambda/NAME with START/END/REPORT, and the
    AWS/Lambda metrics counting its invocations, errors and throttles."""
    import datetime
    name = f"observed-{unique}"
    create(lam, name, "python3.11", "app.misbehave", {"app.py": PYTHON + "\nprint('module loaded')\n"})
    assert lam.invoke(FunctionName=name, Payload=b'{"what": "fine"}')["StatusCode"] == 200
    assert "FunctionError" in lam.invoke(FunctionName=name, Payload=b'{"what": "raise"}')
    logs = make_client(server.endpoint, "logs")
    cloudwatch = make_client(server.endpoint, "cloudwatch")
    deadline = time.monotonic() + 10
    while True:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        messages = [e["message"] for e in events]
        if sum(m.startswith("REPORT RequestId:") for m in messages) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sum(m.startswith("START RequestId:") for m in messages) == 2, messages
    assert sum(m.startswith("REPORT RequestId:") for m in messages) == 2, messages
    assert any("module loaded" in m for m in messages)
    assert any("the handler failed" in m for m in messages)
    import re
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\]\S+", events[0]["logStreamName"]), events[0]

    now = datetime.datetime.now(datetime.timezone.utc)

    def total(metric):
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName=metric, Dimensions=[{"Name": "FunctionName", "Value": name}],
            StartTime=now - datetime.timedelta(minutes=5), EndTime=now + datetime.timedelta(minutes=5),
            Period=60, Statistics=["Sum"])["Datapoints"]
        return sum(p["Sum"] for p in points)

    deadline = time.monotonic() + 10
    while total("Invocations") < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert total("Invocations") == 2
    assert total("Errors") == 1
    assert total("Throttles") == 0

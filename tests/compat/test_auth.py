"""SigV4 verification of the control plane, as AWS reports failures:
403 with x-amzn-ErrorType, x-amzn-RequestId and a JSON message."""

import datetime
import json
from unittest import mock

import botocore.auth
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, REGION, SECRET_KEY, make_client

GOOD = Credentials(ACCESS_KEY, SECRET_KEY)


def send(server, method, path, body=b"", creds=GOOD, skew=None, tamper_body=None, tamper_path=None, sign=True):
    """Sign like botocore does (optionally `skew` the clock), optionally tamper, then send with requests."""
    url = server.endpoint + path
    headers = {"Accept": "application/json"}
    if body:
        headers["Content-Type"] = "application/json"
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    if sign:
        real = botocore.auth.get_current_datetime
        shifted = (lambda *a, **k: real(*a, **k) + skew) if skew else real
        with mock.patch("botocore.auth.get_current_datetime", shifted):
            SigV4Auth(creds, "apigateway", REGION).add_auth(req)
    send_url = server.endpoint + tamper_path if tamper_path else url
    send_body = tamper_body if tamper_body is not None else body
    return requests.request(method, send_url, data=send_body, headers=dict(req.headers), timeout=10)


def assert_aws_error(resp, status, code, message_part=None):
    assert resp.status_code == status, (resp.status_code, resp.headers, resp.text)
    error_type = resp.headers.get("x-amzn-ErrorType", "")
    assert error_type.split(":")[0] == code, resp.headers
    assert resp.headers.get("x-amzn-RequestId"), resp.headers
    body = resp.json()
    message = body.get("message", body.get("Message"))
    assert isinstance(message, str) and message, body
    if message_part:
        assert message_part in message, message
    return message


def api_names(apigw):
    return {a["name"] for a in apigw.get_rest_apis(limit=500)["items"]}


def test_correctly_signed_raw_request(server):
    """Sanity check of the signer used below."""
    r = send(server, "GET", "/restapis")
    assert r.status_code == 200, r.text
    assert "item" in r.json()
    assert r.headers.get("x-amzn-RequestId")


def test_wrong_secret(server):
    bad = make_client(server.endpoint, secret_key="not-the-secret")
    with pytest.raises(ClientError) as ei:
        bad.get_rest_apis()
    err = ei.value.response
    assert err["Error"]["Code"] == "InvalidSignatureException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    r = send(server, "GET", "/restapis", creds=Credentials(ACCESS_KEY, "not-the-secret"))
    assert_aws_error(r, 403, "InvalidSignatureException", "signature")


def test_unknown_access_key(server):
    bad = make_client(server.endpoint, access_key="AKIDUNKNOWN0000000000")
    with pytest.raises(ClientError) as ei:
        bad.get_rest_apis()
    err = ei.value.response
    assert err["Error"]["Code"] == "UnrecognizedClientException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    r = send(server, "GET", "/restapis", creds=Credentials("AKIDUNKNOWN0000000000", SECRET_KEY))
    assert_aws_error(r, 403, "UnrecognizedClientException")


def test_unsigned_request(server):
    r = requests.get(server.endpoint + "/restapis", timeout=10)
    assert_aws_error(r, 403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    r = requests.post(server.endpoint + "/apikeys", json={"name": "unsigned"}, timeout=10)
    assert_aws_error(r, 403, "MissingAuthenticationTokenException")


def test_expired_signature(server):
    r = send(server, "GET", "/restapis", skew=-datetime.timedelta(minutes=20))
    assert_aws_error(r, 403, "InvalidSignatureException", "Signature expired")


def test_signature_from_the_future(server):
    r = send(server, "GET", "/restapis", skew=datetime.timedelta(minutes=20))
    assert_aws_error(r, 403, "InvalidSignatureException")


def test_small_clock_skew_accepted(server):
    r = send(server, "GET", "/restapis", skew=-datetime.timedelta(minutes=3))
    assert r.status_code == 200, r.text


def test_tampered_body(server, apigw, unique):
    body = json.dumps({"name": f"signed-{unique}"}).encode()
    evil = json.dumps({"name": f"tampered-{unique}"}).encode()
    r = send(server, "POST", "/restapis", body=body, tamper_body=evil)
    assert_aws_error(r, 403, "InvalidSignatureException")
    names = api_names(apigw)
    assert f"tampered-{unique}" not in names and f"signed-{unique}" not in names
    # the same request untampered goes through
    ok = send(server, "POST", "/restapis", body=body)
    assert ok.status_code == 201, ok.text
    assert ok.json()["name"] == f"signed-{unique}"


def test_tampered_query(server):
    r = send(server, "GET", "/restapis?limit=1", tamper_path="/restapis?limit=2")
    assert_aws_error(r, 403, "InvalidSignatureException")


def test_session_token_accepted(server, unique):
    c = make_client(server.endpoint, session_token="FQoGZXIvYXdzEBYaDEXAMPLESESSIONTOKEN")
    created = c.create_rest_api(name=f"session-{unique}")
    assert created["name"] == f"session-{unique}"
    assert c.get_rest_api(restApiId=created["id"])["id"] == created["id"]


def test_errors_on_unknown_route_are_aws_shaped(server):
    r = send(server, "GET", "/nosuchcollection")
    assert r.status_code in (403, 404), r.text
    assert r.headers.get("x-amzn-ErrorType"), r.headers
    assert r.headers.get("x-amzn-RequestId"), r.headers


def _iam_mock_api(apigw):
    """A deployed API whose GET /whoami needs AWS_IAM and shows $context.identity."""
    api_id = apigw.create_rest_api(name="iam-method")["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    res = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="whoami")["id"]
    apigw.put_method(restApiId=api_id, resourceId=res, httpMethod="POST", authorizationType="AWS_IAM")
    apigw.put_integration(restApiId=api_id, resourceId=res, httpMethod="POST", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    apigw.put_method_response(restApiId=api_id, resourceId=res, httpMethod="POST", statusCode="200")
    apigw.put_integration_response(
        restApiId=api_id, resourceId=res, httpMethod="POST", statusCode="200",
        responseTemplates={"application/json":
                           '{"caller":"$context.identity.caller","userArn":"$context.identity.userArn"}'})
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    return api_id


def test_aws_iam_methods_verify_botocores_execute_api_signature(server, apigw):
    """An AWS_IAM method called unsigned, wrongly signed and signed with
    botocore's SigV4 for service execute-api (as boto3 and awscurl sign)."""
    api_id = _iam_mock_api(apigw)
    url = f"{server.endpoint}/_aws/execute-api/{api_id}/prod/whoami"
    body = b'{"prompt":"hi"}'

    def call(creds=None, service="execute-api", tamper=None):
        req = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
        if creds is not None:
            SigV4Auth(creds, service, REGION).add_auth(req)
        return requests.post(url, data=tamper if tamper is not None else body, headers=dict(req.headers),
                             timeout=10)

    assert_aws_error(call(), 403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    assert_aws_error(call(Credentials(ACCESS_KEY, "wrong-secret")), 403, "InvalidSignatureException",
                     "The request signature we calculated does not match")
    assert_aws_error(call(Credentials("AKIDNOBODY", "x")), 403, "UnrecognizedClientException")
    assert_aws_error(call(GOOD, service="apigateway"), 403, "InvalidSignatureException", "execute-api")
    assert_aws_error(call(GOOD, tamper=b'{"prompt":"other"}'), 403, "InvalidSignatureException")
    ok = call(GOOD)
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"caller": ACCESS_KEY, "userArn": f"arn:aws:iam::000000000000:user/{ACCESS_KEY}"}

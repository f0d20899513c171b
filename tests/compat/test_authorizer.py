"""Lambda authorizers run by Tollgate, in front of the seed's API and its
Lambda proxy.

The guide's `lambda_authorizer` (examples/multitalk/lambda_authorizer.py) is
deployed unchanged, with the `validate_token` below prepended to its file:
the guide leaves that function to the user. Every invocation of an
authorizer appends a line to a file named by its environment, so the tests
count invocations. The proxy function is the guide's
`api_gateway_proxy.py`, called through a wrapper that records the event it
is handed before passing it on.
"""

import inspect
import io
import json
import os
import subprocess
import time
import zipfile

import pytest
import requests

from conftest import REPO, cli_env, make_client
from test_data_plane import UPSTREAM_KEY
from test_seed_lambda import FUNCTION, function_zip, upstream  # noqa: F401 (fixtures)

SEED = REPO / "examples" / "multitalk"
ROLE = "arn:aws:iam::000000000000:role/lambda"
GOOD_TOKEN = "Bearer good-token"


def validate_token(token):
    """The user's half of the guide's authorizer: one good token. Every call
    is counted in the file $COUNT_FILE names."""
    import os

    with open(os.environ["COUNT_FILE"], "a") as f:
        f.write(token + "\n")
    return token == os.environ["GOOD_TOKEN"]


OBSERVED_PROXY = '''
import json, os
import api_gateway_proxy

def handler(event, context):
    with open(os.environ["EVENT_FILE"], "a") as f:
        f.write(json.dumps(event) + "\\n")
    return api_gateway_proxy.lambda_handler(event, context)
'''

# Authorizers written for the tests: a Deny, a policy scoped to some paths,
# and the ways an authorizer can fail.
AUTHORIZERS = r'''
import json, os, time

def count(event):
    with open(os.environ["COUNT_FILE"], "a") as f:
        f.write(json.dumps(event) + "\n")

def arn_base(event):
    # arn:aws:execute-api:region:account:api/stage/METHOD/path -> ...:api/stage
    arn = event["methodArn"]
    head, rest = arn.split(":", 5)[:5], arn.split(":", 5)[5]
    return ":".join(head) + ":" + "/".join(rest.split("/")[:2])

def policy(effect, resource):
    return {"Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]}

def deny(event, context):
    count(event)
    return {"principalId": "blocked", "policyDocument": policy("Deny", event["methodArn"])}

def scoped(event, context):
    count(event)
    return {"principalId": "reader",
            "policyDocument": policy("Allow", arn_base(event) + "/GET/api/v1/jobs/*")}

def crash(event, context):
    count(event)
    raise RuntimeError("database unreachable")

def slow(event, context):
    count(event)
    time.sleep(5)

def malformed(event, context):
    count(event)
    return {"principalId": "x", "policyDocument": {"Version": "2012-10-17", "Statement": "allow all"}}

def metered(event, context):
    count(event)
    return {"principalId": "tenant-1", "usageIdentifierKey": os.environ["USAGE_KEY"],
            "policyDocument": policy("Allow", arn_base(event) + "/*"),
            "context": {"tenant": "t1", "tier": 2, "beta": True}}

def request_kind(event, context):
    count(event)
    tenant = event["headers"].get("X-Tenant") or event["headers"].get("x-tenant")
    return {"principalId": "req:" + tenant,
            "policyDocument": policy("Allow", arn_base(event) + "/*"),
            "context": {"tenant": tenant, "region": event["queryStringParameters"]["region"],
                        "eventType": event["type"]}}
'''


def zip_of(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return buf.getvalue()


def lines(path):
    return open(path).read().splitlines() if os.path.exists(path) else []


@pytest.fixture(scope="module")
def lam(server):
    return make_client(server.endpoint, "lambda")


@pytest.fixture(scope="module")
def seed(server, aws, apigw, lam, upstream, function_zip, tmp_path_factory):  # noqa: F811
    """The guide's API (setup.sh) and its proxy, with the observing wrapper."""
    files = tmp_path_factory.mktemp("observed")
    events = files / "events.jsonl"
    with zipfile.ZipFile(function_zip) as source:
        code = {name: source.read(name) for name in source.namelist()}
    code["observed.py"] = OBSERVED_PROXY
    lam.create_function(
        FunctionName=FUNCTION, Runtime="python3.11", Handler="observed.handler", Role=ROLE,
        Code={"ZipFile": zip_of(code)}, Timeout=30,
        Environment={"Variables": {"MODAL_API_URL": upstream.url, "MODAL_API_KEY": UPSTREAM_KEY,
                                   "EVENT_FILE": str(events)}})
    lam.get_waiter("function_active_v2").wait(FunctionName=FUNCTION)
    p = subprocess.run(["bash", str(SEED / "setup.sh")], env=cli_env(server.endpoint),
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    ids = dict(line.split("=", 1) for line in p.stdout.splitlines()
               if line.split("=", 1)[0] in ("API_ID", "API_KEY_ID", "PROXY_ID", "USAGE_PLAN_ID"))
    key = apigw.get_api_key(apiKey=ids["API_KEY_ID"], includeValue=True)["value"]

    # The guide's authorizer: its file unchanged, after the validate_token above.
    counts = files / "seed-authorizer.count"
    source = inspect.getsource(validate_token) + "\n\n" + (SEED / "lambda_authorizer.py").read_text()
    lam.create_function(
        FunctionName="multitalk-authorizer", Runtime="python3.11",
        Handler="authorizer.lambda_authorizer", Role=ROLE, Timeout=5,
        Code={"ZipFile": zip_of({"authorizer.py": source})},
        Environment={"Variables": {"COUNT_FILE": str(counts), "GOOD_TOKEN": GOOD_TOKEN}})
    lam.get_waiter("function_active_v2").wait(FunctionName="multitalk-authorizer")
    return {
        "api_id": ids["API_ID"], "proxy_id": ids["PROXY_ID"], "plan_id": ids["USAGE_PLAN_ID"],
        "key_id": ids["API_KEY_ID"], "key": key, "events": events, "counts": counts,
        "endpoint": f"{server.endpoint}/_aws/execute-api/{ids['API_ID']}/prod", "dir": files,
    }


def authorizer_uri(function):
    return ("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
            f"arn:aws:lambda:us-east-1:000000000000:function:{function}/invocations")


def create_authorizer(apigw, seed, function, **kwargs):
    # An API holds at most 10 authorizers: drop the ones no method uses any more.
    method = apigw.get_method(restApiId=seed["api_id"], resourceId=seed["proxy_id"], httpMethod="ANY")
    for old in apigw.get_authorizers(restApiId=seed["api_id"])["items"]:
        if old["id"] != method.get("authorizerId"):
            apigw.delete_authorizer(restApiId=seed["api_id"], authorizerId=old["id"])
    args = dict(restApiId=seed["api_id"], name=f"{function}-{time.monotonic_ns()}", type="TOKEN",
                authorizerUri=authorizer_uri(function),
                identitySource="method.request.header.Authorization")
    args.update(kwargs)
    return apigw.create_authorizer(**args)["id"]


def protect(apigw, seed, authorizer_id):
    """Puts the seed's ANY /api/{proxy+} behind `authorizer_id` and redeploys."""
    apigw.update_method(restApiId=seed["api_id"], resourceId=seed["proxy_id"], httpMethod="ANY",
                        patchOperations=[
                            {"op": "replace", "path": "/authorizationType", "value": "CUSTOM"},
                            {"op": "replace", "path": "/authorizerId", "value": authorizer_id}])
    apigw.create_deployment(restApiId=seed["api_id"], stageName="prod")


@pytest.fixture(scope="module")
def test_authorizers(lam, seed):
    """The tests' own authorizer functions, sharing one count file each."""
    made = {}
    for name in ("deny", "scoped", "crash", "slow", "malformed", "metered", "request_kind"):
        count = seed["dir"] / f"{name}.count"
        lam.create_function(
            FunctionName=f"authz-{name}", Runtime="python3.11", Handler=f"authz.{name}", Role=ROLE,
            Timeout=1, Code={"ZipFile": zip_of({"authz.py": AUTHORIZERS})},
            Environment={"Variables": {"COUNT_FILE": str(count), "USAGE_KEY": seed["key"]}})
        made[name] = count
    for name in made:
        lam.get_waiter("function_active_v2").wait(FunctionName=f"authz-{name}")
    return made


def call(seed, method="GET", path="/api/v1/jobs", token=GOOD_TOKEN, key=True, **kwargs):
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = token
    if key:
        headers["x-api-key"] = seed["key"]
    return requests.request(method, f"{seed['endpoint']}{path}", headers=headers, timeout=30, **kwargs)


def test_the_guides_authorizer_allows_a_valid_token(apigw, seed, upstream):
    protect(apigw, seed, create_authorizer(apigw, seed, "multitalk-authorizer",
                                           authorizerResultTtlInSeconds=0))
    before = len(lines(seed["events"]))
    r = call(seed, "POST", "/api/v1/generate", json={
        "prompt": "A person speaking", "image_s3_url": "s3://b/i.png", "audio_s3_urls": ["s3://b/a.wav"]})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    event = json.loads(lines(seed["events"])[before])
    authorizer = event["requestContext"]["authorizer"]
    assert authorizer["principalId"] == "user"
    assert authorizer["userId"] == "extracted-user-id"
    # The upstream got the job: the proxy ran after the authorizer allowed it.
    assert any(rec["path"] == "/api/v1/generate" for rec in upstream.recorded())


def test_the_guides_authorizer_refuses_a_bad_or_missing_token(apigw, seed):
    protect(apigw, seed, create_authorizer(apigw, seed, "multitalk-authorizer",
                                           authorizerResultTtlInSeconds=0))
    events = len(lines(seed["events"]))
    invoked = len(lines(seed["counts"]))
    r = call(seed, token="Bearer stolen")
    assert r.status_code == 401
    assert r.json() == {"message": "Unauthorized"}
    assert r.headers["x-amzn-ErrorType"] == "UnauthorizedException"
    assert len(lines(seed["counts"])) == invoked + 1, "the authorizer ran and said Unauthorized"
    # No Authorization header at all: 401 without invoking.
    r = call(seed, token=None)
    assert r.status_code == 401 and r.json() == {"message": "Unauthorized"}
    assert len(lines(seed["counts"])) == invoked + 1
    assert len(lines(seed["events"])) == events, "the proxy never ran"


def test_a_token_failing_the_validation_expression_never_reaches_the_authorizer(apigw, seed):
    protect(apigw, seed, create_authorizer(apigw, seed, "multitalk-authorizer",
                                           authorizerResultTtlInSeconds=0,
                                           identityValidationExpression="^Bearer [a-z-]+$"))
    invoked = len(lines(seed["counts"]))
    r = call(seed, token="Bearer NOT-LOWERCASE")
    assert r.status_code == 401 and r.json() == {"message": "Unauthorized"}
    assert len(lines(seed["counts"])) == invoked, "the authorizer never ran"
    assert call(seed).status_code == 200
    assert len(lines(seed["counts"])) == invoked + 1


def test_a_deny_policy_is_403(apigw, seed, test_authorizers):
    protect(apigw, seed, create_authorizer(apigw, seed, "authz-deny", authorizerResultTtlInSeconds=0))
    events = len(lines(seed["events"]))
    r = call(seed)
    assert r.status_code == 403
    assert r.json() == {"Message": "User is not authorized to access this resource with an explicit deny"}
    assert r.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert len(lines(seed["events"])) == events


def test_within_the_ttl_the_authorizer_runs_once(apigw, seed):
    protect(apigw, seed, create_authorizer(apigw, seed, "multitalk-authorizer",
                                           authorizerResultTtlInSeconds=300))
    invoked = len(lines(seed["counts"]))
    for _ in range(5):
        assert call(seed, path="/api/v1/jobs").status_code == 200
    assert len(lines(seed["counts"])) == invoked + 1
    # The guide's policy names only the first method ARN: a cached answer does not cover
    # another path (AWS's documented pitfall of caching a narrow policy).
    r = call(seed, path="/api/v1/jobs/other")
    assert r.status_code == 403
    assert r.json() == {"Message": "User is not authorized to access this resource"}
    # FlushStageAuthorizersCache: the next call runs the authorizer again, which allows
    # it (the job is unknown upstream: the proxy's answer, not the gateway's).
    apigw.flush_stage_authorizers_cache(restApiId=seed["api_id"], stageName="prod")
    r = call(seed, path="/api/v1/jobs/other")
    assert r.status_code == 404 and "Message" not in r.json(), r.text
    assert len(lines(seed["counts"])) == invoked + 2


def test_ttl_zero_runs_it_every_time(apigw, seed):
    protect(apigw, seed, create_authorizer(apigw, seed, "multitalk-authorizer",
                                           authorizerResultTtlInSeconds=0))
    invoked = len(lines(seed["counts"]))
    for _ in range(4):
        assert call(seed).status_code == 200
    assert len(lines(seed["counts"])) == invoked + 4


def test_a_cached_policy_covers_what_it_names_and_no_more(apigw, seed, test_authorizers):
    protect(apigw, seed, create_authorizer(apigw, seed, "authz-scoped", authorizerResultTtlInSeconds=300))
    count = test_authorizers["scoped"]
    invoked = len(lines(count))
    submitted = call(seed, "POST", "/api/v1/generate", token="Bearer reader", json={})
    assert submitted.status_code == 403
    assert submitted.json() == {"Message": "User is not authorized to access this resource"}
    r = call(seed, path="/api/v1/jobs/abc", token="Bearer reader")
    # The job does not exist upstream, but the call went through the proxy to ask.
    assert r.status_code == 404, r.text
    assert call(seed, path="/api/v1/jobs/def", token="Bearer reader").status_code == 404
    assert call(seed, "DELETE", "/api/v1/jobs/def", token="Bearer reader").status_code == 403
    assert call(seed, path="/api/v1/jobs", token="Bearer reader").status_code == 403
    assert len(lines(count)) == invoked + 1, "one invocation answered every call"


@pytest.mark.parametrize("name", ["crash", "slow", "malformed"])
def test_a_failing_authorizer_is_500_and_nothing_reaches_the_integration(
        apigw, seed, upstream, test_authorizers, name):
    protect(apigw, seed, create_authorizer(apigw, seed, f"authz-{name}", authorizerResultTtlInSeconds=0))
    events = len(lines(seed["events"]))
    upstream_seen = len(upstream.recorded())
    r = call(seed)
    assert r.status_code == 500
    assert r.json() == {"message": None}
    assert r.headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException"
    assert len(lines(test_authorizers[name])) >= 1, "the authorizer ran"
    assert len(lines(seed["events"])) == events
    assert len(upstream.recorded()) == upstream_seen


def test_usage_identifier_key_is_the_api_key_a_plan_meters(apigw, seed, test_authorizers):
    protect(apigw, seed, create_authorizer(apigw, seed, "authz-metered", authorizerResultTtlInSeconds=300))
    apigw.update_rest_api(restApiId=seed["api_id"], patchOperations=[
        {"op": "replace", "path": "/apiKeySource", "value": "AUTHORIZER"}])
    apigw.create_deployment(restApiId=seed["api_id"], stageName="prod")
    try:
        today = time.strftime("%Y-%m-%d", time.gmtime())

        def used():
            usage = apigw.get_usage(usagePlanId=seed["plan_id"], keyId=seed["key_id"],
                                    startDate=today, endDate=today)
            return sum(day[0] for day in usage["items"].get(seed["key_id"], []))

        before = used()
        events = len(lines(seed["events"]))
        # No x-api-key header: the authorizer's usageIdentifierKey is the key.
        for _ in range(3):
            r = call(seed, key=False, token="Bearer tenant-1")
            assert r.status_code == 200, r.text
        deadline = time.monotonic() + 10
        while used() < before + 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert used() == before + 3
        event = json.loads(lines(seed["events"])[events])
        assert event["requestContext"]["identity"]["apiKey"] == seed["key"]
        assert event["requestContext"]["authorizer"]["tenant"] == "t1"
        assert event["requestContext"]["authorizer"]["principalId"] == "tenant-1"
    finally:
        apigw.update_rest_api(restApiId=seed["api_id"], patchOperations=[
            {"op": "replace", "path": "/apiKeySource", "value": "HEADER"}])
        apigw.create_deployment(restApiId=seed["api_id"], stageName="prod")


def test_a_request_authorizer_gets_the_request_and_needs_every_source(apigw, seed, test_authorizers):
    protect(apigw, seed, create_authorizer(
        apigw, seed, "authz-request_kind", type="REQUEST", authorizerResultTtlInSeconds=60,
        identitySource="method.request.header.X-Tenant,method.request.querystring.region"))
    count = test_authorizers["request_kind"]
    invoked = len(lines(count))
    events = len(lines(seed["events"]))
    # A source missing: 401, not invoked.
    r = call(seed, token=None, headers={"X-Tenant": "acme"})
    assert r.status_code == 401 and r.json() == {"message": "Unauthorized"}
    assert len(lines(count)) == invoked
    r = call(seed, token=None, headers={"X-Tenant": "acme"}, params={"region": "eu"})
    assert r.status_code == 200, r.text
    sent = json.loads(lines(count)[invoked])
    assert sent["type"] == "REQUEST"
    assert sent["methodArn"].endswith(f"{seed['api_id']}/prod/GET/api/v1/jobs")
    assert sent["path"] == "/api/v1/jobs" and sent["resource"] == "/api/{proxy+}"
    assert sent["pathParameters"] == {"proxy": "v1/jobs"}
    assert sent["queryStringParameters"] == {"region": "eu"}
    assert "body" not in sent
    proxied = json.loads(lines(seed["events"])[events])
    assert proxied["requestContext"]["authorizer"]["tenant"] == "acme"
    assert proxied["requestContext"]["authorizer"]["principalId"] == "req:acme"


def test_invoke_authorizer_reports_the_decision(apigw, seed):
    authorizer = create_authorizer(apigw, seed, "multitalk-authorizer", authorizerResultTtlInSeconds=300)
    invoked = len(lines(seed["counts"]))
    ok = apigw.test_invoke_authorizer(restApiId=seed["api_id"], authorizerId=authorizer,
                                      headers={"Authorization": GOOD_TOKEN},
                                      pathWithQueryString="/api/v1/jobs")
    assert ok["clientStatus"] == 200
    assert ok["principalId"] == "user"
    policy = json.loads(ok["policy"])
    assert policy["Statement"][0]["Effect"] == "Allow"
    assert policy["Statement"][0]["Resource"].endswith("/GET/api/v1/jobs")
    bad = apigw.test_invoke_authorizer(restApiId=seed["api_id"], authorizerId=authorizer,
                                       headers={"Authorization": "Bearer nope"})
    assert bad["clientStatus"] == 401
    assert "good-token" not in bad["log"] and "nope" not in bad["log"], "tokens stay out of the log"
    # Never cached: both runs invoked the function.
    assert len(lines(seed["counts"])) == invoked + 2
    with pytest.raises(apigw.exceptions.NotFoundException):
        apigw.test_invoke_authorizer(restApiId=seed["api_id"], authorizerId="nope00")


def test_the_authorizers_context_in_templates_and_mappings(apigw, seed, test_authorizers):
    """`$context.authorizer.*` in a template and `context.authorizer.*` in a header
    mapping, on a MOCK method of its own; values rendered as strings, as AWS does."""
    api = seed["api_id"]
    authorizer = create_authorizer(apigw, seed, "authz-metered", authorizerResultTtlInSeconds=0)
    root = next(r["id"] for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/")
    resource = apigw.create_resource(restApiId=api, parentId=root, pathPart="whoami")["id"]
    try:
        apigw.put_method(restApiId=api, resourceId=resource, httpMethod="GET",
                         authorizationType="CUSTOM", authorizerId=authorizer)
        apigw.put_integration(restApiId=api, resourceId=resource, httpMethod="GET", type="MOCK",
                              requestTemplates={"application/json": '{"statusCode": 200}'})
        apigw.put_method_response(restApiId=api, resourceId=resource, httpMethod="GET", statusCode="200",
                                  responseParameters={"method.response.header.X-Principal": False})
        apigw.put_integration_response(
            restApiId=api, resourceId=resource, httpMethod="GET", statusCode="200",
            responseParameters={"method.response.header.X-Principal": "context.authorizer.principalId"},
            responseTemplates={"application/json":
                               '{"tenant": "$context.authorizer.tenant", "tier": "$context.authorizer.tier", '
                               '"beta": "$context.authorizer.beta"}'})
        apigw.create_deployment(restApiId=api, stageName="prod")
        r = requests.get(f"{seed['endpoint']}/whoami", headers={"Authorization": "Bearer t"}, timeout=10)
        assert r.status_code == 200, r.text
        assert r.headers["X-Principal"] == "tenant-1"
        assert r.json() == {"tenant": "t1", "tier": "2", "beta": "true"}
        assert requests.get(f"{seed['endpoint']}/whoami", timeout=10).status_code == 401
    finally:
        apigw.delete_resource(restApiId=api, resourceId=resource)
        apigw.create_deployment(restApiId=api, stageName="prod")

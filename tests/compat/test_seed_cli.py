"""The seed guide's setup (examples/multitalk/setup.sh), run verbatim with the
real `aws` CLI, then inspected with the CLI as a user would after following
the guide."""

import re
import subprocess

import pytest

from conftest import REPO, cli_env

SETUP = REPO / "examples" / "multitalk" / "setup.sh"
LAMBDA_URI = (
    "arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/"
    "arn:aws:lambda:REGION:ACCOUNT:function:multitalk-api-proxy/invocations"
)
LOG_ARN = "arn:aws:logs:REGION:ACCOUNT:log-group:/aws/apigateway/multitalk"

ID10 = re.compile(r"^[a-z0-9]{10}$")
ID6 = re.compile(r"^[a-z0-9]{6}$")


@pytest.fixture(scope="module")
def ids(server):
    p = subprocess.run(
        ["bash", str(SETUP)], env=cli_env(server.endpoint), capture_output=True, text=True, timeout=180
    )
    assert p.returncode == 0, f"setup.sh failed ({p.returncode}):\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    found = dict(re.findall(r"^(API_ID|PROXY_ID|USAGE_PLAN_ID|API_KEY_ID)=(.*)$", p.stdout, re.M))
    assert set(found) == {"API_ID", "PROXY_ID", "USAGE_PLAN_ID", "API_KEY_ID"}, p.stdout
    for k, v in found.items():
        assert v and "\t" not in v and " " not in v, f"{k}={v!r}: a --query returned several or no values"
    return found


def test_ids_have_aws_formats(ids):
    assert ID10.match(ids["API_ID"]), ids
    assert ID6.match(ids["PROXY_ID"]), ids
    assert ID6.match(ids["USAGE_PLAN_ID"]), ids
    assert ID10.match(ids["API_KEY_ID"]), ids


def test_get_rest_apis(aws, ids):
    out = aws("apigateway", "get-rest-apis")
    apis = [a for a in out["items"] if a["name"] == "MeiGen-MultiTalk-API"]
    assert len(apis) == 1, out
    api = apis[0]
    assert api["id"] == ids["API_ID"]
    assert api["description"] == "API Gateway for MeiGen-MultiTalk video generation"
    assert api["endpointConfiguration"]["types"] == ["REGIONAL"]
    assert api["apiKeySource"] == "HEADER"
    assert api["disableExecuteApiEndpoint"] is False
    assert isinstance(api["createdDate"], (int, float)), "CLI v1 prints epoch seconds as received"
    assert ID10.match(api["rootResourceId"])


def test_get_rest_api_by_id(aws, ids):
    api = aws("apigateway", "get-rest-api", "--rest-api-id", ids["API_ID"])
    assert api["name"] == "MeiGen-MultiTalk-API"
    assert api["endpointConfiguration"]["types"] == ["REGIONAL"]


def test_get_resources_tree(aws, ids):
    out = aws("apigateway", "get-resources", "--rest-api-id", ids["API_ID"])
    by_path = {r["path"]: r for r in out["items"]}
    assert set(by_path) == {"/", "/api", "/api/{proxy+}"}
    root, api, proxy = by_path["/"], by_path["/api"], by_path["/api/{proxy+}"]
    assert "parentId" not in root and "pathPart" not in root
    assert ID10.match(root["id"])
    rest_api = aws("apigateway", "get-rest-api", "--rest-api-id", ids["API_ID"])
    assert rest_api["rootResourceId"] == root["id"]
    assert api["parentId"] == root["id"] and api["pathPart"] == "api"
    assert ID6.match(api["id"])
    assert proxy["id"] == ids["PROXY_ID"]
    assert proxy["parentId"] == api["id"] and proxy["pathPart"] == "{proxy+}"
    # without --embed each method is an empty object
    assert proxy["resourceMethods"] == {"ANY": {}}
    assert "resourceMethods" not in api


def test_get_resources_embed_methods(aws, ids):
    out = aws("apigateway", "get-resources", "--rest-api-id", ids["API_ID"], "--embed", "methods")
    proxy = next(r for r in out["items"] if r["path"] == "/api/{proxy+}")
    m = proxy["resourceMethods"]["ANY"]
    assert m["httpMethod"] == "ANY"
    assert m["authorizationType"] == "NONE"
    assert m["apiKeyRequired"] is True
    assert m["methodIntegration"]["type"] == "AWS_PROXY"


def test_get_method(aws, ids):
    m = aws("apigateway", "get-method", "--rest-api-id", ids["API_ID"], "--resource-id", ids["PROXY_ID"],
            "--http-method", "ANY")
    assert m["httpMethod"] == "ANY" and m["authorizationType"] == "NONE" and m["apiKeyRequired"] is True
    assert m["methodIntegration"]["uri"] == LAMBDA_URI


def test_get_integration(aws, ids):
    i = aws("apigateway", "get-integration", "--rest-api-id", ids["API_ID"], "--resource-id", ids["PROXY_ID"],
            "--http-method", "ANY")
    assert i["type"] == "AWS_PROXY"
    assert i["httpMethod"] == "POST"
    assert i["uri"] == LAMBDA_URI
    assert i["timeoutInMillis"] == 29000
    assert i["passthroughBehavior"] == "WHEN_NO_MATCH"
    assert i["cacheNamespace"] == ids["PROXY_ID"]
    assert i["cacheKeyParameters"] == []


def test_deployment_and_stage(aws, ids):
    deps = aws("apigateway", "get-deployments", "--rest-api-id", ids["API_ID"])["items"]
    assert len(deps) == 1
    assert ID6.match(deps[0]["id"])
    stage = aws("apigateway", "get-stage", "--rest-api-id", ids["API_ID"], "--stage-name", "prod")
    assert stage["stageName"] == "prod"
    assert stage["deploymentId"] == deps[0]["id"]
    assert stage["description"] == "Production stage"
    assert stage["accessLogSettings"] == {"destinationArn": LOG_ARN, "format": "$context.requestId"}
    assert stage["tracingEnabled"] is True
    assert stage["cacheClusterEnabled"] is False
    assert stage["cacheClusterStatus"] == "NOT_AVAILABLE"
    assert stage.get("methodSettings", {}) == {}
    assert isinstance(stage["createdDate"], (int, float))
    assert isinstance(stage["lastUpdatedDate"], (int, float))
    stages = aws("apigateway", "get-stages", "--rest-api-id", ids["API_ID"])
    assert [s["stageName"] for s in stages["item"]] == ["prod"]


def test_usage_plan(aws, ids):
    out = aws("apigateway", "get-usage-plans")
    plans = [p for p in out["items"] if p["name"] == "MultitalkBasic"]
    assert len(plans) == 1, out
    p = plans[0]
    assert p["id"] == ids["USAGE_PLAN_ID"]
    assert p["description"] == "Basic usage plan for Multitalk API"
    assert p["throttle"] == {"burstLimit": 100, "rateLimit": 50.0}
    assert p["quota"] == {"limit": 10000, "offset": 0, "period": "DAY"}
    assert [(s["apiId"], s["stage"]) for s in p["apiStages"]] == [(ids["API_ID"], "prod")]
    one = aws("apigateway", "get-usage-plan", "--usage-plan-id", ids["USAGE_PLAN_ID"])
    assert one == p


def test_api_key_with_values(aws, ids):
    out = aws("apigateway", "get-api-keys", "--include-values")
    keys = [k for k in out["items"] if k["name"] == "multitalk-client-key"]
    assert len(keys) == 1, out
    k = keys[0]
    assert k["id"] == ids["API_KEY_ID"]
    assert k["description"] == "API key for Multitalk clients"
    assert k["enabled"] is True
    assert re.fullmatch(r"[A-Za-z0-9]{40}", k["value"]), k["value"]
    # without --include-values the value stays hidden
    hidden = aws("apigateway", "get-api-keys")
    assert all("value" not in x for x in hidden["items"])


def test_usage_plan_keys(aws, ids):
    out = aws("apigateway", "get-usage-plan-keys", "--usage-plan-id", ids["USAGE_PLAN_ID"])
    assert len(out["items"]) == 1
    item = out["items"][0]
    assert item["id"] == ids["API_KEY_ID"]
    assert item["type"] == "API_KEY"
    assert item["name"] == "multitalk-client-key"
    key = aws("apigateway", "get-api-key", "--api-key", ids["API_KEY_ID"], "--include-value")
    assert item["value"] == key["value"]


def test_guide_options_method(aws, ids):
    """The guide's CORS step: an OPTIONS method on the proxy resource."""
    m = aws("apigateway", "put-method", "--rest-api-id", ids["API_ID"], "--resource-id", ids["PROXY_ID"],
            "--http-method", "OPTIONS", "--authorization-type", "NONE")
    assert m["httpMethod"] == "OPTIONS" and m["apiKeyRequired"] is False
    res = aws("apigateway", "get-resource", "--rest-api-id", ids["API_ID"], "--resource-id", ids["PROXY_ID"])
    assert set(res["resourceMethods"]) == {"ANY", "OPTIONS"}


def test_cli_error_for_unknown_api(aws):
    p = aws("apigateway", "get-rest-api", "--rest-api-id", "nosuchapi1", check=False)
    assert p.returncode == 255
    assert "NotFoundException" in p.stderr
    assert "Invalid API identifier specified 000000000000:nosuchapi1" in p.stderr


def test_guide_put_method_verbatim_is_a_cli_error(aws, ids):
    """Why setup.sh writes `--api-key-required` alone: the CLI itself rejects the
    guide's `--api-key-required true` before sending anything."""
    p = aws("apigateway", "put-method", "--rest-api-id", ids["API_ID"], "--resource-id", ids["PROXY_ID"],
            "--http-method", "ANY", "--authorization-type", "NONE", "--api-key-required", "true", check=False)
    assert p.returncode == 255 and "Unknown options: true" in p.stderr


def test_timestamps_are_epoch_seconds(aws, ids):
    import time

    api = aws("apigateway", "get-rest-api", "--rest-api-id", ids["API_ID"])
    assert abs(api["createdDate"] - time.time()) < 600, api["createdDate"]

"""Durability: what the server acknowledged survives a graceful stop (SIGTERM)
and a crash (SIGKILL); a failed call leaves nothing behind."""

import signal

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, Server, strip_meta

LAMBDA_URI = (
    f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
    f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:persist/invocations"
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tollgate-persist")


@pytest.fixture(scope="module")
def world(data_dir):
    """State carried across the tests of this module: the running server and what was created."""
    state = {"server": Server(data_dir).start()}
    yield state
    state["server"].stop(signal.SIGTERM)


def restart(world, sig):
    old = world["server"]
    rc = old.stop(sig)
    world.setdefault("exit_codes", []).append((sig, rc))
    world["server"] = Server(old.data_dir).start()
    return world["server"].client()


def snapshot(c, ids):
    api, proxy = ids["api"], ids["proxy"]
    m = dict(restApiId=api, resourceId=proxy, httpMethod="ANY")
    snap = {
        "rest_api": c.get_rest_api(restApiId=api),
        "resources": sorted(c.get_resources(restApiId=api, embed=["methods"], limit=500)["items"],
                            key=lambda r: r["path"]),
        "method": c.get_method(**m),
        "integration": c.get_integration(**m),
        "deployments": sorted(c.get_deployments(restApiId=api)["items"], key=lambda d: d["id"]),
        "stage": c.get_stage(restApiId=api, stageName="prod"),
        "key": c.get_api_key(apiKey=ids["key"], includeValue=True),
        "plan": c.get_usage_plan(usagePlanId=ids["plan"]),
        "plan_keys": c.get_usage_plan_keys(usagePlanId=ids["plan"])["items"],
        "tags": c.get_tags(resourceArn=f"arn:aws:apigateway:{REGION}::/restapis/{api}"),
        "authorizers": c.get_authorizers(restApiId=api)["items"],
    }
    return {k: strip_meta(v) if isinstance(v, dict) else v for k, v in snap.items()}


def build(c, name):
    api = c.create_rest_api(name=name, description="persisted", endpointConfiguration={"types": ["REGIONAL"]},
                            tags={"p": "1"})
    a = c.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="api")["id"]
    proxy = c.create_resource(restApiId=api["id"], parentId=a, pathPart="{proxy+}")["id"]
    c.put_method(restApiId=api["id"], resourceId=proxy, httpMethod="ANY", authorizationType="NONE",
                 apiKeyRequired=True)
    c.put_integration(restApiId=api["id"], resourceId=proxy, httpMethod="ANY", type="AWS_PROXY",
                      integrationHttpMethod="POST", uri=LAMBDA_URI)
    c.create_authorizer(restApiId=api["id"], name="auth", type="TOKEN", authorizerUri=LAMBDA_URI,
                        identitySource="method.request.header.Authorization")
    c.create_deployment(restApiId=api["id"], stageName="prod", stageDescription="Production stage")
    c.update_stage(restApiId=api["id"], stageName="prod", patchOperations=[
        {"op": "replace", "path": "/tracingEnabled", "value": "true"},
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "7"},
        {"op": "replace", "path": "/variables/v", "value": "1"}])
    plan = c.create_usage_plan(name=f"{name}-plan", throttle={"burstLimit": 100, "rateLimit": 50.0},
                               quota={"limit": 10000, "period": "DAY"},
                               apiStages=[{"apiId": api["id"], "stage": "prod"}])["id"]
    key = c.create_api_key(name=f"{name}-key", enabled=True)["id"]
    c.create_usage_plan_key(usagePlanId=plan, keyId=key, keyType="API_KEY")
    return {"api": api["id"], "proxy": proxy, "plan": plan, "key": key}


def test_graceful_restart_keeps_everything(world):
    c = world["server"].client()
    ids = build(c, "persist-graceful")
    before = snapshot(c, ids)
    world["ids"], world["before"] = ids, before
    c2 = restart(world, signal.SIGTERM)
    assert world["exit_codes"][-1][1] == 0, "SIGTERM should be a clean shutdown (exit code 0)"
    assert snapshot(c2, ids) == before


def test_crash_keeps_acknowledged_writes(world):
    if "ids" not in world:
        pytest.skip("needs test_graceful_restart_keeps_everything")
    c = world["server"].client()
    ids = world["ids"]
    root = c.get_rest_api(restApiId=ids["api"])["rootResourceId"]
    extra = c.create_resource(restApiId=ids["api"], parentId=root, pathPart="health")["id"]
    c.put_method(restApiId=ids["api"], resourceId=extra, httpMethod="GET", authorizationType="NONE")
    c.put_integration(restApiId=ids["api"], resourceId=extra, httpMethod="GET", type="MOCK",
                      requestTemplates={"application/json": '{"statusCode": 200}'})
    dep = c.create_deployment(restApiId=ids["api"], stageName="prod")["id"]
    c.update_usage_plan(usagePlanId=ids["plan"], patchOperations=[
        {"op": "replace", "path": "/throttle/rateLimit", "value": "25"}])
    c.update_api_key(apiKey=ids["key"], patchOperations=[{"op": "replace", "path": "/description", "value": "x"}])
    key2 = c.create_api_key(name="persist-crash-key2", value="persist-crash-value-0123456789")["id"]
    c.delete_authorizer(restApiId=ids["api"], authorizerId=c.get_authorizers(restApiId=ids["api"])["items"][0]["id"])
    # the very last write before the crash
    c.update_stage(restApiId=ids["api"], stageName="prod",
                   patchOperations=[{"op": "replace", "path": "/variables/v", "value": "2"}])
    before = snapshot(c, ids)

    c2 = restart(world, signal.SIGKILL)
    after = snapshot(c2, ids)
    assert after == before
    assert after["stage"]["deploymentId"] == dep and after["stage"]["variables"] == {"v": "2"}
    assert after["plan"]["throttle"]["rateLimit"] == 25.0
    assert after["authorizers"] == []
    assert "/health" in {r["path"] for r in after["resources"]}
    assert c2.get_api_key(apiKey=key2, includeValue=True)["value"] == "persist-crash-value-0123456789"


def _err(fn, **kw):
    with pytest.raises(ClientError) as ei:
        fn(**kw)
    return ei.value.response["Error"]["Code"]


def test_failed_calls_leave_nothing(world):
    c = world["server"].client()
    api = c.create_rest_api(name="persist-failures")
    root = api["rootResourceId"]
    # deployment (and its stage) on an API without methods
    assert _err(c.create_deployment, restApiId=api["id"], stageName="ghost") == "BadRequestException"
    c.create_resource(restApiId=api["id"], parentId=root, pathPart="dup")
    assert _err(c.create_resource, restApiId=api["id"], parentId=root, pathPart="dup") == "ConflictException"
    c.put_method(restApiId=api["id"], resourceId=root, httpMethod="POST", authorizationType="NONE")
    assert _err(c.put_integration, restApiId=api["id"], resourceId=root, httpMethod="POST", type="AWS_PROXY",
                integrationHttpMethod="POST", uri="http://example.com/") == "BadRequestException"
    assert _err(c.create_api_key, name="persist-short-key", value="short") == "BadRequestException"
    assert _err(c.put_method, restApiId=api["id"], resourceId=root, httpMethod="GET",
                authorizationType="CUSTOM") == "BadRequestException"

    def check(cl):
        assert cl.get_deployments(restApiId=api["id"])["items"] == []
        assert cl.get_stages(restApiId=api["id"])["item"] == []
        assert sorted(r["path"] for r in cl.get_resources(restApiId=api["id"])["items"]) == ["/", "/dup"]
        assert _err(cl.get_integration, restApiId=api["id"], resourceId=root, httpMethod="POST") == \
            "NotFoundException"
        assert _err(cl.get_method, restApiId=api["id"], resourceId=root, httpMethod="GET") == "NotFoundException"
        assert cl.get_api_keys(nameQuery="persist-short-key")["items"] == []

    check(c)
    check(restart(world, signal.SIGKILL))

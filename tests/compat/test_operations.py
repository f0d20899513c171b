"""Every API Gateway control-plane operation through boto3, with the output
shapes, defaults, ids and error codes/messages of spec/aws-apigw.md §1.

Each test makes its own REST API (unique names) on the module's server, so
the tests are independent. Success status codes are checked against the
botocore model for every call (conftest._check_status)."""

import datetime
import json
import re

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, expect_error, strip_meta

ID10 = re.compile(r"^[a-z0-9]{10}$")
ID6 = re.compile(r"^[a-z0-9]{6}$")
LAMBDA_URI = (
    f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
    f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:my-fn/invocations"
)
DEFAULT_METHOD_SETTING = {
    "metricsEnabled": False,
    "dataTraceEnabled": False,
    "throttlingBurstLimit": 5000,
    "throttlingRateLimit": 10000.0,
    "cachingEnabled": False,
    "cacheTtlInSeconds": 300,
    "cacheDataEncrypted": False,
    "requireAuthorizationForCacheControl": True,
    "unauthorizedCacheControlHeaderStrategy": "SUCCEED_WITH_RESPONSE_HEADER",
}


# --- helpers -----------------------------------------------------------------


def patch(*ops):
    out = []
    for op in ops:
        d = {"op": op[0], "path": op[1]}
        if len(op) > 2:
            d["value"] = op[2]
        out.append(d)
    return out


def today():
    return datetime.datetime.now(datetime.timezone.utc).date()


class Api:
    """A fresh REST API for one test."""

    def __init__(self, apigw, name):
        self.c = apigw
        r = apigw.create_rest_api(name=name)
        self.id = r["id"]
        self.root = r["rootResourceId"]
        self.raw = r

    def resource(self, path_part, parent=None):
        return self.c.create_resource(restApiId=self.id, parentId=parent or self.root, pathPart=path_part)["id"]

    def mock_method(self, resource_id=None, http="GET", **method_kwargs):
        rid = resource_id or self.root
        method_kwargs.setdefault("authorizationType", "NONE")
        self.c.put_method(restApiId=self.id, resourceId=rid, httpMethod=http, **method_kwargs)
        self.c.put_integration(restApiId=self.id, resourceId=rid, httpMethod=http, type="MOCK",
                               requestTemplates={"application/json": '{"statusCode": 200}'})
        return rid

    def deploy(self, stage=None, **kw):
        if stage:
            kw["stageName"] = stage
        return self.c.create_deployment(restApiId=self.id, **kw)["id"]

    def paths(self):
        return {r["path"]: r for r in self.c.get_resources(restApiId=self.id, limit=500)["items"]}


@pytest.fixture
def api(apigw, unique):
    return Api(apigw, f"ops-{unique}")


@pytest.fixture
def deployed(api):
    """An API with GET / (MOCK) and GET /api/{proxy+}, deployed to stage `dev`."""
    api.mock_method()
    api.api_res = api.resource("api")
    api.proxy_res = api.resource("{proxy+}", api.api_res)
    api.mock_method(api.proxy_res)
    api.dep = api.deploy("dev")
    return api


# --- RestApi -----------------------------------------------------------------

def test_create_rest_api_defaults_and_tags(apigw, unique):
    r = apigw.create_rest_api(name=f"n-{unique}", description="d", tags={"team": "x"})
    assert ID10.match(r["id"])
    assert ID10.match(r["rootResourceId"])
    assert r["name"] == f"n-{unique}" and r["description"] == "d"
    assert r["apiKeySource"] == "HEADER"
    assert r["endpointConfiguration"]["types"] == ["EDGE"]
    assert r["endpointConfiguration"].get("ipAddressType") == "ipv4"
    assert r["disableExecuteApiEndpoint"] is False
    assert isinstance(r["createdDate"], datetime.datetime)
    assert r["tags"] == {"team": "x"}
    got = apigw.get_rest_api(restApiId=r["id"])
    assert strip_meta(got) == strip_meta(r)


def test_create_rest_api_options(apigw, unique):
    r = apigw.create_rest_api(
        name=f"o-{unique}", endpointConfiguration={"types": ["REGIONAL"]}, apiKeySource="AUTHORIZER",
        binaryMediaTypes=["image/png"], minimumCompressionSize=1024, disableExecuteApiEndpoint=True,
    )
    assert r["endpointConfiguration"]["types"] == ["REGIONAL"]
    assert r["apiKeySource"] == "AUTHORIZER"
    assert r["binaryMediaTypes"] == ["image/png"]
    assert r["minimumCompressionSize"] == 1024
    assert r["disableExecuteApiEndpoint"] is True


def test_get_rest_apis_pagination(apigw, unique):
    made = {apigw.create_rest_api(name=f"page-{unique}-{i}")["id"] for i in range(3)}
    seen, pages, position = [], 0, None
    while True:
        kw = {"limit": 1}
        if position:
            kw["position"] = position
        r = apigw.get_rest_apis(**kw)
        assert len(r["items"]) <= 1
        seen += [a["id"] for a in r["items"]]
        pages += 1
        position = r.get("position")
        if not position:
            break
        assert pages < 1000
    assert len(seen) == len(set(seen)), "an API appeared on two pages"
    assert made <= set(seen)
    assert len(seen) == len(apigw.get_rest_apis(limit=500)["items"])
    # the paginator follows position too
    all_ids = [a["id"] for page in apigw.get_paginator("get_rest_apis").paginate(PaginationConfig={"PageSize": 2})
               for a in page["items"]]
    assert made <= set(all_ids)


def test_update_rest_api(apigw, api):
    r = apigw.update_rest_api(restApiId=api.id, patchOperations=patch(
        ("replace", "/name", "renamed"), ("replace", "/description", "new desc"),
        ("replace", "/apiKeySource", "AUTHORIZER"), ("add", "/binaryMediaTypes/image~1png"),
        ("replace", "/minimumCompressionSize", "2048")))
    assert r["name"] == "renamed"
    assert r["description"] == "new desc"
    assert r["apiKeySource"] == "AUTHORIZER"
    assert r["binaryMediaTypes"] == ["image/png"]
    assert r["minimumCompressionSize"] == 2048
    # UpdateRestApi's answer always carries `tags`, as AWS's does; otherwise it is the API.
    assert r["tags"] == {}
    assert strip_meta(apigw.get_rest_api(restApiId=api.id)) == {k: v for k, v in strip_meta(r).items() if k != "tags"}
    r = apigw.update_rest_api(restApiId=api.id, patchOperations=patch(("remove", "/binaryMediaTypes/image~1png")))
    assert r.get("binaryMediaTypes", []) == []
    assert r["name"] == "renamed"


def test_update_rest_api_bad_path(apigw, api):
    expect_error("BadRequestException", 400, None, apigw.update_rest_api, restApiId=api.id,
                 patchOperations=patch(("replace", "/nosuchfield", "x")))
    assert apigw.get_rest_api(restApiId=api.id)["name"] == api.raw["name"]


def test_delete_rest_api(apigw, api):
    apigw.delete_rest_api(restApiId=api.id)
    expect_error("NotFoundException", 404, f"Invalid API identifier specified {ACCOUNT}:{api.id}",
                 apigw.get_rest_api, restApiId=api.id)
    expect_error("NotFoundException", 404, f"Invalid API identifier specified {ACCOUNT}:{api.id}",
                 apigw.get_resources, restApiId=api.id)
    assert api.id not in {a["id"] for a in apigw.get_rest_apis(limit=500)["items"]}


# --- Resource ----------------------------------------------------------------

def test_resources_crud(apigw, api):
    users = apigw.create_resource(restApiId=api.id, parentId=api.root, pathPart="users")
    assert ID6.match(users["id"])
    assert users["parentId"] == api.root and users["pathPart"] == "users" and users["path"] == "/users"
    item = apigw.create_resource(restApiId=api.id, parentId=users["id"], pathPart="{userId}")
    assert item["path"] == "/users/{userId}"
    assert strip_meta(apigw.get_resource(restApiId=api.id, resourceId=item["id"])) == strip_meta(item)
    root = apigw.get_resource(restApiId=api.id, resourceId=api.root)
    assert root["path"] == "/" and "parentId" not in root and "pathPart" not in root
    assert set(api.paths()) == {"/", "/users", "/users/{userId}"}


def test_get_resources_embed_methods(apigw, api):
    rid = api.resource("pets")
    apigw.put_method(restApiId=api.id, resourceId=rid, httpMethod="GET", authorizationType="NONE",
                     apiKeyRequired=True)
    plain = {r["path"]: r for r in apigw.get_resources(restApiId=api.id)["items"]}
    assert plain["/pets"]["resourceMethods"] == {"GET": {}}
    emb = {r["path"]: r for r in apigw.get_resources(restApiId=api.id, embed=["methods"])["items"]}
    m = emb["/pets"]["resourceMethods"]["GET"]
    assert m["httpMethod"] == "GET" and m["authorizationType"] == "NONE" and m["apiKeyRequired"] is True


def test_get_resources_pagination(apigw, api):
    for i in range(4):
        api.resource(f"r{i}")
    first = apigw.get_resources(restApiId=api.id, limit=2)
    assert len(first["items"]) == 2 and first.get("position")
    ids = [r["id"] for p in apigw.get_paginator("get_resources").paginate(
        restApiId=api.id, PaginationConfig={"PageSize": 2}) for r in p["items"]]
    assert len(ids) == 5 == len(set(ids))


def test_update_resource_path_part_and_parent(apigw, api):
    a = api.resource("a")
    b = api.resource("b")
    child = api.resource("child", a)
    r = apigw.update_resource(restApiId=api.id, resourceId=a, patchOperations=patch(("replace", "/pathPart", "aa")))
    assert r["pathPart"] == "aa" and r["path"] == "/aa"
    assert apigw.get_resource(restApiId=api.id, resourceId=child)["path"] == "/aa/child"
    r = apigw.update_resource(restApiId=api.id, resourceId=child, patchOperations=patch(("replace", "/parentId", b)))
    assert r["parentId"] == b and r["path"] == "/b/child"
    assert set(api.paths()) == {"/", "/aa", "/b", "/b/child"}


def test_delete_resource_deletes_children(apigw, api):
    parent = api.resource("parent")
    child = api.resource("child", parent)
    grandchild = api.resource("{id}", child)
    apigw.delete_resource(restApiId=api.id, resourceId=parent)
    for rid in (parent, child, grandchild):
        expect_error("NotFoundException", 404, "Invalid Resource identifier specified",
                     apigw.get_resource, restApiId=api.id, resourceId=rid)
    assert set(api.paths()) == {"/"}


def test_duplicate_path_part_conflict(apigw, api):
    api.resource("pets")
    expect_error("ConflictException", 409, "Another resource with the same parent already has this name: pets",
                 apigw.create_resource, restApiId=api.id, parentId=api.root, pathPart="pets")
    assert set(api.paths()) == {"/", "/pets"}


def test_child_of_greedy_resource(apigw, api):
    proxy = api.resource("{proxy+}")
    expect_error("BadRequestException", 400,
                 "Cannot create a child of a resource with a greedy path variable: {proxy+}",
                 apigw.create_resource, restApiId=api.id, parentId=proxy, pathPart="x")
    assert set(api.paths()) == {"/", "/{proxy+}"}


def test_resource_unknown_parent(apigw, api):
    expect_error("NotFoundException", 404, "Invalid Resource identifier specified",
                 apigw.create_resource, restApiId=api.id, parentId="zzzzzz", pathPart="x")
    assert set(api.paths()) == {"/"}


# --- Method ------------------------------------------------------------------

def test_method_crud(apigw, api):
    rid = api.resource("m")
    m = apigw.put_method(restApiId=api.id, resourceId=rid, httpMethod="GET", authorizationType="NONE",
                         requestParameters={"method.request.querystring.q": False})
    assert m["httpMethod"] == "GET" and m["authorizationType"] == "NONE"
    assert m["apiKeyRequired"] is False
    assert m["requestParameters"] == {"method.request.querystring.q": False}
    got = apigw.get_method(restApiId=api.id, resourceId=rid, httpMethod="GET")
    assert got["httpMethod"] == "GET" and got["apiKeyRequired"] is False
    u = apigw.update_method(restApiId=api.id, resourceId=rid, httpMethod="GET", patchOperations=patch(
        ("replace", "/apiKeyRequired", "true"), ("replace", "/authorizationType", "AWS_IAM")))
    assert u["apiKeyRequired"] is True and u["authorizationType"] == "AWS_IAM"
    got = apigw.get_method(restApiId=api.id, resourceId=rid, httpMethod="GET")
    assert got["apiKeyRequired"] is True and got["authorizationType"] == "AWS_IAM"
    apigw.delete_method(restApiId=api.id, resourceId=rid, httpMethod="GET")
    expect_error("NotFoundException", 404, "Invalid Method identifier specified",
                 apigw.get_method, restApiId=api.id, resourceId=rid, httpMethod="GET")
    assert apigw.get_resource(restApiId=api.id, resourceId=rid).get("resourceMethods", {}) == {}


def test_invalid_http_method(apigw, api):
    expect_error("BadRequestException", 400,
                 "Invalid HttpMethod specified. Valid options are GET,PUT,POST,DELETE,PATCH,OPTIONS,HEAD,ANY",
                 apigw.put_method, restApiId=api.id, resourceId=api.root, httpMethod="FETCH",
                 authorizationType="NONE")
    assert apigw.get_resource(restApiId=api.id, resourceId=api.root).get("resourceMethods", {}) == {}


def test_custom_auth_requires_authorizer(apigw, api):
    expect_error("BadRequestException", 400,
                 "Invalid authorizer ID specified. Setting the authorization type to CUSTOM or "
                 "COGNITO_USER_POOLS requires a valid authorizer.",
                 apigw.put_method, restApiId=api.id, resourceId=api.root, httpMethod="GET",
                 authorizationType="CUSTOM")
    expect_error("NotFoundException", 404, None, apigw.get_method, restApiId=api.id, resourceId=api.root,
                 httpMethod="GET")


def test_update_method_bad_path(apigw, api):
    api.mock_method()
    expect_error("BadRequestException", 400, None, apigw.update_method, restApiId=api.id, resourceId=api.root,
                 httpMethod="GET", patchOperations=patch(("replace", "/bogus", "1")))
    assert apigw.get_method(restApiId=api.id, resourceId=api.root, httpMethod="GET")["apiKeyRequired"] is False


# --- MethodResponse ----------------------------------------------------------

def test_method_response_crud(apigw, api):
    api.mock_method()
    kw = dict(restApiId=api.id, resourceId=api.root, httpMethod="GET", statusCode="200")
    r = apigw.put_method_response(responseParameters={"method.response.header.X-Foo": False}, **kw)
    assert r["statusCode"] == "200"
    assert r["responseParameters"] == {"method.response.header.X-Foo": False}
    assert strip_meta(apigw.get_method_response(**kw)) == strip_meta(r)
    m = apigw.get_method(restApiId=api.id, resourceId=api.root, httpMethod="GET")
    assert m["methodResponses"]["200"]["statusCode"] == "200"
    u = apigw.update_method_response(patchOperations=patch(
        ("add", "/responseParameters/method.response.header.X-Bar", "true")), **kw)
    assert u["responseParameters"] == {"method.response.header.X-Foo": False, "method.response.header.X-Bar": True}
    apigw.delete_method_response(**kw)
    expect_error("NotFoundException", 404, "Invalid Response status code specified",
                 apigw.get_method_response, **kw)


# --- Integration -------------------------------------------------------------

def test_integration_http(apigw, api):
    rid = api.resource("h")
    apigw.put_method(restApiId=api.id, resourceId=rid, httpMethod="GET", authorizationType="NONE")
    kw = dict(restApiId=api.id, resourceId=rid, httpMethod="GET")
    i = apigw.put_integration(type="HTTP", integrationHttpMethod="GET", uri="http://example.com/x", **kw)
    assert i["type"] == "HTTP" and i["httpMethod"] == "GET" and i["uri"] == "http://example.com/x"
    assert i["passthroughBehavior"] == "WHEN_NO_MATCH"
    assert i["timeoutInMillis"] == 29000
    assert i["cacheNamespace"] == rid
    assert i["cacheKeyParameters"] == []
    assert strip_meta(apigw.get_integration(**kw)) == strip_meta(i)
    assert apigw.get_method(**kw)["methodIntegration"]["uri"] == "http://example.com/x"
    u = apigw.update_integration(patchOperations=patch(
        ("replace", "/uri", "http://example.com/y"), ("replace", "/timeoutInMillis", "5000")), **kw)
    assert u["uri"] == "http://example.com/y" and u["timeoutInMillis"] == 5000
    assert apigw.get_integration(**kw)["timeoutInMillis"] == 5000
    apigw.delete_integration(**kw)
    expect_error("NotFoundException", 404, "Invalid Integration identifier specified", apigw.get_integration, **kw)
    assert "methodIntegration" not in apigw.get_method(**kw)


def test_integration_http_proxy(apigw, api):
    rid = api.resource("{proxy+}")
    apigw.put_method(restApiId=api.id, resourceId=rid, httpMethod="ANY", authorizationType="NONE",
                     requestParameters={"method.request.path.proxy": True})
    i = apigw.put_integration(restApiId=api.id, resourceId=rid, httpMethod="ANY", type="HTTP_PROXY",
                              integrationHttpMethod="ANY", uri="http://example.com/{proxy}",
                              requestParameters={"integration.request.path.proxy": "method.request.path.proxy"})
    assert i["type"] == "HTTP_PROXY" and i["httpMethod"] == "ANY" and i["uri"] == "http://example.com/{proxy}"
    assert i["requestParameters"] == {"integration.request.path.proxy": "method.request.path.proxy"}


def test_integration_mock(apigw, api):
    apigw.put_method(restApiId=api.id, resourceId=api.root, httpMethod="GET", authorizationType="NONE")
    i = apigw.put_integration(restApiId=api.id, resourceId=api.root, httpMethod="GET", type="MOCK",
                              requestTemplates={"application/json": '{"statusCode": 200}'})
    assert i["type"] == "MOCK"
    assert i["requestTemplates"] == {"application/json": '{"statusCode": 200}'}
    assert i["passthroughBehavior"] == "WHEN_NO_MATCH"
    assert "uri" not in i


def test_integration_aws_proxy(apigw, api):
    apigw.put_method(restApiId=api.id, resourceId=api.root, httpMethod="POST", authorizationType="NONE")
    i = apigw.put_integration(restApiId=api.id, resourceId=api.root, httpMethod="POST", type="AWS_PROXY",
                              integrationHttpMethod="POST", uri=LAMBDA_URI)
    assert i["type"] == "AWS_PROXY" and i["httpMethod"] == "POST" and i["uri"] == LAMBDA_URI
    assert i["timeoutInMillis"] == 29000


def test_integration_aws_proxy_requires_lambda_uri(apigw, api):
    apigw.put_method(restApiId=api.id, resourceId=api.root, httpMethod="POST", authorizationType="NONE")
    kw = dict(restApiId=api.id, resourceId=api.root, httpMethod="POST")
    expect_error("BadRequestException", 400,
                 "Integrations of type 'AWS_PROXY' currently only supports Lambda function and Firehose "
                 "stream invocations.",
                 apigw.put_integration, type="AWS_PROXY", integrationHttpMethod="POST",
                 uri="http://example.com/", **kw)
    expect_error("NotFoundException", 404, "Invalid Integration identifier specified", apigw.get_integration, **kw)


def test_integration_on_missing_method(apigw, api):
    expect_error("NotFoundException", 404, "Invalid Method identifier specified", apigw.put_integration,
                 restApiId=api.id, resourceId=api.root, httpMethod="GET", type="MOCK")


# --- IntegrationResponse -----------------------------------------------------

def test_integration_response_crud(apigw, api):
    api.mock_method()
    base = dict(restApiId=api.id, resourceId=api.root, httpMethod="GET")
    for code in ("200", "400"):
        apigw.put_method_response(statusCode=code, **base)
    r = apigw.put_integration_response(statusCode="200", selectionPattern="",
                                       responseTemplates={"application/json": '{"ok": true}'}, **base)
    assert r["statusCode"] == "200"
    assert r["responseTemplates"] == {"application/json": '{"ok": true}'}
    r4 = apigw.put_integration_response(statusCode="400", selectionPattern=r"4\d{2}", **base)
    assert r4["selectionPattern"] == r"4\d{2}"
    got = apigw.get_integration_response(statusCode="400", **base)
    assert got["statusCode"] == "400" and got["selectionPattern"] == r"4\d{2}"
    integ = apigw.get_integration(**base)
    assert set(integ["integrationResponses"]) == {"200", "400"}
    u = apigw.update_integration_response(statusCode="400", patchOperations=patch(
        ("replace", "/selectionPattern", r"4\d\d")), **base)
    assert u["selectionPattern"] == r"4\d\d"
    assert apigw.get_integration_response(statusCode="400", **base)["selectionPattern"] == r"4\d\d"
    apigw.delete_integration_response(statusCode="400", **base)
    expect_error("NotFoundException", 404, None, apigw.get_integration_response, statusCode="400", **base)
    assert set(apigw.get_integration(**base)["integrationResponses"]) == {"200"}


# --- Deployment --------------------------------------------------------------

def test_deployment_without_stage(apigw, api):
    api.mock_method()
    d = apigw.create_deployment(restApiId=api.id, description="first")
    assert ID6.match(d["id"]) and d["description"] == "first"
    assert isinstance(d["createdDate"], datetime.datetime)
    assert apigw.get_stages(restApiId=api.id)["item"] == []
    g = apigw.get_deployment(restApiId=api.id, deploymentId=d["id"])
    assert g["id"] == d["id"] and g["description"] == "first"
    assert [x["id"] for x in apigw.get_deployments(restApiId=api.id)["items"]] == [d["id"]]


def test_deployment_with_stage_moves_stage(apigw, api):
    api.mock_method()
    d1 = apigw.create_deployment(restApiId=api.id, stageName="dev", stageDescription="Dev stage")["id"]
    s = apigw.get_stage(restApiId=api.id, stageName="dev")
    assert s["deploymentId"] == d1 and s["description"] == "Dev stage"
    d2 = apigw.create_deployment(restApiId=api.id, stageName="dev")["id"]
    assert d2 != d1
    s = apigw.get_stage(restApiId=api.id, stageName="dev")
    assert s["deploymentId"] == d2
    assert s["description"] == "Dev stage"
    assert {x["id"] for x in apigw.get_deployments(restApiId=api.id)["items"]} == {d1, d2}
    assert [x["stageName"] for x in apigw.get_stages(restApiId=api.id)["item"]] == ["dev"]


def test_delete_deployment(apigw, api):
    api.mock_method()
    old = api.deploy()
    active = api.deploy("live")
    expect_error("BadRequestException", 400, "Active stages pointing to this deployment must be moved or deleted",
                 apigw.delete_deployment, restApiId=api.id, deploymentId=active)
    assert apigw.get_deployment(restApiId=api.id, deploymentId=active)["id"] == active
    apigw.delete_deployment(restApiId=api.id, deploymentId=old)
    expect_error("NotFoundException", 404, None, apigw.get_deployment, restApiId=api.id, deploymentId=old)
    assert [x["id"] for x in apigw.get_deployments(restApiId=api.id)["items"]] == [active]


def test_deployment_needs_methods(apigw, api):
    expect_error("BadRequestException", 400, "The REST API doesn't contain any methods",
                 apigw.create_deployment, restApiId=api.id, stageName="dev")
    assert apigw.get_deployments(restApiId=api.id)["items"] == []
    assert apigw.get_stages(restApiId=api.id)["item"] == []


def test_deployment_api_summary(apigw, api):
    api.mock_method(apiKeyRequired=True)
    d = api.deploy()
    g = apigw.get_deployment(restApiId=api.id, deploymentId=d, embed=["apisummary"])
    assert g["apiSummary"] == {"/": {"GET": {"authorizationType": "NONE", "apiKeyRequired": True}}}


# --- Stage -------------------------------------------------------------------

def test_stage_create_get_list(apigw, api):
    api.mock_method()
    d = api.deploy()
    s = apigw.create_stage(restApiId=api.id, stageName="beta", deploymentId=d, description="b",
                           variables={"a": "1"}, tags={"k": "v"})
    assert s["stageName"] == "beta" and s["deploymentId"] == d and s["description"] == "b"
    assert s["variables"] == {"a": "1"}
    assert s["cacheClusterEnabled"] is False
    assert s["cacheClusterStatus"] == "NOT_AVAILABLE"
    assert s["tracingEnabled"] is False
    assert s.get("methodSettings", {}) == {}
    assert s["tags"] == {"k": "v"}
    assert isinstance(s["createdDate"], datetime.datetime)
    g = apigw.get_stage(restApiId=api.id, stageName="beta")
    assert g["variables"] == {"a": "1"} and g["deploymentId"] == d
    d2 = api.deploy("other")
    assert {x["stageName"] for x in apigw.get_stages(restApiId=api.id)["item"]} == {"beta", "other"}
    assert [x["stageName"] for x in apigw.get_stages(restApiId=api.id, deploymentId=d2)["item"]] == ["other"]


def test_stage_duplicate_and_unknown_deployment(apigw, api):
    api.mock_method()
    d = api.deploy("dup")
    expect_error("ConflictException", 409, None, apigw.create_stage, restApiId=api.id, stageName="dup",
                 deploymentId=d)
    expect_error("NotFoundException", 404, None, apigw.create_stage, restApiId=api.id, stageName="x",
                 deploymentId="zzzzzz")
    assert [x["stageName"] for x in apigw.get_stages(restApiId=api.id)["item"]] == ["dup"]


@pytest.mark.parametrize("bad", ["bad name", "bad/name", "bad.name", "x" * 129])
def test_invalid_stage_name(apigw, api, bad):
    api.mock_method()
    d = api.deploy()
    expect_error("BadRequestException", 400, None, apigw.create_stage, restApiId=api.id, stageName=bad,
                 deploymentId=d)
    assert apigw.get_stages(restApiId=api.id)["item"] == []


def update_stage(apigw, api, *ops, stage="dev"):
    r = apigw.update_stage(restApiId=api.id, stageName=stage, patchOperations=patch(*ops))
    g = apigw.get_stage(restApiId=api.id, stageName=stage)
    assert strip_meta(g) == strip_meta(r), "update-stage output differs from a following get-stage"
    return r


def test_update_stage_simple_fields(apigw, deployed):
    api = deployed
    s = update_stage(apigw, api, ("replace", "/description", "new"), ("replace", "/tracingEnabled", "true"))
    assert s["description"] == "new" and s["tracingEnabled"] is True
    s = update_stage(apigw, api, ("replace", "/tracingEnabled", "false"))
    assert s["tracingEnabled"] is False
    d2 = api.deploy()
    s = update_stage(apigw, api, ("replace", "/deploymentId", d2))
    assert s["deploymentId"] == d2


def test_update_stage_variables(apigw, deployed):
    api = deployed
    s = update_stage(apigw, api, ("add", "/variables/x", "1"))
    assert s["variables"] == {"x": "1"}
    s = update_stage(apigw, api, ("replace", "/variables/x", "2"), ("replace", "/variables/y", "3"))
    assert s["variables"] == {"x": "2", "y": "3"}
    s = update_stage(apigw, api, ("remove", "/variables/x"))
    assert s["variables"] == {"y": "3"}


def test_update_stage_cache_cluster(apigw, deployed):
    api = deployed
    s = update_stage(apigw, api, ("replace", "/cacheClusterEnabled", "true"), ("replace", "/cacheClusterSize", "1.6"))
    assert s["cacheClusterEnabled"] is True
    assert s["cacheClusterSize"] == "1.6"
    assert s["cacheClusterStatus"] in ("CREATE_IN_PROGRESS", "AVAILABLE")
    s = update_stage(apigw, api, ("replace", "/cacheClusterEnabled", "false"))
    assert s["cacheClusterEnabled"] is False
    assert s["cacheClusterStatus"] in ("DELETE_IN_PROGRESS", "NOT_AVAILABLE")


def test_update_stage_access_log_settings(apigw, deployed):
    api = deployed
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:access"
    s = update_stage(apigw, api, ("replace", "/accessLogSettings/destinationArn", arn),
                     ("replace", "/accessLogSettings/format", "$context.requestId $context.status"))
    assert s["accessLogSettings"] == {"destinationArn": arn, "format": "$context.requestId $context.status"}
    s = update_stage(apigw, api, ("remove", "/accessLogSettings"))
    assert "accessLogSettings" not in s


def test_update_stage_method_settings_all(apigw, deployed):
    api = deployed
    s = update_stage(apigw, api, ("replace", "/*/*/throttling/burstLimit", "100"),
                     ("replace", "/*/*/throttling/rateLimit", "50"))
    assert s["methodSettings"] == {"*/*": {**DEFAULT_METHOD_SETTING, "throttlingBurstLimit": 100,
                                           "throttlingRateLimit": 50.0}}
    s = update_stage(apigw, api, ("replace", "/*/*/metrics/enabled", "true"),
                     ("replace", "/*/*/logging/loglevel", "INFO"),
                     ("replace", "/*/*/logging/dataTrace", "true"),
                     ("replace", "/*/*/caching/enabled", "true"))
    ms = s["methodSettings"]["*/*"]
    assert ms["metricsEnabled"] is True
    assert ms["loggingLevel"] == "INFO"
    assert ms["dataTraceEnabled"] is True
    assert ms["cachingEnabled"] is True
    assert ms["throttlingBurstLimit"] == 100


def test_update_stage_method_settings_per_method(apigw, deployed):
    api = deployed
    update_stage(apigw, api, ("replace", "/*/*/throttling/burstLimit", "100"),
                 ("replace", "/*/*/metrics/enabled", "true"))
    s = update_stage(apigw, api, ("replace", "/~1api~1{proxy+}/GET/throttling/rateLimit", "5"))
    assert set(s["methodSettings"]) == {"*/*", "~1api~1{proxy+}/GET"}
    per = s["methodSettings"]["~1api~1{proxy+}/GET"]
    # a new per-method entry copies the current */* values
    assert per == {**DEFAULT_METHOD_SETTING, "throttlingBurstLimit": 100, "metricsEnabled": True,
                   "throttlingRateLimit": 5.0}
    # later */* edits do not propagate
    s = update_stage(apigw, api, ("replace", "/*/*/throttling/burstLimit", "200"))
    assert s["methodSettings"]["*/*"]["throttlingBurstLimit"] == 200
    assert s["methodSettings"]["~1api~1{proxy+}/GET"]["throttlingBurstLimit"] == 100
    s = update_stage(apigw, api, ("remove", "/*/*"))
    assert set(s["methodSettings"]) == {"~1api~1{proxy+}/GET"}


@pytest.mark.parametrize("op", [
    ("replace", "/nosuchfield", "x"),
    ("replace", "/*/*/throttling/bogus", "1"),
    ("replace", "/*/*/logging/loglevel", "LOUD"),
    ("replace", "/*/*/throttling/burstLimit", "notanumber"),
    ("replace", "/accessLogSettings/bogus", "x"),
    ("remove", "/*/*"),
])
def test_update_stage_invalid(apigw, deployed, op):
    api = deployed
    before = strip_meta(apigw.get_stage(restApiId=api.id, stageName="dev"))
    expect_error("BadRequestException", 400, None, apigw.update_stage, restApiId=api.id, stageName="dev",
                 patchOperations=patch(op))
    assert strip_meta(apigw.get_stage(restApiId=api.id, stageName="dev")) == before


def test_update_stage_is_atomic(apigw, deployed):
    api = deployed
    before = strip_meta(apigw.get_stage(restApiId=api.id, stageName="dev"))
    expect_error("BadRequestException", 400, None, apigw.update_stage, restApiId=api.id, stageName="dev",
                 patchOperations=patch(("replace", "/description", "changed"), ("replace", "/nosuchfield", "x")))
    assert strip_meta(apigw.get_stage(restApiId=api.id, stageName="dev")) == before


def test_delete_stage(apigw, deployed):
    api = deployed
    apigw.delete_stage(restApiId=api.id, stageName="dev")
    expect_error("NotFoundException", 404, "Invalid Stage identifier specified", apigw.get_stage,
                 restApiId=api.id, stageName="dev")
    assert apigw.get_stages(restApiId=api.id)["item"] == []
    # the deployment is no longer active and can now be deleted
    apigw.delete_deployment(restApiId=api.id, deploymentId=api.dep)


# --- Model -------------------------------------------------------------------

def test_model_crud(apigw, api):
    schema = json.dumps({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
                         "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]})
    m = apigw.create_model(restApiId=api.id, name="Job", contentType="application/json", schema=schema,
                           description="a job")
    assert m["name"] == "Job" and m["contentType"] == "application/json"
    assert m["schema"] == schema and m["description"] == "a job" and m["id"]
    g = apigw.get_model(restApiId=api.id, modelName="Job")
    assert g["id"] == m["id"] and g["schema"] == schema
    assert "Job" in {x["name"] for x in apigw.get_models(restApiId=api.id)["items"]}
    u = apigw.update_model(restApiId=api.id, modelName="Job", patchOperations=patch(
        ("replace", "/description", "changed")))
    assert u["description"] == "changed"
    assert apigw.get_model(restApiId=api.id, modelName="Job")["description"] == "changed"
    apigw.delete_model(restApiId=api.id, modelName="Job")
    expect_error("NotFoundException", 404, None, apigw.get_model, restApiId=api.id, modelName="Job")
    assert "Job" not in {x["name"] for x in apigw.get_models(restApiId=api.id)["items"]}


# --- RequestValidator --------------------------------------------------------

def test_request_validator_crud(apigw, api):
    v = apigw.create_request_validator(restApiId=api.id, name="body-only", validateRequestBody=True,
                                       validateRequestParameters=False)
    assert ID6.match(v["id"])
    assert v["name"] == "body-only" and v["validateRequestBody"] is True and v["validateRequestParameters"] is False
    assert strip_meta(apigw.get_request_validator(restApiId=api.id, requestValidatorId=v["id"])) == strip_meta(v)
    assert [x["id"] for x in apigw.get_request_validators(restApiId=api.id)["items"]] == [v["id"]]
    u = apigw.update_request_validator(restApiId=api.id, requestValidatorId=v["id"], patchOperations=patch(
        ("replace", "/name", "both"), ("replace", "/validateRequestParameters", "true")))
    assert u["name"] == "both" and u["validateRequestParameters"] is True and u["validateRequestBody"] is True
    # a method can use it
    m = apigw.put_method(restApiId=api.id, resourceId=api.root, httpMethod="POST", authorizationType="NONE",
                         requestValidatorId=v["id"])
    assert m["requestValidatorId"] == v["id"]
    apigw.delete_method(restApiId=api.id, resourceId=api.root, httpMethod="POST")
    apigw.delete_request_validator(restApiId=api.id, requestValidatorId=v["id"])
    expect_error("NotFoundException", 404, None, apigw.get_request_validator, restApiId=api.id,
                 requestValidatorId=v["id"])
    assert apigw.get_request_validators(restApiId=api.id)["items"] == []


# --- Authorizer --------------------------------------------------------------

def test_authorizer_crud(apigw, api):
    tok = apigw.create_authorizer(restApiId=api.id, name="tok", type="TOKEN", authorizerUri=LAMBDA_URI,
                                  identitySource="method.request.header.Authorization")
    assert ID6.match(tok["id"])
    assert tok["name"] == "tok" and tok["type"] == "TOKEN" and tok["authorizerUri"] == LAMBDA_URI
    assert tok["identitySource"] == "method.request.header.Authorization"
    assert tok["authorizerResultTtlInSeconds"] == 300
    req = apigw.create_authorizer(restApiId=api.id, name="req", type="REQUEST", authorizerUri=LAMBDA_URI,
                                  identitySource="method.request.header.X-Token,method.request.querystring.t",
                                  authorizerResultTtlInSeconds=0)
    assert req["type"] == "REQUEST" and req["authorizerResultTtlInSeconds"] == 0
    assert strip_meta(apigw.get_authorizer(restApiId=api.id, authorizerId=tok["id"])) == strip_meta(tok)
    assert {x["id"] for x in apigw.get_authorizers(restApiId=api.id)["items"]} == {tok["id"], req["id"]}
    u = apigw.update_authorizer(restApiId=api.id, authorizerId=tok["id"], patchOperations=patch(
        ("replace", "/name", "tok2"), ("replace", "/authorizerResultTtlInSeconds", "60")))
    assert u["name"] == "tok2" and u["authorizerResultTtlInSeconds"] == 60
    # a CUSTOM method needs the authorizer's id
    m = apigw.put_method(restApiId=api.id, resourceId=api.root, httpMethod="GET", authorizationType="CUSTOM",
                         authorizerId=tok["id"])
    assert m["authorizationType"] == "CUSTOM" and m["authorizerId"] == tok["id"]
    apigw.delete_authorizer(restApiId=api.id, authorizerId=req["id"])
    expect_error("NotFoundException", 404, None, apigw.get_authorizer, restApiId=api.id, authorizerId=req["id"])
    assert [x["id"] for x in apigw.get_authorizers(restApiId=api.id)["items"]] == [tok["id"]]


# --- GatewayResponse ---------------------------------------------------------

GATEWAY_RESPONSE_STATUS = {
    "ACCESS_DENIED": "403", "API_CONFIGURATION_ERROR": "500", "AUTHORIZER_CONFIGURATION_ERROR": "500",
    "AUTHORIZER_FAILURE": "500", "BAD_REQUEST_PARAMETERS": "400", "BAD_REQUEST_BODY": "400",
    "EXPIRED_TOKEN": "403", "INTEGRATION_FAILURE": "504", "INTEGRATION_TIMEOUT": "504",
    "INVALID_API_KEY": "403", "INVALID_SIGNATURE": "403", "MISSING_AUTHENTICATION_TOKEN": "403",
    "QUOTA_EXCEEDED": "429", "REQUEST_TOO_LARGE": "413", "RESOURCE_NOT_FOUND": "404", "THROTTLED": "429",
    "UNAUTHORIZED": "401", "UNSUPPORTED_MEDIA_TYPE": "415", "WAF_FILTERED": "403",
}
DEFAULT_TEMPLATE = {"application/json": '{"message":$context.error.messageString}'}


def test_gateway_responses_defaults(apigw, api):
    items = apigw.get_gateway_responses(restApiId=api.id, limit=500)["items"]
    by_type = {x["responseType"]: x for x in items}
    assert set(by_type) == set(GATEWAY_RESPONSE_STATUS) | {"DEFAULT_4XX", "DEFAULT_5XX"}
    for t, x in by_type.items():
        assert x["defaultResponse"] is True, x
        assert x["responseTemplates"] == DEFAULT_TEMPLATE, x
        if t in GATEWAY_RESPONSE_STATUS:
            assert x.get("statusCode") == GATEWAY_RESPONSE_STATUS[t], x
    assert "statusCode" not in by_type["DEFAULT_4XX"] and "statusCode" not in by_type["DEFAULT_5XX"]
    one = apigw.get_gateway_response(restApiId=api.id, responseType="UNAUTHORIZED")
    assert one["defaultResponse"] is True and one["statusCode"] == "401"


def test_gateway_response_crud(apigw, api):
    kw = dict(restApiId=api.id, responseType="UNAUTHORIZED")
    r = apigw.put_gateway_response(statusCode="401",
                                   responseParameters={"gatewayresponse.header.WWW-Authenticate": "'Bearer'"},
                                   responseTemplates={"application/json": '{"error":"auth"}'}, **kw)
    assert r["responseType"] == "UNAUTHORIZED" and r["statusCode"] == "401" and r["defaultResponse"] is False
    assert r["responseParameters"] == {"gatewayresponse.header.WWW-Authenticate": "'Bearer'"}
    assert r["responseTemplates"] == {"application/json": '{"error":"auth"}'}
    assert strip_meta(apigw.get_gateway_response(**kw)) == strip_meta(r)
    listed = {x["responseType"]: x for x in apigw.get_gateway_responses(restApiId=api.id, limit=500)["items"]}
    assert listed["UNAUTHORIZED"]["defaultResponse"] is False
    u = apigw.update_gateway_response(patchOperations=patch(("replace", "/statusCode", "403")), **kw)
    assert u["statusCode"] == "403"
    assert apigw.get_gateway_response(**kw)["statusCode"] == "403"
    apigw.delete_gateway_response(**kw)
    back = apigw.get_gateway_response(**kw)
    assert back["defaultResponse"] is True and back["statusCode"] == "401"
    assert back["responseTemplates"] == DEFAULT_TEMPLATE


# --- ApiKey ------------------------------------------------------------------

def test_api_key_generated(apigw, unique):
    k = apigw.create_api_key(name=f"gen-{unique}")
    assert ID10.match(k["id"])
    assert re.fullmatch(r"[A-Za-z0-9]{40}", k["value"])
    assert k["enabled"] is False
    assert isinstance(k["createdDate"], datetime.datetime)
    assert isinstance(k["lastUpdatedDate"], datetime.datetime)
    g = apigw.get_api_key(apiKey=k["id"])
    assert "value" not in g and g["name"] == f"gen-{unique}" and g["enabled"] is False
    assert apigw.get_api_key(apiKey=k["id"], includeValue=True)["value"] == k["value"]


def test_api_key_given_value(apigw, unique):
    value = f"given-value-{unique}-abcdefgh"
    k = apigw.create_api_key(name=f"val-{unique}", value=value, enabled=True, description="d",
                             customerId="cust-1", tags={"t": "1"})
    assert k["value"] == value and k["enabled"] is True and k["description"] == "d"
    assert k["customerId"] == "cust-1"
    assert k["tags"] == {"t": "1"}


def test_api_key_value_too_short(apigw, unique):
    expect_error("BadRequestException", 400, "API Key value should be at least 20 characters",
                 apigw.create_api_key, name=f"short-{unique}", value="0123456789")
    assert apigw.get_api_keys(nameQuery=f"short-{unique}")["items"] == []


def test_get_api_keys_name_prefix_and_values(apigw, unique):
    a = apigw.create_api_key(name=f"pfx-{unique}-a")
    b = apigw.create_api_key(name=f"pfx-{unique}-b")
    apigw.create_api_key(name=f"other-{unique}")
    listed = apigw.get_api_keys(nameQuery=f"pfx-{unique}", includeValues=True)["items"]
    assert {x["id"] for x in listed} == {a["id"], b["id"]}
    assert {x["value"] for x in listed} == {a["value"], b["value"]}
    hidden = apigw.get_api_keys(nameQuery=f"pfx-{unique}")["items"]
    assert len(hidden) == 2 and all("value" not in x for x in hidden)
    # prefix, not substring
    assert apigw.get_api_keys(nameQuery=f"{unique}")["items"] == []


def test_update_api_key(apigw, unique):
    k = apigw.create_api_key(name=f"upd-{unique}")
    u = apigw.update_api_key(apiKey=k["id"], patchOperations=patch(
        ("replace", "/name", f"upd2-{unique}"), ("replace", "/description", "desc"),
        ("replace", "/enabled", "true"), ("replace", "/customerId", "c-9")))
    assert u["name"] == f"upd2-{unique}" and u["description"] == "desc"
    assert u["enabled"] is True and u["customerId"] == "c-9"
    assert "value" not in u
    g = apigw.get_api_key(apiKey=k["id"])
    assert (g["name"], g["enabled"], g["customerId"]) == (f"upd2-{unique}", True, "c-9")
    expect_error("BadRequestException", 400, None, apigw.update_api_key, apiKey=k["id"],
                 patchOperations=patch(("replace", "/value", "x" * 30)))


def test_delete_api_key(apigw, unique):
    k = apigw.create_api_key(name=f"del-{unique}")
    apigw.delete_api_key(apiKey=k["id"])
    expect_error("NotFoundException", 404, None, apigw.get_api_key, apiKey=k["id"])
    assert apigw.get_api_keys(nameQuery=f"del-{unique}")["items"] == []


# --- UsagePlan, UsagePlanKey, usage -------------------------------------------

def test_usage_plan_crud(apigw, deployed, unique):
    api = deployed
    api.deploy("prod")
    p = apigw.create_usage_plan(name=f"plan-{unique}", description="d",
                                throttle={"burstLimit": 10, "rateLimit": 5.0},
                                quota={"limit": 100, "period": "WEEK"},
                                apiStages=[{"apiId": api.id, "stage": "dev"}], tags={"a": "b"})
    assert ID6.match(p["id"])
    assert p["name"] == f"plan-{unique}" and p["description"] == "d"
    assert p["throttle"] == {"burstLimit": 10, "rateLimit": 5.0}
    assert p["quota"] == {"limit": 100, "offset": 0, "period": "WEEK"}
    assert [(s["apiId"], s["stage"]) for s in p["apiStages"]] == [(api.id, "dev")]
    assert p["tags"] == {"a": "b"}
    assert strip_meta(apigw.get_usage_plan(usagePlanId=p["id"])) == strip_meta(p)
    u = apigw.update_usage_plan(usagePlanId=p["id"], patchOperations=patch(
        ("replace", "/name", f"plan2-{unique}"), ("replace", "/throttle/rateLimit", "20"),
        ("replace", "/throttle/burstLimit", "40"), ("replace", "/quota/limit", "500"),
        ("replace", "/quota/period", "MONTH"), ("add", "/apiStages", f"{api.id}:prod")))
    assert u["name"] == f"plan2-{unique}"
    assert u["throttle"] == {"burstLimit": 40, "rateLimit": 20.0}
    assert u["quota"] == {"limit": 500, "offset": 0, "period": "MONTH"}
    assert sorted((s["apiId"], s["stage"]) for s in u["apiStages"]) == [(api.id, "dev"), (api.id, "prod")]
    u = apigw.update_usage_plan(usagePlanId=p["id"], patchOperations=patch(("remove", "/apiStages", f"{api.id}:dev")))
    assert [(s["apiId"], s["stage"]) for s in u["apiStages"]] == [(api.id, "prod")]
    assert strip_meta(apigw.get_usage_plan(usagePlanId=p["id"])) == strip_meta(u)
    apigw.delete_usage_plan(usagePlanId=p["id"])
    expect_error("NotFoundException", 404, "Invalid Usage Plan ID specified", apigw.get_usage_plan,
                 usagePlanId=p["id"])
    assert p["id"] not in {x["id"] for x in apigw.get_usage_plans(limit=500)["items"]}


def test_usage_plan_bad_patch(apigw, unique):
    p = apigw.create_usage_plan(name=f"badp-{unique}")
    expect_error("BadRequestException", 400, None, apigw.update_usage_plan, usagePlanId=p["id"],
                 patchOperations=patch(("replace", "/nosuchfield", "1")))
    assert strip_meta(apigw.get_usage_plan(usagePlanId=p["id"])) == strip_meta(p)


def test_usage_plan_keys_and_filter(apigw, unique):
    p1 = apigw.create_usage_plan(name=f"pk1-{unique}")
    p2 = apigw.create_usage_plan(name=f"pk2-{unique}")
    k = apigw.create_api_key(name=f"pk-{unique}", enabled=True)
    upk = apigw.create_usage_plan_key(usagePlanId=p1["id"], keyId=k["id"], keyType="API_KEY")
    assert upk["id"] == k["id"] and upk["type"] == "API_KEY"
    assert upk["name"] == f"pk-{unique}" and upk["value"] == k["value"]
    g = apigw.get_usage_plan_key(usagePlanId=p1["id"], keyId=k["id"])
    assert strip_meta(g) == strip_meta(upk)
    assert [strip_meta(x) for x in apigw.get_usage_plan_keys(usagePlanId=p1["id"])["items"]] == [strip_meta(upk)]
    assert apigw.get_usage_plan_keys(usagePlanId=p2["id"])["items"] == []
    # keyId filter on GetUsagePlans
    assert [x["id"] for x in apigw.get_usage_plans(keyId=k["id"])["items"]] == [p1["id"]]
    apigw.delete_usage_plan_key(usagePlanId=p1["id"], keyId=k["id"])
    expect_error("NotFoundException", 404, None, apigw.get_usage_plan_key, usagePlanId=p1["id"], keyId=k["id"])
    assert apigw.get_usage_plan_keys(usagePlanId=p1["id"])["items"] == []
    assert apigw.get_usage_plans(keyId=k["id"])["items"] == []


def test_usage_plan_key_unknown_key(apigw, unique):
    p = apigw.create_usage_plan(name=f"upku-{unique}")
    expect_error("NotFoundException", 404, None, apigw.create_usage_plan_key, usagePlanId=p["id"],
                 keyId="nosuchkey1", keyType="API_KEY")
    assert apigw.get_usage_plan_keys(usagePlanId=p["id"])["items"] == []


def test_get_and_update_usage(apigw, unique):
    p = apigw.create_usage_plan(name=f"use-{unique}", quota={"limit": 100, "period": "DAY"})
    k = apigw.create_api_key(name=f"use-{unique}", enabled=True)
    apigw.create_usage_plan_key(usagePlanId=p["id"], keyId=k["id"], keyType="API_KEY")
    start, end = today() - datetime.timedelta(days=2), today()
    u = apigw.get_usage(usagePlanId=p["id"], startDate=start.isoformat(), endDate=end.isoformat())
    assert u["usagePlanId"] == p["id"]
    assert u["startDate"] == start.isoformat() and u["endDate"] == end.isoformat()
    assert set(u["items"]) == {k["id"]}, "usage values are keyed by the API key id"
    days = u["items"][k["id"]]
    assert len(days) == 3, "one [used, remaining] pair per day, inclusive"
    assert all(len(d) == 2 and d[0] == 0 for d in days), days
    assert days[-1] == [0, 100]
    r = apigw.update_usage(usagePlanId=p["id"], keyId=k["id"], patchOperations=patch(("replace", "/remaining", "42")))
    assert r["usagePlanId"] == p["id"]
    u = apigw.get_usage(usagePlanId=p["id"], startDate=end.isoformat(), endDate=end.isoformat(), keyId=k["id"])
    assert u["items"][k["id"]][-1][1] == 42


# --- tags ----------------------------------------------------------------------

def test_tags_on_rest_api_and_stage(apigw, deployed):
    api = deployed
    api_arn = f"arn:aws:apigateway:{REGION}::/restapis/{api.id}"
    stage_arn = f"{api_arn}/stages/dev"
    apigw.tag_resource(resourceArn=api_arn, tags={"env": "test", "team": "a"})
    assert apigw.get_tags(resourceArn=api_arn)["tags"] == {"env": "test", "team": "a"}
    assert apigw.get_rest_api(restApiId=api.id)["tags"] == {"env": "test", "team": "a"}
    apigw.untag_resource(resourceArn=api_arn, tagKeys=["env"])
    assert apigw.get_tags(resourceArn=api_arn)["tags"] == {"team": "a"}
    apigw.tag_resource(resourceArn=stage_arn, tags={"s": "1"})
    assert apigw.get_tags(resourceArn=stage_arn)["tags"] == {"s": "1"}
    assert apigw.get_stage(restApiId=api.id, stageName="dev")["tags"] == {"s": "1"}
    apigw.untag_resource(resourceArn=stage_arn, tagKeys=["s"])
    assert apigw.get_tags(resourceArn=stage_arn).get("tags", {}) == {}
    # the API's own tags are untouched by the stage's
    assert apigw.get_tags(resourceArn=api_arn)["tags"] == {"team": "a"}


def test_tags_unknown_resource(apigw):
    expect_error("NotFoundException", 404, None, apigw.get_tags,
                 resourceArn=f"arn:aws:apigateway:{REGION}::/restapis/nosuchapi1")


# --- account -------------------------------------------------------------------

def test_account(apigw):
    a = apigw.get_account()
    assert a["throttleSettings"] == {"burstLimit": 5000, "rateLimit": 10000.0}
    role = f"arn:aws:iam::{ACCOUNT}:role/apigw-logs"
    u = apigw.update_account(patchOperations=patch(("replace", "/cloudwatchRoleArn", role)))
    assert u["cloudwatchRoleArn"] == role
    assert apigw.get_account()["cloudwatchRoleArn"] == role
    assert apigw.get_account()["throttleSettings"] == a["throttleSettings"]


# --- unknown ids -----------------------------------------------------------------

def test_unknown_ids_are_404(apigw, deployed):
    api = deployed
    m = dict(restApiId=api.id, resourceId=api.root, httpMethod="GET")
    cases = [
        (apigw.get_rest_api, dict(restApiId="nosuchapi1"), f"Invalid API identifier specified {ACCOUNT}:nosuchapi1"),
        (apigw.get_resource, dict(restApiId=api.id, resourceId="zzzzzz"), "Invalid Resource identifier specified"),
        (apigw.get_method, dict(m, httpMethod="DELETE"), "Invalid Method identifier specified"),
        (apigw.get_method_response, dict(m, statusCode="299"), "Invalid Response status code specified"),
        (apigw.get_integration, dict(restApiId=api.id, resourceId=api.api_res, httpMethod="GET"), None),
        (apigw.get_integration_response, dict(m, statusCode="299"), None),
        (apigw.get_stage, dict(restApiId=api.id, stageName="nostage"), "Invalid Stage identifier specified"),
        (apigw.get_deployment, dict(restApiId=api.id, deploymentId="zzzzzz"), None),
        (apigw.get_model, dict(restApiId=api.id, modelName="NoModel"), None),
        (apigw.get_request_validator, dict(restApiId=api.id, requestValidatorId="zzzzzz"), None),
        (apigw.get_authorizer, dict(restApiId=api.id, authorizerId="zzzzzz"), None),
        (apigw.get_api_key, dict(apiKey="zzzzzzzzzz"), None),
        (apigw.get_usage_plan, dict(usagePlanId="zzzzzz"), "Invalid Usage Plan ID specified"),
        (apigw.get_usage_plan_keys, dict(usagePlanId="zzzzzz"), "Invalid Usage Plan ID specified"),
        (apigw.delete_rest_api, dict(restApiId="nosuchapi1"), f"Invalid API identifier specified {ACCOUNT}:nosuchapi1"),
        (apigw.delete_resource, dict(restApiId=api.id, resourceId="zzzzzz"), "Invalid Resource identifier specified"),
        (apigw.update_stage, dict(restApiId=api.id, stageName="nostage", patchOperations=[]), None),
        (apigw.delete_api_key, dict(apiKey="zzzzzzzzzz"), None),
    ]
    failures = []
    for fn, kw, msg in cases:
        try:
            expect_error("NotFoundException", 404, msg, fn, **kw)
        except AssertionError as e:
            failures.append(f"{fn.__name__}({kw}): {str(e)[:300]}")
        except pytest.fail.Exception as e:  # the call succeeded
            failures.append(f"{fn.__name__}({kw}): {type(e).__name__}: {str(e)[:300]}")
    assert not failures, "\n".join(failures)


# --- more AWS validation -----------------------------------------------------------

def test_timestamps_are_epoch_seconds(apigw, unique):
    now = datetime.datetime.now(datetime.timezone.utc)
    r = apigw.create_rest_api(name=f"ts-{unique}")
    assert abs((r["createdDate"] - now).total_seconds()) < 300, r["createdDate"]
    k = apigw.create_api_key(name=f"ts-{unique}")
    assert abs((k["createdDate"] - now).total_seconds()) < 300, k["createdDate"]


def test_enum_validation_exception(apigw, api):
    apigw.put_method(restApiId=api.id, resourceId=api.root, httpMethod="GET", authorizationType="NONE")
    resp = expect_error("ValidationException", 400, None, apigw.put_integration, restApiId=api.id,
                        resourceId=api.root, httpMethod="GET", type="BOGUS")
    assert resp["Error"]["Message"].startswith(
        "1 validation error detected: Value 'BOGUS' at 'putIntegrationInput.type' failed to satisfy constraint: "
        "Member must satisfy enum value set: ["), resp["Error"]["Message"]
    expect_error("NotFoundException", 404, None, apigw.get_integration, restApiId=api.id, resourceId=api.root,
                 httpMethod="GET")


def test_api_key_value_too_long(apigw, unique):
    expect_error("BadRequestException", 400, "API Key value exceeds maximum size of 128 characters",
                 apigw.create_api_key, name=f"long-{unique}", value="a" * 129)
    assert apigw.get_api_keys(nameQuery=f"long-{unique}")["items"] == []
    k = apigw.create_api_key(name=f"long-{unique}", value="b" * 128)
    assert len(k["value"]) == 128


def test_api_key_stage_keys(apigw, deployed, unique):
    api = deployed
    k = apigw.create_api_key(name=f"sk-{unique}", stageKeys=[{"restApiId": api.id, "stageName": "dev"}])
    assert k["stageKeys"] == [f"{api.id}/dev"]
    assert apigw.get_api_key(apiKey=k["id"])["stageKeys"] == [f"{api.id}/dev"]


def test_minimum_compression_size_range(apigw, unique):
    expect_error("BadRequestException", 400, None, apigw.create_rest_api, name=f"mcs-{unique}",
                 minimumCompressionSize=10485761)
    assert not [a for a in apigw.get_rest_apis(limit=500)["items"] if a["name"] == f"mcs-{unique}"]
    r = apigw.create_rest_api(name=f"mcs-{unique}", minimumCompressionSize=10485760)
    assert r["minimumCompressionSize"] == 10485760


def test_update_stage_caching_settings(apigw, deployed):
    api = deployed
    s = update_stage(apigw, api, ("replace", "/*/*/caching/ttlInSeconds", "60"),
                     ("replace", "/*/*/caching/dataEncrypted", "true"),
                     ("replace", "/*/*/caching/requireAuthorizationForCacheControl", "false"),
                     ("replace", "/*/*/caching/unauthorizedCacheControlHeaderStrategy", "FAIL_WITH_403"))
    assert s["methodSettings"]["*/*"] == {**DEFAULT_METHOD_SETTING, "cacheTtlInSeconds": 60,
                                          "cacheDataEncrypted": True,
                                          "requireAuthorizationForCacheControl": False,
                                          "unauthorizedCacheControlHeaderStrategy": "FAIL_WITH_403"}


@pytest.mark.parametrize("op,message", [
    (("replace", "/nosuchfield", "x"), "Invalid method setting path: /nosuchfield. Must be one of: ["),
    (("replace", "/*/*/throttling/bogus", "1"), "Invalid method setting path: /*/*/throttling/bogus. Must be one of: ["),
    (("replace", "/accessLogSettings/bogus", "x"),
     "Invalid accessLogSettings path. Must be one of : [/accessLogSettings/destinationArn, /accessLogSettings/format]"),
    (("replace", "/accessLogSettings/destinationArn", ""), "Access Log value must not be empty"),
    (("remove", "/*/*"), "Cannot remove method setting */* because there is no method setting for this method "),
])
def test_update_stage_error_messages(apigw, deployed, op, message):
    api = deployed
    resp = expect_error("BadRequestException", 400, None, apigw.update_stage, restApiId=api.id, stageName="dev",
                        patchOperations=patch(op))
    assert resp["Error"]["Message"].startswith(message), resp["Error"]["Message"]


def test_delete_root_resource_refused(apigw, api):
    expect_error("BadRequestException", 400, None, apigw.delete_resource, restApiId=api.id, resourceId=api.root)
    assert set(api.paths()) == {"/"}


def test_api_keys_and_usage_plans_pagination(apigw, unique):
    keys = {apigw.create_api_key(name=f"pg-{unique}-{i}")["id"] for i in range(3)}
    plans = {apigw.create_usage_plan(name=f"pg-{unique}-{i}")["id"] for i in range(3)}
    first = apigw.get_api_keys(nameQuery=f"pg-{unique}", limit=2)
    assert len(first["items"]) == 2 and first.get("position")
    rest = apigw.get_api_keys(nameQuery=f"pg-{unique}", limit=2, position=first["position"])
    assert {k["id"] for k in first["items"] + rest["items"]} == keys
    assert not rest.get("position")
    seen = [p["id"] for page in apigw.get_paginator("get_usage_plans").paginate(PaginationConfig={"PageSize": 2})
            for p in page["items"]]
    assert len(seen) == len(set(seen)) and plans <= set(seen)


def test_usage_plan_method_throttle(apigw, deployed, unique):
    api = deployed
    throttle = {"/api/{proxy+}/GET": {"burstLimit": 5, "rateLimit": 2.0}}
    p = apigw.create_usage_plan(name=f"mt-{unique}", apiStages=[{"apiId": api.id, "stage": "dev", "throttle": throttle}])
    assert p["apiStages"] == [{"apiId": api.id, "stage": "dev", "throttle": throttle}]
    assert apigw.get_usage_plan(usagePlanId=p["id"])["apiStages"] == p["apiStages"]


def test_unknown_api_in_nested_paths(apigw):
    msg = f"Invalid API identifier specified {ACCOUNT}:nosuchapi1"
    for fn, kw in [(apigw.get_stages, {}), (apigw.get_deployments, {}), (apigw.get_authorizers, {}),
                   (apigw.get_models, {}), (apigw.get_gateway_responses, {}),
                   (apigw.create_resource, {"parentId": "abcdef", "pathPart": "x"})]:
        expect_error("NotFoundException", 404, msg, fn, restApiId="nosuchapi1", **kw)


# --- import / put OpenAPI, test-invoke, cache flushes ----------------------------------

def openapi(title, paths, **extensions):
    return json.dumps({"openapi": "3.0.1", "info": {"title": title, "version": "1.0"}, "paths": paths,
                       **extensions}).encode()


MOCK_GET = {"get": {
    "responses": {"200": {"description": "ok"}},
    "x-amazon-apigateway-integration": {
        "type": "mock", "passthroughBehavior": "when_no_match",
        "requestTemplates": {"application/json": '{"statusCode": 200}'},
        "responses": {"default": {"statusCode": "200",
                                  "responseTemplates": {"application/json": '{"pets": []}'}}}}}}


def test_import_rest_api(apigw, unique):
    body = openapi(f"imported-{unique}", {
        "/pets": MOCK_GET,
        "/pets/{petId}": {"get": {
            "parameters": [{"name": "petId", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok"}},
            "x-amazon-apigateway-integration": {
                "type": "http_proxy", "httpMethod": "GET", "uri": "http://example.com/pets/{petId}",
                "requestParameters": {"integration.request.path.petId": "method.request.path.petId"}}}},
    }, **{"x-amazon-apigateway-binary-media-types": ["image/png"],
          "x-amazon-apigateway-api-key-source": "AUTHORIZER"})
    r = apigw.import_rest_api(body=body, parameters={"endpointConfigurationTypes": "REGIONAL"}, failOnWarnings=True)
    assert r["name"] == f"imported-{unique}"
    assert r["endpointConfiguration"]["types"] == ["REGIONAL"]
    assert r["binaryMediaTypes"] == ["image/png"]
    assert r["apiKeySource"] == "AUTHORIZER"
    res = {x["path"]: x for x in apigw.get_resources(restApiId=r["id"])["items"]}
    assert set(res) == {"/", "/pets", "/pets/{petId}"}
    pets = apigw.get_integration(restApiId=r["id"], resourceId=res["/pets"]["id"], httpMethod="GET")
    assert pets["type"] == "MOCK"
    assert pets["requestTemplates"] == {"application/json": '{"statusCode": 200}'}
    assert pets["integrationResponses"]["200"]["responseTemplates"] == {"application/json": '{"pets": []}'}
    m = apigw.get_method(restApiId=r["id"], resourceId=res["/pets/{petId}"]["id"], httpMethod="GET")
    assert m["requestParameters"] == {"method.request.path.petId": True}
    assert m["methodIntegration"]["type"] == "HTTP_PROXY"
    assert m["methodIntegration"]["uri"] == "http://example.com/pets/{petId}"
    assert m["methodIntegration"]["httpMethod"] == "GET"


def test_put_rest_api_overwrite_and_merge(apigw, api):
    r = apigw.put_rest_api(restApiId=api.id, mode="overwrite", body=openapi("put", {"/cats": MOCK_GET}))
    assert r["id"] == api.id
    assert set(api.paths()) == {"/", "/cats"}
    apigw.put_rest_api(restApiId=api.id, mode="merge", body=openapi("put", {"/dogs": MOCK_GET}))
    assert set(api.paths()) == {"/", "/cats", "/dogs"}
    apigw.put_rest_api(restApiId=api.id, mode="overwrite", body=openapi("put", {"/birds": MOCK_GET}))
    assert set(api.paths()) == {"/", "/birds"}


def test_test_invoke_method_mock(apigw, api):
    api.mock_method()
    base = dict(restApiId=api.id, resourceId=api.root, httpMethod="GET")
    apigw.put_method_response(statusCode="200", **base)
    apigw.put_integration_response(statusCode="200", selectionPattern="",
                                   responseTemplates={"application/json": '{"hello": "world"}'}, **base)
    r = apigw.test_invoke_method(pathWithQueryString="/", **base)
    assert r["status"] == 200
    assert json.loads(r["body"]) == {"hello": "world"}
    assert isinstance(r["latency"], int)
    assert "Method completed with status: 200" in r["log"]


def test_flush_stage_caches(apigw, deployed):
    api = deployed
    apigw.flush_stage_cache(restApiId=api.id, stageName="dev")
    apigw.flush_stage_authorizers_cache(restApiId=api.id, stageName="dev")
    expect_error("NotFoundException", 404, None, apigw.flush_stage_cache, restApiId=api.id, stageName="nostage")


# --- more refusals, each leaving the API as it was ----------------------------------

@pytest.mark.parametrize("part", ["a b", "a/b", "{bad", "x{y}"])
def test_invalid_path_part(apigw, api, part):
    resp = expect_error("BadRequestException", 400, None, apigw.create_resource, restApiId=api.id,
                        parentId=api.root, pathPart=part)
    assert resp["Error"]["Message"].startswith("Resource's path part only allow a-zA-Z0-9._- and curly braces "
                                               "at the beginning and the end"), resp["Error"]["Message"]
    assert set(api.paths()) == {"/"}


def test_second_variable_sibling(apigw, api):
    api.resource("{proxy+}")
    expect_error("BadRequestException", 400,
                 "A sibling ({proxy+}) of this resource already has a variable path part -- only one is allowed",
                 apigw.create_resource, restApiId=api.id, parentId=api.root, pathPart="{id}")
    assert set(api.paths()) == {"/", "/{proxy+}"}


def test_put_method_twice_conflicts(apigw, api):
    apigw.put_method(restApiId=api.id, resourceId=api.root, httpMethod="GET", authorizationType="NONE")
    expect_error("ConflictException", 409, "Method already exists for this resource", apigw.put_method,
                 restApiId=api.id, resourceId=api.root, httpMethod="GET", authorizationType="AWS_IAM")
    assert apigw.get_method(restApiId=api.id, resourceId=api.root, httpMethod="GET")["authorizationType"] == "NONE"


def test_default_models(apigw, api):
    models = {m["name"]: m for m in apigw.get_models(restApiId=api.id)["items"]}
    assert set(models) == {"Empty", "Error"}
    assert all(m["contentType"] == "application/json" for m in models.values())


def test_duplicate_api_key_value(apigw, unique):
    value = f"dup-value-{unique}-0123456789"
    apigw.create_api_key(name=f"dupv-{unique}", value=value)
    expect_error("ConflictException", 409, None, apigw.create_api_key, name=f"dupv2-{unique}", value=value)
    assert [k["name"] for k in apigw.get_api_keys(nameQuery=f"dupv")["items"] if unique in k["name"]] == \
        [f"dupv-{unique}"]


def test_usage_plan_key_rules(apigw, deployed, unique):
    api = deployed
    p1 = apigw.create_usage_plan(name=f"r1-{unique}", apiStages=[{"apiId": api.id, "stage": "dev"}])
    p2 = apigw.create_usage_plan(name=f"r2-{unique}", apiStages=[{"apiId": api.id, "stage": "dev"}])
    k = apigw.create_api_key(name=f"r-{unique}")
    apigw.create_usage_plan_key(usagePlanId=p1["id"], keyId=k["id"], keyType="API_KEY")
    expect_error("ConflictException", 409, None, apigw.create_usage_plan_key, usagePlanId=p1["id"], keyId=k["id"],
                 keyType="API_KEY")
    # a key joins at most one plan per API stage
    with pytest.raises(ClientError) as ei:
        apigw.create_usage_plan_key(usagePlanId=p2["id"], keyId=k["id"], keyType="API_KEY")
    assert "cannot reference multiple Usage Plans with the same API Stage" in ei.value.response["Error"]["Message"]
    assert apigw.get_usage_plan_keys(usagePlanId=p2["id"])["items"] == []
    assert [p["id"] for p in apigw.get_usage_plans(keyId=k["id"])["items"]] == [p1["id"]]


def test_usage_plan_unknown_stage(apigw, deployed, unique):
    api = deployed
    expect_error("BadRequestException", 400, None, apigw.create_usage_plan, name=f"us-{unique}",
                 apiStages=[{"apiId": api.id, "stage": "nostage"}])
    assert not [p for p in apigw.get_usage_plans(limit=500)["items"] if p["name"] == f"us-{unique}"]

"""AWS's own answers (issue 15) for REST APIs, resources, models, request
validators, authorizers and gateway responses: the checks AWS makes, their
order, codes and messages, and the defaults it fills in. A refused call
changes nothing."""

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, strip_meta

LAMBDA_URI = (
    f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
    f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:my-fn/invocations"
)
DEFAULT_TEMPLATE = {"application/json": '{"message":$context.error.messageString}'}
TYPES_ENUM = ("Member must satisfy constraint: [Member must satisfy enum value set: "
              "[PRIVATE, EDGE, REGIONAL]]")
IP_ENUM = "Member must satisfy enum value set: [ipv4, dualstack]"


def fails(code, status, message, fn, **kwargs):
    with pytest.raises(ClientError) as ei:
        fn(**kwargs)
    resp = ei.value.response
    assert resp["Error"]["Code"] == code, resp
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == status, resp
    assert resp["Error"]["Message"] == message, resp


def ops(*items):
    out = []
    for item in items:
        d = {"op": item[0], "path": item[1]}
        if len(item) > 2:
            d["value"] = item[2]
        out.append(d)
    return out


@pytest.fixture(scope="module")
def raw(server):
    """A client that sends what it is given (no client-side validation)."""
    return boto3.session.Session(
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION,
    ).client("apigateway", endpoint_url=server.endpoint,
             config=Config(parameter_validation=False, retries={"max_attempts": 1}))


@pytest.fixture
def api(apigw, unique):
    return apigw.create_rest_api(name=f"answers-{unique}")


# --- RestApi -----------------------------------------------------------------

def test_create_rest_api_checks_in_aws_order(apigw, unique):
    before = len(apigw.get_rest_apis(limit=500)["items"])
    create = apigw.create_rest_api
    name = f"bad-{unique}"
    # every enum failure at once, before any other check
    fails("ValidationException", 400,
          "2 validation errors detected: Value '[wrong]' at 'createRestApiInput.endpointConfiguration.types' "
          f"failed to satisfy constraint: {TYPES_ENUM}; Value 'wrong' at "
          f"'createRestApiInput.endpointConfiguration.ipAddressType' failed to satisfy constraint: {IP_ENUM}",
          create, name=name, description="", minimumCompressionSize=-1,
          endpointConfiguration={"ipAddressType": "wrong", "types": ["wrong"]})
    fails("BadRequestException", 400, "Description cannot be an empty string",
          create, name=name, description="", minimumCompressionSize=-1)
    fails("BadRequestException", 400, "Invalid minimum compression size, must be between 0 and 10485760",
          create, name=name, minimumCompressionSize=-1)
    fails("BadRequestException", 400, "REGIONAL Configuration and EDGE Configuration cannot be both DISABLED.",
          create, name=name, endpointConfiguration={"types": []})
    fails("BadRequestException", 400, "Cannot create an api with multiple Endpoint Types.",
          create, name=name, endpointConfiguration={"types": ["EDGE", "REGIONAL"]})
    fails("BadRequestException", 400, "Only dualstack ipAddressType is supported for Private APIs.",
          create, name=name, endpointConfiguration={"types": ["PRIVATE"], "ipAddressType": "ipv4"})
    assert len(apigw.get_rest_apis(limit=500)["items"]) == before


def test_create_rest_api_endpoint_defaults(apigw, unique):
    made = []
    for types, ip in ((["EDGE"], "ipv4"), (["REGIONAL"], "ipv4"), (["PRIVATE"], "dualstack")):
        r = apigw.create_rest_api(name=f"ep-{unique}", endpointConfiguration={"types": types})
        made.append(r["id"])
        assert r["endpointConfiguration"] == {"types": types, "ipAddressType": ip}
        assert "tags" not in r
    r = apigw.create_rest_api(name=f"ep-{unique}", endpointConfiguration={"types": ["EDGE"],
                                                                         "ipAddressType": "dualstack"})
    made.append(r["id"])
    assert r["endpointConfiguration"]["ipAddressType"] == "dualstack"
    # listed oldest first, even within one second
    listed = [a["id"] for a in apigw.get_rest_apis(limit=500)["items"]]
    assert [i for i in listed if i in made] == made
    for api_id in made:
        apigw.delete_rest_api(restApiId=api_id)


def test_update_rest_api_media_types_and_texts(apigw, api):
    kw = {"restApiId": api["id"]}
    r = apigw.update_rest_api(patchOperations=ops(("add", "/binaryMediaTypes/image~1png"),
                                                  ("add", "/binaryMediaTypes/image~1jpeg"),
                                                  ("replace", "/description", "d")), **kw)
    assert r["binaryMediaTypes"] == ["image/png", "image/jpeg"]
    assert r["tags"] == {}
    # a replace takes the old type out and appends the new one
    r = apigw.update_rest_api(patchOperations=ops(("replace", "/binaryMediaTypes/image~1png", "image/gif")), **kw)
    assert r["binaryMediaTypes"] == ["image/jpeg", "image/gif"]
    r = apigw.update_rest_api(patchOperations=ops(("remove", "/description")), **kw)
    assert "description" not in r
    for op in ("add", "replace", "remove"):
        fails("BadRequestException", 400, "Invalid patch path /binaryMediaTypes", apigw.update_rest_api,
              patchOperations=ops((op, "/binaryMediaTypes", "image/gif")), **kw)


def test_update_rest_api_compression(apigw, api):
    kw = {"restApiId": api["id"]}
    assert apigw.update_rest_api(patchOperations=ops(("replace", "/minimumCompressionSize", "0")),
                                 **kw)["minimumCompressionSize"] == 0
    r = apigw.update_rest_api(patchOperations=ops(("replace", "/minimumCompressionSize", "")), **kw)
    assert "minimumCompressionSize" not in r
    for value in ("-1", "test"):
        fails("BadRequestException", 400, "Invalid minimum compression size, must be between 0 and 10485760",
              apigw.update_rest_api, patchOperations=ops(("replace", "/minimumCompressionSize", value)), **kw)
    fails("BadRequestException", 400, "Invalid patch operation specified. Must be one of: [replace]",
          apigw.update_rest_api, patchOperations=ops(("add", "/minimumCompressionSize", "10")), **kw)


def test_update_rest_api_endpoint_configuration(apigw, api):
    kw = {"restApiId": api["id"]}
    r = apigw.update_rest_api(patchOperations=ops(("replace", "/endpointConfiguration/types/0", "REGIONAL"),
                                                  ("replace", "/endpointConfiguration/types/0", "PRIVATE")),
                              **kw)
    # becoming PRIVATE switches to the only addressing a private API takes
    assert r["endpointConfiguration"] == {"types": ["PRIVATE"], "ipAddressType": "dualstack"}
    fails("BadRequestException", 400, "Only dualstack ipAddressType is supported for Private APIs.",
          apigw.update_rest_api, patchOperations=ops(("replace", "/endpointConfiguration/ipAddressType", "ipv4")),
          **kw)
    fails("BadRequestException", 400, "ipAddressType must be either ipv4 or dualstack.",
          apigw.update_rest_api, patchOperations=ops(("replace", "/endpointConfiguration/ipAddressType", "v6")),
          **kw)
    fails("BadRequestException", 400, "Invalid EndpointTypes specified. Valid options are REGIONAL,EDGE,PRIVATE",
          apigw.update_rest_api, patchOperations=ops(("replace", "/endpointConfiguration/types/0", "x")), **kw)
    fails("BadRequestException", 400, "Invalid patch operation specified. Must be one of: [replace]",
          apigw.update_rest_api, patchOperations=ops(("remove", "/endpointConfiguration/ipAddressType")), **kw)
    fails("BadRequestException", 400, "Invalid patch operation specified. Must be 'add'|'remove'|'replace'",
          apigw.update_rest_api, patchOperations=ops(("remove", "/endpointConfiguration/types/0")), **kw)
    # a refused update applies none of its operations
    fails("BadRequestException", 400, "Only dualstack ipAddressType is supported for Private APIs.",
          apigw.update_rest_api, patchOperations=ops(("replace", "/name", "renamed"),
                                                     ("replace", "/endpointConfiguration/ipAddressType", "ipv4")),
          **kw)
    after = apigw.get_rest_api(**kw)
    assert after["name"] == api["name"]
    assert after["endpointConfiguration"] == {"types": ["PRIVATE"], "ipAddressType": "dualstack"}


def test_unknown_patch_op_is_a_validation_error(raw, api):
    with pytest.raises(ClientError) as ei:
        raw.update_rest_api(restApiId=api["id"], patchOperations=[
            {"op": "replace", "path": "/name", "value": "x"}, {"op": "wrong", "path": "/name", "value": "y"}])
    err = ei.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert err["Message"] == (
        "1 validation error detected: Value 'wrong' at 'updateRestApiInput.patchOperations.2.member.op' "
        "failed to satisfy constraint: Member must satisfy enum value set: [add, remove, move, test, replace, copy]")


# --- Resource ----------------------------------------------------------------

def test_update_resource_answers(apigw, api):
    api_id, root = api["id"], api["rootResourceId"]
    update = apigw.update_resource
    fails("BadRequestException", 400, "Root resource cannot update its pathPart.", update, restApiId=api_id,
          resourceId=root, patchOperations=ops(("replace", "/pathPart", "x")))
    fails("BadRequestException", 400, "Root resource cannot update its parentId.", update, restApiId=api_id,
          resourceId=root, patchOperations=ops(("replace", "/parentId", root)))
    pets = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="pets")["id"]
    sub = apigw.create_resource(restApiId=api_id, parentId=pets, pathPart="sub")["id"]
    fails("BadRequestException", 400, "Resources cannot be cyclical.", update, restApiId=api_id,
          resourceId=pets, patchOperations=ops(("replace", "/parentId", sub)))
    fails("NotFoundException", 404, "Invalid Resource identifier specified", update, restApiId=api_id,
          resourceId=pets, patchOperations=ops(("replace", "/parentId", "nosuch")))
    fails("BadRequestException", 400,
          "Invalid patch path  '/invalid' specified for op 'replace'. Must be one of: [/parentId, /pathPart]",
          update, restApiId=api_id, resourceId=pets, patchOperations=ops(("replace", "/invalid", "x")))
    fails("BadRequestException", 400,
          "Invalid patch path  '/pathPart' specified for op 'add'. Please choose supported operations",
          update, restApiId=api_id, resourceId=pets, patchOperations=ops(("add", "/pathPart", "x")))
    moved = update(restApiId=api_id, resourceId=sub, patchOperations=ops(("replace", "/parentId", root)))
    assert (moved["path"], moved["parentId"]) == ("/sub", root)


# --- Authorizer ----------------------------------------------------------------

def test_create_authorizer_on_unknown_api(apigw):
    kw = {"name": "a", "type": "TOKEN", "identitySource": "method.request.header.Authorization"}
    # the input is checked first …
    fails("BadRequestException", 400,
          "Invalid Authorizer URI: nope. Authorizer URI should be a valid API Gateway ARN that represents "
          "a Lambda function invocation.",
          apigw.create_authorizer, restApiId="nosuchapi0", authorizerUri="nope", **kw)
    # … and AWS reports the missing API as a concurrent modification
    fails("ConflictException", 409,
          "Unable to complete operation due to concurrent modification. Please try again later.",
          apigw.create_authorizer, restApiId="nosuchapi0", authorizerUri=LAMBDA_URI, **kw)


# --- Model ---------------------------------------------------------------------

def test_model_answers(apigw, api):
    api_id = api["id"]
    schema = json.dumps({"title": "S", "type": "object"})
    for kwargs in ({"contentType": "application/json"}, {"contentType": "application/xml"},
                   {"contentType": "application/json", "schema": ""}):
        fails("BadRequestException", 400, "Model schema must have at least 1 property or array items defined",
              apigw.create_model, restApiId=api_id, name="NoSchema", **kwargs)
    fails("BadRequestException", 400, "Model name must be non-empty", apigw.create_model, restApiId=api_id,
          name="", contentType="application/json", schema=schema)
    m = apigw.create_model(restApiId=api_id, name="S", contentType="application/json", description="",
                           schema=schema)
    assert "description" not in m
    # an unknown API is reported as an unknown model
    for call in (apigw.get_model, apigw.delete_model):
        fails("NotFoundException", 404, "Invalid model name specified: S", call, restApiId="nosuchapi0",
              modelName="S")
    fails("NotFoundException", 404, "Invalid model name specified: S", apigw.update_model,
          restApiId="nosuchapi0", modelName="S", patchOperations=ops(("replace", "/description", "d")))
    fails("BadRequestException", 400,
          "Invalid patch path  '/name' specified for op 'replace'. Must be one of: [/description, /schema]",
          apigw.update_model, restApiId=api_id, modelName="S", patchOperations=ops(("replace", "/name", "x")))
    fails("BadRequestException", 400, "Model schema must have at least 1 property or array items defined",
          apigw.update_model, restApiId=api_id, modelName="S", patchOperations=ops(("replace", "/schema", "")))
    assert apigw.get_model(restApiId=api_id, modelName="S")["schema"] == schema


# --- RequestValidator ------------------------------------------------------------

def test_request_validator_answers(apigw, api):
    api_id = api["id"]
    fails("BadRequestException", 400, "Invalid REST API identifier specified", apigw.create_request_validator,
          restApiId="nosuchapi0", name="v")
    v = apigw.create_request_validator(restApiId=api_id, name="v", validateRequestBody=True)
    for call in (apigw.get_request_validator, apigw.delete_request_validator):
        fails("NotFoundException", 404, "Invalid Request Validator identifier specified", call,
              restApiId="nosuchapi0", requestValidatorId=v["id"])
    kw = {"restApiId": api_id, "requestValidatorId": v["id"]}
    # replace without a value turns a flag off
    r = apigw.update_request_validator(patchOperations=ops(("replace", "/validateRequestBody")), **kw)
    assert r["validateRequestBody"] is False
    fails("BadRequestException", 400, "Request Validator name cannot be blank", apigw.update_request_validator,
          patchOperations=ops(("replace", "/name")), **kw)
    fails("BadRequestException", 400,
          "Invalid patch path  '/x' specified for op 'replace'. "
          "Must be one of: [/name, /validateRequestParameters, /validateRequestBody]",
          apigw.update_request_validator, patchOperations=ops(("replace", "/x", "true")), **kw)
    fails("BadRequestException", 400,
          "Invalid patch path  '/validateRequestBody' specified for op 'remove'. Please choose supported operations",
          apigw.update_request_validator, patchOperations=ops(("remove", "/validateRequestBody")), **kw)


# --- GatewayResponse ---------------------------------------------------------------

def test_put_gateway_response_fills_defaults(apigw, api):
    kw = {"restApiId": api["id"], "responseType": "MISSING_AUTHENTICATION_TOKEN"}
    apigw.put_gateway_response(statusCode="404", responseParameters={"gatewayresponse.header.a": "'b'"}, **kw)
    # a put replaces the response: what it leaves out is the type's default
    r = strip_meta(apigw.put_gateway_response(responseParameters={"gatewayresponse.header.c": "'d'"}, **kw))
    assert r == {"responseType": "MISSING_AUTHENTICATION_TOKEN", "statusCode": "403", "defaultResponse": False,
                 "responseParameters": {"gatewayresponse.header.c": "'d'"}, "responseTemplates": DEFAULT_TEMPLATE}


def test_default_5xx_lends_itself_to_its_class(apigw, api):
    api_id = api["id"]
    template = {"application/json": '{"m":"$context.error.messageString"}'}
    apigw.put_gateway_response(restApiId=api_id, responseType="DEFAULT_5XX", statusCode="599",
                               responseTemplates=template)
    apigw.put_gateway_response(restApiId=api_id, responseType="AUTHORIZER_FAILURE")
    listed = {r["responseType"]: r for r in apigw.get_gateway_responses(restApiId=api_id, limit=500)["items"]}
    assert (listed["INTEGRATION_TIMEOUT"]["statusCode"], listed["INTEGRATION_TIMEOUT"]["responseTemplates"]) \
        == ("599", template)
    assert listed["INTEGRATION_TIMEOUT"]["defaultResponse"] is True
    assert listed["AUTHORIZER_FAILURE"]["statusCode"] == "500"
    assert listed["THROTTLED"]["statusCode"] == "429"
    assert "statusCode" not in listed["DEFAULT_4XX"]


def test_update_gateway_response_answers(apigw, raw, api):
    kw = {"restApiId": api["id"], "responseType": "DEFAULT_4XX"}
    r = apigw.update_gateway_response(patchOperations=ops(("replace", "/statusCode", "444")), **kw)
    assert (r["statusCode"], r["defaultResponse"], r["responseTemplates"]) == ("444", False, DEFAULT_TEMPLATE)
    for op in ("add", "remove"):
        fails("BadRequestException", 400, "Invalid patch path /statusCode", apigw.update_gateway_response,
              patchOperations=ops((op, "/statusCode", "1")), **kw)
    fails("NotFoundException", 404, "Invalid parameter name specified", apigw.update_gateway_response,
          patchOperations=ops(("replace", "/responseParameters/gatewayresponse.header.x", "'y'")), **kw)
    fails("BadRequestException", 400, "Invalid null or empty value in responseTemplates",
          raw.update_gateway_response, patchOperations=[
              {"op": "replace", "path": "/responseTemplates/application~1xml", "value": None}], **kw)
    fails("BadRequestException", 400, "Invalid patch path null", raw.update_gateway_response,
          patchOperations=[{"op": "add", "value": "x"}], **kw)
    fails("BadRequestException", 400, "Invalid patch path /wrongPath", apigw.update_gateway_response,
          patchOperations=ops(("add", "/wrongPath", "x")), **kw)
    assert apigw.get_gateway_response(**kw)["statusCode"] == "444"


def test_gateway_response_type_is_checked_first(raw):
    with pytest.raises(ClientError) as ei:
        raw.get_gateway_response(restApiId="nosuchapi0", responseType="FAKE")
    err = ei.value.response["Error"]
    assert err["Code"] == "ValidationException"
    assert err["Message"].startswith(
        "1 validation error detected: Value 'FAKE' at 'responseType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [REQUEST_TOO_LARGE, RESOURCE_NOT_FOUND, ")

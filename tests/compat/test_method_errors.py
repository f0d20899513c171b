"""Methods, integrations, their responses and TestInvokeMethod answer bad
input as AWS does: the order of checks (input shape, then API → resource →
method → …), codes, messages, and the shapes AWS records (conformance
snapshots of issue 15)."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import strip_meta

RESOURCE_404 = "Invalid Resource identifier specified"
STATUS_PATTERN = (
    "Value 'wrong' at 'statusCode' failed to satisfy constraint: "
    "Member must satisfy regular expression pattern: [1-5]\\d\\d"
)
OP_ENUM = "failed to satisfy constraint: Member must satisfy enum value set: [add, remove, move, test, replace, copy]"


def error(fn, **kwargs):
    with pytest.raises(ClientError) as ei:
        fn(**kwargs)
    r = ei.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


@pytest.fixture
def api(apigw, unique):
    r = apigw.create_rest_api(name=f"meth-{unique}")
    return r["id"], r["rootResourceId"]


def mock_get(apigw, api_id, rid, http="GET"):
    apigw.put_method(restApiId=api_id, resourceId=rid, httpMethod=http, authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=rid, httpMethod=http, type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})


def test_unknown_api_below_a_resource_names_the_resource(apigw, api):
    _, root = api
    where = dict(restApiId="nope", resourceId=root, httpMethod="GET")
    for fn, extra in [
        (apigw.put_method, {"authorizationType": "NONE"}),
        (apigw.get_method, {}),
        (apigw.update_method, {"patchOperations": []}),
        (apigw.get_integration, {}),
        (apigw.put_integration_response, {"statusCode": "200"}),
        (apigw.get_integration_response, {"statusCode": "200"}),
        (apigw.delete_integration_response, {"statusCode": "200"}),
        (apigw.get_method_response, {"statusCode": "200"}),
        (apigw.test_invoke_method, {}),
    ]:
        assert error(fn, **where, **extra) == ("NotFoundException", 404, RESOURCE_404), fn


def test_put_method_checks_resource_before_method_name(apigw, api):
    api_id, _ = api
    assert error(apigw.put_method, restApiId=api_id, resourceId="nope", httpMethod="WRONG",
                 authorizationType="NONE") == ("NotFoundException", 404, RESOURCE_404)


def test_put_method_request_parameter_names_unique(apigw, api):
    api_id, root = api
    code, status, message = error(
        apigw.put_method, restApiId=api_id, resourceId=root, httpMethod="GET",
        authorizationType="NONE",
        requestParameters={"method.request.querystring.x": False, "method.request.header.x": False})
    assert (code, status) == ("BadRequestException", 400)
    assert message == "Parameter names must be unique across querystring, header and path"
    assert error(apigw.put_method, restApiId=api_id, resourceId=root, httpMethod="GET",
                 authorizationType="NONE", requestValidatorId="fake")[2] == \
        "Invalid Request Validator identifier specified"
    expect = error(apigw.get_method, restApiId=api_id, resourceId=root, httpMethod="GET")
    assert expect[0] == "NotFoundException"  # nothing was half-applied


def test_model_in_use_is_a_conflict_naming_the_method(apigw, api):
    api_id, root = api
    created = apigw.create_model(restApiId=api_id, name="Pet", contentType="application/json",
                                 description="", schema=json.dumps({"type": "object"}))
    assert "description" not in created
    child = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="pets")["id"]
    apigw.put_method(restApiId=api_id, resourceId=child, httpMethod="POST", authorizationType="NONE",
                     requestModels={"application/json": "Pet"})
    assert error(apigw.delete_model, restApiId=api_id, modelName="Pet") == (
        "ConflictException", 409, "Cannot delete model 'Pet', is referenced in method request: /pets/POST")
    apigw.update_method(restApiId=api_id, resourceId=child, httpMethod="POST",
                        patchOperations=[{"op": "remove", "path": "/requestModels/application~1json"}])
    apigw.delete_model(restApiId=api_id, modelName="Pet")


def test_update_method_paths_and_ops(apigw, api):
    api_id, root = api
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="ANY", authorizationType="NONE",
                     apiKeyRequired=True)
    where = dict(restApiId=api_id, resourceId=root, httpMethod="ANY")
    bad = [
        ({"op": "add", "path": "/operationName", "value": "x"},
         "Invalid patch operation specified. Must be one of: [replace]"),
        ({"op": "add", "path": "/httpMethod", "value": "PUT"}, "Invalid patch path /httpMethod"),
        ({"op": "replace", "path": "/requestParameters", "value": "x"}, "Invalid patch path /requestParameters"),
        ({"op": "add", "path": "/requestModels/application/json", "value": "Empty"},
         "Invalid patch path /requestModels/application/json"),
    ]
    for op, message in bad:
        assert error(apigw.update_method, **where, patchOperations=[op]) == (
            "BadRequestException", 400, message)
    # Anything but "true" reads as false.
    r = apigw.update_method(**where, patchOperations=[
        {"op": "replace", "path": "/apiKeyRequired", "value": "whatever"}])
    assert r["apiKeyRequired"] is False


def test_put_integration_shape_checked_first(apigw, api):
    api_id, root = api
    code, status, message = error(apigw.put_integration, restApiId=api_id, resourceId=root,
                                  httpMethod="GET", type="HTTPS_PROXY")
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        "1 validation error detected: Value 'HTTPS_PROXY' at 'putIntegrationInput.type' failed to "
        "satisfy constraint: Member must satisfy enum value set: [HTTP, MOCK, AWS_PROXY, HTTP_PROXY, AWS]")


def test_status_code_and_ops_validated_together(apigw, api):
    api_id, root = api
    mock_get(apigw, api_id, root)
    where = dict(restApiId=api_id, resourceId=root, httpMethod="GET")
    for fn in (apigw.get_integration_response, apigw.put_integration_response,
               apigw.get_method_response, apigw.delete_method_response):
        assert error(fn, **where, statusCode="wrong") == (
            "ValidationException", 400, f"1 validation error detected: {STATUS_PATTERN}")
    code, _, message = error(apigw.update_method_response, **where, statusCode="wrong", patchOperations=[
        {"op": "wrong_op", "path": "/responseParameters/method.response.header.h", "value": "true"},
        {"op": "remove", "path": "/responseModels/application~1json"},
        {"op": "bad", "path": "/x"},
    ])
    assert code == "ValidationException"
    assert message == (
        "3 validation errors detected: "
        f"Value 'wrong_op' at 'updateMethodResponseInput.patchOperations.1.member.op' {OP_ENUM}; "
        f"Value 'bad' at 'updateMethodResponseInput.patchOperations.3.member.op' {OP_ENUM}; "
        f"{STATUS_PATTERN}")


def test_method_response_maps(apigw, api):
    api_id, root = api
    mock_get(apigw, api_id, root)
    where = dict(restApiId=api_id, resourceId=root, httpMethod="GET", statusCode="200")
    # Maps given empty are shown empty.
    r = strip_meta(apigw.put_method_response(**where, responseParameters={}, responseModels={}))
    assert r == {"statusCode": "200", "responseParameters": {}, "responseModels": {}}
    # replace/remove need the key to be there; nothing changes when one fails.
    for op, path, message in [
        ("replace", "/responseParameters/method.response.header.h", "Invalid parameter name specified"),
        ("remove", "/responseParameters/method.response.header.h", "Invalid parameter name specified"),
        ("replace", "/responseModels/application~1json", "Content-Type specified was not found"),
        ("remove", "/responseModels/text~1plain", "Content-Type specified was not found"),
    ]:
        assert error(apigw.update_method_response, **where, patchOperations=[
            {"op": "add", "path": "/responseParameters/method.response.header.other", "value": "true"},
            {"op": op, "path": path, "value": "Empty"},
        ]) == ("NotFoundException", 404, message)
    assert strip_meta(apigw.get_method_response(**where))["responseParameters"] == {}
    assert error(apigw.update_method_response, **where, patchOperations=[
        {"op": "remove", "path": "/wrong/method.response.header.h"}]) == (
        "BadRequestException", 400, "Invalid patch path /wrong/method.response.header.h")
    r = apigw.update_method_response(**where, patchOperations=[
        {"op": "add", "path": "/responseParameters/method.response.header.h", "value": "true"},
        {"op": "add", "path": "/responseModels/application~1json", "value": "Empty"},
    ])
    assert r["responseParameters"] == {"method.response.header.h": True}
    assert r["responseModels"] == {"application/json": "Empty"}
    # A map emptied by patches is left out.
    r = strip_meta(apigw.update_method_response(**where, patchOperations=[
        {"op": "remove", "path": "/responseParameters/method.response.header.h"},
        {"op": "remove", "path": "/responseModels/application~1json"},
    ]))
    assert r == {"statusCode": "200"}


def test_integration_response_empty_template_is_null(apigw, api):
    api_id, root = api
    mock_get(apigw, api_id, root)
    r = apigw.put_integration_response(restApiId=api_id, resourceId=root, httpMethod="GET",
                                       statusCode="200", responseTemplates={"application/json": ""})
    assert r["responseTemplates"] == {"application/json": None}


def test_delete_integration_response_missing_method(apigw, api):
    api_id, root = api
    mock_get(apigw, api_id, root)
    assert error(apigw.delete_integration_response, restApiId=api_id, resourceId=root,
                 httpMethod="POST", statusCode="200") == (
        "NotFoundException", 404, "Invalid Integration identifier specified")


def test_invoke_runs_the_named_method_whatever_the_path(apigw, api):
    api_id, root = api
    pets = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="pets")["id"]
    pet = apigw.create_resource(restApiId=api_id, parentId=pets, pathPart="{petId}")["id"]
    mock_get(apigw, api_id, pet)
    apigw.put_method_response(restApiId=api_id, resourceId=pet, httpMethod="GET", statusCode="200")
    apigw.put_integration_response(
        restApiId=api_id, resourceId=pet, httpMethod="GET", statusCode="200",
        responseTemplates={"application/json": json.dumps({"petId": "$input.params('petId')"})})
    cases = [
        ("/pets/123?foo=bar", {"petId": "123"}, "{petId=123}", "{foo=bar}"),
        (None, {"petId": "{petId}"}, "{petId={petId}}", "{}"),
        ("/random/test", {"petId": ""}, "{}", "{}"),
    ]
    for path, body, path_log, query_log in cases:
        kwargs = {"pathWithQueryString": path} if path else {}
        r = apigw.test_invoke_method(restApiId=api_id, resourceId=pet, httpMethod="GET", **kwargs)
        assert r["status"] == 200, r
        assert json.loads(r["body"]) == body
        assert r["headers"] == {"Content-Type": "application/json"}
        lines = [line.split(" : ", 1)[-1] for line in r["log"].split("\n")]
        assert f"Method request path: {path_log}" in lines
        assert f"Method request query string: {query_log}" in lines
        assert "Successfully completed execution" in lines
    assert error(apigw.test_invoke_method, restApiId=api_id, resourceId=pet, httpMethod="HEAD") == (
        "NotFoundException", 404, "Invalid Method identifier specified")


def test_invoke_any_method_and_failed_execution(apigw, api):
    api_id, root = api
    apigw.put_method(restApiId=api_id, resourceId=root, httpMethod="ANY", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=root, httpMethod="ANY", type="HTTP_PROXY",
                          uri="https://${stageVariables.missing}", integrationHttpMethod="ANY")
    r = apigw.test_invoke_method(restApiId=api_id, resourceId=root, httpMethod="GET")
    assert r["status"] == 500
    assert json.loads(r["body"]) == {"message": "Internal server error"}
    assert r["headers"] == {"x-amzn-ErrorType": "InternalServerErrorException"}
    assert r["log"].rstrip("\n").endswith("Method completed with status: 500")

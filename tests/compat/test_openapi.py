"""ImportRestApi, PutRestApi and GetExport: an OpenAPI file written from AWS's documented
examples imports (with the aws CLI), deploys and serves; its export imports back to the same
API; bad files are refused and change nothing."""
import json
import pathlib

import pytest
import requests
from botocore.exceptions import ClientError

HERE = pathlib.Path(__file__).parent
PETSTORE = HERE / "openapi" / "petstore.yaml"


def shape(apigw, api_id):
    """An API as a user compares two: path → method → method and integration, with the ids
    that differ between copies replaced by what they name."""
    authorizers = {a["id"]: a["name"] for a in apigw.get_authorizers(restApiId=api_id)["items"]}
    validators = {v["id"]: v["name"] for v in apigw.get_request_validators(restApiId=api_id)["items"]}
    out = {}
    for r in apigw.get_resources(restApiId=api_id, limit=500)["items"]:
        methods = {}
        for verb in r.get("resourceMethods", {}):
            m = apigw.get_method(restApiId=api_id, resourceId=r["id"], httpMethod=verb)
            m.pop("ResponseMetadata")
            if "authorizerId" in m:
                m["authorizerId"] = authorizers[m["authorizerId"]]
            if "requestValidatorId" in m:
                m["requestValidatorId"] = validators[m["requestValidatorId"]]
            m.get("methodIntegration", {}).pop("cacheNamespace", None)
            methods[verb] = m
        out[r["path"]] = methods
    return out


def by_path(apigw, api_id):
    return {r["path"]: r for r in apigw.get_resources(restApiId=api_id)["items"]}


@pytest.fixture(scope="module")
def petstore(aws):
    """The pet store, imported with the aws CLI as a user would."""
    return aws("apigateway", "import-rest-api", "--body", f"fileb://{PETSTORE}",
               "--parameters", "endpointConfigurationTypes=REGIONAL", "--fail-on-warnings")


def test_cli_import_builds_the_whole_api(apigw, petstore):
    api = petstore
    assert api["name"] == "PetStore"
    assert api["description"] == "Pets behind API Gateway"
    assert api["endpointConfiguration"]["types"] == ["REGIONAL"]
    assert api["binaryMediaTypes"] == ["image/png"]
    assert api["minimumCompressionSize"] == 1024
    assert "warnings" not in api
    res = by_path(apigw, api["id"])
    assert set(res) == {"/", "/pets", "/pets/{petId}", "/health", "/admin", "/admin/{proxy+}"}
    assert res["/admin/{proxy+}"]["parentId"] == res["/admin"]["id"]

    s = shape(apigw, api["id"])
    assert set(s["/pets"]) == {"GET", "POST"}
    get_pets = s["/pets"]["GET"]
    assert get_pets["operationName"] == "ListPets"
    assert get_pets["requestParameters"] == {"method.request.querystring.type": False,
                                             "method.request.querystring.page": False}
    assert get_pets["requestValidatorId"] == "all"  # the file's default validator
    assert get_pets["methodResponses"]["200"]["responseModels"] == {"application/json": "Pets"}
    assert get_pets["methodResponses"]["200"]["responseParameters"] == {
        "method.response.header.Access-Control-Allow-Origin": False}
    assert get_pets["methodIntegration"]["type"] == "HTTP_PROXY"
    assert get_pets["methodIntegration"]["timeoutInMillis"] == 10000

    post = s["/pets"]["POST"]
    assert post["apiKeyRequired"] is True
    assert post["requestValidatorId"] == "body-only"
    assert post["requestModels"] == {"application/json": "NewPet"}
    assert post["methodIntegration"]["type"] == "AWS_PROXY"
    assert post["methodIntegration"]["uri"].endswith("function:pets/invocations")

    get_pet = s["/pets/{petId}"]["GET"]
    assert get_pet["authorizationType"] == "CUSTOM"
    assert get_pet["authorizerId"] == "petsAuthorizer"
    assert get_pet["requestParameters"] == {"method.request.path.petId": True}
    assert get_pet["methodIntegration"]["requestParameters"] == {
        "integration.request.path.id": "method.request.path.petId"}
    auth = apigw.get_authorizers(restApiId=api["id"])["items"][0]
    assert (auth["type"], auth["identitySource"], auth["authorizerResultTtlInSeconds"]) == \
        ("TOKEN", "method.request.header.Authorization", 60)

    health = s["/health"]["GET"]["methodIntegration"]
    assert health["type"] == "MOCK"
    assert health["passthroughBehavior"] == "WHEN_NO_TEMPLATES"
    assert health["integrationResponses"]["500"]["selectionPattern"] == "5\\d{2}"
    assert "selectionPattern" not in health["integrationResponses"]["200"]

    anym = s["/admin/{proxy+}"]["ANY"]
    assert anym["authorizationType"] == "AWS_IAM"
    assert anym["methodIntegration"]["cacheKeyParameters"] == ["method.request.path.proxy"]

    model = apigw.get_model(restApiId=api["id"], modelName="NewPetResponse")
    assert json.loads(model["schema"])["properties"]["pet"]["$ref"] == \
        f"https://apigateway.amazonaws.com/restapis/{api['id']}/models/Pet"
    names = {m["name"] for m in apigw.get_models(restApiId=api["id"])["items"]}
    assert names >= {"Pet", "Pets", "NewPet", "NewPetResponse", "Empty", "Error"}
    gr = apigw.get_gateway_response(restApiId=api["id"], responseType="MISSING_AUTHENTICATION_TOKEN")
    assert gr["statusCode"] == "404" and gr["defaultResponse"] is False


def test_imported_api_deploys_and_serves(server, apigw, petstore):
    api_id = petstore["id"]
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    base = f"{server.endpoint}/_aws/execute-api/{api_id}/prod"
    r = requests.get(f"{base}/health", timeout=10)
    assert r.status_code == 200
    assert r.json() == {"healthy": True}
    assert r.headers["X-Pet-Store"] == "ok"
    # The file's gateway responses answer for the gateway's own errors.
    r = requests.get(f"{base}/no/such/route", timeout=10)
    assert r.status_code == 404
    assert r.json() == {"message": "no such route"}
    r = requests.post(f"{base}/pets", json={"type": "dog", "price": 30}, timeout=10)
    assert r.status_code == 403  # the API key the file requires is missing
    assert r.headers["Access-Control-Allow-Origin"] == "*"  # DEFAULT_4XX's header


@pytest.mark.parametrize("export_type,accepts", [("oas30", "application/json"),
                                                 ("oas30", "application/yaml"),
                                                 ("swagger", "application/json")])
def test_export_imports_back_to_the_same_api(apigw, petstore, export_type, accepts):
    api_id = petstore["id"]
    if not apigw.get_stages(restApiId=api_id)["item"]:
        apigw.create_deployment(restApiId=api_id, stageName="prod")
    exported = apigw.get_export(restApiId=api_id, stageName="prod", exportType=export_type,
                                parameters={"extensions": "apigateway"}, accepts=accepts)
    assert exported["contentType"].startswith(accepts)
    body = exported["body"].read()
    if accepts == "application/json":
        doc = json.loads(body)
        assert doc.get("openapi", doc.get("swagger")) in ("3.0.1", "2.0")
    else:
        assert body.startswith(b"openapi:")
    again = apigw.import_rest_api(body=body, failOnWarnings=True)
    try:
        assert again["name"] == "PetStore"
        assert again["binaryMediaTypes"] == ["image/png"]
        assert shape(apigw, again["id"]) == shape(apigw, api_id)
        gateway = {g["responseType"]: g for g in apigw.get_gateway_responses(restApiId=again["id"])["items"]}
        assert gateway["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == "404"
    finally:
        apigw.delete_rest_api(restApiId=again["id"])


def test_put_rest_api_merge_keeps_and_overwrite_replaces(apigw, unique):
    api = apigw.create_rest_api(name=f"put-{unique}")
    body = PETSTORE.read_bytes()
    apigw.put_rest_api(restApiId=api["id"], mode="merge", body=body)
    extra = json.dumps({"openapi": "3.0.1", "info": {"title": "extra", "version": "1"}, "paths": {
        "/extra": {"get": {"x-amazon-apigateway-integration": {"type": "mock"}}}}}).encode()
    merged = apigw.put_rest_api(restApiId=api["id"], mode="merge", body=extra)
    assert merged["name"] == f"put-{unique}"  # merge leaves the API's settings
    assert {"/pets", "/extra"} <= set(by_path(apigw, api["id"]))
    replaced = apigw.put_rest_api(restApiId=api["id"], mode="overwrite", body=extra)
    assert replaced["name"] == "extra"
    assert set(by_path(apigw, api["id"])) == {"/", "/extra"}
    assert apigw.get_authorizers(restApiId=api["id"])["items"] == []


def api_count(apigw):
    return len(apigw.get_rest_apis(limit=500)["items"])


BAD_FILES = {
    "not yaml": (b"openapi: [3.0", "Unable to build importer with provided input."),
    "not openapi": (b"name: pets\n", "Unable to build importer with provided input."),
    "unknown model": (json.dumps({"openapi": "3.0.1", "info": {"title": "x"}, "paths": {"/a": {"get": {
        "responses": {"200": {"description": "d", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Nope"}}}}}}}}}).encode(), "Nope"),
    "ref cycle": (json.dumps({"openapi": "3.0.1", "info": {"title": "x"}, "paths": {"/a": {"get": {
        "parameters": [{"$ref": "#/components/parameters/A"}]}}},
        "components": {"parameters": {"A": {"$ref": "#/components/parameters/B"},
                                      "B": {"$ref": "#/components/parameters/A"}}}}).encode(),
        "Too many nested references"),
    "bad integration": (json.dumps({"openapi": "3.0.1", "info": {"title": "x"}, "paths": {"/a": {"get": {
        "x-amazon-apigateway-integration": {"type": "http", "httpMethod": "GET", "uri": "ftp://x"}}}}}).encode(),
        "Unable to put integration on 'GET' for resource at path '/a': Invalid HTTP endpoint specified for URI"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_is_refused_and_changes_nothing(apigw, case):
    body, message = BAD_FILES[case]
    before = api_count(apigw)
    with pytest.raises(ClientError) as e:
        apigw.import_rest_api(body=body)
    err = e.value.response
    assert err["Error"]["Code"] == "BadRequestException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert message in err["Error"]["Message"]
    assert api_count(apigw) == before


def test_fail_on_warnings_turns_a_warning_into_an_error(apigw, unique):
    body = json.dumps({"openapi": "3.0.1", "info": {"title": f"w-{unique}"}, "paths": {"/a": {"get": {
        "parameters": [{"name": "session", "in": "cookie"}],
        "x-amazon-apigateway-integration": {"type": "mock"}}}}}).encode()
    before = api_count(apigw)
    with pytest.raises(ClientError) as e:
        apigw.import_rest_api(body=body, failOnWarnings=True)
    assert e.value.response["Error"]["Message"].startswith("Warnings found during import:")
    assert api_count(apigw) == before
    api = apigw.import_rest_api(body=body)
    try:
        assert any("session" in w for w in api["warnings"])
        assert set(by_path(apigw, api["id"])) == {"/", "/a"}
    finally:
        apigw.delete_rest_api(restApiId=api["id"])


def test_failed_put_leaves_the_api_as_it_was(apigw, unique):
    api = apigw.import_rest_api(body=PETSTORE.read_bytes())
    try:
        before = shape(apigw, api["id"])
        bad = json.dumps({"openapi": "3.0.1", "info": {"title": "x"}, "paths": {
            "/ok": {"get": {"x-amazon-apigateway-integration": {"type": "mock"}}},
            "/{a}/x": {}, "/{b}/y": {}}}).encode()  # two variable siblings: refused
        with pytest.raises(ClientError) as e:
            apigw.put_rest_api(restApiId=api["id"], mode="overwrite", body=bad)
        assert "only one is allowed" in e.value.response["Error"]["Message"]
        assert shape(apigw, api["id"]) == before
    finally:
        apigw.delete_rest_api(restApiId=api["id"])


def test_swagger_base_path_prepend_and_split(apigw):
    body = json.dumps({"swagger": "2.0", "info": {"title": "bp", "version": "1"}, "basePath": "/v1/pets",
                       "paths": {"/list": {"get": {"x-amazon-apigateway-integration": {"type": "mock"}}}}}).encode()
    for mode, expected in [("ignore", "/list"), ("prepend", "/v1/pets/list"), ("split", "/pets/list")]:
        api = apigw.import_rest_api(body=body, parameters={"basepath": mode})
        try:
            paths = set(by_path(apigw, api["id"]))
            assert expected in paths, (mode, paths)
        finally:
            apigw.delete_rest_api(restApiId=api["id"])

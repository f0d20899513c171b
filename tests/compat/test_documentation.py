"""DocumentationParts (CRUD, ImportDocumentationParts) and DocumentationVersions:
AWS's codes and messages (recorded against AWS where the conformance suite
has them), locations with AWS's defaults, and nothing changed by a failed call."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, expect_error, strip_meta

API_PROPS = '{ "description": "Sample API description" }'


@pytest.fixture
def api(apigw, unique):
    api_id = apigw.create_rest_api(name=f"doc-{unique}")["id"]
    yield api_id
    apigw.delete_rest_api(restApiId=api_id)


def definition(parts):
    return json.dumps({
        "openapi": "3.0.0",
        "info": {"title": "doc", "version": "1"},
        "paths": {},
        "x-amazon-apigateway-documentation": {"version": "1", "documentationParts": parts},
    })


def test_part_lifecycle(apigw, api):
    part = apigw.create_documentation_part(restApiId=api, location={"type": "API"}, properties=API_PROPS)
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 201
    pid = part["id"]
    assert strip_meta(part) == {"id": pid, "location": {"type": "API"}, "properties": API_PROPS}
    assert strip_meta(apigw.get_documentation_part(restApiId=api, documentationPartId=pid)) == strip_meta(part)
    assert [p["id"] for p in apigw.get_documentation_parts(restApiId=api)["items"]] == [pid]

    new = '{ "description": "Updated" }'
    up = apigw.update_documentation_part(restApiId=api, documentationPartId=pid,
                                         patchOperations=[{"op": "replace", "path": "/properties", "value": new}])
    assert up["properties"] == new
    assert apigw.get_documentation_part(restApiId=api, documentationPartId=pid)["properties"] == new

    resp = apigw.delete_documentation_part(restApiId=api, documentationPartId=pid)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 202
    expect_error("NotFoundException", 404, "Invalid Documentation part identifier specified",
                 apigw.delete_documentation_part, restApiId=api, documentationPartId=pid)


def test_locations_get_aws_defaults_and_are_unique(apigw, api):
    method = apigw.create_documentation_part(restApiId=api, location={"type": "METHOD", "method": "GET"},
                                             properties='{"description": "m"}')
    assert method["location"] == {"type": "METHOD", "path": "/", "method": "GET"}
    resp = apigw.create_documentation_part(restApiId=api, location={"type": "RESPONSE", "path": "/pets"},
                                           properties='{"description": "r"}')
    assert resp["location"] == {"type": "RESPONSE", "path": "/pets", "method": "*", "statusCode": "*"}
    # The same location (defaults included) again.
    expect_error("ConflictException", 409, "Documentation part already exists",
                 apigw.create_documentation_part, restApiId=api,
                 location={"type": "METHOD", "path": "/", "method": "GET"}, properties='{"a": 1}')
    # A MODEL needs its name; an API takes no path.
    expect_error("BadRequestException", 400, None, apigw.create_documentation_part, restApiId=api,
                 location={"type": "MODEL"}, properties='{"a": 1}')
    expect_error("BadRequestException", 400, None, apigw.create_documentation_part, restApiId=api,
                 location={"type": "API", "path": "/x"}, properties='{"a": 1}')
    # Properties are a JSON document.
    expect_error("BadRequestException", 400, None, apigw.create_documentation_part, restApiId=api,
                 location={"type": "API"}, properties="not json")
    assert len(apigw.get_documentation_parts(restApiId=api)["items"]) == 2
    only = apigw.get_documentation_parts(restApiId=api, type="RESPONSE")["items"]
    assert [p["location"]["type"] for p in only] == ["RESPONSE"]


def test_part_errors(apigw, api):
    for fn, kwargs in [
        (apigw.create_documentation_part, dict(location={"type": "API"}, properties=API_PROPS)),
        (apigw.get_documentation_parts, {}),
        (apigw.delete_documentation_part, dict(documentationPartId="abcdef")),
    ]:
        expect_error("NotFoundException", 404, f"Invalid API identifier specified {ACCOUNT}:nope",
                     fn, restApiId="nope", **kwargs)
    pid = apigw.create_documentation_part(restApiId=api, location={"type": "API"}, properties=API_PROPS)["id"]
    # Get and update through an unknown API say the part is unknown (AWS's answer).
    expect_error("NotFoundException", 404, "Invalid Documentation part identifier specified",
                 apigw.get_documentation_part, restApiId="nope", documentationPartId=pid)
    expect_error("NotFoundException", 404, "Invalid Documentation part identifier specified",
                 apigw.update_documentation_part, restApiId="nope", documentationPartId=pid,
                 patchOperations=[{"op": "replace", "path": "/properties", "value": "{}"}])
    expect_error("BadRequestException", 400,
                 "Invalid patch path  '/properties' specified for op 'add'. Please choose supported operations",
                 apigw.update_documentation_part, restApiId=api, documentationPartId=pid,
                 patchOperations=[{"op": "add", "path": "/properties", "value": "{}"}])
    expect_error("BadRequestException", 400,
                 "Invalid patch path  '/invalidPath' specified for op 'replace'. Must be one of: [/properties]",
                 apigw.update_documentation_part, restApiId=api, documentationPartId=pid,
                 patchOperations=[{"op": "replace", "path": "/properties", "value": "{}"},
                                  {"op": "replace", "path": "/invalidPath", "value": "{}"}])
    # The failed update changed nothing, not even its valid first operation.
    assert apigw.get_documentation_part(restApiId=api, documentationPartId=pid)["properties"] == API_PROPS
    resp = expect_error("ValidationException", 400, None, apigw.create_documentation_part, restApiId=api,
                        location={"type": "INVALID"}, properties=API_PROPS)
    assert "createDocumentationPartInput.location.type" in resp["Error"]["Message"]


def test_import_merge_and_overwrite(apigw, api):
    first = apigw.create_documentation_part(restApiId=api, location={"type": "API"}, properties='{"old": 1}')["id"]
    parts = [
        {"location": {"type": "API"}, "properties": {"description": "API description"}},
        {"location": {"type": "METHOD", "method": "GET"}, "properties": {"description": "m"}},
    ]
    merged = apigw.import_documentation_parts(restApiId=api, mode="merge", body=definition(parts))
    assert merged["ResponseMetadata"]["HTTPStatusCode"] == 200
    # The API part kept its id and took the file's properties.
    assert merged["ids"][0] == first and len(merged["ids"]) == 2
    items = apigw.get_documentation_parts(restApiId=api)["items"]
    assert isinstance(items[0]["properties"], str)
    assert json.loads(items[0]["properties"]) == {"description": "API description"}
    assert items[1]["location"] == {"type": "METHOD", "path": "/", "method": "GET"}

    over = apigw.import_documentation_parts(restApiId=api, mode="overwrite", body=definition(parts[1:]))
    assert [p["id"] for p in apigw.get_documentation_parts(restApiId=api)["items"]] == over["ids"]
    assert len(over["ids"]) == 1


def test_import_bad_files_change_nothing(apigw, api):
    pid = apigw.create_documentation_part(restApiId=api, location={"type": "API"}, properties=API_PROPS)["id"]
    for body in ["{'key:value}", '{"not": "openapi"}', 'test:\n  value:\n    - "a "b" c"\n']:
        expect_error("BadRequestException", 400, "Unable to build importer with provided input.",
                     apigw.import_documentation_parts, restApiId=api, mode="overwrite", body=body)
    bad = definition([{"location": {"type": "MODEL"}, "properties": {"a": 1}}])
    expect_error("BadRequestException", 400, None, apigw.import_documentation_parts, restApiId=api,
                 mode="overwrite", failOnWarnings=True, body=bad)
    assert [p["id"] for p in apigw.get_documentation_parts(restApiId=api)["items"]] == [pid]
    # Without failonwarnings the bad part is skipped with a warning.
    resp = apigw.import_documentation_parts(restApiId=api, mode="merge", body=bad)
    assert resp["ids"] == [] and len(resp["warnings"]) == 1


def test_versions(apigw, api):
    apigw.create_documentation_part(restApiId=api, location={"type": "API"}, properties=API_PROPS)
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    apigw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    apigw.create_deployment(restApiId=api, stageName="prod")

    v = apigw.create_documentation_version(restApiId=api, documentationVersion="1.0", stageName="prod",
                                           description="first")
    assert v["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert v["version"] == "1.0" and v["description"] == "first" and "createdDate" in v
    assert apigw.get_stage(restApiId=api, stageName="prod")["documentationVersion"] == "1.0"
    expect_error("ConflictException", 409, None, apigw.create_documentation_version, restApiId=api,
                 documentationVersion="1.0")
    expect_error("NotFoundException", 404, "Invalid Stage identifier specified",
                 apigw.create_documentation_version, restApiId=api, documentationVersion="2.0", stageName="nope")
    assert [x["version"] for x in apigw.get_documentation_versions(restApiId=api)["items"]] == ["1.0"]

    up = apigw.update_documentation_version(restApiId=api, documentationVersion="1.0",
                                            patchOperations=[{"op": "replace", "path": "/description",
                                                              "value": "renamed"}])
    assert up["description"] == "renamed"
    expect_error("BadRequestException", 400, None, apigw.update_documentation_version, restApiId=api,
                 documentationVersion="1.0", patchOperations=[{"op": "replace", "path": "/version", "value": "x"}])
    assert apigw.get_documentation_version(restApiId=api, documentationVersion="1.0")["description"] == "renamed"

    assert apigw.delete_documentation_version(restApiId=api, documentationVersion="1.0")[
        "ResponseMetadata"]["HTTPStatusCode"] == 202
    expect_error("NotFoundException", 404, "Invalid Documentation version specified",
                 apigw.get_documentation_version, restApiId=api, documentationVersion="1.0")

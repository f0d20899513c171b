"""Custom domain names and base path mappings: the control plane's answers,
and the data plane routing a request by its Host and first path segment to
the mapped API and stage (Tollgate does not terminate TLS: the Host header
of a plain-HTTP request is what is routed on)."""

import signal
from urllib.parse import urlsplit

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, Server, expect_error, make_client, strip_meta

REGIONAL_CERT = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/0f6a1b2c-1111-2222-3333-444455556666"
EDGE_CERT = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/9e8d7c6b-1111-2222-3333-444455556666"


def mock_api(apigw, name, stage="prod"):
    """An API whose GET / and GET /items answer with its name, the resource
    path and $context.domainName, deployed to `stage`."""
    api_id = apigw.create_rest_api(name=name)["id"]
    root = apigw.get_resources(restApiId=api_id)["items"][0]["id"]
    items = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="items")["id"]
    template = ('{"api": "%s", "resource": "$context.resourcePath", '
                '"domain": "$context.domainName", "stage": "$context.stage"}' % name)
    for res in (root, items):
        apigw.put_method(restApiId=api_id, resourceId=res, httpMethod="GET", authorizationType="NONE")
        apigw.put_integration(restApiId=api_id, resourceId=res, httpMethod="GET", type="MOCK",
                              requestTemplates={"application/json": '{"statusCode": 200}'})
        apigw.put_method_response(restApiId=api_id, resourceId=res, httpMethod="GET", statusCode="200")
        apigw.put_integration_response(restApiId=api_id, resourceId=res, httpMethod="GET",
                                       statusCode="200",
                                       responseTemplates={"application/json": template})
    apigw.create_deployment(restApiId=api_id, stageName=stage)
    return api_id


def call(endpoint, host, path):
    """GET `path` on Tollgate's listener with `Host: host:port`, as a client
    whose DNS points the custom domain at Tollgate would send it."""
    port = urlsplit(endpoint).port
    return requests.get(f"{endpoint}{path}", headers={"Host": f"{host}:{port}"}, timeout=10)


def regional_domain(apigw, name):
    return apigw.create_domain_name(domainName=name, regionalCertificateArn=REGIONAL_CERT,
                                    endpointConfiguration={"types": ["REGIONAL"]})


@pytest.fixture(scope="module")
def apis(apigw):
    return mock_api(apigw, "orders"), mock_api(apigw, "users")


def test_two_mappings_route_to_two_apis(server, apigw, apis):
    orders, users = apis
    created = regional_domain(apigw, "api.example.com")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["domainName"] == "api.example.com"
    assert created["regionalDomainName"].startswith("d-")
    assert created["regionalDomainName"].endswith(f".execute-api.{REGION}.amazonaws.com")
    assert created["regionalCertificateArn"] == REGIONAL_CERT
    assert created["endpointConfiguration"] == {"types": ["REGIONAL"]}
    assert created["domainNameStatus"] == "AVAILABLE"
    assert "distributionDomainName" not in created

    m = apigw.create_base_path_mapping(domainName="api.example.com", basePath="orders",
                                       restApiId=orders, stage="prod")
    assert strip_meta(m) == {"basePath": "orders", "restApiId": orders, "stage": "prod"}
    apigw.create_base_path_mapping(domainName="api.example.com", basePath="users",
                                   restApiId=users, stage="prod")

    r = call(server.endpoint, "api.example.com", "/orders/items")
    assert r.status_code == 200, r.text
    assert r.json() == {"api": "orders", "resource": "/items", "domain": "api.example.com",
                        "stage": "prod"}
    r = call(server.endpoint, "api.example.com", "/users")
    assert r.status_code == 200, r.text
    assert r.json()["api"] == "users" and r.json()["resource"] == "/"
    # Host names are case-insensitive.
    assert call(server.endpoint, "API.Example.COM", "/users/items").json()["api"] == "users"

    # A base path no mapping names: AWS's 403.
    r = call(server.endpoint, "api.example.com", "/payments/items")
    assert r.status_code == 403
    assert r.json() == {"message": "Forbidden"}
    assert r.headers["x-amzn-ErrorType"] == "ForbiddenException"
    # The execute-api forms still reach the APIs as before.
    r = requests.get(f"{server.endpoint}/_aws/execute-api/{orders}/prod/items", timeout=10)
    assert r.json()["api"] == "orders"

    listed = apigw.get_base_path_mappings(domainName="api.example.com")["items"]
    assert [i["basePath"] for i in listed] == ["orders", "users"]


def test_none_mapping_catches_every_other_path(server, apigw, apis):
    orders, users = apis
    regional_domain(apigw, "shop.example.com")
    # No base path given: the "(none)" mapping.
    m = apigw.create_base_path_mapping(domainName="shop.example.com", restApiId=orders, stage="prod")
    assert m["basePath"] == "(none)"
    apigw.create_base_path_mapping(domainName="shop.example.com", basePath="v2", restApiId=users,
                                   stage="prod")
    assert call(server.endpoint, "shop.example.com", "/items").json() == {
        "api": "orders", "resource": "/items", "domain": "shop.example.com", "stage": "prod"}
    assert call(server.endpoint, "shop.example.com", "/").json()["api"] == "orders"
    assert call(server.endpoint, "shop.example.com", "/v2/items").json()["api"] == "users"
    # The CLI names the mapping "(none)" as AWS's documentation does.
    got = server.aws("apigateway", "get-base-path-mapping", "--domain-name", "shop.example.com",
                     "--base-path", "(none)")
    assert got == {"basePath": "(none)", "restApiId": orders, "stage": "prod"}


def test_mapping_without_stage_takes_it_from_the_path(server, apigw, apis):
    orders, _ = apis
    regional_domain(apigw, "stages.example.com")
    m = apigw.create_base_path_mapping(domainName="stages.example.com", basePath="o",
                                       restApiId=orders)
    assert strip_meta(m) == {"basePath": "o", "restApiId": orders}
    r = call(server.endpoint, "stages.example.com", "/o/prod/items")
    assert r.status_code == 200 and r.json()["resource"] == "/items"
    r = call(server.endpoint, "stages.example.com", "/o/nosuchstage/items")
    assert r.status_code == 403 and r.json() == {"message": "Forbidden"}


def test_updates_and_deletes_change_the_routing(server, apigw, apis):
    orders, users = apis
    regional_domain(apigw, "move.example.com")
    apigw.create_base_path_mapping(domainName="move.example.com", basePath="a", restApiId=orders,
                                   stage="prod")
    assert call(server.endpoint, "move.example.com", "/a").json()["api"] == "orders"
    up = apigw.update_base_path_mapping(domainName="move.example.com", basePath="a", patchOperations=[
        {"op": "replace", "path": "/basePath", "value": "b"},
        {"op": "replace", "path": "/restapiId", "value": users}])
    assert strip_meta(up) == {"basePath": "b", "restApiId": users, "stage": "prod"}
    assert call(server.endpoint, "move.example.com", "/a").status_code == 403
    assert call(server.endpoint, "move.example.com", "/b").json()["api"] == "users"
    apigw.delete_base_path_mapping(domainName="move.example.com", basePath="b")
    assert call(server.endpoint, "move.example.com", "/b").status_code == 403

    assert apigw.delete_domain_name(domainName="move.example.com")[
        "ResponseMetadata"]["HTTPStatusCode"] == 202
    expect_error("NotFoundException", 404, "Invalid domain name identifier specified",
                 apigw.get_domain_name, domainName="move.example.com")
    # No longer a custom domain: the request is not routed to an API.
    r = call(server.endpoint, "move.example.com", "/b")
    assert '"api"' not in r.text and r.status_code != 200


def test_edge_domain_shows_a_distribution(apigw):
    d = apigw.create_domain_name(domainName="edge.example.com", certificateArn=EDGE_CERT,
                                 certificateName="edge-cert")
    assert d["endpointConfiguration"] == {"types": ["EDGE"]}
    assert d["distributionDomainName"].endswith(".cloudfront.net")
    assert d["distributionHostedZoneId"] == "Z2FDTNDATAQYW2"
    assert d["certificateArn"] == EDGE_CERT and d["certificateName"] == "edge-cert"
    assert "regionalDomainName" not in d
    got = strip_meta(apigw.get_domain_name(domainName="edge.example.com"))
    assert got == {k: v for k, v in strip_meta(d).items()}
    names = [i["domainName"] for i in apigw.get_domain_names()["items"]]
    assert "edge.example.com" in names
    up = apigw.update_domain_name(domainName="edge.example.com", patchOperations=[
        {"op": "replace", "path": "/certificateName", "value": "renamed"}])
    assert up["certificateName"] == "renamed"


def test_control_plane_errors_change_nothing(apigw, apis):
    orders, _ = apis
    regional_domain(apigw, "errors.example.com")
    expect_error("BadRequestException", 400, "The domain name you provided already exists.",
                 regional_domain, apigw=apigw, name="errors.example.com")
    expect_error("NotFoundException", 404, "Invalid domain name identifier specified",
                 apigw.get_domain_name, domainName="nope.example.com")
    expect_error("NotFoundException", 404, "Invalid domain name identifier specified",
                 apigw.create_base_path_mapping, domainName="nope.example.com", restApiId=orders)
    # A regional certificate from another region; an edge one outside us-east-1.
    other = REGIONAL_CERT.replace(REGION, "eu-west-1")
    expect_error("BadRequestException", 400,
                 f"Invalid certificate ARN: {other}. Certificate must be in '{REGION}'.",
                 apigw.create_domain_name, domainName="cert.example.com",
                 regionalCertificateArn=other, endpointConfiguration={"types": ["REGIONAL"]})
    expect_error("BadRequestException", 400,
                 f"Invalid certificate ARN: {other}. Certificate must be in 'us-east-1'.",
                 apigw.create_domain_name, domainName="cert.example.com", certificateArn=other)
    expect_error("BadRequestException", 400, None, apigw.create_domain_name,
                 domainName="nocert.example.com")
    expect_error("BadRequestException", 400, None, apigw.create_domain_name,
                 domainName="../../etc/passwd", certificateArn=EDGE_CERT)
    names = [i["domainName"] for i in apigw.get_domain_names()["items"]]
    assert not {"cert.example.com", "nocert.example.com"} & set(names)

    expect_error("BadRequestException", 400, "Invalid REST API identifier specified",
                 apigw.create_base_path_mapping, domainName="errors.example.com",
                 basePath="x", restApiId="nosuchapi")
    expect_error("BadRequestException", 400, "Invalid stage identifier specified",
                 apigw.create_base_path_mapping, domainName="errors.example.com",
                 basePath="x", restApiId=orders, stage="nosuchstage")
    expect_error("BadRequestException", 400, None, apigw.create_base_path_mapping,
                 domainName="errors.example.com", basePath="..", restApiId=orders)
    apigw.create_base_path_mapping(domainName="errors.example.com", basePath="x",
                                   restApiId=orders, stage="prod")
    expect_error("ConflictException", 409, "Base path already exists for this domain name",
                 apigw.create_base_path_mapping, domainName="errors.example.com",
                 basePath="x", restApiId=orders)
    apigw.create_base_path_mapping(domainName="errors.example.com", restApiId=orders)
    expect_error("ConflictException", 409,
                 "Only one base path mapping is allowed if the base path is empty.",
                 apigw.create_base_path_mapping, domainName="errors.example.com",
                 basePath="(none)", restApiId=orders)
    expect_error("NotFoundException", 404, "Invalid base path mapping identifier specified",
                 apigw.get_base_path_mapping, domainName="errors.example.com", basePath="y")
    # A failed update leaves the mapping as it was.
    expect_error("BadRequestException", 400, "Invalid stage identifier specified",
                 apigw.update_base_path_mapping, domainName="errors.example.com", basePath="x",
                 patchOperations=[{"op": "replace", "path": "/basePath", "value": "z"},
                                  {"op": "replace", "path": "/stage", "value": "nosuchstage"}])
    got = apigw.get_base_path_mapping(domainName="errors.example.com", basePath="x")
    assert strip_meta(got) == {"basePath": "x", "restApiId": orders, "stage": "prod"}
    expect_error("BadRequestException", 400, None, apigw.update_domain_name,
                 domainName="errors.example.com",
                 patchOperations=[{"op": "replace", "path": "/domainName", "value": "x.example.com"}])


def test_mappings_survive_a_restart(tmp_path):
    srv = Server(tmp_path).start()
    try:
        apigw = srv.client()
        api_id = mock_api(apigw, "durable")
        regional_domain(apigw, "durable.example.com")
        apigw.create_base_path_mapping(domainName="durable.example.com", basePath="d",
                                       restApiId=api_id, stage="prod")
        assert call(srv.endpoint, "durable.example.com", "/d/items").json()["api"] == "durable"
    finally:
        srv.stop(signal.SIGTERM)
    srv.start()
    try:
        apigw = make_client(srv.endpoint)
        assert apigw.get_base_path_mapping(domainName="durable.example.com", basePath="d")[
            "restApiId"] == api_id
        r = call(srv.endpoint, "durable.example.com", "/d/items")
        assert r.status_code == 200 and r.json()["api"] == "durable"
    finally:
        srv.stop(signal.SIGTERM)

"""VPC links as stored resources: AWS's validations and messages, PENDING on
create then AVAILABLE (nothing to provision without EC2), tags, and a link
that survives a restart."""

import signal

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, REGION, Server, expect_error, strip_meta

NLB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/net/my-nlb/50dc6c495c0c9188"


def test_lifecycle(apigw, unique):
    created = apigw.create_vpc_link(name=f"link-{unique}", targetArns=[NLB])
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 202
    lid = created["id"]
    assert strip_meta(created) == {"id": lid, "name": f"link-{unique}", "status": "PENDING", "targetArns": [NLB]}
    got = strip_meta(apigw.get_vpc_link(vpcLinkId=lid))
    assert got == {"id": lid, "name": f"link-{unique}", "status": "AVAILABLE",
                   "statusMessage": "Your vpc link is ready for use", "tags": {}, "targetArns": [NLB]}
    listed = [i for i in apigw.get_vpc_links()["items"] if i["id"] == lid]
    assert listed == [{k: v for k, v in got.items() if k != "tags"}]

    up = apigw.update_vpc_link(vpcLinkId=lid, patchOperations=[
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "replace", "path": "/description", "value": "d"}])
    assert up["name"] == "renamed" and up["description"] == "d" and up["tags"] == {}
    expect_error("BadRequestException", 400, None, apigw.update_vpc_link, vpcLinkId=lid,
                 patchOperations=[{"op": "replace", "path": "/name", "value": "again"},
                                  {"op": "replace", "path": "/targetArns", "value": NLB}])
    assert apigw.get_vpc_link(vpcLinkId=lid)["name"] == "renamed"

    arn = f"arn:aws:apigateway:{REGION}::/vpclinks/{lid}"
    apigw.tag_resource(resourceArn=arn, tags={"team": "a"})
    assert apigw.get_vpc_link(vpcLinkId=lid)["tags"] == {"team": "a"}

    assert apigw.delete_vpc_link(vpcLinkId=lid)["ResponseMetadata"]["HTTPStatusCode"] == 202
    expect_error("NotFoundException", 404, "Invalid Vpc Link identifier specified",
                 apigw.get_vpc_link, vpcLinkId=lid)


def test_invalid_input(apigw):
    before = apigw.get_vpc_links()["items"]
    expect_error("BadRequestException", 400, "Invalid ARN. ARN is not well formed invalid-arn",
                 apigw.create_vpc_link, name="x", targetArns=["invalid-arn"])
    expect_error("BadRequestException", 400, "Name cannot be empty",
                 apigw.create_vpc_link, name="", targetArns=[])
    expect_error("BadRequestException", 400, None, apigw.create_vpc_link, name="x", targetArns=[])
    for fn, kwargs in [
        (apigw.get_vpc_link, {}),
        (apigw.delete_vpc_link, {}),
        (apigw.update_vpc_link, dict(patchOperations=[{"op": "replace", "path": "/name", "value": "n"}])),
    ]:
        expect_error("NotFoundException", 404, "Invalid Vpc Link identifier specified",
                     fn, vpcLinkId="invalid-id", **kwargs)
    assert apigw.get_vpc_links()["items"] == before


def test_links_persist(tmp_path):
    srv = Server(tmp_path).start()
    try:
        lid = srv.client().create_vpc_link(name="kept", targetArns=[NLB], tags={"k": "v"})["id"]
    finally:
        srv.stop(signal.SIGTERM)
    srv = Server(tmp_path).start()
    try:
        got = srv.client().get_vpc_link(vpcLinkId=lid)
        assert (got["name"], got["status"], got["tags"]) == ("kept", "AVAILABLE", {"k": "v"})
    finally:
        srv.stop(signal.SIGTERM)

"""Client certificates as stored resources: GenerateClientCertificate makes a
real self-signed PEM certificate valid for a year; Get, list, Update
(/description), tags and Delete; unknown ids are 404."""

import datetime
import shutil
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import REGION, strip_meta


def test_lifecycle(apigw):
    cert = apigw.generate_client_certificate(description="backend", tags={"t": "1"})
    assert cert["ResponseMetadata"]["HTTPStatusCode"] == 201
    cid = cert["clientCertificateId"]
    pem = cert["pemEncodedCertificate"]
    assert pem.startswith("-----BEGIN CERTIFICATE-----\n") and pem.endswith("-----END CERTIFICATE-----\n")
    life = cert["expirationDate"] - cert["createdDate"]
    assert datetime.timedelta(days=364) < life < datetime.timedelta(days=366)
    assert strip_meta(apigw.get_client_certificate(clientCertificateId=cid)) == strip_meta(cert)
    assert cid in [c["clientCertificateId"] for c in apigw.get_client_certificates()["items"]]

    if shutil.which("openssl"):
        out = subprocess.run(["openssl", "x509", "-noout", "-subject", "-enddate"], input=pem.encode(),
                             capture_output=True, check=True).stdout.decode()
        assert f"ClientCertificate:{cid}" in out, out

    up = apigw.update_client_certificate(clientCertificateId=cid, patchOperations=[
        {"op": "replace", "path": "/description", "value": "renamed"}])
    assert up["description"] == "renamed" and up["pemEncodedCertificate"] == pem
    with pytest.raises(ClientError) as ei:
        apigw.update_client_certificate(clientCertificateId=cid, patchOperations=[
            {"op": "replace", "path": "/pemEncodedCertificate", "value": "x"}])
    assert ei.value.response["Error"]["Code"] == "BadRequestException"

    arn = f"arn:aws:apigateway:{REGION}::/clientcertificates/{cid}"
    apigw.tag_resource(resourceArn=arn, tags={"u": "2"})
    assert apigw.get_tags(resourceArn=arn)["tags"] == {"t": "1", "u": "2"}

    assert apigw.delete_client_certificate(clientCertificateId=cid)["ResponseMetadata"]["HTTPStatusCode"] == 202
    for fn in (apigw.get_client_certificate, apigw.delete_client_certificate):
        with pytest.raises(ClientError) as ei:
            fn(clientCertificateId=cid)
        assert ei.value.response["Error"]["Code"] == "NotFoundException"
        assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

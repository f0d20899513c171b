"""Secrets Manager through boto3: versions and their stages, deletion with a
recovery window, AWS's errors, values sealed at rest, and a Lambda function
that reads the MultiTalk key with boto3 (the guide's advice: "Store
sensitive configuration in Secrets Manager")."""

import io
import json
import zipfile

import pytest
from botocore.exceptions import ClientError

from conftest import make_client


@pytest.fixture(scope="module")
def sm(server):
    return server.client("secretsmanager")


def error_of(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_versions_move_through_their_stages(sm, unique):
    name = f"multitalk/modal-{unique}"
    created = sm.create_secret(Name=name, SecretString="first-key", Description="Modal API key")
    assert created["Name"] == name
    assert created["ARN"].startswith(f"arn:aws:secretsmanager:us-east-1:000000000000:secret:{name}-")
    first = created["VersionId"]
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "first-key"
    second = sm.put_secret_value(SecretId=name, SecretString="second-key")["VersionId"]
    current = sm.get_secret_value(SecretId=name)
    assert current["SecretString"] == "second-key" and current["VersionStages"] == ["AWSCURRENT"]
    previous = sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
    assert previous["SecretString"] == "first-key" and previous["VersionId"] == first
    by_arn = sm.get_secret_value(SecretId=created["ARN"], VersionId=second)
    assert by_arn["SecretString"] == "second-key"
    described = sm.describe_secret(SecretId=name)
    assert described["Description"] == "Modal API key"
    assert described["VersionIdsToStages"] == {first: ["AWSPREVIOUS"], second: ["AWSCURRENT"]}
    sm.update_secret(SecretId=name, SecretString="third-key")
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "third-key"
    stages = sm.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert first not in stages, "the oldest lost its stage"
    assert stages[second] == ["AWSPREVIOUS"]
    assert name in [s["Name"] for s in sm.list_secrets()["SecretList"]]


def test_binary_values(sm, unique):
    name = f"bin-{unique}"
    sm.create_secret(Name=name, SecretBinary=b"\x00\x01\xff")
    assert sm.get_secret_value(SecretId=name)["SecretBinary"] == b"\x00\x01\xff"


def test_deletion_with_a_recovery_window_and_without(sm, unique):
    name = f"deleted-{unique}"
    sm.create_secret(Name=name, SecretString="v")
    deleted = sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    assert deleted["Name"] == name and deleted["DeletionDate"]
    assert error_of(lambda: sm.get_secret_value(SecretId=name))[0] == "InvalidRequestException"
    assert name not in [s["Name"] for s in sm.list_secrets()["SecretList"]]
    assert error_of(lambda: sm.create_secret(Name=name, SecretString="x"))[0] == "InvalidRequestException"
    sm.restore_secret(SecretId=name)
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "v"
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    assert error_of(lambda: sm.describe_secret(SecretId=name))[0] == "ResourceNotFoundException"
    code, _ = error_of(lambda: sm.delete_secret(SecretId=f"none-{unique}", RecoveryWindowInDays=3))
    assert code == "InvalidParameterException"


def test_aws_errors(sm, unique):
    name = f"errors-{unique}"
    sm.create_secret(Name=name, SecretString="v")
    code, message = error_of(lambda: sm.create_secret(Name=name, SecretString="w"))
    assert code == "ResourceExistsException"
    assert message == f"The operation failed because the secret {name} already exists."
    code, message = error_of(lambda: sm.get_secret_value(SecretId=f"missing-{unique}"))
    assert code == "ResourceNotFoundException"
    assert message == "Secrets Manager can't find the specified secret."
    empty = f"empty-{unique}"
    sm.create_secret(Name=empty)
    assert error_of(lambda: sm.get_secret_value(SecretId=empty))[0] == "ResourceNotFoundException"


def test_values_are_sealed_at_rest(server, sm, unique):
    marker = f"plaintext-marker-{unique}"
    sm.create_secret(Name=f"sealed-{unique}", SecretString=marker)
    stored = b""
    for path in sorted(__import__("pathlib").Path(server.data_dir).rglob("tollgate.db*")):
        stored += path.read_bytes()
    assert stored, "the store's files"
    assert marker.encode() not in stored
    assert f"sealed-{unique}".encode() in stored, "the secret itself is stored"


FUNCTION = '''
import os
import boto3

def handler(event, context):
    client = boto3.client("secretsmanager")
    key = client.get_secret_value(SecretId=os.environ["SECRET_NAME"])["SecretString"]
    return {"key_length": len(key), "starts": key[:4]}
'''


def test_a_function_reads_its_key_from_secrets_manager(server, sm, aws, unique, tmp_path):
    name = f"multitalk/key-{unique}"
    sm.create_secret(Name=name, SecretString="modal-0123456789")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", FUNCTION)
    zip_path = tmp_path / "f.zip"
    zip_path.write_bytes(buf.getvalue())
    fn = f"reads-secret-{unique}"
    aws("lambda", "create-function", "--function-name", fn, "--runtime", "python3.11",
        "--handler", "app.handler", "--role", "arn:aws:iam::000000000000:role/any",
        "--zip-file", f"fileb://{zip_path}", "--timeout", "30",
        "--environment", json.dumps({"Variables": {"SECRET_NAME": name}}))
    aws("lambda", "wait", "function-active-v2", "--function-name", fn)
    lam = make_client(server.endpoint, "lambda")
    answer = lam.invoke(FunctionName=fn, Payload=b"{}")
    assert "FunctionError" not in answer, answer["Payload"].read()
    assert json.loads(answer["Payload"].read()) == {"key_length": 16, "starts": "moda"}

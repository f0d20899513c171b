"""The seed guide end to end, with its Lambda proxy running in Tollgate.

The function's zip is built as a user would: the guide's `api_gateway_proxy.py`
unchanged plus `requests` installed into it with pip. Then `aws iam
create-role`, `aws lambda create-function` pointing `MODAL_API_URL` at the
reference MultiTalk server, the guide's setup (`examples/multitalk/setup.sh`),
its curl calls and its Python `MultitalkClient`.
"""

import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile

import pytest
import requests

from conftest import REPO, cli_env
from test_data_plane import UPSTREAM_KEY, Upstream

SEED = REPO / "examples" / "multitalk"
FUNCTION = "multitalk-api-proxy"
EXCLUDED = ["X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto", "X-Amzn-Trace-Id"]


@pytest.fixture(scope="module")
def upstream():
    u = Upstream("--api-key", UPSTREAM_KEY, "--job-seconds", "1.0")
    yield u
    u.stop()


@pytest.fixture(scope="module")
def function_zip(tmp_path_factory):
    """The guide's proxy unchanged, with `requests` installed beside it by pip."""
    build = tmp_path_factory.mktemp("lambda-build")
    shutil.copy(SEED / "api_gateway_proxy.py", build / "api_gateway_proxy.py")
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-compile", "--target", str(build), "requests"],
        capture_output=True, text=True, timeout=300,
    )
    assert pip.returncode == 0, f"pip install requests failed:\n{pip.stderr}"
    path = tmp_path_factory.mktemp("lambda-zip") / "function.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for file in sorted(build.rglob("*")):
            if file.is_file():
                z.write(file, file.relative_to(build))
    return path


@pytest.fixture(scope="module")
def seed(server, aws, upstream, function_zip):
    role = aws("iam", "create-role", "--role-name", "multitalk-lambda-role",
               "--assume-role-policy-document", json.dumps({
                   "Version": "2012-10-17",
                   "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                  "Action": "sts:AssumeRole"}]}))
    role_arn = role["Role"]["Arn"]
    created = aws("lambda", "create-function", "--function-name", FUNCTION,
                  "--runtime", "python3.11", "--handler", "api_gateway_proxy.lambda_handler",
                  "--memory-size", "512", "--timeout", "30", "--role", role_arn,
                  "--zip-file", f"fileb://{function_zip}",
                  "--environment", json.dumps({"Variables": {
                      "MODAL_API_URL": upstream.url, "MODAL_API_KEY": UPSTREAM_KEY}}))
    assert created["State"] == "Pending"
    aws("lambda", "wait", "function-active-v2", "--function-name", FUNCTION)
    p = subprocess.run(["bash", str(SEED / "setup.sh")], env=cli_env(server.endpoint),
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    ids = dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line and line.isascii()
               and line.split("=", 1)[0] in ("API_ID", "API_KEY_ID"))
    key = aws("apigateway", "get-api-key", "--api-key", ids["API_KEY_ID"], "--include-value")["value"]
    endpoint = f"{server.endpoint}/_aws/execute-api/{ids['API_ID']}/prod"
    return {"endpoint": endpoint, "key": key, "api_id": ids["API_ID"]}


def curl(*args):
    p = subprocess.run(["curl", "-s", "-i", *args], capture_output=True, text=True, timeout=60)
    head, _, body = p.stdout.replace("\r\n", "\n").partition("\n\n")
    status = int(head.split()[1])
    headers = {}
    for line in head.splitlines()[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def test_the_function_is_active_as_created(aws, seed):
    config = aws("lambda", "get-function-configuration", "--function-name", FUNCTION)
    assert config["State"] == "Active"
    assert config["LastUpdateStatus"] == "Successful"
    assert config["Runtime"] == "python3.11"
    assert config["MemorySize"] == 512 and config["Timeout"] == 30


def test_the_guides_curl_calls_go_through_the_lambda(seed, upstream):
    # "Submit a job", as the guide writes it (only the endpoint and key filled in).
    status, headers, body = curl(
        "-X", "POST", f"{seed['endpoint']}/api/v1/generate",
        "-H", f"x-api-key: {seed['key']}",
        "-H", "Content-Type: application/json",
        "-d", """{
    "prompt": "A person speaking",
    "image_s3_url": "s3://bucket/image.png",
    "audio_s3_urls": ["s3://bucket/audio.wav"]
  }""")
    assert status == 200, body
    job = json.loads(body)
    assert job["status"] == "pending" and job["job_id"]
    # The Lambda's own CORS headers reach the client.
    assert headers["access-control-allow-origin"] == "*"
    assert headers["access-control-allow-methods"] == "GET,POST,DELETE,OPTIONS"
    assert headers["access-control-allow-headers"] == "Content-Type,X-Api-Key,Authorization"

    recorded = [r for r in upstream.recorded() if r["path"] == "/api/v1/generate"]
    assert recorded, "the upstream saw the job submission"
    sent = recorded[-1]
    assert sent["method"] == "POST"
    assert sent["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    for name in EXCLUDED:
        assert name.lower() not in sent["headers"], (name, sent["headers"])
    assert json.loads(sent["body"]) == {
        "prompt": "A person speaking",
        "image_s3_url": "s3://bucket/image.png",
        "audio_s3_urls": ["s3://bucket/audio.wav"],
    }

    # "Check status".
    status, _, body = curl(f"{seed['endpoint']}/api/v1/jobs/{job['job_id']}", "-H", f"x-api-key: {seed['key']}")
    assert status == 200, body
    assert json.loads(body)["job_id"] == job["job_id"]


def test_the_guides_python_client_submits_and_polls(seed):
    spec = importlib.util.spec_from_file_location("multitalk_client", SEED / "multitalk_client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    client = module.MultitalkClient(seed["endpoint"], seed["key"])
    job = client.generate_video("Person explaining AWS", "s3://bucket/person.png", ["s3://bucket/speech.wav"])
    assert job["status"] == "pending", job
    import time
    deadline = time.monotonic() + 20
    while True:
        status = client.get_status(job["job_id"])
        if status["status"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status["status"] == "completed", status


def test_without_a_key_the_lambda_is_never_called(seed, server):
    r = requests.get(f"{seed['endpoint']}/api/v1/jobs", timeout=10)
    assert r.status_code == 403
    assert r.json() == {"message": "Forbidden"}

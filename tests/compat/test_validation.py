"""Request validation: the MultiTalk generate model and a body validator on
POST /api/v1/generate (examples/multitalk/gateway-checks.sh), required
request parameters, AWS's 400 answers, and an upstream that never sees a
refused request."""

import json
import os
import subprocess

import pytest
import requests

from conftest import REPO, cli_env
from seed_api import http_proxy_seed
from test_data_plane import UPSTREAM_KEY, Upstream

GOOD = {"prompt": "A person speaking", "image_s3_url": "s3://bucket/image.png",
        "audio_s3_urls": ["s3://bucket/audio.wav"], "options": {"sample_steps": 20, "resolution": "480p"}}


@pytest.fixture(scope="module")
def upstream():
    u = Upstream("--api-key", UPSTREAM_KEY)
    yield u
    u.stop()


@pytest.fixture(scope="module")
def seed(server, apigw, upstream):
    seed = http_proxy_seed(server, apigw, upstream)
    env = cli_env(server.endpoint)
    env.update({"API_ID": seed["api_id"], "UPSTREAM": upstream.url, "UPSTREAM_KEY": UPSTREAM_KEY})
    p = subprocess.run(["bash", str(REPO / "examples" / "multitalk" / "gateway-checks.sh")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return seed


def generate(seed, body, **kwargs):
    return requests.post(f"{seed['endpoint']}/api/v1/generate", headers={"x-api-key": seed["key"]},
                         data=json.dumps(body) if not isinstance(body, (bytes, str)) else body,
                         timeout=10, **kwargs)


def submissions(upstream):
    return sum(1 for r in upstream.recorded() if r["path"] == "/api/v1/generate")


def test_a_valid_submission_reaches_the_upstream(seed, upstream):
    before = submissions(upstream)
    r = generate(seed, GOOD)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending"
    assert submissions(upstream) == before + 1


@pytest.mark.parametrize("body", [
    {k: v for k, v in GOOD.items() if k != "prompt"},                    # missing prompt
    {**GOOD, "prompt": 5},                                               # wrong type
    {**GOOD, "options": {"sample_steps": 500}},                          # out of range
    {**GOOD, "options": {"resolution": "4k"}},                           # not in the enum
    {**GOOD, "image_s3_url": "https://example.com/i.png"},               # not an s3:// URL
    {**GOOD, "audio_s3_urls": ["s3://b/a"] * 6},                         # too many audio files
    "not json at all",
])
def test_bad_submissions_are_400_and_never_reach_the_upstream(seed, upstream, body):
    before = submissions(upstream)
    r = generate(seed, body)
    assert r.status_code == 400
    assert r.json() == {"message": "Invalid request body"}
    assert r.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert submissions(upstream) == before, "the upstream never saw it"


def test_the_validation_details_in_a_gateway_response(apigw, seed):
    apigw.put_gateway_response(
        restApiId=seed["api_id"], responseType="BAD_REQUEST_BODY",
        responseTemplates={"application/json":
                           '{"message": $context.error.messageString, "details": "$context.error.validationErrorString"}'})
    apigw.create_deployment(restApiId=seed["api_id"], stageName="prod")
    try:
        r = generate(seed, {k: v for k, v in GOOD.items() if k != "prompt"})
        assert r.status_code == 400
        assert r.json()["message"] == "Invalid request body"
        assert "object has missing required properties" in r.json()["details"]
        assert "prompt" in r.json()["details"]
        r = generate(seed, {**GOOD, "options": {"sample_steps": 500}})
        assert "numeric instance is greater than the required maximum (maximum: 50, found: 500)" in r.json()["details"]
    finally:
        apigw.delete_gateway_response(restApiId=seed["api_id"], responseType="BAD_REQUEST_BODY")
        apigw.create_deployment(restApiId=seed["api_id"], stageName="prod")


def test_required_request_parameters(apigw, seed, upstream):
    api = seed["api_id"]
    resources = {r["path"]: r["id"] for r in apigw.get_resources(restApiId=api)["items"]}
    jobs = resources["/api/v1/jobs"]  # made by gateway-checks.sh
    validator = apigw.create_request_validator(restApiId=api, name="params", validateRequestBody=False,
                                               validateRequestParameters=True)["id"]
    apigw.put_method(restApiId=api, resourceId=jobs, httpMethod="GET", authorizationType="NONE",
                     apiKeyRequired=True, requestValidatorId=validator,
                     requestParameters={"method.request.querystring.limit": True,
                                        "method.request.header.X-Tenant": True,
                                        "method.request.querystring.optional": False})
    apigw.put_integration(restApiId=api, resourceId=jobs, httpMethod="GET", type="HTTP_PROXY",
                          integrationHttpMethod="GET", uri=upstream.url + "/api/v1/jobs",
                          requestParameters={"integration.request.header.Authorization": f"'Bearer {UPSTREAM_KEY}'"})
    apigw.create_deployment(restApiId=api, stageName="prod")
    before = sum(1 for r in upstream.recorded() if r["path"] == "/api/v1/jobs")
    r = requests.get(f"{seed['endpoint']}/api/v1/jobs", headers={"x-api-key": seed["key"]}, timeout=10)
    assert r.status_code == 400
    assert r.json() == {"message": "Missing required request parameters: [X-Tenant, limit]"}
    r = requests.get(f"{seed['endpoint']}/api/v1/jobs?limit=2", headers={"x-api-key": seed["key"]}, timeout=10)
    assert r.json() == {"message": "Missing required request parameters: [X-Tenant]"}
    assert sum(1 for r in upstream.recorded() if r["path"] == "/api/v1/jobs") == before
    r = requests.get(f"{seed['endpoint']}/api/v1/jobs?limit=2",
                     headers={"x-api-key": seed["key"], "X-Tenant": "acme"}, timeout=10)
    assert r.status_code == 200, r.text
    assert "jobs" in r.json()


def test_job_status_polls_come_from_the_cache(seed, upstream):
    """gateway-checks.sh's GET /api/v1/jobs/{job_id}: a 10-second TTL."""
    job = generate(seed, GOOD).json()["job_id"]
    url = f"{seed['endpoint']}/api/v1/jobs/{job}"
    seen = lambda: sum(1 for r in upstream.recorded() if r["path"] == f"/api/v1/jobs/{job}")
    for _ in range(5):
        r = requests.get(url, headers={"x-api-key": seed["key"]}, timeout=10)
        assert r.status_code == 200 and r.json()["job_id"] == job
    assert seen() == 1, "five polls, one request to MultiTalk"

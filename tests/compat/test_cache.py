"""The stage cache: job status polls (GET /api/v1/jobs/{job_id}) served from
the cache of the seed's stage, keyed by path, query and header parameters;
TTL expiry; Cache-Control: max-age=0 under each strategy, with and without
authorization; flush-stage-cache; only 2xx kept; the hit and miss counts in
CloudWatch."""

import datetime
import time

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import ACCESS_KEY, REGION, SECRET_KEY, make_client
from seed_api import API_NAME, http_proxy_seed
from test_data_plane import UPSTREAM_KEY, Upstream

PATH = "/api/v1/jobs/{job_id}"


@pytest.fixture(scope="module")
def upstream():
    u = Upstream("--api-key", UPSTREAM_KEY, "--job-seconds", "600")
    yield u
    u.stop()


def method_setting(path, name, value):
    key = PATH.replace("/", "~1") + "/GET"
    return {"op": "replace", "path": f"/{key}/{path}", "value": value}


@pytest.fixture(scope="module")
def seed(server, aws, apigw, upstream):
    seed = http_proxy_seed(server, apigw, upstream)
    api = seed["api_id"]
    resources = {r["path"]: r["id"] for r in apigw.get_resources(restApiId=api)["items"]}
    v1 = apigw.create_resource(restApiId=api, parentId=resources["/api"], pathPart="v1")["id"]
    jobs = apigw.create_resource(restApiId=api, parentId=v1, pathPart="jobs")["id"]
    job = apigw.create_resource(restApiId=api, parentId=jobs, pathPart="{job_id}")["id"]
    apigw.put_method(restApiId=api, resourceId=job, httpMethod="GET", authorizationType="NONE",
                     apiKeyRequired=True,
                     requestParameters={"method.request.path.job_id": True,
                                        "method.request.querystring.view": False,
                                        "method.request.header.X-Tenant": False})
    apigw.put_integration(restApiId=api, resourceId=job, httpMethod="GET", type="HTTP_PROXY",
                          integrationHttpMethod="GET", uri=upstream.url + "/api/v1/jobs/{job_id}",
                          requestParameters={
                              "integration.request.path.job_id": "method.request.path.job_id",
                              "integration.request.header.Authorization": f"'Bearer {UPSTREAM_KEY}'"},
                          cacheKeyParameters=["method.request.path.job_id", "method.request.querystring.view",
                                              "method.request.header.X-Tenant"])
    apigw.create_deployment(restApiId=api, stageName="prod")
    # The cost-optimisation advice: a cache for GETs, a short TTL on job status.
    aws("apigateway", "update-stage", "--rest-api-id", api, "--stage-name", "prod", "--patch-operations",
        "op=replace,path=/cacheClusterEnabled,value=true", "op=replace,path=/cacheClusterSize,value=0.5")
    apigw.update_stage(restApiId=api, stageName="prod", patchOperations=[
        method_setting("caching/enabled", None, "true"), method_setting("caching/ttlInSeconds", None, "2")])
    job_id = requests.post(f"{upstream.url}/api/v1/generate", headers={"Authorization": f"Bearer {UPSTREAM_KEY}"},
                           json={"prompt": "p", "image_s3_url": "s3://b/i", "audio_s3_urls": ["s3://b/a"]},
                           timeout=10).json()["job_id"]
    return {**seed, "job_id": job_id}


def polls(upstream, job_id):
    """Requests the upstream saw for the job (any query string)."""
    path = f"/api/v1/jobs/{job_id}"
    return sum(1 for r in upstream.recorded() if r["path"].split("?")[0] == path)


def get(seed, job_id=None, headers=None, query=""):
    h = {"x-api-key": seed["key"], **(headers or {})}
    return requests.get(f"{seed['endpoint']}/api/v1/jobs/{job_id or seed['job_id']}{query}", headers=h, timeout=10)


def test_a_poll_is_served_from_the_cache_until_its_ttl(seed, upstream):
    before = polls(upstream, seed["job_id"])
    first = get(seed)
    assert first.status_code == 200 and first.json()["job_id"] == seed["job_id"]
    second = get(seed)
    assert second.status_code == 200 and second.json() == first.json()
    assert second.headers["x-amzn-RequestId"] != first.headers["x-amzn-RequestId"]
    assert polls(upstream, seed["job_id"]) == before + 1, "the hit never reached the upstream"
    time.sleep(2.5)
    assert get(seed).status_code == 200
    assert polls(upstream, seed["job_id"]) == before + 2, "expired after its TTL"


def test_keys_from_path_query_and_header(seed, upstream):
    job = seed["job_id"]
    get(seed)  # fill
    before = polls(upstream, job)
    get(seed)
    assert polls(upstream, job) == before
    get(seed, query="?view=full")
    assert polls(upstream, job) == before + 1, "another query value is another key"
    get(seed, query="?view=full")
    get(seed, headers={"X-Tenant": "acme"})
    assert polls(upstream, job) == before + 2, "another header value is another key"
    get(seed, query="?other=ignored")
    assert polls(upstream, job) == before + 2, "a parameter outside the key does not matter"


def test_only_success_is_kept(seed, upstream):
    before = polls(upstream, "does-not-exist")
    assert get(seed, job_id="does-not-exist").status_code == 404
    assert get(seed, job_id="does-not-exist").status_code == 404
    assert polls(upstream, "does-not-exist") == before + 2


def signed_get(seed, url, headers):
    request = AWSRequest(method="GET", url=url, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "execute-api", REGION).add_auth(request)
    return requests.get(url, headers=dict(request.headers), timeout=10)


@pytest.mark.parametrize("strategy, status, refreshed, warned", [
    ("SUCCEED_WITH_RESPONSE_HEADER", 200, False, True),
    ("SUCCEED_WITHOUT_RESPONSE_HEADER", 200, False, False),
    ("FAIL_WITH_403", 403, False, False),
])
def test_cache_control_from_an_unauthorized_caller(apigw, seed, upstream, strategy, status, refreshed, warned):
    apigw.update_stage(restApiId=seed["api_id"], stageName="prod", patchOperations=[
        method_setting("caching/unauthorizedCacheControlHeaderStrategy", None, strategy)])
    get(seed)  # fill
    before = polls(upstream, seed["job_id"])
    r = get(seed, headers={"Cache-Control": "max-age=0"})
    assert r.status_code == status
    assert polls(upstream, seed["job_id"]) == before + int(refreshed)
    assert ("x-tollgate-cache-control-ignored" in r.headers) == warned


def test_cache_control_refreshes_when_allowed(apigw, seed, upstream):
    apigw.update_stage(restApiId=seed["api_id"], stageName="prod", patchOperations=[
        method_setting("caching/requireAuthorizationForCacheControl", None, "false")])
    try:
        get(seed)
        before = polls(upstream, seed["job_id"])
        assert get(seed, headers={"Cache-Control": "max-age=0"}).status_code == 200
        assert polls(upstream, seed["job_id"]) == before + 1, "skipped the cache and refreshed it"
        assert get(seed).status_code == 200
        assert polls(upstream, seed["job_id"]) == before + 1, "the refreshed entry answers"
    finally:
        apigw.update_stage(restApiId=seed["api_id"], stageName="prod", patchOperations=[
            method_setting("caching/requireAuthorizationForCacheControl", None, "true")])


def test_an_authenticated_caller_may_invalidate(apigw, seed, upstream):
    """On an AWS_IAM method, a request signed with Tollgate's credentials may."""
    api = seed["api_id"]
    job = next(r["id"] for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == PATH)
    apigw.update_method(restApiId=api, resourceId=job, httpMethod="GET", patchOperations=[
        {"op": "replace", "path": "/authorizationType", "value": "AWS_IAM"}])
    apigw.create_deployment(restApiId=api, stageName="prod")
    try:
        url = f"{seed['endpoint']}/api/v1/jobs/{seed['job_id']}"
        assert signed_get(seed, url, {"x-api-key": seed["key"]}).status_code == 200
        before = polls(upstream, seed["job_id"])
        r = signed_get(seed, url, {"x-api-key": seed["key"], "Cache-Control": "max-age=0"})
        assert r.status_code == 200
        assert polls(upstream, seed["job_id"]) == before + 1
    finally:
        apigw.update_method(restApiId=api, resourceId=job, httpMethod="GET", patchOperations=[
            {"op": "replace", "path": "/authorizationType", "value": "NONE"}])
        apigw.create_deployment(restApiId=api, stageName="prod")


def test_flush_stage_cache_and_the_hit_counts(server, aws, seed, upstream):
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    get(seed)
    get(seed)
    before = polls(upstream, seed["job_id"])
    aws("apigateway", "flush-stage-cache", "--rest-api-id", seed["api_id"], "--stage-name", "prod")
    get(seed)
    assert polls(upstream, seed["job_id"]) == before + 1, "flushed: a miss"
    cloudwatch = make_client(server.endpoint, "cloudwatch")
    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)

    def total(metric):
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/ApiGateway", MetricName=metric, StartTime=start, EndTime=end, Period=60,
            Statistics=["Sum"], Dimensions=[{"Name": "ApiName", "Value": API_NAME}, {"Name": "Stage", "Value": "prod"}])
        return sum(p["Sum"] for p in points["Datapoints"])

    deadline = time.monotonic() + 10
    while total("CacheMissCount") < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert total("CacheHitCount") >= 1
    assert total("CacheMissCount") >= 1

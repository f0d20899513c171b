"""Measures Tollgate's Lambda host (see bench/lambda.sh, which starts the server):

1. cold start: from `create-function` to the first answer of `invoke`;
2. warm invocations through API Gateway (AWS_PROXY): the client's latency
   minus the handler's own time, as p50 and p99 over sequential requests;
3. throughput with 4 workers (wrk, 4 connections), every status checked;
4. a Lambda authorizer (a warm Python TOKEN authorizer) in front of the MOCK
   route: uncached (TTL 0: every request invokes it) and cached (TTL 300),
   each beside the same route without an authorizer, in the same run.

Every run's figures are printed; nothing is left out.
"""

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
import zipfile

import boto3
import requests
from botocore.config import Config

HANDLER = '''
import time

def handler(event, context):
    started = time.perf_counter()
    body = "ok"
    own_ms = (time.perf_counter() - started) * 1000
    return {"statusCode": 200, "headers": {"X-Handler-Ms": "%.4f" % own_ms}, "body": body}
'''


AUTHORIZER = '''
def handler(event, context):
    arn = event["methodArn"]
    base = arn.split("/")[0]
    return {"principalId": "bench", "context": {"tier": "gold"},
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": base + "/*"}]}}
'''


def zip_of(text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", text)
    return buf.getvalue()


def clients(endpoint):
    config = Config(retries={"max_attempts": 1}, read_timeout=60)
    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
              aws_secret_access_key="test", config=config)
    return boto3.client("lambda", **kw), boto3.client("apigateway", **kw)


def cold_starts(lam, runs):
    results = []
    for i in range(runs):
        name = f"cold-{i}-{int(time.time() * 1000)}"
        started = time.perf_counter()
        lam.create_function(FunctionName=name, Runtime="python3.11", Handler="app.handler",
                            Role="arn:aws:iam::000000000000:role/bench", Code={"ZipFile": zip_of(HANDLER)})
        while True:
            try:
                answer = lam.invoke(FunctionName=name, Payload=b"{}")
                if answer["StatusCode"] == 200 and "FunctionError" not in answer:
                    break
            except lam.exceptions.ResourceConflictException:
                pass  # still Pending
            time.sleep(0.002)
        results.append((time.perf_counter() - started) * 1000)
    return results


def proxy_api(lam, apigw, name):
    lam.create_function(FunctionName=name, Runtime="python3.11", Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/bench", Code={"ZipFile": zip_of(HANDLER)},
                        MemorySize=256)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    api = apigw.create_rest_api(name=f"bench-{name}")
    res = apigw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="{proxy+}")["id"]
    apigw.put_method(restApiId=api["id"], resourceId=res, httpMethod="ANY", authorizationType="NONE")
    apigw.put_integration(restApiId=api["id"], resourceId=res, httpMethod="ANY", type="AWS_PROXY",
                          integrationHttpMethod="POST",
                          uri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                              f"arn:aws:lambda:us-east-1:000000000000:function:{name}/invocations")
    apigw.create_deployment(restApiId=api["id"], stageName="bench")
    return api["id"]


def mock_api(apigw, authorizer_function=None, ttl=0):
    """The same route with a MOCK integration: the client's and the gateway's
    own time, without the Lambda host; behind a TOKEN authorizer run by
    `authorizer_function` when one is named."""
    api = apigw.create_rest_api(name="bench-mock")
    res = apigw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="{proxy+}")["id"]
    if authorizer_function:
        authorizer = apigw.create_authorizer(
            restApiId=api["id"], name="bench", type="TOKEN", authorizerResultTtlInSeconds=ttl,
            identitySource="method.request.header.Authorization",
            authorizerUri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                          f"arn:aws:lambda:us-east-1:000000000000:function:{authorizer_function}/invocations")
        apigw.put_method(restApiId=api["id"], resourceId=res, httpMethod="ANY", authorizationType="CUSTOM",
                         authorizerId=authorizer["id"])
    else:
        apigw.put_method(restApiId=api["id"], resourceId=res, httpMethod="ANY", authorizationType="NONE")
    apigw.put_integration(restApiId=api["id"], resourceId=res, httpMethod="ANY", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    apigw.put_method_response(restApiId=api["id"], resourceId=res, httpMethod="ANY", statusCode="200",
                              responseParameters={"method.response.header.X-Handler-Ms": False})
    apigw.put_integration_response(restApiId=api["id"], resourceId=res, httpMethod="ANY", statusCode="200",
                                   responseParameters={"method.response.header.X-Handler-Ms": "'0'"},
                                   responseTemplates={"application/json": "ok"})
    apigw.create_deployment(restApiId=api["id"], stageName="bench")
    return api["id"]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def warm_overhead(url, requests_per_run, headers=None):
    session = requests.Session()
    session.headers.update(headers or {})
    for _ in range(50):  # warm the worker and the connection
        assert session.get(url, timeout=30).status_code == 200
    overheads, non_2xx = [], 0
    for _ in range(requests_per_run):
        started = time.perf_counter()
        r = session.get(url, timeout=30)
        elapsed = (time.perf_counter() - started) * 1000
        if r.status_code != 200:
            non_2xx += 1
            continue
        overheads.append(elapsed - float(r.headers["X-Handler-Ms"]))
    return overheads, non_2xx


def throughput(url, duration, wrk_lua):
    out = subprocess.run(["wrk", "-t", "2", "-c", "4", "-d", duration, "-s", wrk_lua, url],
                         capture_output=True, text=True, timeout=600).stdout
    rps = next((float(l.split()[1]) for l in out.splitlines() if l.startswith("Requests/sec:")), 0.0)
    statuses = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("statuses:")), "")
    return rps, statuses


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--wrk-lua", required=True)
    args = parser.parse_args()
    lam, apigw = clients(args.endpoint)

    failed = False
    print("== cold start: create-function to the first answer (target <= 300 ms)")
    colds = cold_starts(lam, args.runs)
    for i, ms in enumerate(colds, 1):
        print(f"  run {i}: {ms:.1f} ms")
    print(f"  median {statistics.median(colds):.1f} ms")
    failed |= statistics.median(colds) > 300

    api_id = proxy_api(lam, apigw, f"warm-{int(time.time())}")
    url = f"{args.endpoint}/_aws/execute-api/{api_id}/bench/x"
    mock_url = f"{args.endpoint}/_aws/execute-api/{mock_api(apigw)}/bench/x"
    print(f"== warm invocations through API Gateway (AWS_PROXY), {args.requests} sequential requests per run")
    print("   latency - the handler's own time, beside the same client on a MOCK route (the client's")
    print("   and the gateway's own time); Lambda host overhead = the difference")
    print("   (target: Lambda host overhead p50 <= 1 ms, p99 <= 3 ms)")
    for i in range(1, args.runs + 1):
        mock, mock_non_2xx = warm_overhead(mock_url, args.requests)
        overheads, non_2xx = warm_overhead(url, args.requests)
        p50, p99 = percentile(overheads, 50), percentile(overheads, 99)
        m50, m99 = percentile(mock, 50), percentile(mock, 99)
        print(f"  run {i}: AWS_PROXY p50 {p50:.3f} ms p99 {p99:.3f} ms (non-2xx {non_2xx}); "
              f"MOCK p50 {m50:.3f} ms p99 {m99:.3f} ms (non-2xx {mock_non_2xx}); "
              f"Lambda host p50 +{p50 - m50:.3f} ms, p99 +{p99 - m99:.3f} ms")
        failed |= non_2xx > 0 or mock_non_2xx > 0

    name = f"authorizer-{int(time.time())}"
    lam.create_function(FunctionName=name, Runtime="python3.11", Handler="app.handler",
                        Role="arn:aws:iam::000000000000:role/bench", Code={"ZipFile": zip_of(AUTHORIZER)})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    token = {"Authorization": "Bearer bench-token"}
    print(f"== a Lambda authorizer (warm Python TOKEN function) before the MOCK route, {args.requests} "
          "sequential requests per run, each beside the route without one")
    for ttl, label in ((0, "uncached (TTL 0)"), (300, "cached (TTL 300)")):
        authorized_url = f"{args.endpoint}/_aws/execute-api/{mock_api(apigw, name, ttl)}/bench/x"
        for i in range(1, args.runs + 1):
            plain, plain_non_2xx = warm_overhead(mock_url, args.requests, token)
            authorized, non_2xx = warm_overhead(authorized_url, args.requests, token)
            p50, p99 = percentile(authorized, 50), percentile(authorized, 99)
            m50, m99 = percentile(plain, 50), percentile(plain, 99)
            print(f"  {label} run {i}: with p50 {p50:.3f} ms p99 {p99:.3f} ms (non-2xx {non_2xx}); "
                  f"without p50 {m50:.3f} ms p99 {m99:.3f} ms (non-2xx {plain_non_2xx}); "
                  f"authorizer p50 +{p50 - m50:.3f} ms, p99 +{p99 - m99:.3f} ms")
            failed |= non_2xx > 0 or plain_non_2xx > 0

    print(f"== throughput with 4 workers (wrk, 4 connections, {args.duration})")
    for i in range(1, args.runs + 1):
        rps, statuses = throughput(url, args.duration, args.wrk_lua)
        print(f"  run {i}: {rps:.0f} req/s, statuses {statuses}")
        failed |= any(not s.startswith("200=") for s in statuses.split())
    sys.exit(1 if failed and os.environ.get("BENCH_STRICT") == "1" else 0)


if __name__ == "__main__":
    main()

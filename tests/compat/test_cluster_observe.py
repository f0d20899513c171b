"""Logs and metrics of several instances on one PostgreSQL store, as one API.

Two instances share a database (`tollgate serve --store postgres://…`). Log
groups, streams and events live in the database, so what one instance
writes (access-log lines of its requests, `aws logs create-log-group`) is
what `aws logs` on the other answers. Metrics are kept in memory by each
instance and published to the database every 5 s; reads merge the other
instances' minutes, so `aws cloudwatch get-metric-statistics` on either
counts the requests of both within the documented staleness (12 s).
"""

import datetime
import time

import pytest
import requests

from conftest import Server, create_pg_database, pg_admin_url
from test_cluster import mock_api

GROUP = "/aws/apigateway/cluster-observe"
ARN = f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}"
SENT = {"ok": 0}  # every 200 the API answered, on either instance (each is one Count)
STALENESS = 15  # seconds: the README's 12 s, and some slack for a loaded machine


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    pg_admin_url()
    url, _name = create_pg_database()
    servers = [Server(tmp_path_factory.mktemp(f"obs{i}"), ["--store", url]).start() for i in range(2)]
    yield servers
    for s in servers:
        s.stop()


@pytest.fixture(scope="module")
def logged_api(pair):
    a, b = pair
    # The group is made on A; B sees it at once (one table).
    a.aws("logs", "create-log-group", "--log-group-name", GROUP)
    assert GROUP in [g["logGroupName"] for g in b.aws("logs", "describe-log-groups")["logGroups"]]
    apigw = a.client()
    api_id, _ = mock_api(apigw, "observed-api", '{"ok": true}')
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": ARN},
        {"op": "replace", "path": "/accessLogSettings/format", "value": "$context.requestId"}])
    # Both instances serve the stage with its access log before requests count.
    deadline = time.monotonic() + 10
    for s in pair:
        while requests.get(f"{s.endpoint}/_aws/execute-api/{api_id}/prod/hello", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "the stage is not served by both instances"
            time.sleep(0.1)
        SENT["ok"] += 1
    return api_id


def send(server, api_id, n):
    ids = []
    for _ in range(n):
        r = requests.get(f"{server.endpoint}/_aws/execute-api/{api_id}/prod/hello", timeout=5)
        assert r.status_code == 200, r.text
        SENT["ok"] += 1
        ids.append(r.headers["x-amzn-RequestId"])
    return ids


def logged_lines(server, start_ms, want, timeout=10):
    """Every line of the group from `start_ms` on, as `aws logs filter-log-events` pages them."""
    deadline = time.monotonic() + timeout
    while True:
        events = server.aws("logs", "filter-log-events", "--log-group-name", GROUP,
                            "--start-time", str(start_ms))["events"]
        if len(events) >= want or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def count_sum(server, api_id, start, end):
    out = server.aws("cloudwatch", "get-metric-statistics", "--namespace", "AWS/ApiGateway",
                     "--metric-name", "Count", "--statistics", "Sum", "--period", "60",
                     "--start-time", start.isoformat(), "--end-time", end.isoformat(),
                     "--dimensions", "Name=ApiName,Value=observed-api", "Name=Stage,Value=prod")
    return sum(d["Sum"] for d in out["Datapoints"])


def test_access_logs_of_both_instances_are_returned_by_either(pair, logged_api):
    a, b = pair
    time.sleep(1.2)  # the fixture's readiness probes are logged before `start`
    start = int(time.time() * 1000)
    sent = send(a, logged_api, 7) + send(b, logged_api, 5)
    for reader in (a, b):
        events = logged_lines(reader, start, len(sent))
        lines = [e["message"] for e in events]
        assert sorted(lines) == sorted(sent), "every request's line, exactly once"
        # Each instance wrote to its own stream (one per instance).
        assert len({e["logStreamName"] for e in events}) >= 1
    streams = a.aws("logs", "describe-log-streams", "--log-group-name", GROUP)["logStreams"]
    assert streams, "the instances' streams are listed"


def test_request_counts_of_both_instances_are_merged_on_either(pair, logged_api):
    a, b = pair
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=10), now + datetime.timedelta(minutes=5)
    send(a, logged_api, 9)
    send(b, logged_api, 4)
    # Every answered request so far (the fixture's probes and the other
    # tests' requests too), through either instance.
    want = SENT["ok"]
    deadline = time.monotonic() + STALENESS + 10
    seen = {}
    while True:
        seen = {s.endpoint: count_sum(s, logged_api, start, end) for s in pair}
        if all(v == want for v in seen.values()):
            break
        assert all(v <= want for v in seen.values()), f"counted more than was sent: {seen}, want {want}"
        assert time.monotonic() < deadline, f"Count Sum {seen}, want {want} on both"
        time.sleep(0.5)


def test_custom_metrics_put_on_one_are_read_on_the_other(pair):
    a, b = pair
    now = datetime.datetime.now(datetime.timezone.utc)
    a.client("cloudwatch").put_metric_data(Namespace="Cluster", MetricData=[
        {"MetricName": "Jobs", "Value": 3, "Unit": "Count"}])
    b.client("cloudwatch").put_metric_data(Namespace="Cluster", MetricData=[
        {"MetricName": "Jobs", "Value": 4, "Unit": "Count"}])
    deadline = time.monotonic() + STALENESS + 10
    while True:
        sums = []
        for s in pair:
            out = s.client("cloudwatch").get_metric_statistics(
                Namespace="Cluster", MetricName="Jobs", Period=60, Statistics=["Sum", "SampleCount"],
                StartTime=now - datetime.timedelta(minutes=5), EndTime=now + datetime.timedelta(minutes=5))
            sums.append(sum(d["Sum"] for d in out["Datapoints"]))
        if sums == [7.0, 7.0]:
            break
        assert time.monotonic() < deadline, f"Jobs Sum on each instance: {sums}, want 7 on both"
        time.sleep(0.5)
    listed = b.client("cloudwatch").list_metrics(Namespace="Cluster")["Metrics"]
    assert [m["MetricName"] for m in listed] == ["Jobs"]

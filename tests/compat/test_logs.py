"""CloudWatch Logs and access logs, driven with the aws CLI and boto3.

The seed's API (examples/multitalk/setup.sh, which sets the stage's access log
to `$context.requestId` in /aws/apigateway/multitalk) with its Lambda proxy
replaced by an HTTP_PROXY to the reference MultiTalk server, so that calls
succeed, are refused (403) and are throttled (429); then the log lines are
read back with `aws logs filter-log-events`.
"""

import csv
import io
import json
import re
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from seed_api import http_proxy_seed
from test_data_plane import UPSTREAM_KEY, Upstream

GROUP = "/aws/apigateway/multitalk"

CLF = ('$context.identity.sourceIp $context.identity.caller $context.identity.user [$context.requestTime] '
       '"$context.httpMethod $context.resourcePath $context.protocol" $context.status $context.responseLength '
       '$context.requestId $context.extendedRequestId')
JSON_FORMAT = ('{ "requestId":"$context.requestId", "extendedRequestId":"$context.extendedRequestId", '
               '"ip": "$context.identity.sourceIp", "caller":"$context.identity.caller", '
               '"user":"$context.identity.user", "requestTime":"$context.requestTime", '
               '"httpMethod":"$context.httpMethod", "resourcePath":"$context.resourcePath", '
               '"status":"$context.status", "protocol":"$context.protocol", '
               '"responseLength":"$context.responseLength" }')
XML_FORMAT = ('<request id="$context.requestId"> <ip>$context.identity.sourceIp</ip> '
              '<caller>$context.identity.caller</caller> <user>$context.identity.user</user> '
              '<requestTime>$context.requestTime</requestTime> <httpMethod>$context.httpMethod</httpMethod> '
              '<resourcePath>$context.resourcePath</resourcePath> <status>$context.status</status> '
              '<protocol>$context.protocol</protocol> <responseLength>$context.responseLength</responseLength> '
              '</request>')
CSV_FORMAT = ('$context.identity.sourceIp,$context.identity.caller,$context.identity.user,$context.requestTime,'
              '$context.httpMethod,$context.resourcePath,$context.protocol,$context.status,'
              '$context.responseLength,$context.requestId,$context.extendedRequestId')


@pytest.fixture(scope="module")
def upstream():
    u = Upstream("--api-key", UPSTREAM_KEY)
    yield u
    u.stop()


@pytest.fixture(scope="module")
def seed(server, aws, apigw, upstream):
    assert aws("logs", "describe-log-groups")["logGroups"] == []
    # The guide's setup runs `aws logs create-log-group`, then sets the stage's access log.
    seed = http_proxy_seed(server, apigw, upstream)
    assert [g["logGroupName"] for g in aws("logs", "describe-log-groups")["logGroups"]] == [GROUP]
    return seed


def set_format(apigw, seed, fmt):
    apigw.update_stage(restApiId=seed["api_id"], stageName="prod", patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/format", "value": fmt}])


def lines_since(aws, start_ms, want, keep=lambda line: True, timeout=10):
    """The group's lines from `start_ms` on that `keep` selects, waiting until `want` are there."""
    deadline = time.monotonic() + timeout
    while True:
        events = aws("logs", "filter-log-events", "--log-group-name", GROUP,
                     "--start-time", str(start_ms))["events"]
        lines = [e["message"] for e in events if keep(e["message"])]
        if len(lines) >= want or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def calls(seed, n_ok, n_forbidden):
    ids = {"ok": [], "forbidden": []}
    for _ in range(n_ok):
        r = requests.get(f"{seed['endpoint']}/api/v1/health", headers={"x-api-key": seed["key"]}, timeout=10)
        assert r.status_code == 200, r.text
        ids["ok"].append(r.headers["x-amzn-RequestId"])
    for _ in range(n_forbidden):
        r = requests.get(f"{seed['endpoint']}/api/v1/health", timeout=10)
        assert r.status_code == 403
        ids["forbidden"].append(r.headers["x-amzn-RequestId"])
    return ids


def test_one_line_per_request_with_the_request_ids_clients_saw(aws, apigw, seed):
    set_format(apigw, seed, "$context.requestId")
    start = int(time.time() * 1000) - 1000
    ids = calls(seed, 3, 2)
    sent = ids["ok"] + ids["forbidden"]
    logged = lines_since(aws, start, len(sent), lambda line: line in sent)
    assert sorted(logged) == sorted(sent)
    everything = lines_since(aws, start, len(sent))
    assert len(everything) == len(set(everything)) == len(sent), "one line per request, no more"


def test_throttled_requests_are_logged_too(aws, apigw, seed):
    set_format(apigw, seed, "$context.requestId $context.status")
    apigw.update_usage_plan(usagePlanId=seed["plan_id"], patchOperations=[
        {"op": "replace", "path": "/throttle/burstLimit", "value": "1"},
        {"op": "replace", "path": "/throttle/rateLimit", "value": "0.5"}])
    try:
        start = int(time.time() * 1000) - 1000
        statuses = {}
        for _ in range(6):
            r = requests.get(f"{seed['endpoint']}/api/v1/health", headers={"x-api-key": seed["key"]}, timeout=10)
            statuses[r.headers["x-amzn-RequestId"]] = r.status_code
        assert 429 in statuses.values(), statuses
        lines = lines_since(aws, start, len(statuses), lambda line: line.split(" ")[0] in statuses)
        logged = dict(line.split(" ") for line in lines)
        assert {k: int(v) for k, v in logged.items()} == statuses
    finally:
        apigw.update_usage_plan(usagePlanId=seed["plan_id"], patchOperations=[
            {"op": "replace", "path": "/throttle/burstLimit", "value": "100"},
            {"op": "replace", "path": "/throttle/rateLimit", "value": "50"}])


def test_the_consoles_formats_parse(aws, apigw, seed):
    parsers = {
        "CLF": (CLF, lambda line: re.fullmatch(
            r'(\S+) (\S+) (\S+) \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+) (\S+) (\S+)',
            line).group(8)),
        "JSON": (JSON_FORMAT, lambda line: json.loads(line)["status"]),
        "XML": (XML_FORMAT, lambda line: ET.fromstring(line).find("status").text),
        "CSV": (CSV_FORMAT, lambda line: next(csv.reader(io.StringIO(line)))[7]),
    }
    for name, (fmt, status_of) in parsers.items():
        set_format(apigw, seed, fmt)
        start = int(time.time() * 1000)
        ids = calls(seed, 1, 1)
        wanted = ids["ok"] + ids["forbidden"]
        logged = lines_since(aws, start, 2, lambda line: any(i in line for i in wanted))
        assert sorted(status_of(line) for line in logged) == ["200", "403"], (name, logged)


def test_a_json_filter_pattern_selects_exactly_the_403s(aws, apigw, seed):
    set_format(apigw, seed, JSON_FORMAT)
    start = int(time.time() * 1000)
    ids = calls(seed, 2, 3)
    wanted = ids["ok"] + ids["forbidden"]
    lines_since(aws, start, 5, lambda line: any(i in line for i in wanted))
    found = aws("logs", "filter-log-events", "--log-group-name", GROUP, "--start-time", str(start),
                "--filter-pattern", "{ $.status = 403 }")["events"]
    found_ids = [json.loads(e["message"])["requestId"] for e in found]
    assert sorted(i for i in found_ids if i in wanted) == sorted(ids["forbidden"])
    assert all(json.loads(e["message"])["status"] == "403" for e in found)


def test_the_logs_api(aws, logs, unique):
    group = f"/tollgate/test/{unique}"
    aws("logs", "create-log-group", "--log-group-name", group, "--tags", "team=video")
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    aws("logs", "put-retention-policy", "--log-group-name", group, "--retention-in-days", "7")
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.put_retention_policy(logGroupName=group, retentionInDays=8)
    described = aws("logs", "describe-log-groups", "--log-group-name-prefix", group)["logGroups"]
    assert [g["logGroupName"] for g in described] == [group]
    assert described[0]["retentionInDays"] == 7
    assert described[0]["arn"].endswith(f":log-group:{group}:*")
    assert aws("logs", "list-tags-log-group", "--log-group-name", group)["tags"] == {"team": "video"}

    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.create_log_stream(logGroupName=group + "-missing", logStreamName="s1")
    now = int(time.time() * 1000)
    # Older than the group's retention: rejected, not stored.
    put = logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=[
        {"timestamp": now - 10 * 86_400_000, "message": "too old"}])
    assert put["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}
    logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=[
        {"timestamp": now - 2, "message": "ERROR disk full"},
        {"timestamp": now - 1, "message": "INFO started"},
        {"timestamp": now, "message": "WARN slow"},
    ])
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=[
            {"timestamp": now - 2 * 86_400_000, "message": "a"}, {"timestamp": now, "message": "b"}])
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.put_log_events(logGroupName=group, logStreamName="s1", logEvents=[
            {"timestamp": now, "message": "b"}, {"timestamp": now - 5, "message": "a"}])
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.put_log_events(logGroupName=group, logStreamName="nope",
                            logEvents=[{"timestamp": now, "message": "x"}])

    got = logs.get_log_events(logGroupName=group, logStreamName="s1", startFromHead=True, limit=2)
    assert [e["message"] for e in got["events"]] == ["ERROR disk full", "INFO started"]
    more = logs.get_log_events(logGroupName=group, logStreamName="s1", nextToken=got["nextForwardToken"])
    assert [e["message"] for e in more["events"]] == ["WARN slow"]
    end = logs.get_log_events(logGroupName=group, logStreamName="s1", nextToken=more["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == more["nextForwardToken"]

    def matching(pattern):
        return [e["message"] for e in logs.filter_log_events(logGroupName=group, filterPattern=pattern)["events"]]

    assert matching("ERROR") == ["ERROR disk full"]
    assert matching("?ERROR ?WARN") == ["ERROR disk full", "WARN slow"]
    assert matching('"disk full"') == ["ERROR disk full"]
    assert matching("") == ["ERROR disk full", "INFO started", "WARN slow"]
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.filter_log_events(logGroupName=group, filterPattern="{ $.a = ")

    streams = aws("logs", "describe-log-streams", "--log-group-name", group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["s1"]
    assert streams[0]["lastEventTimestamp"] == now
    logs.delete_log_stream(logGroupName=group, logStreamName="s1")
    aws("logs", "delete-log-group", "--log-group-name", group)
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_log_group(logGroupName=group)


def test_filter_log_events_pages_with_next_token(logs, unique):
    group = f"/tollgate/paging/{unique}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": now - 3000 + i, "message": f"line {i}"} for i in range(2500)])
    seen, token = [], None
    while True:
        page = logs.filter_log_events(logGroupName=group, limit=1000, **({"nextToken": token} if token else {}))
        seen += [e["message"] for e in page["events"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == [f"line {i}" for i in range(2500)]


@pytest.fixture(scope="module")
def logs(server):
    from conftest import make_client
    return make_client(server.endpoint, "logs")


def test_execution_logs_follow_the_stages_logging_level(aws, apigw, seed):
    group = f"API-Gateway-Execution-Logs_{seed['api_id']}/prod"
    apigw.update_stage(restApiId=seed["api_id"], stageName="prod", patchOperations=[
        {"op": "replace", "path": "/*/*/logging/loglevel", "value": "INFO"}])
    try:
        ids = calls(seed, 1, 1)
        wanted = ids["ok"] + ids["forbidden"]
        deadline = time.monotonic() + 10
        while True:
            try:
                messages = [e["message"] for e in aws("logs", "filter-log-events", "--log-group-name", group)["events"]]
            except Exception:
                messages = []
            if all(any(f"({i}) Method completed" in m for m in messages) for i in wanted) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        ok, forbidden = ids["ok"][0], ids["forbidden"][0]
        assert f"({ok}) Starting execution for request: {ok}" in messages
        assert f"({ok}) Method completed with status: 200" in messages
        assert any(m.startswith(f"({ok}) Received response. Status: 200, Integration latency:") for m in messages)
        assert f"({forbidden}) Method completed with status: 403" in messages
        # ERROR: only the failed requests.
        apigw.update_stage(restApiId=seed["api_id"], stageName="prod", patchOperations=[
            {"op": "replace", "path": "/*/*/logging/loglevel", "value": "ERROR"}])
        later = calls(seed, 1, 1)
        time.sleep(1.5)
        messages = [e["message"] for e in aws("logs", "filter-log-events", "--log-group-name", group)["events"]]
        assert not any(later["ok"][0] in m for m in messages)
        assert f"({later['forbidden'][0]}) Method completed with status: 403" in messages
    finally:
        apigw.update_stage(restApiId=seed["api_id"], stageName="prod", patchOperations=[
            {"op": "replace", "path": "/*/*/logging/loglevel", "value": "OFF"}])


def test_tollgate_logs_tail_prints_the_groups_lines(server, apigw, aws, seed):
    import subprocess
    from conftest import TOLLGATE_BIN
    set_format(apigw, seed, "$context.requestId $context.status")
    start = int(time.time() * 1000)
    ids = calls(seed, 1, 1)
    lines_since(aws, start, 2, lambda line: any(i in line for i in ids["ok"] + ids["forbidden"]))
    p = subprocess.run([TOLLGATE_BIN, "logs", "tail", GROUP, "--data-dir", server.data_dir, "--since", "60",
                        "--filter-pattern", "403"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert f"{ids['forbidden'][0]} 403" in p.stdout
    assert ids["ok"][0] not in p.stdout, "the filter pattern applies"

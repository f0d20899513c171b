"""CloudWatch metrics, alarms and SNS, and the Prometheus exposition.

The seed's API (with an HTTP_PROXY to the reference MultiTalk server) is
called; then what the client saw is compared to what CloudWatch reports,
through the aws CLI (smithy rpc-v2-cbor), a hand-signed query-protocol call
and a json 1.0 call, and to `/metrics` read by prometheus_client's parser.
The seed's `put-metric-alarm`, with an SNS action whose HTTP subscriber this
test runs, fires after 11 forbidden calls.
"""

import datetime
import json
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from prometheus_client.parser import text_string_to_metric_families

from conftest import ACCESS_KEY, REGION, SECRET_KEY, make_client
from seed_api import API_NAME, http_proxy_seed
from test_data_plane import UPSTREAM_KEY, Upstream

CW_NS = "{http://monitoring.amazonaws.com/doc/2010-08-01/}"


@pytest.fixture(scope="module")
def upstream():
    u = Upstream("--api-key", UPSTREAM_KEY)
    yield u
    u.stop()


@pytest.fixture(scope="module")
def seed(server, apigw, upstream):
    return http_proxy_seed(server, apigw, upstream)


@pytest.fixture(scope="module")
def cloudwatch(server):
    return make_client(server.endpoint, "cloudwatch")


@pytest.fixture(scope="module")
def sns(server):
    return make_client(server.endpoint, "sns")


def signed(server, service, body, headers):
    request = AWSRequest(method="POST", url=server.endpoint + "/", data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, REGION).add_auth(request)
    return requests.post(server.endpoint + "/", data=body, headers=dict(request.headers), timeout=10)


def stat_query(server, metric, dimensions, start, end):
    """GetMetricStatistics over the query protocol, signed by hand."""
    form = {"Action": "GetMetricStatistics", "Version": "2010-08-01", "Namespace": "AWS/ApiGateway",
            "MetricName": metric, "Period": "60", "Statistics.member.1": "Sum",
            "StartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "EndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ")}
    for i, (name, value) in enumerate(dimensions, 1):
        form[f"Dimensions.member.{i}.Name"] = name
        form[f"Dimensions.member.{i}.Value"] = value
    r = signed(server, "monitoring", urllib.parse.urlencode(form),
               {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert r.status_code == 200, r.text
    doc = ET.fromstring(r.text)
    return sum(float(e.text) for e in doc.iter(f"{CW_NS}Sum"))


def stat_json(server, metric, dimensions, start, end):
    """GetMetricStatistics over json 1.0."""
    body = json.dumps({"Namespace": "AWS/ApiGateway", "MetricName": metric, "Period": 60,
                       "Statistics": ["Sum"], "StartTime": start.timestamp(), "EndTime": end.timestamp(),
                       "Dimensions": [{"Name": n, "Value": v} for n, v in dimensions]})
    r = signed(server, "monitoring", body, {"Content-Type": "application/x-amz-json-1.0",
                                             "X-Amz-Target": "GraniteServiceVersion20100801.GetMetricStatistics"})
    assert r.status_code == 200, r.text
    return sum(d["Sum"] for d in r.json()["Datapoints"])


def stat_cli(aws, metric, dimensions, start, end):
    """GetMetricStatistics with the aws CLI (smithy rpc-v2-cbor)."""
    args = ["cloudwatch", "get-metric-statistics", "--namespace", "AWS/ApiGateway", "--metric-name", metric,
            "--statistics", "Sum", "--period", "60", "--start-time", start.isoformat(),
            "--end-time", end.isoformat()]
    if dimensions:
        args += ["--dimensions", *[f"Name={n},Value={v}" for n, v in dimensions]]
    out = aws(*args)
    return sum(d["Sum"] for d in out["Datapoints"])


def test_metrics_sum_to_what_clients_saw(server, aws, seed):
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=2)
    statuses = []
    for _ in range(6):
        statuses.append(requests.get(f"{seed['endpoint']}/api/v1/health",
                                     headers={"x-api-key": seed["key"]}, timeout=10).status_code)
    for _ in range(4):
        statuses.append(requests.get(f"{seed['endpoint']}/api/v1/health", timeout=10).status_code)
    assert sorted(statuses) == [200] * 6 + [403] * 4
    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=2)
    dims = [("ApiName", API_NAME), ("Stage", "prod")]
    deadline = time.monotonic() + 10
    while stat_cli(aws, "Count", dims, start, end) < 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    for read in (stat_cli, lambda *a: stat_query(server, *a[1:]), lambda *a: stat_json(server, *a[1:])):
        assert read(aws, "Count", dims, start, end) == 10
        assert read(aws, "4XXError", dims, start, end) == 4
        assert read(aws, "5XXError", dims, start, end) == 0
    # The API alone, and everything together (what an alarm without dimensions watches).
    assert stat_cli(aws, "Count", [("ApiName", API_NAME)], start, end) == 10
    assert stat_cli(aws, "4XXError", [], start, end) == 4

    # /metrics, parsed by the Prometheus client library, agrees.
    text = requests.get(f"{server.endpoint}/metrics", timeout=10).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("api_name") == API_NAME and sample.labels.get("stage") == "prod":
                samples[sample.name] = sample.value
    assert samples["tollgate_apigateway_requests_total"] == 10
    assert samples["tollgate_apigateway_4xx_errors_total"] == 4
    assert samples["tollgate_apigateway_5xx_errors_total"] == 0
    assert samples["tollgate_apigateway_latency_milliseconds_count"] == 10
    # The Grafana dashboard in examples/ plots series that exist.
    import re
    from conftest import REPO
    dashboard = (REPO / "examples" / "grafana" / "tollgate-dashboard.json").read_text()
    for name in set(re.findall(r"tollgate_apigateway_[a-z0-9_]+", dashboard)):
        assert name in text, name
    # Only the control listener serves it: an execute-api path is not /metrics.
    assert requests.get(f"{seed['endpoint']}/metrics", timeout=10).status_code == 403


def test_put_metric_data_and_metric_math(aws, cloudwatch):
    now = datetime.datetime.now(datetime.timezone.utc)
    aws("cloudwatch", "put-metric-data", "--namespace", "MultiTalk", "--metric-name", "JobsDone",
        "--dimensions", "Queue=gpu", "--value", "4", "--unit", "Count")
    cloudwatch.put_metric_data(Namespace="MultiTalk", MetricData=[
        {"MetricName": "JobsFailed", "Dimensions": [{"Name": "Queue", "Value": "gpu"}], "Value": 1, "Unit": "Count"}])
    with pytest.raises(cloudwatch.exceptions.InvalidParameterValueException):
        cloudwatch.put_metric_data(Namespace="AWS/ApiGateway", MetricData=[{"MetricName": "Count", "Value": 1}])
    metric = lambda name: {"Namespace": "MultiTalk", "MetricName": name,
                           "Dimensions": [{"Name": "Queue", "Value": "gpu"}]}
    data = cloudwatch.get_metric_data(
        StartTime=now - datetime.timedelta(minutes=5), EndTime=now + datetime.timedelta(minutes=5),
        MetricDataQueries=[
            {"Id": "done", "MetricStat": {"Metric": metric("JobsDone"), "Period": 300, "Stat": "Sum"},
             "ReturnData": False},
            {"Id": "failed", "MetricStat": {"Metric": metric("JobsFailed"), "Period": 300, "Stat": "Sum"},
             "ReturnData": False},
            {"Id": "failure_rate", "Expression": "100 * failed / (done + failed)"},
            {"Id": "total", "Expression": "SUM(METRICS())"},
        ])
    results = {r["Id"]: r["Values"] for r in data["MetricDataResults"]}
    assert results == {"failure_rate": [20.0], "total": [5.0]}
    listed = cloudwatch.list_metrics(Namespace="MultiTalk")["Metrics"]
    assert sorted(m["MetricName"] for m in listed) == ["JobsDone", "JobsFailed"]
    stats = cloudwatch.get_metric_statistics(
        Namespace="MultiTalk", MetricName="JobsDone", Dimensions=[{"Name": "Queue", "Value": "gpu"}],
        StartTime=now - datetime.timedelta(minutes=5), EndTime=now + datetime.timedelta(minutes=5),
        Period=60, ExtendedStatistics=["p99"])
    assert stats["Datapoints"][0]["ExtendedStatistics"]["p99"] == pytest.approx(4.0)
    # boto3 (rpc-v2-cbor) parsed a real timestamp (CBOR tag 1), not a bare number.
    assert isinstance(stats["Datapoints"][0]["Timestamp"], datetime.datetime)


class Subscriber(BaseHTTPRequestHandler):
    """An SNS HTTP subscriber: confirms its subscription, keeps notifications."""
    received = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        kind = self.headers["x-amz-sns-message-type"]
        if kind == "SubscriptionConfirmation":
            requests.get(body["SubscribeURL"], timeout=10).raise_for_status()
        else:
            Subscriber.received.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def subscriber():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Subscriber)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/alerts"
    httpd.shutdown()


def test_the_seeds_alarm_fires_and_notifies(aws, sns, cloudwatch, seed, subscriber):
    topic = aws("sns", "create-topic", "--name", "multitalk-alerts")["TopicArn"]
    aws("sns", "subscribe", "--topic-arn", topic, "--protocol", "http", "--notification-endpoint", subscriber)
    deadline = time.monotonic() + 10
    while True:
        subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        if subs and subs[0]["SubscriptionArn"] != "PendingConfirmation":
            break
        assert time.monotonic() < deadline, "the subscriber confirmed"
        time.sleep(0.1)
    # The guide's command, with the topic as its action.
    aws("cloudwatch", "put-metric-alarm",
        "--alarm-name", "multitalk-api-errors",
        "--alarm-description", "Alert on high API error rate",
        "--metric-name", "4XXError",
        "--namespace", "AWS/ApiGateway",
        "--statistic", "Sum",
        "--period", "300",
        "--threshold", "10",
        "--comparison-operator", "GreaterThanThreshold",
        "--evaluation-periods", "1",
        "--alarm-actions", topic)
    alarm = aws("cloudwatch", "describe-alarms", "--alarm-names", "multitalk-api-errors")["MetricAlarms"][0]
    assert alarm["StateValue"] in ("INSUFFICIENT_DATA", "OK")
    Subscriber.received.clear()
    for _ in range(11):
        assert requests.get(f"{seed['endpoint']}/api/v1/health", timeout=10).status_code == 403
    deadline = time.monotonic() + 30
    while True:
        alarm = cloudwatch.describe_alarms(AlarmNames=["multitalk-api-errors"])["MetricAlarms"][0]
        if alarm["StateValue"] == "ALARM" and Subscriber.received:
            break
        assert time.monotonic() < deadline, alarm
        time.sleep(0.5)
    time.sleep(1)
    assert len(Subscriber.received) == 1, Subscriber.received
    note = Subscriber.received[0]
    assert note["Type"] == "Notification" and note["TopicArn"] == topic
    message = json.loads(note["Message"])
    assert message["AlarmName"] == "multitalk-api-errors"
    assert message["NewStateValue"] == "ALARM"
    assert message["Trigger"]["MetricName"] == "4XXError"
    history = cloudwatch.describe_alarm_history(AlarmName="multitalk-api-errors")["AlarmHistoryItems"]
    kinds = [h["HistoryItemType"] for h in history]
    assert "StateUpdate" in kinds and "Action" in kinds
    assert any("Successfully delivered" in h["HistorySummary"] for h in history)
    # SetAlarmState moves it by hand (and the next evaluation may move it back).
    cloudwatch.set_alarm_state(AlarmName="multitalk-api-errors", StateValue="OK", StateReason="test")
    assert cloudwatch.describe_alarms(AlarmNames=["multitalk-api-errors"])["MetricAlarms"][0]["StateValue"] == "OK"
    cloudwatch.delete_alarms(AlarmNames=["multitalk-api-errors"])
    with pytest.raises(cloudwatch.exceptions.ResourceNotFound):
        cloudwatch.delete_alarms(AlarmNames=["multitalk-api-errors"])

"""Graceful shutdown: SIGTERM under load loses no request, and a second signal
does not wait.

API Gateway has no equivalent (its users never restart it); what is checked is
what an operator restarting Tollgate behind a load balancer relies on.
"""

import signal
import socket
import subprocess
import threading
import time
from urllib.parse import urlparse

import pytest
import requests

from conftest import Server
from test_data_plane import Upstream
from test_usage_plans import keyed_api, used_today

GRACE_SECS = 20


@pytest.fixture(scope="module")
def slowish_upstream():
    u = Upstream("--delay-ms", "700")
    yield u
    u.stop()


def host_port(endpoint):
    u = urlparse(endpoint)
    return u.hostname, u.port


def test_sigterm_under_load_fails_no_request_and_keeps_usage(tmp_path, slowish_upstream):
    srv = Server(tmp_path, ["--shutdown-grace-secs", str(GRACE_SECS)]).start()
    try:
        a = keyed_api(srv.client(), slowish_upstream.url)
        url = srv.endpoint + a["url"]
        signalled = threading.Event()
        results = []  # (sent before the signal, status or exception name)
        lock = threading.Lock()

        def load():
            session = requests.Session()  # keep-alive
            while True:
                before = not signalled.is_set()
                try:
                    r = session.get(url, headers={"x-api-key": a["key"]}, timeout=GRACE_SECS)
                    outcome = r.status_code
                except requests.RequestException as e:
                    outcome = type(e).__name__
                with lock:
                    results.append((before, outcome))
                if not isinstance(outcome, int):
                    return  # the server is gone: refused, as it should be

        threads = [threading.Thread(target=load) for _ in range(8)]
        for t in threads:
            t.start()
        time.sleep(2.5)
        signalled.set()
        srv.proc.send_signal(signal.SIGTERM)
        signalled_at = time.monotonic()

        # While requests are still in flight (the upstream takes 0.7 s), the
        # process is alive but a new connection is refused.
        time.sleep(0.2)
        assert srv.proc.poll() is None, "exited with requests in flight"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(host_port(srv.endpoint), timeout=2).close()

        rc = srv.proc.wait(GRACE_SECS)
        took = time.monotonic() - signalled_at
        for t in threads:
            t.join(10)
        assert rc == 0
        assert took < 5, f"exit took {took:.1f}s: something held the drain"

        sent_before = [o for before, o in results if before]
        assert len(sent_before) >= 8, results
        assert all(o == 200 for o in sent_before), [o for o in sent_before if o != 200]
        # After the signal a client's next request finds the server gone; it
        # never gets an error response.
        assert all(o == 200 or isinstance(o, str) for before, o in results if not before)

        ok = sum(1 for _, o in results if o == 200)
        srv.start()
        assert used_today(srv.client(), a["plan"], a["key_id"])[0] == ok
    finally:
        srv.stop(signal.SIGTERM)


def test_idle_keep_alive_connection_does_not_hold_shutdown(tmp_path):
    srv = Server(tmp_path).start()  # default grace: 30 s
    try:
        conn = socket.create_connection(host_port(srv.endpoint), timeout=5)
        conn.sendall(b"GET /_aws/nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        assert conn.recv(65536).startswith(b"HTTP/1.1 ")
        started = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(10) == 0
        assert time.monotonic() - started < 3
        # The server closed the idle connection: end of stream, no more bytes.
        assert conn.recv(65536) == b""
        conn.close()
    finally:
        srv.stop(signal.SIGTERM)


def test_h2c_request_in_flight_is_answered_after_sigterm(tmp_path, slowish_upstream):
    srv = Server(tmp_path).start()
    try:
        a = keyed_api(srv.client(), slowish_upstream.url)
        curl = subprocess.Popen(
            ["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
             "-H", f"x-api-key: {a['key']}", srv.endpoint + a["url"]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        time.sleep(0.3)  # the request is at the upstream (0.7 s)
        srv.proc.send_signal(signal.SIGTERM)
        out, err = curl.communicate(timeout=10)
        assert curl.returncode == 0, err
        assert out == "200 2"
        assert srv.proc.wait(10) == 0
    finally:
        srv.stop(signal.SIGTERM)


def test_second_signal_exits_at_once(tmp_path):
    slow = Upstream("--delay-ms", "4000")
    srv = Server(tmp_path, ["--shutdown-grace-secs", "60"]).start()
    try:
        a = keyed_api(srv.client(), slow.url)
        # Keep requests in flight so that the first signal waits.
        stop = threading.Event()

        def load():
            s = requests.Session()
            while not stop.is_set():
                try:
                    s.get(srv.endpoint + a["url"], headers={"x-api-key": a["key"]}, timeout=5)
                except requests.RequestException:
                    return

        t = threading.Thread(target=load)
        t.start()
        time.sleep(1.0)
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        assert srv.proc.poll() is None
        started = time.monotonic()
        srv.proc.send_signal(signal.SIGINT)
        rc = srv.proc.wait(5)
        assert time.monotonic() - started < 0.5
        assert rc == 130
        stop.set()
        t.join(10)
    finally:
        srv.stop(signal.SIGTERM)
        slow.stop()


def test_sigterm_writes_every_access_log_line_even_behind_a_slow_log_store(tmp_path):
    """The log writer is held up (the log database locked by another
    connection) when SIGTERM comes: the process waits for it to write the
    last requests' lines instead of exiting with them queued."""
    import sqlite3

    from test_cluster import mock_api

    group = "/tollgate/shutdown-test"
    srv = Server(tmp_path).start()
    try:
        apigw = srv.client()
        srv.client("logs").create_log_group(logGroupName=group)
        api_id, _ = mock_api(apigw, "shutdown-logs", '{"ok": true}')
        apigw.create_deployment(restApiId=api_id, stageName="prod")
        apigw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
            {"op": "replace", "path": "/accessLogSettings/destinationArn",
             "value": f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"},
            {"op": "replace", "path": "/accessLogSettings/format", "value": "$context.requestId"}])

        held = sqlite3.connect(tmp_path / "logs.db", timeout=5, isolation_level=None)
        held.execute("BEGIN IMMEDIATE")  # the writer's next transaction waits for this one
        session = requests.Session()
        sent = []
        for _ in range(150):
            r = session.get(f"{srv.endpoint}/_aws/execute-api/{api_id}/prod/hello", timeout=10)
            assert r.status_code == 200, r.text
            sent.append(r.headers["x-amzn-RequestId"])
        session.close()
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert srv.proc.poll() is None, "exited with access-log lines not written"
        held.execute("COMMIT")
        held.close()
        assert srv.proc.wait(15) == 0

        srv.start()
        events, token = [], None
        while True:
            page = srv.client("logs").filter_log_events(
                logGroupName=group, **({"nextToken": token} if token else {}))
            events += [e["message"] for e in page["events"]]
            token = page.get("nextToken")
            if not token:
                break
        assert sorted(events) == sorted(sent)
    finally:
        srv.stop(signal.SIGTERM)

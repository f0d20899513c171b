"""Usage plans counted in Redis (`tollgate serve --counters redis://…`): two
`serve` processes with the same configuration enforce one quota together, and
GetUsage on either reports the cluster's count.

Until instances share a configuration store, the second instance gets the
first one's configuration by copying its data directory while it is stopped
(same API, plan and key ids, so the same Redis keys). Needs Redis on
127.0.0.1:6379 (keys under a random prefix, deleted after) and `redis-server`
for the outage test; under CI=true a missing one fails instead of skipping.
"""

import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest
import requests

from conftest import Server
from test_usage_plans import keyed_api, today, upstream  # noqa: F401 (fixture)

SYSTEM_REDIS = ("127.0.0.1", 6379)


def redis_or_skip(host, port):
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: Redis must run on {host}:{port}")
        pytest.skip(f"no Redis on {host}:{port}")


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True,
                          timeout=10).stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_instances(tmp_path, upstream_url, counters_args, **plan):
    """Configures one instance, copies its data directory, and starts both with `counters_args`."""
    (tmp_path / "a").mkdir()
    first = Server(tmp_path / "a").start()
    try:
        a = keyed_api(first.client(), upstream_url, **plan)
    finally:
        first.stop()
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    servers = [Server(tmp_path / d, counters_args).start() for d in ("a", "b")]
    return a, servers


def test_a_quota_holds_across_two_serve_processes(tmp_path, upstream):  # noqa: F811
    redis_or_skip(*SYSTEM_REDIS)
    prefix = f"tollgate-compat-{uuid.uuid4().hex[:8]}:"
    args = ["--counters", "redis://127.0.0.1:6379/0", "--counters-prefix", prefix, "--instances", "2"]
    a, servers = two_instances(tmp_path, upstream.url, args, quota={"limit": 30, "period": "DAY"})
    try:
        statuses = []
        for i in range(50):
            srv = servers[i % 2]
            r = requests.get(srv.endpoint + a["url"], headers={"x-api-key": a["key"]}, timeout=10)
            statuses.append(r.status_code)
        assert statuses.count(200) == 30, statuses
        assert statuses.count(429) == 20, statuses
        # Each instance's GetUsage reports the cluster's count, not its own.
        for srv in servers:
            usage = srv.client().get_usage(usagePlanId=a["plan"], startDate=today(), endDate=today(),
                                           keyId=a["key_id"])
            assert usage["items"][a["key_id"]] == [[30, 0]]
    finally:
        for srv in servers:
            srv.stop()
        keys = redis_cli(SYSTEM_REDIS[1], "--scan", "--pattern", f"{prefix}*").split()
        if keys:
            redis_cli(SYSTEM_REDIS[1], "DEL", *keys)


class PrivateRedis:
    def __init__(self):
        if shutil.which("redis-server") is None:
            if os.environ.get("CI") == "true":
                pytest.fail("CI=true: redis-server must be installed")
            pytest.skip("redis-server not installed")
        self.port = free_port()
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail("redis-server did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_closed_policy_answers_503_while_redis_is_down_and_recovers(tmp_path, upstream):  # noqa: F811
    redis = PrivateRedis()
    # Every request asks Redis (no grant, whose units would be used first): the
    # policy shows on the first request after the outage.
    args = ["--counters", f"redis://127.0.0.1:{redis.port}/0", "--counters-failure", "closed",
            "--counters-grant", "1"]
    a, servers = two_instances(tmp_path, upstream.url, args, quota={"limit": 1000, "period": "DAY"})
    try:
        get = lambda srv: requests.get(srv.endpoint + a["url"], headers={"x-api-key": a["key"]}, timeout=10)
        assert [get(s).status_code for s in servers * 2] == [200] * 4
        redis.stop()
        for srv in servers * 3:
            started = time.monotonic()
            r = get(srv)
            assert r.status_code == 503
            assert r.json() == {"message": "Service Unavailable"}
            assert time.monotonic() - started < 1.0
        # No instance crashed; both log the outage once.
        for srv in servers:
            assert srv.proc.poll() is None
            warnings = [line for line in srv.output if "cannot be reached" in line]
            assert len(warnings) == 1, srv.output[-20:]
        redis.start()
        deadline = time.monotonic() + 10
        for srv in servers:
            while get(srv).status_code != 200:
                assert time.monotonic() < deadline, "counting did not resume"
                time.sleep(0.1)
        # The restarted Redis (no persistence) counts from zero: the two above.
        day = time.time() // 86400
        total = sum(int(v or 0) for v in redis_cli(
            redis.port, "MGET", f"tollgate:{a['plan']}:{a['key_id']}:d:{int(day)}").split())
        assert total == 2
    finally:
        for srv in servers:
            srv.stop()
        redis.stop()


def raw_request(port, head: bytes, timeout=10):
    """Sends `head` (a whole request) on a new connection; the status code, or None if closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return None
            data += chunk
        return int(data.split(b" ", 2)[1])


def test_hostile_keys_paths_and_slow_clients_leave_redis_counts_true(tmp_path, upstream):  # noqa: F811
    """Key values shaped like Redis protocol, bytes beyond ASCII, dot-segment paths and a client
    that stalls mid-body: unknown keys never reach Redis, and the shared count equals the 200s."""
    redis = PrivateRedis()
    try:
        (tmp_path / "a").mkdir()
        srv = Server(tmp_path / "a", ["--counters", f"redis://127.0.0.1:{redis.port}/0",
                                      "--counters-failure", "closed"]).start()
        try:
            a = keyed_api(srv.client(), upstream.url, quota={"limit": 1000, "period": "DAY"})
            port = int(srv.endpoint.rsplit(":", 1)[1])
            before = int(redis_cli(redis.port, "DBSIZE").strip() or 0)
            hostile_keys = [
                b"*1\r\n$8\r\nFLUSHALL",  # CRLF ends the header: the rest is a bad header line
                b"*1 $8 FLUSHALL",
                b"EVAL \"return redis.call('FLUSHALL')\" 0",
                a["key"].encode() + b"\x00",
                a["key"].encode()[:-1] + b"\xff",
                b"\xc3\x28" * 2000,
                b"x" * 9000,
            ]
            for key in hostile_keys:
                head = (b"GET " + a["url"].encode() + b" HTTP/1.1\r\nHost: h\r\nx-api-key: " + key
                        + b"\r\nConnection: close\r\n\r\n")
                status = raw_request(port, head)
                assert status in (None, 400, 403, 431), (key[:40], status)
            # Nothing was counted for keys that do not exist.
            assert int(redis_cli(redis.port, "DBSIZE").strip() or 0) == before

            ok = 0
            api_prefix = a["url"].rsplit("/api/", 1)[0]
            for path in ["/api/v1/%2e%2e/%2e%2e/health", "/api/v1/../../../etc/passwd",
                         "/api/v1/health%00", "/api/v1/" + "a/" * 500 + "x", "/api/v1/health"]:
                head = (b"GET " + (api_prefix + path).encode() + b" HTTP/1.1\r\nHost: h\r\nx-api-key: "
                        + a["key"].encode() + b"\r\nConnection: close\r\n\r\n")
                status = raw_request(port, head)
                assert status is not None and status < 500, (path, status)
                # What reached the integration counts, whatever the upstream answered (AWS's rule).
                ok += status not in (400, 403, 429)

            # A client that stalls mid-body, then goes away, is not left counted as a 200 and does
            # not wedge the key: the next request is admitted.
            slow = socket.create_connection(("127.0.0.1", port), timeout=10)
            slow.sendall(b"POST " + a["url"].encode() + b" HTTP/1.1\r\nHost: h\r\nx-api-key: "
                         + a["key"].encode() + b"\r\nContent-Length: 1000\r\n\r\n" + b"{" * 10)
            time.sleep(0.5)
            slow.close()
            r = requests.get(srv.endpoint + a["url"], headers={"x-api-key": a["key"]}, timeout=10)
            assert r.status_code == 200, r.text
            ok += 1

            # Every admitted request is counted; the stalled one may or may not have been (it was
            # admitted before its body ended); nothing refused was. The units a grant set aside
            # and no request used are given back 2 s after the grant.
            deadline = time.monotonic() + 6
            while True:
                usage = srv.client().get_usage(usagePlanId=a["plan"], startDate=today(),
                                               endDate=today(), keyId=a["key_id"])
                used = usage["items"][a["key_id"]][0][0]
                if ok <= used <= ok + 1 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert ok <= used <= ok + 1, (ok, used)
            # /metrics shows the grant and the give-back.
            metrics = requests.get(f"{srv.endpoint}/metrics", timeout=10).text
            counts = {line.split()[0]: float(line.split()[1]) for line in metrics.splitlines()
                      if line.startswith("tollgate_counters_")}
            granted = counts.get("tollgate_counters_granted_units_total", 0)
            given_back = counts.get("tollgate_counters_given_back_units_total", 0)
            assert granted > 0 and 0 < given_back <= granted, counts
        finally:
            srv.stop()
    finally:
        redis.stop()


def test_hostile_traffic_on_two_granting_instances_leaves_counts_true(tmp_path, upstream):  # noqa: F811
    """Grants on (the default), two instances on one Redis: concurrent hostile keys, dot-segment
    and oversized paths, and clients that stall mid-body and leave, spread over both. Unknown
    keys never reach Redis; once unused granted units are given back, each instance's GetUsage
    equals what reached the integration, and no unit is stranded."""
    import threading

    redis = PrivateRedis()
    args = ["--counters", f"redis://127.0.0.1:{redis.port}/0", "--instances", "2"]
    a, servers = two_instances(tmp_path, upstream.url, args, quota={"limit": 5000, "period": "DAY"})
    try:
        ports = [int(s.endpoint.rsplit(":", 1)[1]) for s in servers]
        api_prefix = a["url"].rsplit("/api/", 1)[0]
        key = a["key"].encode()
        before = int(redis_cli(redis.port, "DBSIZE").strip() or 0)
        hostile_keys = [b"*1\r\n$8\r\nFLUSHALL", b"EVAL \"return 1\" 0", key + b"\x00",
                        key[:-1] + b"\xff", b"x" * 9000]
        for i, bad in enumerate(hostile_keys * 4):
            head = (b"GET " + a["url"].encode() + b" HTTP/1.1\r\nHost: h\r\nx-api-key: " + bad
                    + b"\r\nConnection: close\r\n\r\n")
            assert raw_request(ports[i % 2], head) in (None, 400, 403, 431), bad[:40]
        assert int(redis_cli(redis.port, "DBSIZE").strip() or 0) == before

        paths = ["/api/v1/%2e%2e/%2e%2e/health", "/api/v1/../../../etc/passwd", "/api/v1/health%00",
                 "/api/v1/" + "a/" * 500 + "x", "/api/v1/health"]
        # (Not /api/v1/jobs: the upstream answers it 403 itself, which counts, as in AWS.)
        counted = []  # one entry per request that reached the integration
        lock = threading.Lock()

        def client(n):
            for i in range(30):
                path = paths[(n + i) % len(paths)]
                head = (b"GET " + (api_prefix + path).encode() + b" HTTP/1.1\r\nHost: h\r\n"
                        b"x-api-key: " + key + b"\r\nConnection: close\r\n\r\n")
                status = raw_request(ports[(n + i) % 2], head)
                assert status is not None and status < 500, (path, status)
                if status not in (400, 403, 429):
                    with lock:
                        counted.append(status)

        def staller(n):
            # Admitted from the head (counted, maybe from a grant), then stalls and leaves.
            s = socket.create_connection(("127.0.0.1", ports[n % 2]), timeout=10)
            s.sendall(b"POST " + a["url"].encode() + b" HTTP/1.1\r\nHost: h\r\nx-api-key: " + key
                      + b"\r\nContent-Length: 1000\r\n\r\n" + b"{" * 10)
            time.sleep(0.5)
            s.close()

        threads = ([threading.Thread(target=client, args=(n,)) for n in range(8)]
                   + [threading.Thread(target=staller, args=(n,)) for n in range(6)])
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        ok = len(counted)
        assert ok > 0

        # Unused granted units go back 2 s after their grant; then both instances report the
        # cluster's count: every admitted request, the stalled ones at most, nothing refused.
        deadline = time.monotonic() + 8
        while True:
            used = [s.client().get_usage(usagePlanId=a["plan"], startDate=today(), endDate=today(),
                                         keyId=a["key_id"])["items"][a["key_id"]][0][0]
                    for s in servers]
            if all(ok <= u <= ok + 6 for u in used) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert used[0] == used[1] and ok <= used[0] <= ok + 6, (ok, used)
        # Grants were used (both instances took some) and what was left went back.
        for srv in servers:
            text = requests.get(f"{srv.endpoint}/metrics", timeout=10).text
            counts = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                      if line.startswith("tollgate_counters_")}
            assert counts.get("tollgate_counters_granted_units_total", 0) > 0, counts
            assert srv.proc.poll() is None
        # The key is not wedged on either instance.
        for srv in servers:
            r = requests.get(srv.endpoint + a["url"], headers={"x-api-key": a["key"]}, timeout=10)
            assert r.status_code == 200, r.text
    finally:
        for srv in servers:
            srv.stop()
        redis.stop()

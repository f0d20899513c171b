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
    args = ["--counters", f"redis://127.0.0.1:{redis.port}/0", "--counters-failure", "closed"]
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

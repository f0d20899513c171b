"""Fixtures for the AWS-compatibility suite.

The suite drives a real `tollgate serve` process with the real `aws` CLI and
boto3, exactly as a user would; nothing here talks to AWS.

Server contract: `tollgate serve --listen 127.0.0.1:0 --data-dir DIR` prints
`tollgate listening on http://127.0.0.1:PORT` once ready; SIGTERM stops it
gracefully. The binary is `$TOLLGATE_BIN`, default `<repo>/target/debug/tollgate`.

TOLLGATE_TEST_STORE=postgres runs every server on PostgreSQL instead of the
embedded store: each data directory gets a fresh database of its own
(`tollgate_test_<random>`, on `$TOLLGATE_TEST_POSTGRES`, default
postgres://root@127.0.0.1:5432/test, else the same as user postgres), so a
restart in the same directory finds its configuration again; the databases
are dropped when the session ends.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parents[2]
TOLLGATE_BIN = os.environ.get("TOLLGATE_BIN", str(REPO / "target" / "debug" / "tollgate"))
REGION = "us-east-1"
ACCOUNT = "000000000000"
ACCESS_KEY = "test"
SECRET_KEY = "test"
READY_RE = re.compile(r"tollgate listening on (https?://127\.0\.0\.1:\d+)")

# --- isolate every AWS client (boto3 in-process and the CLI subprocesses) from
# whatever configuration the machine has: empty config files, fixed credentials.
_ISOLATION_DIR = tempfile.mkdtemp(prefix="tollgate-compat-aws-")
for _name in ("config", "credentials"):
    Path(_ISOLATION_DIR, _name).write_text("")
for _var in list(os.environ):
    if _var.startswith("AWS_"):
        del os.environ[_var]
os.environ.update(
    {
        "AWS_CONFIG_FILE": str(Path(_ISOLATION_DIR, "config")),
        "AWS_SHARED_CREDENTIALS_FILE": str(Path(_ISOLATION_DIR, "credentials")),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_PAGER": "",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
)


# --- PostgreSQL databases for servers on the shared store ---------------------

TEST_STORE = os.environ.get("TOLLGATE_TEST_STORE", "embedded")
_pg_admin = {}
_pg_databases = {}  # data dir -> URL of its database
_pg_created = []  # names, dropped at the end


def _psql(url, sql):
    return subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
        capture_output=True, text=True, timeout=30,
    )


def pg_admin_url():
    """A URL of the test server's `test` database; fails under CI=true when
    there is none (or no psql), skips elsewhere."""
    if "url" in _pg_admin:
        return _pg_admin["url"]
    candidates = ([os.environ["TOLLGATE_TEST_POSTGRES"]] if os.environ.get("TOLLGATE_TEST_POSTGRES")
                  else ["postgres://root@127.0.0.1:5432/test", "postgres://postgres@127.0.0.1:5432/test"])
    problem = "psql not found"
    if shutil.which("psql"):
        for url in candidates:
            p = _psql(url, "SELECT 1")
            if p.returncode == 0:
                _pg_admin["url"] = url
                return url
            problem = p.stderr.strip()
    message = f"PostgreSQL on 127.0.0.1:5432 (database test) is needed: {problem}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def pg_query(sql, url=None):
    """Runs `sql` as the admin (or on `url`); returns psql's unaligned output."""
    p = _psql(url or pg_admin_url(), sql)
    assert p.returncode == 0, p.stderr
    return p.stdout


def create_pg_database():
    """A fresh database; returns (its URL, its name)."""
    admin = pg_admin_url()
    name = f"tollgate_test_{uuid.uuid4().hex[:12]}"
    pg_query(f"CREATE DATABASE {name}")
    _pg_created.append(name)
    return admin.rsplit("/", 1)[0] + "/" + name, name


def store_url_for(data_dir):
    """The database a server in `data_dir` keeps its configuration in."""
    if data_dir not in _pg_databases:
        _pg_databases[data_dir] = create_pg_database()[0]
    return _pg_databases[data_dir]


class Server:
    """One `tollgate serve` process on an ephemeral port."""

    def __init__(self, data_dir, args=()):
        self.data_dir = str(data_dir)
        self.args = list(args)  # extra `tollgate serve` flags
        self.proc = None
        self.endpoint = None
        self.output = []  # every stdout/stderr line, for failure reports

    def start(self, timeout=20.0):
        if not os.path.exists(TOLLGATE_BIN):
            pytest.fail(
                f"tollgate binary not found at {TOLLGATE_BIN}; "
                "build it with `cargo build -p tollgate` or set TOLLGATE_BIN"
            )
        self.output = []
        # no TOLLGATE_* settings or ./tollgate.toml from the caller's environment
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
        store = []
        if TEST_STORE == "postgres" and "--store" not in self.args:
            store = ["--store", store_url_for(self.data_dir)]
        self.proc = subprocess.Popen(
            [TOLLGATE_BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir, *store, *self.args],
            cwd=self.data_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        ready = threading.Event()
        found = {}

        def drain(stream, tag):
            for line in stream:
                self.output.append(f"[{tag}] {line.rstrip()}")
                if not ready.is_set():
                    m = READY_RE.search(line)
                    if m and tag == "stdout":
                        found["endpoint"] = m.group(1)
                        ready.set()
            stream.close()

        for stream, tag in ((self.proc.stdout, "stdout"), (self.proc.stderr, "stderr")):
            threading.Thread(target=drain, args=(stream, tag), daemon=True).start()

        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                rc = self.proc.poll()
                if rc is None:
                    self.proc.kill()
                    self.proc.wait()
                time.sleep(0.1)
                pytest.fail(
                    f"tollgate did not report readiness (exit code {rc}); output:\n"
                    + "\n".join(self.output[-50:])
                )
        self.endpoint = found["endpoint"]
        return self

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Send `sig` and wait; returns the exit code (negative = killed by signal)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"tollgate did not exit within {timeout}s after {sig!r}")

    def client(self, service="apigateway", **kwargs):
        return make_client(self.endpoint, service, **kwargs)

    def aws(self, *args, **kwargs):
        return run_aws(self.endpoint, *args, **kwargs)


# Every apigateway success status is checked against the botocore model, so a
# 200-instead-of-201 (or 204/202) shows up in the test that made the call.
def _check_status(http_response, model, **_):
    # API Gateway's models state each operation's status; Lambda's Invoke
    # answers 202 and 204 as well as its modelled 200 (the status is a member).
    if model.service_model.service_name != "apigateway":
        return
    if http_response.status_code < 300:
        expected = model.http.get("responseCode", 200)
        assert http_response.status_code == expected, (
            f"{model.name}: HTTP {http_response.status_code}, the AWS model says {expected}"
        )


def expect_error(code, status, message, fn, **kwargs):
    """Call fn(**kwargs), which must fail with `code`/`status` (and `message` if given)."""
    with pytest.raises(ClientError) as ei:
        fn(**kwargs)
    resp = ei.value.response
    assert resp["Error"]["Code"] == code, resp
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == status, resp
    if message is not None:
        assert resp["Error"]["Message"] == message, resp
    headers = resp["ResponseMetadata"]["HTTPHeaders"]
    assert "x-amzn-requestid" in headers, headers
    return resp


def make_client(endpoint, service="apigateway", *, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                session_token=None):
    session = boto3.session.Session(
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=session_token,
        region_name=REGION,
    )
    client = session.client(
        service,
        endpoint_url=endpoint,
        # one attempt: a retried 5xx/429 would hide a server bug and slow the suite
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30),
    )
    client.meta.events.register("after-call", _check_status)
    return client


class AwsCliError(Exception):
    def __init__(self, args, rc, stdout, stderr):
        super().__init__(f"aws {' '.join(args)} exited {rc}:\n{stderr}")
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr


def cli_env(endpoint):
    env = dict(os.environ)
    env["AWS_ENDPOINT_URL"] = endpoint
    env["AWS_MAX_ATTEMPTS"] = "1"
    return env


def run_aws(endpoint, *args, check=True):
    """Run `aws ARGS --output json` against `endpoint`; returns parsed JSON (None if empty)."""
    argv = ["aws", *args, "--output", "json"]
    p = subprocess.run(argv, env=cli_env(endpoint), capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        if check:
            raise AwsCliError(args, p.returncode, p.stdout, p.stderr)
        return p
    return json.loads(p.stdout) if p.stdout.strip() else None


# --- fixtures ---------------------------------------------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server per test module (modules do not share state)."""
    srv = Server(tmp_path_factory.mktemp("tollgate-data")).start()
    yield srv
    srv.stop(signal.SIGTERM)


@pytest.fixture(scope="module")
def apigw(server):
    return server.client()


@pytest.fixture(scope="module")
def aws(server):
    def _aws(*args, **kwargs):
        return server.aws(*args, **kwargs)

    return _aws


@pytest.fixture
def unique():
    """A short unique suffix for names."""
    return uuid.uuid4().hex[:8]


def strip_meta(resp):
    resp = dict(resp)
    resp.pop("ResponseMetadata", None)
    return resp


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    outcome = yield
    if outcome.excinfo is not None:
        srv = item.funcargs.get("server")
        if isinstance(srv, Server) and srv.output:
            item.add_report_section("call", "tollgate output (last 30 lines)", "\n".join(srv.output[-30:]))


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_ISOLATION_DIR, ignore_errors=True)
    for name in _pg_created:
        _psql(_pg_admin["url"], f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

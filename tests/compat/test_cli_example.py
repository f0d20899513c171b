"""The `multitalk` CLI (crates/multitalk-client) against the README's first
command, `tollgate serve --example multitalk`: `generate --wait` reaches
`completed` with a progress bar on a terminal and plain lines in a pipe;
`cancel`; a 429 from the usage plan is retried and succeeds; a bad key exits
with a clear message and its own code (6)."""

import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import TOLLGATE_BIN, make_client
from test_example import Example

# `cargo test --workspace` builds every binary of the workspace beside tollgate.
MULTITALK_BIN = Path(TOLLGATE_BIN).with_name("multitalk")
IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    if not MULTITALK_BIN.exists():
        assert not IN_CI, f"{MULTITALK_BIN} was not built"
        pytest.skip(f"{MULTITALK_BIN} not built (cargo build -p multitalk-client)")
    running = Example(tmp_path_factory.mktemp("cli-example"))
    running.cli_config_home = tmp_path_factory.mktemp("cli-config")
    yield running
    running.stop()


def run_cli(example, *args, key=None, pty=False, env=None, timeout=120):
    """Runs `multitalk ARGS` against the example; through `script` for a pseudo-terminal."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MULTITALK_")}
    full_env.update({"MULTITALK_ENDPOINT": example.url,
                     "MULTITALK_API_KEY": example.key if key is None else key,
                     # No config file of the machine's user.
                     "XDG_CONFIG_HOME": str(example.cli_config_home), "TERM": "xterm"})
    full_env.update(env or {})
    argv = [str(MULTITALK_BIN), *args]
    if pty:
        argv = ["script", "-qfec", shlex.join(argv), "/dev/null"]
    p = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


GENERATE = ["generate", "--prompt", "A person speaking", "--image", "s3://bucket/face.png",
            "--audio", "s3://bucket/speech.wav"]


def test_generate_wait_in_a_pipe_prints_plain_lines(example):
    rc, out, err = run_cli(example, *GENERATE, "--wait", "--poll-interval", "1")
    assert rc == 0, (out, err)
    assert "\x1b[" not in out + err and "\r" not in out + err, "no terminal codes in a pipe"
    assert "completed" in out + err, (out, err)


def test_generate_wait_on_a_terminal_draws_a_progress_bar(example):
    if shutil.which("script") is None:
        assert not IN_CI, "util-linux script is needed for the pseudo-terminal"
        pytest.skip("no `script` for a pseudo-terminal")
    rc, out, err = run_cli(example, *GENERATE, "--wait", "--poll-interval", "1", pty=True)
    assert rc == 0, (out, err)
    assert "\x1b[" in out, f"a progress bar draws with terminal codes: {out!r}"
    assert "completed" in out, out


def test_cancel_a_submitted_job(example):
    rc, out, err = run_cli(example, "--json", *GENERATE)
    assert rc == 0, (out, err)
    job_id = json.loads(out)["job_id"]
    rc, out, err = run_cli(example, "--json", "cancel", job_id)
    assert rc == 0, (out, err)
    rc, out, err = run_cli(example, "--json", "status", job_id)
    assert rc == 0 and json.loads(out)["status"] == "cancelled", (out, err)


def test_a_bad_key_exits_6_with_a_clear_message(example):
    rc, out, err = run_cli(example, "jobs", key="not-a-key-of-this-gateway-at-all")
    assert rc == 6, (rc, out, err)
    assert "bad credentials" in err and "403" in err, err


def test_a_429_from_the_plan_is_retried_and_succeeds(example):
    """The plan's throttle lowered to one request a second: a burst uses it up,
    and the CLI's next call gets API Gateway's 429, backs off and gets through."""
    endpoint = example.url.split("/_aws/", 1)[0]
    apigw = make_client(endpoint)
    plan = next(p for p in apigw.get_usage_plans()["items"] if p.get("apiStages"))
    old = plan["throttle"]
    apigw.update_usage_plan(usagePlanId=plan["id"], patchOperations=[
        {"op": "replace", "path": "/throttle/rateLimit", "value": "1"},
        {"op": "replace", "path": "/throttle/burstLimit", "value": "1"}])
    try:
        # Wait for the data plane to take the new limits: two quick calls, the
        # second refused.
        deadline = time.monotonic() + 10
        while True:
            statuses = [run_cli(example, "jobs", env={"MULTITALK_RETRY_BASE_MS": "1"},
                                timeout=30)[0] for _ in range(2)]
            if statuses[1] != 0 or time.monotonic() > deadline:
                break
        rc, out, err = run_cli(example, "jobs", env={"MULTITALK_RETRY_BASE_MS": "400"})
        # The bucket is empty right after the burst: the first attempt is a 429.
        assert rc == 0, (out, err)
        assert "retrying in" in err and "429" in err, err
    finally:
        apigw.update_usage_plan(usagePlanId=plan["id"], patchOperations=[
            {"op": "replace", "path": "/throttle/rateLimit", "value": str(old["rateLimit"])},
            {"op": "replace", "path": "/throttle/burstLimit", "value": str(old["burstLimit"])}])

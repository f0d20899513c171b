"""The README's first command: `tollgate serve --example multitalk` stands up
the seed's configuration in front of the reference MultiTalk server and
prints a working invoke URL and key; the seed's curl calls and its Python
`MultitalkClient` (unchanged) submit and poll a job against it; started
again on the same data directory it reuses what exists."""

import importlib.util
import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import REPO, TOLLGATE_BIN

SEED = REPO / "examples" / "multitalk"


class Example:
    def __init__(self, data_dir):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "MODAL_", "MULTITALK_"))}
        self.proc = subprocess.Popen(
            [TOLLGATE_BIN, "serve", "--example", "multitalk", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(data_dir))
        self.lines = []
        threading.Thread(target=lambda: [self.lines.append(l.rstrip("\n")) for l in self.proc.stdout],
                         daemon=True).start()
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        deadline = time.monotonic() + 240
        while not any(l.startswith("  API key:") for l in self.lines):
            assert self.proc.poll() is None, f"tollgate exited: {self.lines}"
            assert time.monotonic() < deadline, f"the example did not come up: {self.lines}"
            time.sleep(0.2)
        text = "\n".join(self.lines)
        self.url = re.search(r"invoke URL: (\S+)", text).group(1)
        self.key = re.search(r"API key:\s+(\S+)", text).group(1)
        self.text = text

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


def curl(*args):
    p = subprocess.run(["curl", "-s", "-i", *args], capture_output=True, text=True, timeout=60)
    head, _, body = p.stdout.replace("\r\n", "\n").partition("\n\n")
    return int(head.split()[1]), body


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("example")


def test_the_first_command_serves_the_guides_api(data_dir):
    example = Example(data_dir)
    try:
        assert "through the guide's Lambda proxy" in example.text, example.text
        assert example.text.count("curl ") == 2 and "MultitalkClient" in example.text
        # The guide's curl calls, with the printed URL and key.
        status, body = curl("-X", "POST", f"{example.url}/api/v1/generate",
                            "-H", f"x-api-key: {example.key}", "-H", "Content-Type: application/json",
                            "-d", '{"prompt": "A person speaking", "image_s3_url": "s3://bucket/image.png", '
                                  '"audio_s3_urls": ["s3://bucket/audio.wav"]}')
        assert status == 200, body
        job = json.loads(body)["job_id"]
        status, body = curl(f"{example.url}/api/v1/jobs/{job}", "-H", f"x-api-key: {example.key}")
        assert status == 200 and json.loads(body)["job_id"] == job
        status, _ = curl(f"{example.url}/api/v1/jobs/{job}")
        assert status == 403, "the usage plan's key is required"
        # The guide's Python client, unchanged: submit, then poll to the end.
        spec = importlib.util.spec_from_file_location("multitalk_client", SEED / "multitalk_client.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        client = module.MultitalkClient(example.url, example.key)
        submitted = client.generate_video("Person explaining AWS", "s3://bucket/person.png", ["s3://bucket/speech.wav"])
        deadline = time.monotonic() + 60
        while True:
            status = client.get_status(submitted["job_id"])
            if status["status"] == "completed" or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert status["status"] == "completed", status
        first = (example.url.split("/_aws/", 1)[1], example.key)
    finally:
        example.stop()
    # Again on the same data directory: what exists is reused.
    again = Example(data_dir)
    try:
        assert (again.url.split("/_aws/", 1)[1], again.key) == first, "the same API and key"
        status, body = curl("-X", "POST", f"{again.url}/api/v1/generate", "-H", f"x-api-key: {again.key}",
                            "-H", "Content-Type: application/json",
                            "-d", '{"prompt": "p", "image_s3_url": "s3://b/i", "audio_s3_urls": ["s3://b/a"]}')
        assert status == 200, body
    finally:
        again.stop()

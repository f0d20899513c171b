"""Idempotent job submission, beyond AWS: with the stage variable
`tollgateIdempotency=true`, a POST carrying an `Idempotency-Key` runs once;
repeats get the first response (one GPU job, one charge), a concurrent
repeat gets 409, a repeat with another body 422, and the record survives
`kill -9`."""

import json
import signal
import threading
import uuid

import pytest
import requests

from conftest import Server
from seed_api import http_proxy_seed
from test_data_plane import UPSTREAM_KEY, Upstream

JOB = {"prompt": "A person speaking", "image_s3_url": "s3://bucket/image.png", "audio_s3_urls": ["s3://bucket/a.wav"]}


@pytest.fixture(scope="module")
def upstream():
    # Each answer takes 0.8 s, so a first submission is still in flight when its repeat comes.
    u = Upstream("--api-key", UPSTREAM_KEY, "--delay-ms", "800")
    yield u
    u.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("tollgate-data")).start()
    yield srv
    srv.stop(signal.SIGTERM)


@pytest.fixture(scope="module")
def seed(server, apigw, upstream):
    seed = http_proxy_seed(server, apigw, upstream)
    apigw.update_stage(restApiId=seed["api_id"], stageName="prod", patchOperations=[
        {"op": "replace", "path": "/variables/tollgateIdempotency", "value": "true"}])
    return seed


def submit(seed, key, body=None):
    return requests.post(f"{seed['endpoint']}/api/v1/generate", timeout=30,
                         headers={"x-api-key": seed["key"], "Idempotency-Key": key, "Content-Type": "application/json"},
                         data=json.dumps(body or JOB))


def jobs_created(upstream):
    return sum(1 for r in upstream.recorded() if r["path"] == "/api/v1/generate")


def test_a_repeat_gets_the_first_response_and_runs_once(seed, upstream):
    key = str(uuid.uuid4())
    before = jobs_created(upstream)
    first = submit(seed, key)
    assert first.status_code == 200, first.text
    again = submit(seed, key)
    assert again.status_code == 200
    assert again.json() == first.json(), "the same job, not a new one"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert jobs_created(upstream) == before + 1
    # Without the header, every POST is its own.
    plain = requests.post(f"{seed['endpoint']}/api/v1/generate", json=JOB,
                          headers={"x-api-key": seed["key"]}, timeout=30)
    assert plain.json()["job_id"] != first.json()["job_id"]


def test_a_concurrent_repeat_is_409(seed, upstream):
    key = str(uuid.uuid4())
    before = jobs_created(upstream)
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(submit(seed, key))) for _ in range(2)]
    threads[0].start()
    # The second starts while the first waits on the upstream's 0.8 s.
    threading.Event().wait(0.3)
    threads[1].start()
    for t in threads:
        t.join()
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    conflict = next(a for a in answers if a.status_code == 409)
    assert conflict.json() == {"message": "A request with this Idempotency-Key is still being processed"}
    assert jobs_created(upstream) == before + 1


def test_a_repeat_with_another_body_is_422(seed):
    key = str(uuid.uuid4())
    assert submit(seed, key).status_code == 200
    other = submit(seed, key, {**JOB, "prompt": "Another prompt"})
    assert other.status_code == 422
    assert other.json() == {"message": "This Idempotency-Key was used with a different request body"}


def test_the_record_survives_kill_9(server, seed, upstream):
    key = str(uuid.uuid4())
    first = submit(seed, key)
    assert first.status_code == 200
    before = jobs_created(upstream)
    server.stop(signal.SIGKILL)
    server.start()  # on the same data directory (another port)
    moved = {**seed, "endpoint": f"{server.endpoint}/_aws/execute-api/{seed['api_id']}/prod"}
    again = submit(moved, key)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert jobs_created(upstream) == before, "no second job after the restart"

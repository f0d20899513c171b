"""`tollgate apply -f api.yaml --stage prod [--dry-run]`: converges a gateway's
API to an OpenAPI file (ImportRestApi, then PutRestApi in overwrite mode on
later runs, then CreateDeployment), printing what changes method by method."""

import pathlib
import subprocess

import requests

from conftest import TOLLGATE_BIN, cli_env

PETSTORE = pathlib.Path(__file__).parent / "openapi" / "petstore.yaml"


def apply(server, path, *args):
    p = subprocess.run([TOLLGATE_BIN, "apply", "-f", str(path), "--endpoint-url", server.endpoint, *args],
                       capture_output=True, text=True, env=cli_env(server.endpoint), timeout=60)
    return p.returncode, p.stdout, p.stderr


def apis_named(apigw, name):
    return [a for a in apigw.get_rest_apis(limit=500)["items"] if a["name"] == name]


def test_apply_creates_deploys_then_converges(server, apigw, tmp_path):
    text = PETSTORE.read_text().replace("title: PetStore", "title: ApplyStore", 1)
    first = tmp_path / "api.yaml"
    first.write_text(text)

    # A dry run says what it would do and sends nothing.
    rc, out, err = apply(server, first, "--stage", "prod", "--dry-run")
    assert rc == 0, err
    assert "+ GET /health" in out and "+ POST /pets" in out and "dry run: nothing sent" in out
    assert apis_named(apigw, "ApplyStore") == []

    rc, out, err = apply(server, first, "--stage", "prod")
    assert rc == 0, err
    [api] = apis_named(apigw, "ApplyStore")
    assert f"applied: REST API {api['id']}" in out and "deployed:" in out
    base = f"{server.endpoint}/_aws/execute-api/{api['id']}/prod"
    assert requests.get(f"{base}/health", timeout=10).json() == {"healthy": True}

    # The file changes: /health goes, /status comes; the same API is converged.
    second = tmp_path / "api2.yaml"
    second.write_text(text.replace("  /health:", "  /status:", 1))
    rc, out, err = apply(server, second, "--stage", "prod")
    assert rc == 0, err
    assert "- GET /health" in out and "+ GET /status" in out and "~ POST /pets" in out, out
    assert [a["id"] for a in apis_named(apigw, "ApplyStore")] == [api["id"]]
    paths = {r["path"] for r in apigw.get_resources(restApiId=api["id"], limit=500)["items"]}
    assert "/status" in paths and "/health" not in paths
    assert requests.get(f"{base}/status", timeout=10).json() == {"healthy": True}
    assert requests.get(f"{base}/health", timeout=10).status_code == 404

    # A broken file is refused before anything is sent, and changes nothing.
    broken = tmp_path / "broken.yaml"
    broken.write_text("openapi: 3.0.1\ninfo: [unclosed\n")
    rc, out, err = apply(server, broken, "--stage", "prod")
    assert rc != 0 and "Unable to build importer" in err, (out, err)
    paths_after = {r["path"] for r in apigw.get_resources(restApiId=api["id"], limit=500)["items"]}
    assert paths_after == paths

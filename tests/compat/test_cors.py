"""CORS in a real browser: headless Chromium (driven over WebDriver by its
chromedriver) loads a page from one loopback origin whose script calls the
seed's API on another with `x-api-key`. The API is configured the AWS way:
the guide's OPTIONS method with a MOCK integration answering preflights, the
guide's Lambda proxy adding its own CORS headers, and gateway responses
(DEFAULT_4XX, DEFAULT_5XX) carrying them so that a 403 and a 429 are readable.
What the page's script observed is asserted; a page from an origin the API
does not allow is blocked by the browser."""

import io
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import REPO, cli_env, make_client

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    if os.environ.get("CI") == "true":
        raise RuntimeError("chromium and chromium-driver are required under CI=true (.ci/run installs them)")
    pytest.skip("chromium and chromium-driver are not installed", allow_module_level=True)

# The guide's Lambda proxy adds these headers to every answer.
PROXY = r'''
import json
def lambda_handler(event, context):
    return {"statusCode": 200,
            "headers": {"Content-Type": "application/json",
                        "Access-Control-Allow-Origin": "*",
                        "Access-Control-Allow-Headers": "Content-Type,X-Api-Key,Authorization",
                        "Access-Control-Allow-Methods": "GET,POST,DELETE,OPTIONS"},
            "body": json.dumps({"path": event["path"], "method": event["httpMethod"]})}
'''


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Page(SimpleHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><title>MultiTalk client</title><p>calling the API</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def page_origin():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.server_address[1]
    httpd.shutdown()


@pytest.fixture(scope="module")
def api(server, apigw, page_origin):
    origin, _ = page_origin
    lam = make_client(server.endpoint, "lambda")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("api_gateway_proxy.py", PROXY)
    lam.create_function(FunctionName="multitalk-api-proxy", Runtime="python3.11",
                        Handler="api_gateway_proxy.lambda_handler", Role="arn:aws:iam::000000000000:role/l",
                        Code={"ZipFile": buf.getvalue()})
    lam.get_waiter("function_active_v2").wait(FunctionName="multitalk-api-proxy")
    p = subprocess.run(["bash", str(REPO / "examples" / "multitalk" / "setup.sh")], env=cli_env(server.endpoint),
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    ids = dict(line.split("=", 1) for line in p.stdout.splitlines()
               if line.split("=", 1)[0] in ("API_ID", "API_KEY_ID", "PROXY_ID", "USAGE_PLAN_ID"))
    api_id, proxy = ids["API_ID"], ids["PROXY_ID"]
    # The guide's OPTIONS method, then what the console's "Enable CORS" adds to it.
    apigw.put_method(restApiId=api_id, resourceId=proxy, httpMethod="OPTIONS", authorizationType="NONE")
    headers = {"method.response.header.Access-Control-Allow-Origin": False,
               "method.response.header.Access-Control-Allow-Methods": False,
               "method.response.header.Access-Control-Allow-Headers": False}
    apigw.put_method_response(restApiId=api_id, resourceId=proxy, httpMethod="OPTIONS", statusCode="200",
                              responseParameters=headers, responseModels={"application/json": "Empty"})
    apigw.put_integration(restApiId=api_id, resourceId=proxy, httpMethod="OPTIONS", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    allowed = {"method.response.header.Access-Control-Allow-Origin": f"'{origin}'",
               "method.response.header.Access-Control-Allow-Methods": "'GET,POST,DELETE,OPTIONS'",
               "method.response.header.Access-Control-Allow-Headers": "'Content-Type,X-Api-Key,Authorization'"}
    apigw.put_integration_response(restApiId=api_id, resourceId=proxy, httpMethod="OPTIONS", statusCode="200",
                                   responseParameters=allowed, responseTemplates={"application/json": ""})
    # Refusals readable by the page: the gateway responses carry the origin too.
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        apigw.put_gateway_response(restApiId=api_id, responseType=kind, responseParameters={
            "gatewayresponse.header.Access-Control-Allow-Origin": f"'{origin}'",
            "gatewayresponse.header.Access-Control-Allow-Headers": "'Content-Type,X-Api-Key,Authorization'"})
    apigw.create_deployment(restApiId=api_id, stageName="prod")
    key = apigw.get_api_key(apiKey=ids["API_KEY_ID"], includeValue=True)["value"]
    # A second customer on a plan of one request a day: its second call is a 429.
    plan = apigw.create_usage_plan(name="one-a-day", apiStages=[{"apiId": api_id, "stage": "prod"}],
                                   quota={"limit": 1, "period": "DAY"})["id"]
    small = apigw.create_api_key(name="small", enabled=True)
    apigw.create_usage_plan_key(usagePlanId=plan, keyId=small["id"], keyType="API_KEY")
    return {"endpoint": f"{server.endpoint}/_aws/execute-api/{api_id}/prod", "key": key, "small": small["value"]}


@pytest.fixture(scope="module")
def browser():
    port = free_port()
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if requests.get(f"{base}/status", timeout=2).json()["value"]["ready"]:
                break
        except (requests.RequestException, ValueError, KeyError):
            pass
        assert time.monotonic() < deadline, "chromedriver did not start"
        time.sleep(0.2)
    capabilities = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
        "binary": CHROMIUM,
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]}}}}
    session = requests.post(f"{base}/session", json=capabilities, timeout=60).json()["value"]["sessionId"]
    yield f"{base}/session/{session}"
    requests.delete(f"{base}/session/{session}", timeout=30)
    driver.terminate()
    driver.wait(10)


# The page's script: each call's status and body as the page could read them,
# or the error fetch raised when the browser blocked it.
SCRIPT = r'''
const [endpoint, key, small] = arguments;
const done = arguments[arguments.length - 1];
async function call(path, init) {
  try {
    const r = await fetch(endpoint + path, init);
    return {status: r.status, body: await r.text()};
  } catch (e) {
    return {blocked: String(e)};
  }
}
(async () => {
  const out = {};
  out.submitted = await call('/api/v1/generate', {method: 'POST',
      headers: {'x-api-key': key, 'Content-Type': 'application/json'},
      body: JSON.stringify({prompt: 'p', image_s3_url: 's3://b/i', audio_s3_urls: ['s3://b/a']})});
  out.polled = await call('/api/v1/jobs/abc', {headers: {'x-api-key': key}});
  out.forbidden = await call('/api/v1/jobs', {headers: {'x-api-key': 'not-a-key'}});
  out.first = await call('/api/v1/jobs', {headers: {'x-api-key': small}});
  out.throttled = await call('/api/v1/jobs', {headers: {'x-api-key': small}});
  done(out);
})();
'''


def run_in_page(browser, url, args):
    assert requests.post(f"{browser}/url", json={"url": url}, timeout=60).status_code == 200
    requests.post(f"{browser}/timeouts", json={"script": 60000}, timeout=10)
    r = requests.post(f"{browser}/execute/async", json={"script": SCRIPT, "args": args}, timeout=90)
    return r.json()["value"]


def test_a_page_on_another_origin_calls_the_api(browser, api, page_origin):
    origin, _ = page_origin
    seen = run_in_page(browser, origin + "/", [api["endpoint"], api["key"], api["small"]])
    assert seen["submitted"]["status"] == 200, seen
    assert json.loads(seen["submitted"]["body"]) == {"path": "/api/v1/generate", "method": "POST"}
    assert seen["polled"]["status"] == 200, seen
    assert seen["forbidden"] == {"status": 403, "body": '{"message":"Forbidden"}'}, seen
    assert seen["first"]["status"] == 200, seen
    assert seen["throttled"]["status"] == 429, seen
    assert json.loads(seen["throttled"]["body"]) == {"message": "Limit Exceeded"}


def test_a_page_on_a_disallowed_origin_is_blocked(browser, api, page_origin):
    _, port = page_origin
    # Same server, another origin: `localhost` is not `127.0.0.1` to a browser.
    seen = run_in_page(browser, f"http://localhost:{port}/", [api["endpoint"], api["key"], api["small"]])
    for call in ("submitted", "forbidden"):
        assert "blocked" in seen[call], seen
        assert "Failed to fetch" in seen[call]["blocked"]


def test_tollgate_cors_enable_makes_the_consoles_calls(server, apigw, tmp_path):
    """`tollgate cors enable` on a fresh API: --dry-run changes nothing; the
    real run leaves plain API Gateway configuration that answers preflights,
    adds the header to a MOCK method and to refusals."""
    from conftest import TOLLGATE_BIN
    api = apigw.create_rest_api(name="cors-tool")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    res = apigw.create_resource(restApiId=api, parentId=root, pathPart="status")["id"]
    apigw.put_method(restApiId=api, resourceId=res, httpMethod="GET", authorizationType="NONE", apiKeyRequired=True)
    apigw.put_method_response(restApiId=api, resourceId=res, httpMethod="GET", statusCode="200")
    apigw.put_integration(restApiId=api, resourceId=res, httpMethod="GET", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    apigw.put_integration_response(restApiId=api, resourceId=res, httpMethod="GET", statusCode="200",
                                   responseTemplates={"application/json": '{"ok": true}'})
    env = {**cli_env(server.endpoint), "AWS_ENDPOINT_URL": server.endpoint}
    base = [TOLLGATE_BIN, "cors", "enable", "--rest-api-id", api, "--resource-id", res,
            "--allow-origin", "https://app.example.com"]
    dry = subprocess.run(base + ["--dry-run"], env=env, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert "PUT /restapis/" in dry.stdout and "dry run, nothing sent" in dry.stdout
    with pytest.raises(apigw.exceptions.NotFoundException):
        apigw.get_method(restApiId=api, resourceId=res, httpMethod="OPTIONS")
    run = subprocess.run(base, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr + run.stdout
    options = apigw.get_method(restApiId=api, resourceId=res, httpMethod="OPTIONS")
    assert options["authorizationType"] == "NONE" and options["methodIntegration"]["type"] == "MOCK"
    apigw.create_deployment(restApiId=api, stageName="prod")
    url = f"{server.endpoint}/_aws/execute-api/{api}/prod/status"
    pre = requests.options(url, headers={"Origin": "https://app.example.com",
                                         "Access-Control-Request-Method": "GET",
                                         "Access-Control-Request-Headers": "x-api-key"}, timeout=10)
    assert pre.status_code == 200
    assert pre.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert pre.headers["Access-Control-Allow-Methods"] == "GET,OPTIONS"
    assert "X-Api-Key" in pre.headers["Access-Control-Allow-Headers"]
    refused = requests.get(url, headers={"Origin": "https://app.example.com"}, timeout=10)
    assert refused.status_code == 403
    assert refused.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    apigw.update_method(restApiId=api, resourceId=res, httpMethod="GET", patchOperations=[
        {"op": "replace", "path": "/apiKeyRequired", "value": "false"}])
    apigw.create_deployment(restApiId=api, stageName="prod")
    served = requests.get(url, timeout=10)
    assert served.status_code == 200 and served.json() == {"ok": True}
    assert served.headers["Access-Control-Allow-Origin"] == "https://app.example.com"

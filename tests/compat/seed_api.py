"""The seed's API as the compatibility tests use it when they need calls that
succeed: examples/multitalk/setup.sh, then its Lambda proxy integration
replaced by an HTTP_PROXY to the reference MultiTalk server (which is what
the guide's proxy does)."""

import subprocess

from conftest import REPO, cli_env
from test_data_plane import UPSTREAM_KEY

SEED = REPO / "examples" / "multitalk"
API_NAME = "MeiGen-MultiTalk-API"


def http_proxy_seed(server, apigw, upstream):
    p = subprocess.run(["bash", str(SEED / "setup.sh")], env=cli_env(server.endpoint),
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    ids = dict(line.split("=", 1) for line in p.stdout.splitlines()
               if line.split("=", 1)[0] in ("API_ID", "API_KEY_ID", "PROXY_ID", "USAGE_PLAN_ID"))
    api = ids["API_ID"]
    apigw.put_integration(restApiId=api, resourceId=ids["PROXY_ID"], httpMethod="ANY", type="HTTP_PROXY",
                          integrationHttpMethod="ANY", uri=upstream.url + "/api/{proxy}",
                          requestParameters={
                              "integration.request.path.proxy": "method.request.path.proxy",
                              "integration.request.header.Authorization": f"'Bearer {UPSTREAM_KEY}'"})
    apigw.create_deployment(restApiId=api, stageName="prod")
    key = apigw.get_api_key(apiKey=ids["API_KEY_ID"], includeValue=True)["value"]
    return {"api_id": api, "key": key, "plan_id": ids["USAGE_PLAN_ID"], "proxy_id": ids["PROXY_ID"],
            "endpoint": f"{server.endpoint}/_aws/execute-api/{api}/prod"}

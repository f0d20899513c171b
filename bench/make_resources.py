#!/usr/bin/env python3
"""Creates many resources in one REST API through Tollgate's control plane,
with boto3 (the aws CLI, one process per call, takes about a second a call).

    python3 bench/make_resources.py --endpoint http://127.0.0.1:PORT --api-id ID \
        --count 300 --uri http://127.0.0.1:UP/bench --out paths.txt

Each resource is /r000, /r001, ... under the API's root, with a GET method
that requires an API key (authorization NONE) and an HTTP_PROXY integration
to --uri. The resource paths are written to --out, one a line. The last line
on stdout is a summary, `created=300 seconds=4.2`. bench/features.sh uses it
for the memory section (metrics and access logs for many resources).
"""

import argparse
import sys
import time

import boto3
from botocore.config import Config


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", required=True, help="Tollgate's URL, http://HOST:PORT")
    ap.add_argument("--api-id", required=True)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--uri", required=True, help="the HTTP_PROXY integration's URI")
    ap.add_argument("--out", required=True, help="file for the resource paths, one a line")
    args = ap.parse_args()
    if args.count < 1:
        ap.error("--count must be at least 1")
    client = boto3.session.Session().client(
        "apigateway",
        endpoint_url=args.endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(region_name="us-east-1", retries={"max_attempts": 3, "mode": "standard"},
                      read_timeout=120),
    )
    start = time.monotonic()
    root = next(r["id"] for r in client.get_resources(restApiId=args.api_id)["items"] if r["path"] == "/")
    paths = []
    width = max(3, len(str(args.count - 1)))
    for i in range(args.count):
        part = f"r{i:0{width}d}"
        rid = client.create_resource(restApiId=args.api_id, parentId=root, pathPart=part)["id"]
        client.put_method(restApiId=args.api_id, resourceId=rid, httpMethod="GET",
                          authorizationType="NONE", apiKeyRequired=True)
        client.put_integration(restApiId=args.api_id, resourceId=rid, httpMethod="GET", type="HTTP_PROXY",
                               integrationHttpMethod="GET", uri=args.uri)
        paths.append("/" + part)
    with open(args.out, "w", encoding="ascii") as out:
        out.write("".join(p + "\n" for p in paths))
    print(f"created={args.count} seconds={time.monotonic() - start:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

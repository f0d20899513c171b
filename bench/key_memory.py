#!/usr/bin/env python3
"""RSS a running Tollgate gains per API key (issue #11: well under 1 KB).

    python3 bench/key_memory.py --endpoint http://127.0.0.1:PORT --pid PID [--keys 20000]

Creates an API with one MOCK GET that requires a key, a stage, a usage plan
with a throttle and a quota, then KEYS keys, each added to the plan, with
boto3. Prints VmRSS after each quarter, and the marginal bytes per key
between the half and the end (fixed costs and bounded caches, such as
SQLite's page cache, fill during the first half and cancel out; 20 000 keys
by default, so the marginal half spans some 8 MiB of the allocator's pages
rather than a few). The heap-only figure is `cargo test -p tollgate-gateway --test memory_per_key`.
"""

import argparse
import sys
import time

import boto3
from botocore.config import Config


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--pid", type=int, required=True, help="Tollgate's process id")
    ap.add_argument("--keys", type=int, default=20_000)
    args = ap.parse_args()
    if args.keys < 4:
        ap.error("--keys must be at least 4")
    c = boto3.session.Session().client(
        "apigateway", endpoint_url=args.endpoint, aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(region_name="us-east-1", read_timeout=300))
    api = c.create_rest_api(name="key-memory")["id"]
    root = c.get_resources(restApiId=api)["items"][0]["id"]
    c.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE",
                 apiKeyRequired=True)
    c.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK",
                      requestTemplates={"application/json": '{"statusCode":200}'})
    c.create_deployment(restApiId=api, stageName="prod")
    plan = c.create_usage_plan(name="key-memory", apiStages=[{"apiId": api, "stage": "prod"}],
                               throttle={"rateLimit": 10000, "burstLimit": 5000},
                               quota={"limit": 1000000, "period": "DAY"})["id"]
    time.sleep(2)
    before = rss_kib(args.pid)
    print(f"keys 0 rss_kib {before}", flush=True)
    started = time.monotonic()
    marks = []
    quarter = args.keys // 4
    for i in range(args.keys):
        key = c.create_api_key(name=f"k{i}", enabled=True)["id"]
        c.create_usage_plan_key(usagePlanId=plan, keyId=key, keyType="API_KEY")
        if (i + 1) % quarter == 0:
            time.sleep(1)
            marks.append((i + 1, rss_kib(args.pid)))
            print(f"keys {i + 1} rss_kib {marks[-1][1]}", flush=True)
    (k1, r1), (k2, r2) = marks[1], marks[-1]
    print(f"created {args.keys} keys in {time.monotonic() - started:.1f} s; "
          f"{(r2 - before) * 1024 / k2:.0f} bytes per key overall, "
          f"{(r2 - r1) * 1024 / (k2 - k1):.0f} marginal between {k1} and {k2} keys")
    return 0


if __name__ == "__main__":
    sys.exit(main())

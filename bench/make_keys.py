#!/usr/bin/env python3
"""Creates many API keys in one usage plan through Tollgate's control plane,
with boto3 and a thread pool (the aws CLI, one process per call, takes about
a second a key).

    python3 bench/make_keys.py --endpoint http://127.0.0.1:PORT --plan-id ID \
        --count 10000 --threads 8 --out keys.txt

Each key is CreateApiKey (enabled, with a value made here) then
CreateUsagePlanKey into --plan-id. The values are written to --out, one a
line, in creation order (line 1 is key 0). Progress goes to stderr every
--progress keys; the last line on stdout is a summary of key=value fields that
bench/run.sh reads:

    created=10000 threads=8 seconds=123.4 keys_per_s=81.0 first_block_s=4.1 last_block_s=20.3 block=1000

first_block_s / last_block_s are the wall time of the first and last
--progress keys: if the last block is much slower than the first, each call
costs more as the number of keys grows (see bench/README.md).
"""

import argparse
import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

import boto3
from botocore.config import Config


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", required=True, help="Tollgate's URL, http://HOST:PORT")
    ap.add_argument("--plan-id", required=True, help="usage plan the keys are added to")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--out", required=True, help="file for the key values, one a line")
    ap.add_argument("--name-prefix", default="bench-many")
    ap.add_argument("--progress", type=int, default=1000, help="report every N keys")
    args = ap.parse_args()
    if args.count < 1 or args.threads < 1 or args.progress < 1:
        ap.error("--count, --threads and --progress must be at least 1")

    config = Config(
        region_name="us-east-1",
        max_pool_connections=args.threads,
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=10,
        # A call waits for the control plane's lock, held by every other call:
        # generous, so a slow call is reported as slow, not as a failure.
        read_timeout=120,
    )
    # One client for all threads: boto3's low-level clients are thread-safe,
    # and making one per thread (a session each) costs a few tenths of a
    # second of CPU apiece.
    client = boto3.session.Session().client(
        "apigateway",
        endpoint_url=args.endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=config,
    )

    # Values made here (24 random bytes in hex, 48 characters, above AWS's
    # 20-character minimum) so no call has to read them back.
    run_tag = secrets.token_hex(4)
    values = [f"{args.name_prefix}-{run_tag}-{i:06d}-{secrets.token_hex(12)}" for i in range(args.count)]

    def create(i: int) -> int:
        c = client
        key = c.create_api_key(name=f"{args.name_prefix}-{run_tag}-{i:06d}", enabled=True, value=values[i])
        c.create_usage_plan_key(usagePlanId=args.plan_id, keyId=key["id"], keyType="API_KEY")
        return i

    done = 0
    block_start = start = time.monotonic()
    block_times = []
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        futures = [pool.submit(create, i) for i in range(args.count)]
        try:
            for f in as_completed(futures):
                f.result()  # re-raises a failed call's error
                done += 1
                if done % args.progress == 0 or done == args.count:
                    now = time.monotonic()
                    block_times.append(now - block_start)
                    print(
                        f"[make_keys] {done}/{args.count} keys, {now - start:.1f} s"
                        f" (last {done - (len(block_times) - 1) * args.progress}: {now - block_start:.1f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
                    block_start = now
        except Exception as e:  # noqa: BLE001 - reported and turned into an exit code
            for f in futures:
                f.cancel()
            print(f"[make_keys] error after {done} keys: {e!r}", file=sys.stderr)
            return 1
    seconds = time.monotonic() - start
    # The last full block (the final one may be shorter).
    last_full = block_times[-1] if args.count % args.progress == 0 or len(block_times) == 1 else block_times[-2]

    with open(args.out, "w", encoding="ascii") as out:
        out.write("".join(v + "\n" for v in values))
    print(
        f"created={args.count} threads={args.threads} seconds={seconds:.1f}"
        f" keys_per_s={args.count / seconds:.1f} first_block_s={block_times[0]:.1f}"
        f" last_block_s={last_full:.1f} block={min(args.progress, args.count)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

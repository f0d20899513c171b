#!/usr/bin/env python3
"""A trivial OTLP/HTTP receiver for benchmarks: accepts `POST /v1/traces`
(protobuf), counts what arrived and throws it away. `GET /stats` answers
`{"posts": N, "bytes": N, "spans": N, "bad": N}`.

    python3 bench/otlp_sink.py [--listen 127.0.0.1:0]

Prints `otlp-sink listening on http://HOST:PORT` on stdout once it accepts
connections. HTTP/1.1 with keep-alive (Tollgate's exporter reuses its
connection), one thread per connection. Spans are counted by walking the
protobuf's first three levels (ExportTraceServiceRequest.resource_spans ->
ResourceSpans.scope_spans -> ScopeSpans.spans) without decoding the spans
themselves, so a batch of 512 spans costs a few hundred loop turns.
bench/features.sh uses it as the `--otlp-endpoint` of the observability runs.
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATS = {"posts": 0, "bytes": 0, "spans": 0, "bad": 0}


def varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def fields(buf, start, end):
    """(field number, wire type, value start, value end) of each field in buf[start:end]."""
    i = start
    while i < end:
        key, i = varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, j = varint(buf, i)
            yield field, wire, i, j
        elif wire == 1:
            yield field, wire, i, i + 8
            j = i + 8
        elif wire == 2:
            n, i = varint(buf, i)
            j = i + n
            yield field, wire, i, j
        elif wire == 5:
            yield field, wire, i, i + 4
            j = i + 4
        else:
            raise ValueError(f"wire type {wire}")
        i = j


def count_spans(body):
    spans = 0
    for f1, w1, s1, e1 in fields(body, 0, len(body)):
        if f1 != 1 or w1 != 2:
            continue  # resource_spans
        for f2, w2, s2, e2 in fields(body, s1, e1):
            if f2 != 2 or w2 != 2:
                continue  # scope_spans
            for f3, w3, _s3, _e3 in fields(body, s2, e2):
                if f3 == 2 and w3 == 2:
                    spans += 1  # spans
    return spans


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        try:
            spans = count_spans(body) if self.path == "/v1/traces" else 0
            bad = 0
        except (ValueError, IndexError):
            spans, bad = 0, 1
        with LOCK:
            STATS["posts"] += 1
            STATS["bytes"] += len(body)
            STATS["spans"] += spans
            STATS["bad"] += bad
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        with LOCK:
            body = json.dumps(STATS).encode()
        self.send_response(200 if self.path == "/stats" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    ap.add_argument("--listen", default="127.0.0.1:0")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Sink)
    server.daemon_threads = True
    print(f"otlp-sink listening on http://{host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

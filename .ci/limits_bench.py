#!/usr/bin/env python3
"""Benchmark: the hostile requests of issue 10 against a real server, wall time and extra memory each.

Builds psm-api (release unless PSM_BENCH_PROFILE=debug), serves a fresh embedded demo database
(10,000 cases) on 127.0.0.1, takes the demo STAFF key it prints, and sends each request several times.
For each it prints the status, the error code, the median wall time of the whole HTTP exchange and the
growth of the server's peak resident memory (VmHWM, reset before each request through
/proc/PID/clear_refs, so run as root on Linux). Prints a Markdown table. The target: every request
refused or answered within 50 ms and 20 MB.

Run from the repository root:  python3 .ci/limits_bench.py
Settings (environment): PSM_BENCH_RUNS (5), PSM_BENCH_PROFILE (release), PSM_BENCH_ARGS (extra server
flags, e.g. "--max-body-bytes 67108864 --max-tokens 100000 --max-aliases 1000" to reach the later checks).
Only 127.0.0.1 is contacted; the server is stopped at the end.
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = int(os.environ.get("PSM_BENCH_RUNS", "5"))
PROFILE = os.environ.get("PSM_BENCH_PROFILE", "release")
PORT = 18097
EXTRA = os.environ.get("PSM_BENCH_ARGS", "").split()


def fragment_bomb(levels=30):
    lines = ["query { ...F0 }"]
    for level in range(levels):
        lines.append(f"fragment F{level} on QueryRoot {{ ...F{level + 1} ...F{level + 1} }}")
    lines.append(f"fragment F{levels} on QueryRoot {{ viewer {{ role }} }}")
    return "\n".join(lines)


NESTED = (
    "{organisations(first:100){nodes{referralsReceived(first:100){nodes{case{reportingVolunteer{cases(first:100)"
    "{nodes{referrals{case{reportingVolunteer{cases(first:100){nodes{referenceNumber}}}}}}}}}}}}}}"
)
PERCENTILES = "{ " + "".join(f"a{n}: caseStats {{ total {{ medianDaysToClose }} }} " for n in range(333)) + "}"
GROUPS = (
    '{ caseStats(groupBy: [REPORTING_VOLUNTEER, OPENED_DAY], period: {from: "2024-01-01T00:00:00+08:00", '
    'before: "2026-09-27T00:00:00+08:00"}) { groups { count { value } } } }'
)
TOKENS = "{ viewer { role }" + " __typename" * 1_000_000 + " }"
DIRECTIVES = "{ viewer" + " @include(if: true)" * 100_000 + " { role } }"
DIRECTIVES_SMALL = "{ viewer" + " @include(if: true)" * 100 + " { role } }"


def exchange(raw):
    """Sends raw bytes to the server, returns (status, body bytes); closes after the answer."""
    with socket.create_connection(("127.0.0.1", PORT)) as connection:
        connection.settimeout(120)
        try:
            connection.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading everything: what a refusal should do
        data = b""
        while True:
            try:
                chunk = connection.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            if b"content-length:" in head.lower():
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    break
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data.partition(b"\r\n\r\n")[2]


def post(query, key):
    body = json.dumps({"query": query}).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {key}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode()
    return head + body


def big_body_without_key():
    """Headers announcing 200 MB, then the first 8 MB of it; the server must answer without reading."""
    head = (
        "POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"content-length: {200 << 20}\r\nconnection: close\r\n\r\n"
    ).encode()
    return head + b" " * (8 << 20)


def peak_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    subprocess.run(["cargo", "build", "-q"] + (["--release"] if PROFILE == "release" else []), check=True)
    meta = json.loads(subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"],
                                     check=True, capture_output=True, text=True).stdout)
    binary = os.path.join(meta["target_directory"], PROFILE, "psm-api")
    workdir = tempfile.mkdtemp(prefix="psm-limits-")
    database = f"sqlite://{workdir}/psm.db?mode=rwc"
    server = subprocess.Popen(
        [binary, "--database-url", database, "--listen", f"127.0.0.1:{PORT}", "--sweep-seconds", "3600", *EXTRA, "serve"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    key = None
    try:
        started = time.time()
        while key is None and time.time() - started < 300:
            line = server.stdout.readline()
            if not line:
                break
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "STAFF":
                key = parts[1]
        if key is None:
            sys.exit("the server printed no STAFF demo key")
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", PORT)).close()
                break
            except OSError:
                time.sleep(0.1)
        requests = [
            ("fragment bomb (30 doubly nested spreads)", post(fragment_bomb(), key)),
            ("nested referralsReceived / cases (first: 100)", post(NESTED, key)),
            ("333 aliased percentile caseStats", post(PERCENTILES, key)),
            ("groupBy [REPORTING_VOLUNTEER, OPENED_DAY] over 1,000 days", post(GROUPS, key)),
            ("200 MB body without a key", big_body_without_key()),
            ("1M-token query", post(TOKENS, key)),
            ("100,000 duplicate directives", post(DIRECTIVES, key)),
            ("100 duplicate directives", post(DIRECTIVES_SMALL, key)),
            ("a page of 100 cases (for comparison)", post("{ cases(first: 100) { nodes { referenceNumber status kelurahan { name } } } }", key)),
        ]
        print(f"psm-api {PROFILE} build, embedded demo database (10,000 cases), {RUNS} runs each, flags: {EXTRA}")
        print()
        print("| request | request bytes | status | code | median ms | max ms | extra peak memory (MB) |")
        print("|---|---|---|---|---|---|---|")
        for name, raw in requests:
            times, extra, status, code = [], [], 0, ""
            for _ in range(RUNS):
                with open(f"/proc/{server.pid}/clear_refs", "w") as clear:
                    clear.write("5")
                before = peak_kb(server.pid)
                began = time.perf_counter()
                status, body = exchange(raw)
                times.append((time.perf_counter() - began) * 1000)
                extra.append((peak_kb(server.pid) - before) / 1024)
                try:
                    errors = json.loads(body).get("errors") or []
                    code = errors[0]["extensions"]["code"] if errors else "(answered)"
                except (ValueError, KeyError, IndexError):
                    code = "?"
            print(f"| {name} | {len(raw):,} | {status} | {code} | {statistics.median(times):.1f} | "
                  f"{max(times):.1f} | {max(extra):.1f} |")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmark: dashboard pages under load, psm-api binaries side by side (interleaved A, B, A, B, ...).

On the benchmark database of `.ci/bench.py` (seeded with 1,000,000 demo cases on first use), serves
each binary in turn, checks that they return the same rows, and loads the nested page of issue 12 (the
50 newest cases with kelurahan and kecamatan, reporting volunteer, referrals with the receiving
organisation, outcomes) with autocannon (npm, pinned below) from 16 connections. Prints req/s, p50,
p99, SQL statements per request (counted in PostgreSQL's log for one request) and the server's
resident memory idle and at its peak.

Run from the repository root:
    python3 .ci/page_bench.py                          # the release build, three rounds
    python3 .ci/page_bench.py A=path/to/old B=path/to/new   # two builds, interleaved
Settings (environment): PSM_BENCH_DB (psm_bench), PSM_BENCH_CASES (1000000), PSM_PAGE_ROUNDS (3),
PSM_PAGE_SECONDS (20), PSM_PAGE_CONNECTIONS (16).
"""

import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (same database, same seeding)

AUTOCANNON = "autocannon@8.0.0"
LOADGEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loadgen")
ROUNDS = int(os.environ.get("PSM_PAGE_ROUNDS", "3"))
SECONDS = int(os.environ.get("PSM_PAGE_SECONDS", "20"))
CONNECTIONS = int(os.environ.get("PSM_PAGE_CONNECTIONS", "16"))
PORT = 18098

PAGE = """{ cases(first: 50, orderBy: {field: OPENED_AT, direction: DESC}) { nodes {
    id referenceNumber status urgency openedAt
    kelurahan { code name parent { code name } }
    reportingVolunteer { id fullName }
    referrals { id status sentAt toOrganisation { code name } }
    outcomes { id outcomeType recordedAt } } } }"""


def autocannon():
    binary = os.path.join(LOADGEN, "node_modules", ".bin", "autocannon")
    if not os.path.exists(binary):
        subprocess.run(["npm", "install", "--no-save", "--prefix", LOADGEN, AUTOCANNON], check=True,
                       stdout=subprocess.DEVNULL)
    return binary


def rss_mib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def post(key, query):
    body = json.dumps({"query": query}).encode()
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}/graphql", data=body, headers=headers)
    with urllib.request.urlopen(request) as response:
        payload = json.load(response)
    if payload.get("errors"):
        sys.exit(f"query failed: {payload['errors']}")
    return payload["data"]


def statements_per_request(binary, key):
    """Statements PostgreSQL logs for one request to a server started with statement logging on (a
    setting of the database, read by new connections only), after a request that warmed it up: the key
    was checked a moment ago, as under load."""
    bench.psql(f'ALTER DATABASE "{bench.DB}" SET log_min_duration_statement = 0', "postgres")
    server = serve(binary)
    try:
        log = bench.log_file()
        # The sweep at startup (referrals and consents that expired meanwhile) runs first: wait for quiet.
        for _ in range(120):
            before = os.path.getsize(log)
            time.sleep(1)
            if os.path.getsize(log) == before:
                break
        post(key, PAGE)
        offset = os.path.getsize(log)
        post(key, PAGE)
        time.sleep(0.5)
        with open(log, encoding="utf-8", errors="replace") as handle:
            handle.seek(offset)
            text = handle.read()
        return sum(1 for line in text.splitlines() if "duration:" in line and ("execute" in line or "statement:" in line))
    finally:
        server.terminate()
        server.wait()
        bench.psql(f'ALTER DATABASE "{bench.DB}" RESET log_min_duration_statement', "postgres")


def serve(binary):
    server = subprocess.Popen(
        [binary, "--database-url", f"{bench.SERVER}/{bench.DB}", "--listen", f"127.0.0.1:{PORT}",
         "--sweep-seconds", "86400", "--rate-limit-points", "0"],  # no sweeps; no bucket to run dry
        stderr=subprocess.DEVNULL,
    )
    # Up, and its startup sweep done (`psm_sweeps_total` in /metrics counts it): consents of the demo
    # data lapse every minute, and an answer given before the sweep ended their partners' holds would
    # differ from the next server's.
    for _ in range(3000):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/metrics") as response:
                metrics = response.read().decode()
            if any(line.startswith("psm_sweeps_total") and 'outcome="ok"' in line for line in metrics.splitlines()):
                return server
        except OSError:
            pass
        time.sleep(0.1)
    server.kill()
    sys.exit(f"{binary} did not start, or its startup sweep did not finish within 300 s")


def measure(binary, key, loader, statements):
    server = serve(binary)
    try:
        rows = post(key, PAGE)
        for _ in range(20):
            post(key, PAGE)
        idle = rss_mib(server.pid, "VmRSS")
        body = json.dumps({"query": PAGE})
        result = subprocess.run(
            [loader, "--json", "-c", str(CONNECTIONS), "-d", str(SECONDS), "-m", "POST",
             "-H", "content-type=application/json", "-H", f"authorization=Bearer {key}", "-b", body,
             f"http://127.0.0.1:{PORT}/graphql"],
            check=True, capture_output=True, text=True,
        )
        report = json.loads(result.stdout)
        if report.get("non2xx") or report.get("errors"):
            sys.exit(f"failed requests under load: {report.get('non2xx')} non-2xx, {report.get('errors')} errors")
        peak = rss_mib(server.pid, "VmHWM")
        return rows, {
            "statements": statements,
            "rps": report["requests"]["average"],
            "p50": report["latency"]["p50"],
            "p99": report["latency"]["p99"],
            "idle": idle,
            "peak": peak,
        }
    finally:
        server.terminate()
        server.wait()


def main():
    binaries = dict(arg.split("=", 1) for arg in sys.argv[1:])
    if not binaries:
        subprocess.run(["cargo", "build", "--release", "--quiet"], check=True)
        binaries = {"release": bench.binary()}
    first = next(iter(binaries.values()))
    bench.BINARY = first
    bench.ensure_database()
    key = subprocess.run(
        [first, "--database-url", f"{bench.SERVER}/{bench.DB}", "key", "create", "--role", "STAFF", "--name",
         "page benchmark"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    loader = autocannon()
    results = {name: [] for name in binaries}
    reference = None
    statements = {name: statements_per_request(binary, key) for name, binary in binaries.items()}
    for _ in range(ROUNDS):
        for name, binary in binaries.items():
            rows, figures = measure(binary, key, loader, statements[name])
            if reference is None:
                reference = rows
            elif rows != reference:
                sys.exit(f"{name} returned other rows than {next(iter(binaries))}")
            results[name].append(figures)
    print(f"\n{bench.psql('SELECT count(*) FROM cases')} cases; nested page of 50; {CONNECTIONS} connections, "
          f"{SECONDS} s, {ROUNDS} interleaved rounds (each figure: median, then range)\n")
    print("| build | req/s | p50 ms | p99 ms | statements / request | RSS idle MiB | RSS peak MiB |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        def cell(field, digits=1):
            values = sorted(run[field] for run in runs)
            median = values[len(values) // 2]
            return f"{median:.{digits}f} ({values[0]:.{digits}f} to {values[-1]:.{digits}f})"
        print(f"| {name} | {cell('rps')} | {cell('p50')} | {cell('p99')} | {cell('statements', 0)} | "
              f"{cell('idle')} | {cell('peak')} |")


if __name__ == "__main__":
    main()

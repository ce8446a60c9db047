#!/usr/bin/env python3
"""Benchmark: psm-api's statistics fields next to the same SQL run directly with psql.

Seeds a PostgreSQL database with the demo data (1,000,000 cases unless PSM_BENCH_CASES says otherwise),
serves the API on it (release build), and for each dashboard query measures the median latency of the
whole HTTP request, then the median of the exact statement the API ran (taken from PostgreSQL's own
log, with its parameters), executed with psql. Prints a Markdown table.

Run from the repository root:  python3 .ci/bench.py
Settings (environment): PSM_BENCH_DB (default psm_bench), PSM_BENCH_CASES (1000000), PSM_BENCH_RUNS (21).
The database is created and seeded when it does not exist, and reused afterwards.
"""

import glob
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request

DB = os.environ.get("PSM_BENCH_DB", "psm_bench")
CASES = int(os.environ.get("PSM_BENCH_CASES", "1000000"))
RUNS = int(os.environ.get("PSM_BENCH_RUNS", "21"))
SERVER = "postgres://postgres@127.0.0.1:5432"
PORT = 18099


def binary():
    """The release binary, wherever cargo puts its target directory (CARGO_TARGET_DIR, a wrapper)."""
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"], check=True, capture_output=True, text=True
    )
    return os.path.join(json.loads(metadata.stdout)["target_directory"], "release", "psm-api")


BINARY = None  # set by main(), after the build

QUERIES = [
    (
        "cases by kecamatan and month, five years",
        """{ caseStats(groupBy: [DISTRICT, OPENED_MONTH],
                       period: {from: "2021-11-01T00:00:00+08:00", before: "2026-11-01T00:00:00+08:00"}) {
               total { count { value } } groups { key { district { code } period } count { value suppressed } } } }""",
    ),
    (
        "referral funnel by receiving organisation",
        """{ referralStats(groupBy: [RECEIVING_ORGANISATION]) {
               groups { key { receivingOrganisation { code } } sent { value } accepted { value } declined { value }
                        completed { value } expired { value } acceptanceRate medianHoursToRespond } } }""",
    ),
    (
        "open cases by kelurahan and category",
        """{ caseStats(groupBy: [KELURAHAN, CATEGORY], filter: {status: [NEW, ASSESSMENT, IN_SERVICE, REFERRED, REOPENED]}) {
               groups { key { kelurahan { code } category } count { value suppressed } } } }""",
    ),
    (
        "volunteer coverage by kelurahan",
        """{ volunteerCoverage { kelurahan { code } activeVolunteers { value suppressed } openCases { value suppressed }
               openCasesPerActiveVolunteer } }""",
    ),
    (
        "closure time by category (median, p90)",
        """{ caseStats(groupBy: [CATEGORY]) {
               groups { key { category } closed { value } medianDaysToClose p90DaysToClose } } }""",
    ),
    (
        "cases by kecamatan and status as of a past midnight",
        """{ caseStats(groupBy: [DISTRICT, STATUS], asOf: "2025-07-01T00:00:00+08:00") {
               total { count { value } } groups { key { district { code } status } count { value suppressed } } } }""",
    ),
    (
        "referral funnel by organisation as of a past midnight",
        """{ referralStats(groupBy: [RECEIVING_ORGANISATION], asOf: "2025-07-01T00:00:00+08:00") {
               groups { key { receivingOrganisation { code } } sent { value } accepted { value } declined { value }
                        completed { value } acceptanceRate } } }""",
    ),
]


def psql(sql, database=DB):
    result = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-Atqc", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


KEY = None  # a DASHBOARD key, created for the run


def post(query):
    body = json.dumps({"query": query}).encode()
    headers = {"content-type": "application/json", "authorization": f"Bearer {KEY}"}
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}/graphql", data=body, headers=headers)
    started = time.perf_counter()
    with urllib.request.urlopen(request) as response:
        payload = json.load(response)
    elapsed = (time.perf_counter() - started) * 1000
    if payload.get("errors"):
        sys.exit(f"query failed: {payload['errors']}")
    return elapsed


def log_file():
    logs = sorted(glob.glob("/var/log/postgresql/postgresql-*-main.log"))
    if not logs:
        sys.exit("cannot find PostgreSQL's log in /var/log/postgresql")
    return logs[-1]


def captured_statement(log, offset):
    """The statistics statement the API just ran, and its parameters, from PostgreSQL's log."""
    with open(log, encoding="utf-8", errors="replace") as handle:
        handle.seek(offset)
        lines = handle.read().splitlines()
    for i, line in enumerate(lines):
        # The statistics statement is the first the request runs after authentication; key lookups follow it.
        match = re.search(r"duration: [\d.]+ ms\s+execute [^:]+: (SELECT .*)$", line)
        # Every statistics statement groups; the key lookup and the expiry sweeps do not.
        if match and "GROUP BY" in match.group(1) and '"api_keys"' not in match.group(1):
            parameters = []
            if i + 1 < len(lines) and "DETAIL:  parameters:" in lines[i + 1]:
                detail = lines[i + 1].split("parameters:", 1)[1]
                parameters = [value for value in re.findall(r"\$\d+ = ('(?:[^']|'')*'|NULL)", detail)]
            return match.group(1), parameters
    sys.exit("the API's statement was not found in PostgreSQL's log")


def psql_median(sql, parameters):
    execute = f"EXECUTE bench({', '.join(parameters)});" if parameters else "EXECUTE bench;"
    script = "\\timing on\n" + f"PREPARE bench AS {sql};\n" + (execute + "\n") * (RUNS + 3)
    result = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", DB, "-q", "-o", "/dev/null"],
        input=script,
        check=True,
        capture_output=True,
        text=True,
    )
    times = [float(t) for t in re.findall(r"Time: ([\d.]+) ms", result.stdout + result.stderr)]
    # The first timing is the PREPARE; the next three warm up.
    return statistics.median(times[4:])


def ensure_database():
    """Creates and seeds the benchmark database on first use (with BINARY); later runs reuse it."""
    exists = psql(f"SELECT count(*) FROM pg_database WHERE datname = '{DB}'", "postgres") == "1"
    if not exists:
        psql(f'CREATE DATABASE "{DB}"', "postgres")
        print(f"seeding {CASES} cases into {DB}", file=sys.stderr)
        subprocess.run([BINARY, "--database-url", f"{SERVER}/{DB}", "seed", "--demo", "--cases", str(CASES)], check=True)


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet"], check=True)
    global BINARY
    BINARY = binary()
    ensure_database()
    cases = psql("SELECT count(*) FROM cases")
    global KEY
    subprocess.run([BINARY, "--database-url", f"{SERVER}/{DB}", "migrate"], check=True)
    KEY = subprocess.run(
        [BINARY, "--database-url", f"{SERVER}/{DB}", "key", "create", "--role", "DASHBOARD", "--name", "benchmark"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    psql(f'ALTER DATABASE "{DB}" SET log_min_duration_statement = 0', "postgres")
    server = subprocess.Popen(
        # One sweep at startup, then none during the measurements; a statistics budget the runs cannot
        # exhaust (the DASHBOARD key asks the same questions over and over), and no rate limit (each
        # statistics field costs thousands of points, more than a key regains while the runs repeat).
        [BINARY, "--database-url", f"{SERVER}/{DB}", "--listen", f"127.0.0.1:{PORT}", "--sweep-seconds", "86400",
         "--stats-budget-cells", str(10**15), "--rate-limit-points", "0"],
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz")
                break
            except OSError:
                time.sleep(0.2)
        log = log_file()
        rows = []
        for name, query in QUERIES:
            for _ in range(3):
                post(query)
            offset = os.path.getsize(log)
            post(query)
            time.sleep(0.5)
            sql, parameters = captured_statement(log, offset)
            api = statistics.median(post(query) for _ in range(RUNS))
            bare = psql_median(sql, parameters)
            rows.append((name, api, bare))
    finally:
        server.terminate()
        server.wait()
        psql(f'ALTER DATABASE "{DB}" RESET log_min_duration_statement', "postgres")
    print(f"\n{cases} cases, median of {RUNS} runs each\n")
    print("| dashboard query | API (HTTP, ms) | same SQL in psql (ms) | API / SQL |")
    print("|---|---|---|---|")
    for name, api, bare in rows:
        print(f"| {name} | {api:.1f} | {bare:.1f} | {api / bare:.2f} |")


if __name__ == "__main__":
    main()

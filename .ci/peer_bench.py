#!/usr/bin/env python3
"""Benchmark: psm-api next to PostGraphile v5 on the same database, the same pages, interleaved.

On the benchmark database of `.ci/bench.py` (seeded with 1,000,000 demo cases on first use), serves
psm-api (release build) and PostGraphile (`.ci/peer/server.mjs`: amber preset with the connection-filter
and pg-aggregates plugins over schema `public`, no watch, no GraphiQL, no explain, errors masked; a pool
of 10 connections, psm-api's default) in turn, and loads two pages with autocannon (npm, pinned in
page_bench.py) from 16 connections:

- staff: the nested page of issue 12 (page_bench.PAGE, a STAFF key): the 50 newest cases with kelurahan
  and kecamatan, reporting volunteer, every referral with the receiving organisation (psm-api's
  `Case.referrals` takes no limit, so all of them, oldest sent first), every outcome (oldest first);
- partner: a PARTNER key's referral list (for the organisation with the most referrals it holds): its 50
  newest referrals with the case's fields a partner reads without consent (reference number, status,
  urgency, source, opened/closed, closure reason, categories, kelurahan). PostGraphile has no keys, so
  its query filters on the organisation's id and `partner_holds`, the two conditions psm-api's scope
  applies to a PARTNER's referrals.

The two do not do the same work per request, and the figures include that: psm-api authenticates the
key (cached for a second), applies the role's scope in SQL, and records an audit event for every STAFF read
of personal data (on the staff page, the volunteers' `fullName`: one INSERT per request, among its
statements); PostGraphile has no keys, no scope and no audit trail (it serves every table, api_keys
included, to anyone who can reach it). psm-api batches with one statement per table (DataLoader);
PostGraphile compiles each page into one statement.

Before measuring, both servers must return the same rows: each answer is reduced to lists of ids (the
UUID inside psm-api's opaque global id; PostGraphile's `rowId`), codes and values in answer order,
instants compared as instants (the two serialise time zones differently), and psm-api's `closureReason:
REFERRED` read as the stored REFERRED_ELSEWHERE; any difference stops the run. The pages are compared
newest first (as measured) and oldest first (the oldest cases carry most referrals and outcomes).
Rounds interleave the servers (psm-api, PostGraphile, psm-api, ...), each measurement on a freshly started
server, and each PostGraphile answer must again equal psm-api's of the same round (psm-api's startup sweep
may expire a referral or end a partner's hold between rounds). Prints, per workload and server, req/s, p50, p99 (ms), SQL statements per request (counted in
PostgreSQL's log for one warmed-up request, with log_min_duration_statement = 0 set on the database only
while counting), and resident memory idle (after 20 warm-up requests) and at its peak (VmHWM); for node,
of the node process itself. Each figure is a median with its range over the rounds. Then the ratio of
psm-api's req/s to PostGraphile's per round, and one run per server at 64 connections for peak memory.

Pinned versions: postgraphile 5.1.5, grafserv 1.0.2, grafast 1.1.3, postgraphile-plugin-connection-filter
4.0.1, @graphile/pg-aggregates 0.2.0-rc.2, pg 8.23.1 (.ci/peer/package.json and package-lock.json,
installed with `npm ci --prefix .ci/peer` when .ci/peer/node_modules is missing); autocannon 8.0.0.
Node 20 needs the Promise.withResolvers shim that server.mjs defines.

Run from the repository root:
    python3 .ci/peer_bench.py                        # builds the release binary first
    python3 .ci/peer_bench.py target/release/psm-api # an already built binary
Settings (environment): PSM_BENCH_DB (psm_bench), PSM_BENCH_CASES (1000000), PSM_PEER_ROUNDS (3),
PSM_PEER_SECONDS (20), PSM_PEER_CONNECTIONS (16), PSM_PEER_WIDE_CONNECTIONS (64; 0 skips that run),
PSM_PEER_SHOW_STATEMENTS (set: print the statements counted).
"""

import base64
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
import bench  # noqa: E402  (same database, same seeding)
import page_bench  # noqa: E402  (autocannon, psm-api's server, the staff page)

PEER = os.path.join(HERE, "peer")
ROUNDS = int(os.environ.get("PSM_PEER_ROUNDS", "3"))
SECONDS = int(os.environ.get("PSM_PEER_SECONDS", "20"))
CONNECTIONS = int(os.environ.get("PSM_PEER_CONNECTIONS", "16"))
WIDE = int(os.environ.get("PSM_PEER_WIDE_CONNECTIONS", "64"))
PEER_PORT = 18097
PSM, PG = "psm-api", "PostGraphile"

# ---------------------------------------------------------------------------------------------------
# The queries. psm-api's staff page is page_bench.PAGE; its nested lists are ordered by psm-api's
# loaders (referrals by sent_at, outcomes by recorded_at, ascending), its root list by the order column
# and then the id, both descending.

PSM_STAFF = page_bench.PAGE

PG_STAFF = """{ allCases(first: 50, orderBy: [OPENED_AT_DESC, ROW_ID_DESC]) { nodes {
    rowId referenceNumber status urgency openedAt
    regionByKelurahanCode { code name regionByParentCode { code name } }
    volunteerByReportingVolunteerId { rowId fullName }
    referralsByCaseId(orderBy: [SENT_AT_ASC]) { nodes { rowId status sentAt organisationByToOrganisationId { code name } } }
    outcomesByCaseId(orderBy: [RECORDED_AT_ASC]) { nodes { rowId outcomeType recordedAt } } } } }"""

PSM_PARTNER = """{ referrals(first: 50, orderBy: {field: SENT_AT, direction: DESC}) { nodes {
    id status reason sentAt respondBy respondedAt completedAt
    case { id referenceNumber status urgency source openedAt closedAt closureReason categories
           kelurahan { code name } } } } }"""

# Filled in with the partner organisation's id once it is known.
PG_PARTNER = """{ allReferrals(first: 50, orderBy: [SENT_AT_DESC, ROW_ID_DESC],
                condition: {toOrganisationId: "%s", partnerHolds: true}) { nodes {
    rowId status reason sentAt respondBy respondedAt completedAt
    caseByCaseId { rowId referenceNumber status urgency source openedAt closedAt closureReason
                   caseCategoriesByCaseId(orderBy: [CATEGORY_ASC]) { nodes { category } }
                   regionByKelurahanCode { code name } } } } }"""


# ---------------------------------------------------------------------------------------------------
# Reducing answers to comparable rows.

def uuid_of(global_id):
    """The key inside one of psm-api's opaque ids: base64url("Type:key"), unpadded."""
    text = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    return text.split(":", 1)[1]


def instant(text):
    """An instant in either server's spelling (psm-api: UTC with Z; PostgreSQL: its own offset)."""
    if text is None:
        return None
    return datetime.datetime.fromisoformat(text).astimezone(datetime.timezone.utc).isoformat()


# psm-api names one stored value differently in its GraphQL enum (entity/src/enums.rs): a case closed as
# REFERRED_ELSEWHERE reads `closureReason: REFERRED`. PostGraphile serves the stored text.
CLOSURE_REASON_STORED = {"REFERRED": "REFERRED_ELSEWHERE"}


def staff_rows_psm(data):
    return [
        (uuid_of(c["id"]), c["referenceNumber"], c["status"], c["urgency"], instant(c["openedAt"]),
         c["kelurahan"]["code"], c["kelurahan"]["name"], c["kelurahan"]["parent"]["code"],
         c["kelurahan"]["parent"]["name"],
         uuid_of(c["reportingVolunteer"]["id"]) if c["reportingVolunteer"] else None,
         c["reportingVolunteer"]["fullName"] if c["reportingVolunteer"] else None,
         [(uuid_of(r["id"]), r["status"], instant(r["sentAt"]), r["toOrganisation"]["code"],
           r["toOrganisation"]["name"]) for r in c["referrals"]],
         [(uuid_of(o["id"]), o["outcomeType"], instant(o["recordedAt"])) for o in c["outcomes"]])
        for c in data["cases"]["nodes"]
    ]


def staff_rows_pg(data):
    rows = []
    for c in data["allCases"]["nodes"]:
        kelurahan = c["regionByKelurahanCode"]
        volunteer = c["volunteerByReportingVolunteerId"]
        rows.append(
            (c["rowId"], c["referenceNumber"], c["status"], c["urgency"], instant(c["openedAt"]),
             kelurahan["code"], kelurahan["name"], kelurahan["regionByParentCode"]["code"],
             kelurahan["regionByParentCode"]["name"],
             volunteer["rowId"] if volunteer else None, volunteer["fullName"] if volunteer else None,
             [(r["rowId"], r["status"], instant(r["sentAt"]), r["organisationByToOrganisationId"]["code"],
               r["organisationByToOrganisationId"]["name"]) for r in c["referralsByCaseId"]["nodes"]],
             [(o["rowId"], o["outcomeType"], instant(o["recordedAt"])) for o in c["outcomesByCaseId"]["nodes"]])
        )
    return rows


def partner_rows_psm(data):
    rows = []
    for r in data["referrals"]["nodes"]:
        c = r["case"]
        rows.append(
            (uuid_of(r["id"]), r["status"], r["reason"], instant(r["sentAt"]), instant(r["respondBy"]),
             instant(r["respondedAt"]), instant(r["completedAt"]),
             uuid_of(c["id"]), c["referenceNumber"], c["status"], c["urgency"], c["source"], instant(c["openedAt"]),
             instant(c["closedAt"]), CLOSURE_REASON_STORED.get(c["closureReason"], c["closureReason"]),
             list(c["categories"]), c["kelurahan"]["code"],
             c["kelurahan"]["name"])
        )
    return rows


def partner_rows_pg(data):
    rows = []
    for r in data["allReferrals"]["nodes"]:
        c = r["caseByCaseId"]
        rows.append(
            (r["rowId"], r["status"], r["reason"], instant(r["sentAt"]), instant(r["respondBy"]),
             instant(r["respondedAt"]), instant(r["completedAt"]),
             c["rowId"], c["referenceNumber"], c["status"], c["urgency"], c["source"], instant(c["openedAt"]),
             instant(c["closedAt"]), c["closureReason"], [k["category"] for k in c["caseCategoriesByCaseId"]["nodes"]],
             c["regionByKelurahanCode"]["code"], c["regionByKelurahanCode"]["name"])
        )
    return rows


# ---------------------------------------------------------------------------------------------------
# The two servers.

class Server:
    """One server under test: how to start it, where it listens, what its pages are."""

    def __init__(self, name, port, start, queries, keys, reducers):
        self.name, self.port, self.start = name, port, start
        self.queries, self.keys, self.reducers = queries, keys, reducers

    def url(self):
        return f"http://127.0.0.1:{self.port}/graphql"

    def headers(self, workload):
        headers = {"content-type": "application/json"}
        if self.keys.get(workload):
            headers["authorization"] = f"Bearer {self.keys[workload]}"
        return headers

    def post(self, workload, query=None):
        body = json.dumps({"query": query or self.queries[workload]}).encode()
        request = urllib.request.Request(self.url(), data=body, headers=self.headers(workload))
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.load(response)
        if payload.get("errors"):
            sys.exit(f"{self.name}, {workload}: query failed: {payload['errors']}")
        return payload["data"]

    def rows(self, workload, query=None):
        return self.reducers[workload](self.post(workload, query))


def settle(binary):
    """Serves psm-api once until its startup sweep has run (referrals past their answer deadline expire,
    holds of lapsed consents end; page_bench.serve waits for it), so that the data stand still while the
    two servers are compared."""
    server = page_bench.serve(binary)
    server.terminate()
    server.wait()


def start_psm(binary):
    return lambda: page_bench.serve(binary)


def start_peer():
    env = dict(os.environ, DATABASE_URL=f"{bench.SERVER}/{bench.DB}", PSM_PEER_PORT=str(PEER_PORT),
               NODE_ENV="production", GRAPHILE_ENV="production")
    errors = tempfile.TemporaryFile()
    server = subprocess.Popen(["node", os.path.join(PEER, "server.mjs")], env=env, stdout=subprocess.DEVNULL,
                              stderr=errors)
    probe = json.dumps({"query": "{ __typename }"}).encode()
    for _ in range(1200):
        if server.poll() is not None:
            errors.seek(0)
            sys.exit(f"PostGraphile exited ({server.returncode}):\n{errors.read().decode(errors='replace')}")
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{PEER_PORT}/graphql", data=probe,
                                             headers={"content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=5) as response:
                if json.load(response).get("data"):
                    return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    sys.exit("PostGraphile did not start")


def stop(server):
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# ---------------------------------------------------------------------------------------------------
# Measurements.

def quiet_log(log):
    """Waits until PostgreSQL's log stops growing (psm-api's startup sweep, PostGraphile's introspection)."""
    for _ in range(120):
        before = os.path.getsize(log)
        time.sleep(1)
        if os.path.getsize(log) == before:
            return


def statements_per_request(server, workload):
    """Statements PostgreSQL logs for one request to a server started with statement logging on (a setting
    of the database, read by new connections only), after a request that warmed it up."""
    bench.psql(f'ALTER DATABASE "{bench.DB}" SET log_min_duration_statement = 0', "postgres")
    process = None
    try:
        process = server.start()
        log = bench.log_file()
        quiet_log(log)
        server.post(workload)
        time.sleep(0.5)
        offset = os.path.getsize(log)
        server.post(workload)
        time.sleep(0.5)
        with open(log, encoding="utf-8", errors="replace") as handle:
            handle.seek(offset)
            text = handle.read()
        # Only this database's statements, when the log's lines name their database (log_line_prefix
        # with %d, as Debian's default `%m [%p] %q%u@%d `): another database's work may share the log.
        mine = f"@{bench.DB} " if "%d" in bench.psql("SHOW log_line_prefix", "postgres") else ""
        lines = [line for line in text.splitlines()
                 if "duration:" in line and ("execute" in line or "statement:" in line) and mine in line]
        if os.environ.get("PSM_PEER_SHOW_STATEMENTS"):
            print(f"{server.name}, {workload}:", *(line[:300] for line in lines), sep="\n  ", file=sys.stderr)
        return len(lines)
    finally:
        if process is not None:
            stop(process)
        bench.psql(f'ALTER DATABASE "{bench.DB}" RESET log_min_duration_statement', "postgres")


def load(loader, server, workload, connections, strict=True):
    body = json.dumps({"query": server.queries[workload]})
    command = [loader, "--json", "-c", str(connections), "-d", str(SECONDS), "-m", "POST"]
    for name, value in server.headers(workload).items():
        command += ["-H", f"{name}={value}"]
    result = subprocess.run(command + ["-b", body, server.url()], check=True, capture_output=True, text=True)
    report = json.loads(result.stdout)
    failed = (report.get("non2xx") or 0) + (report.get("errors") or 0) + (report.get("timeouts") or 0)
    if strict and failed:
        sys.exit(f"{server.name}, {workload}: failed requests under load: {report.get('non2xx')} non-2xx, "
                 f"{report.get('errors')} errors, {report.get('timeouts')} timeouts")
    return report, failed


def measure(server, workload, loader, connections=None, strict=True):
    """Starts the server, checks its rows, warms it up, loads it; returns its rows and figures."""
    process = server.start()
    try:
        rows = server.rows(workload)
        for _ in range(20):
            server.post(workload)
        idle = page_bench.rss_mib(process.pid, "VmRSS")
        report, failed = load(loader, server, workload, connections or CONNECTIONS, strict)
        peak = page_bench.rss_mib(process.pid, "VmHWM")
        return rows, {
            "rps": report["requests"]["average"],
            "p50": report["latency"]["p50"],
            "p99": report["latency"]["p99"],
            "idle": idle,
            "peak": peak,
            "failed": failed,
        }
    finally:
        stop(process)


def first_difference(a, b):
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"row {index}:\n  {PSM}:        {x}\n  {PG}: {y}"
    return f"{len(a)} rows from {PSM}, {len(b)} from {PG}"


def same_rows(workload, psm_rows, pg_rows):
    if not psm_rows:
        sys.exit(f"{workload}: psm-api returned no rows; nothing to compare")
    if psm_rows != pg_rows:
        sys.exit(f"{workload}: the servers returned different rows; first difference at "
                 f"{first_difference(psm_rows, pg_rows)}")


# ---------------------------------------------------------------------------------------------------

def create_key(binary, *args):
    return subprocess.run(
        [binary, "--database-url", f"{bench.SERVER}/{bench.DB}", "key", "create", *args],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


def spread(values, digits=1):
    values = sorted(values)
    median = values[len(values) // 2]
    return f"{median:.{digits}f} ({values[0]:.{digits}f} to {values[-1]:.{digits}f})"


def main():
    arguments = sys.argv[1:]
    if len(arguments) > 1:
        sys.exit("usage: python3 .ci/peer_bench.py [path/to/psm-api]")
    if arguments:
        binary = os.path.abspath(arguments[0])
    else:
        subprocess.run(["cargo", "build", "--release", "--quiet"], check=True)
        binary = bench.binary()
    bench.BINARY = binary
    bench.ensure_database()
    if not os.path.isdir(os.path.join(PEER, "node_modules")):
        subprocess.run(["npm", "ci", "--prefix", PEER], check=True, stdout=subprocess.DEVNULL)
    loader = page_bench.autocannon()
    settle(binary)

    # The partner: the organisation holding the most referrals.
    organisation_id, organisation_code, _ = bench.psql(
        "SELECT o.id, o.code, count(*) FROM referrals r JOIN organisations o ON o.id = r.to_organisation_id "
        "WHERE r.partner_holds GROUP BY o.id, o.code ORDER BY count(*) DESC, o.code LIMIT 1"
    ).split("|")
    staff_key = create_key(binary, "--role", "STAFF", "--name", "peer benchmark")
    partner_key = create_key(binary, "--role", "PARTNER", "--organisation", organisation_code,
                             "--name", "peer benchmark")

    psm = Server(PSM, page_bench.PORT, start_psm(binary), {"staff": PSM_STAFF, "partner": PSM_PARTNER},
                 {"staff": staff_key, "partner": partner_key},
                 {"staff": staff_rows_psm, "partner": partner_rows_psm})
    pg = Server(PG, PEER_PORT, start_peer, {"staff": PG_STAFF, "partner": PG_PARTNER % organisation_id},
                {}, {"staff": staff_rows_pg, "partner": partner_rows_pg})
    servers = [psm, pg]
    workloads = ["staff", "partner"]

    # Same rows, before anything is measured: the measured pages, and the same pages oldest first (the
    # newest cases have hardly any referrals or outcomes yet; the oldest have most of theirs, so the
    # nested lists and their order are compared too).
    answers = {}
    for server in servers:
        process = server.start()
        try:
            for workload in workloads:
                for order in ("newest", "oldest"):
                    query = server.queries[workload]
                    if order == "oldest":
                        query = query.replace("DESC", "ASC")
                    answers[(server.name, workload, order)] = server.rows(workload, query)
        finally:
            stop(process)
    for workload in workloads:
        for order in ("newest", "oldest"):
            same_rows(f"{workload} ({order} first)", answers[(PSM, workload, order)], answers[(PG, workload, order)])
    for order in ("newest", "oldest"):
        staff = answers[(PSM, "staff", order)]
        print(f"same rows, {order} first: staff {len(staff)} cases ({sum(len(row[11]) for row in staff)} "
              f"referrals, {sum(len(row[12]) for row in staff)} outcomes); partner {organisation_code} "
              f"{len(answers[(PSM, 'partner', order)])} referrals", file=sys.stderr)

    statements = {(server.name, workload): statements_per_request(server, workload)
                  for workload in workloads for server in servers}

    # Each of PostGraphile's answers is compared with psm-api's answer of the same round, taken just
    # before: psm-api's sweep at startup may expire a referral or record a lapsed consent (which ends a
    # partner's hold) between rounds, and nothing changes the data while PostGraphile runs.
    results = {(server.name, workload): [] for workload in workloads for server in servers}
    for round_number in range(ROUNDS):
        for workload in workloads:
            latest = None
            for server in servers:
                print(f"round {round_number + 1}/{ROUNDS}: {workload}, {server.name}", file=sys.stderr)
                rows, figures = measure(server, workload, loader)
                if latest is None:
                    latest = rows
                else:
                    same_rows(workload, latest, rows)
                results[(server.name, workload)].append(figures)

    wide = {}
    if WIDE:
        latest = None
        for server in servers:
            print(f"{WIDE} connections: staff, {server.name}", file=sys.stderr)
            rows, figures = measure(server, "staff", loader, WIDE, strict=False)
            if latest is None:
                latest = rows
            else:
                same_rows("staff", latest, rows)
            wide[server.name] = figures

    held = bench.psql(f"SELECT count(*) FROM referrals WHERE to_organisation_id = '{organisation_id}' AND partner_holds")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    with open(os.path.join(PEER, "node_modules", "postgraphile", "package.json")) as handle:
        postgraphile = json.load(handle)["version"]
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"\n{bench.psql('SELECT count(*) FROM cases')} cases; {version} vs PostGraphile {postgraphile} "
          f"(node {node}, pool of 10); staff: nested page of 50 cases; partner: {organisation_code}'s 50 "
          f"newest referrals (of {held} it holds); {CONNECTIONS} connections, {SECONDS} s, {ROUNDS} "
          f"interleaved rounds (each figure: median, then range)\n")
    print("| workload | server | req/s | p50 ms | p99 ms | statements / request | RSS idle MiB | RSS peak MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for workload in workloads:
        for server in servers:
            runs = results[(server.name, workload)]
            print(f"| {workload} | {server.name} | {spread(r['rps'] for r in runs)} | "
                  f"{spread(r['p50'] for r in runs)} | {spread(r['p99'] for r in runs)} | "
                  f"{statements[(server.name, workload)]} | {spread(r['idle'] for r in runs)} | "
                  f"{spread(r['peak'] for r in runs)} |")
    print("\n| workload | psm-api req/s ÷ PostGraphile req/s, per round (median, range) |")
    print("|---|---|")
    for workload in workloads:
        ratios = [a["rps"] / b["rps"] for a, b in zip(results[(PSM, workload)], results[(PG, workload)])]
        print(f"| {workload} | {spread(ratios, 2)} |")
    if wide:
        print(f"\nMemory at {WIDE} connections (staff page, one {SECONDS} s run per server):\n")
        print("| server | req/s | p99 ms | failed requests | RSS idle MiB | RSS peak MiB |")
        print("|---|---|---|---|---|---|")
        for name, figures in wide.items():
            print(f"| {name} | {figures['rps']:.1f} | {figures['p99']:.1f} | {figures['failed']} | "
                  f"{figures['idle']:.1f} | {figures['peak']:.1f} |")


if __name__ == "__main__":
    main()

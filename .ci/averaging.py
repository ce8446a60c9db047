#!/usr/bin/env python3
"""What one DASHBOARD key's daily statistics budget buys an attacker who averages differences.

Perturbation keeps any one difference of two published totals from giving a small count away, but the
same records inside different totals are perturbed independently: averaging many differences converges
on the true count. The budget bounds how many differences one key gets per day. This script runs that
attack against the embedded demo database (10,000 cases, SQLite, made on first use in /tmp) with the
server's default budget: for kelurahan whose number of EMERGENCY cases is small (1 to 4, read from STAFF's
exact figures), one fresh DASHBOARD key each asks, for distinct random sets X_i of other kelurahan,

    all(K + X_i) - all(X_i) - [non-emergency(K + X_i) - non-emergency(X_i)]

(four totals, each `caseStats(filter: {kelurahanCodes: [...], urgency: [...]}).total.count`; every one a
different set of records, so every one perturbed afresh) until the key's budget refuses, and averages.
Prints a Markdown table: the truth, the pairs one day's budget paid for, the estimate and its rounding.

Run from the repository root:  python3 .ci/averaging.py
Settings (environment): PSM_AVERAGING_TARGETS (default 6), PSM_AVERAGING_SEED (default 6371).
"""

import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.request

DB = "/tmp/psm-averaging.db"
URL = f"sqlite://{DB}?mode=rwc"
PORT = 18098
TARGETS = int(os.environ.get("PSM_AVERAGING_TARGETS", "6"))
SEED = int(os.environ.get("PSM_AVERAGING_SEED", "6371"))


def binary():
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"], check=True, capture_output=True, text=True
    )
    return os.path.join(json.loads(metadata.stdout)["target_directory"], "release", "psm-api")


def post(key, query):
    body = json.dumps({"query": query}).encode()
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}/graphql", data=body, headers=headers)
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def total(key, codes, urgency=None):
    """The published total, None when suppressed; raises StopIteration when the budget refuses."""
    listed = ", ".join(f'"{code}"' for code in codes)
    extra = f", urgency: [{', '.join(urgency)}]" if urgency else ""
    payload = post(key, f"{{ caseStats(filter: {{ kelurahanCodes: [{listed}]{extra} }}) {{ total {{ count {{ value }} }} }} }}")
    if payload.get("errors"):
        if payload["errors"][0]["extensions"]["code"] == "STATS_BUDGET_EXHAUSTED":
            raise StopIteration
        sys.exit(f"query failed: {payload['errors']}")
    return payload["data"]["caseStats"]["total"]["count"]["value"]


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet"], check=True)
    psm = binary()
    server = subprocess.Popen(
        [psm, "--database-url", URL, "--listen", f"127.0.0.1:{PORT}", "--sweep-seconds", "86400"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        staff = None
        for line in server.stdout:
            fields = line.split()
            if fields and fields[0] == "STAFF":
                staff = fields[1]
                break
        if staff is None:
            sys.exit("the demo server printed no STAFF key (delete /tmp/psm-averaging.db for fresh keys)")
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz")
                break
            except OSError:
                time.sleep(0.2)
        exact = post(staff, "{ caseStats(exact: true, groupBy: [KELURAHAN], filter: {urgency: [EMERGENCY]}) "
                            "{ groups { key { kelurahan { code } } count { value } } } }")
        truth = {g["key"]["kelurahan"]["code"]: g["count"]["value"] for g in exact["data"]["caseStats"]["groups"]}
        regions = post(staff, "{ regions(filter: {level: [SUBDISTRICT]}, first: 100) { nodes { code } } }")
        codes = [node["code"] for node in regions["data"]["regions"]["nodes"]]
        rng = random.Random(SEED)
        targets = [code for code in codes if 1 <= truth.get(code, 0) <= 4]
        rng.shuffle(targets)
        rows = []
        for target in targets[:TARGETS]:
            key = subprocess.run(
                [psm, "--database-url", URL, "key", "create", "--role", "DASHBOARD", "--name", f"averaging {target}"],
                check=True, capture_output=True, text=True,
            ).stdout.strip()
            others = [code for code in codes if code != target]
            seen, differences, requests = set(), [], 0
            try:
                while True:
                    chosen = tuple(sorted(rng.sample(others, rng.randint(1, 12))))
                    if chosen in seen:
                        continue
                    seen.add(chosen)
                    values = []
                    for asked in ((target,) + chosen, chosen):
                        for urgency in (None, ["LOW", "NORMAL", "HIGH"]):
                            values.append(total(key, asked, urgency))
                            requests += 1
                    if None not in values:
                        everything, rest, everything_else, rest_else = values
                        differences.append((everything - rest) - (everything_else - rest_else))
            except StopIteration:
                pass
            mean = statistics.fmean(differences)
            error = 1.96 * statistics.stdev(differences) / len(differences) ** 0.5
            rows.append((target, truth[target], requests, len(differences), mean, error, round(mean)))
        print(f"\nbudget of one key for one day, {TARGETS} targets, seed {SEED}\n")
        print("| kelurahan | true emergencies | requests served | differences | mean | 95 % half-width | rounded |")
        print("|---|---|---|---|---|---|---|")
        for target, true, requests, pairs, mean, error, rounded in rows:
            print(f"| {target} | {true} | {requests} | {pairs} | {mean:.2f} | {error:.2f} | {rounded} |")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()

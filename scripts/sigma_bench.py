#!/usr/bin/env python3
"""Sigma rules vs rsigma: the same SigmaHQ AWS rules over the same records.

    python3 scripts/sigma_bench.py /tmp/rsigma-bin/bin/rsigma [--records 200000] [--runs 3]

Builds the release `tattletail` (no AWS SDK) and `tattletail-corpus`,
generates the benchmark corpus (`tattletail-corpus --files 4 --seed 7`, the
corpus of BENCHMARKS.md's CLI section) as plain CloudTrail files for us and
as one JSON Lines file for rsigma (the same records, one per line), then runs
in turns, `--runs` times each:

    tattletail scan --sigma RULES --format jsonl --quiet CORPUS_DIR
    rsigma engine eval -r RULES -e @events.jsonl

and prints best wall time, records/s, peak RSS (`/usr/bin/time -v`) and the
matches per rule of both (from the last run), with the rules whose counts
differ. Exit status 1 if a count differs for a rule not in DELIBERATE below
(see README.md ("Where Tattletail differs from rsigma") for why those differ).
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = "testdata/sigma/sigmahq/rules"

# Rules whose counts may differ on this corpus, and why (rows of
# README.md ("Where Tattletail differs from rsigma")). Empty: on the generated corpus every count agrees.
DELIBERATE = {}


def sh(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, check=True, **kw)


def timed(cmd, stdout_path):
    """Run cmd under /usr/bin/time -v; return (wall seconds, peak RSS MB, stderr)."""
    with open(stdout_path, "wb") as out, tempfile.NamedTemporaryFile("r") as tv:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-v", "-o", tv.name] + cmd,
                           stdout=out, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t0
        stats = tv.read()
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({p.returncode}): {p.stderr.decode(errors='replace')[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stats).group(1)) / 1024
    return wall, rss, p.stderr.decode(errors="replace")


def counts(path, key):
    c = collections.Counter()
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                c[json.loads(line)[key]] += 1
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rsigma", help="path to the rsigma 0.23 binary")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default="/tmp/sigma-bench")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    os.chdir(ROOT)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    if not a.no_build:
        sh(["cargo", "build", "--release", "-p", "tattletail-cli", "--no-default-features",
            "-p", "tattletail-corpus"])
    tt = os.path.join(target, "release", "tattletail")
    gen = os.path.join(target, "release", "tattletail-corpus")

    files = 4
    per = a.records // files
    ct_dir = os.path.join(a.work, f"ct-{files}x{per}")
    jsonl = os.path.join(a.work, f"events-{files}x{per}.jsonl")
    if not os.path.isdir(ct_dir):
        sh([gen, "--out", ct_dir, "--files", str(files), "--records", str(per), "--seed", "7"])
    if not os.path.exists(jsonl):
        # The same records, one compact JSON object per line.
        with open(jsonl + ".tmp", "w") as out:
            for name in sorted(os.listdir(ct_dir)):
                with open(os.path.join(ct_dir, name)) as f:
                    for rec in json.load(f)["Records"]:
                        out.write(json.dumps(rec, separators=(",", ":"), ensure_ascii=False))
                        out.write("\n")
        os.rename(jsonl + ".tmp", jsonl)
    n = sum(1 for _ in open(jsonl, "rb"))
    mb = os.path.getsize(jsonl) / 1e6

    ours_cmd = [tt, "scan", "--sigma", RULES, "--format", "jsonl", "--quiet", ct_dir]
    theirs_cmd = [a.rsigma, "engine", "eval", "-r", RULES, "-e", "@" + jsonl]
    res = {"tattletail": [], "rsigma": []}
    out_ours = os.path.join(a.work, "ours.jsonl")
    out_theirs = os.path.join(a.work, "rsigma.ndjson")
    for _ in range(a.runs):
        res["tattletail"].append(timed(ours_cmd, out_ours))
        res["rsigma"].append(timed(theirs_cmd, out_theirs))

    c_ours = counts(out_ours, "rule")
    c_theirs = counts(out_theirs, "rule_title")

    def ver(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except Exception:
            return "?"

    print(f"## Sigma rules vs rsigma ({time.strftime('%Y-%m-%d')})\n")
    cpu = ver(["sh", "-c", "lscpu | grep 'Model name' | sed 's/.*: *//'"])
    print(f"- machine: {os.cpu_count()} CPUs, {cpu}")
    print(f"- versions: {ver([tt, '--version'])}, {ver([a.rsigma, '--version'])}, {ver(['rustc', '--version'])}")
    print(f"- input: {n} records, {mb:.0f} MB as JSON Lines (`tattletail-corpus --files {files} "
          f"--records {per} --seed 7`); rules: {RULES} ({len(os.listdir(RULES))} files)\n")
    print("| engine | best wall | all runs | records/s | peak RSS | matches |")
    print("|---|---:|---|---:|---:|---:|")
    best = {}
    for eng, runs in res.items():
        walls = [r[0] for r in runs]
        best[eng] = min(walls)
        total = sum((c_ours if eng == "tattletail" else c_theirs).values())
        print(f"| {eng} | {best[eng]:.2f} s | {', '.join(f'{w:.2f}' for w in walls)} | "
              f"{n / best[eng]:,.0f} | {max(r[1] for r in runs):.0f} MB | {total} |")
    print(f"\ntattletail / rsigma throughput: {best['rsigma'] / best['tattletail']:.2f}×\n")
    print("| rule | tattletail | rsigma |")
    print("|---|---:|---:|")
    bad = []
    for rule in sorted(set(c_ours) | set(c_theirs)):
        a_, b_ = c_ours.get(rule, 0), c_theirs.get(rule, 0)
        mark = "" if a_ == b_ else " **differs**"
        print(f"| {rule}{mark} | {a_} | {b_} |")
        if a_ != b_ and rule not in DELIBERATE:
            bad.append(rule)
    print(f"\nper-rule counts identical: {'yes' if not bad else 'NO: ' + ', '.join(bad)}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Re-check the jq conformance files in testdata/jq/ against the real engines.

    python3 scripts/check-jq-tests.py              # everything
    python3 scripts/check-jq-tests.py --only agree # agree | gojq | regressions | upstream
    python3 scripts/check-jq-tests.py -v           # print every failure in full

What it verifies (see testdata/jq/README.md):

* testdata/jq/agree.test: for every case, jq 1.6 and gojq 0.12.11 both exit 0
  and both print exactly the expected lines (`-c` output, compared as text).
* testdata/jq/gojq.test: for every ordinary case, gojq exits 0 and prints
  exactly the expected lines, and jq 1.6 does NOT (it prints something else,
  fails, crashes or times out). For every `%%FAIL` case, gojq rejects the
  program at compile time (exit 3) and jq 1.6 runs it (exit 0).
* testdata/jq/regressions.test (bugs the differential and property tests
  found): for every ordinary case, gojq exits 0 and prints exactly the
  expected lines, and so does jq 1.6 unless a comment line right before the
  case starts with `# jq 1.6 differs:` (then jq 1.6 must NOT print them).
  For every `%%FAIL` case, gojq rejects the program at compile time (exit 3),
  and so does jq 1.6 unless marked the same way.
* testdata/jq/upstream/skip.txt: exactly the cases of
  testdata/jq/upstream/jq-1.8.2.test that gojq does not pass are listed.
  A case passes when gojq's outputs, parsed as JSON, equal the expected
  outputs (numbers numerically, object keys unordered) in number and order;
  like jq's own harness, a runtime error after all expected outputs is
  allowed. A `%%FAIL` case passes when gojq also rejects the program at
  compile time (exit 3); the expected message is not compared.

It needs `jq` (1.6) and `gojq` (0.12.11) on the PATH; on Debian/Ubuntu:
`apt-get install -y jq gojq`. Python 3.11, standard library only.
Exit status: 0 all good, 1 any mismatch, 2 missing tools or bad files.
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "testdata" / "jq"
AGREE = DATA / "agree.test"
GOJQ = DATA / "gojq.test"
REGRESSIONS = DATA / "regressions.test"
UPSTREAM = DATA / "upstream" / "jq-1.8.2.test"
SKIP = DATA / "upstream" / "skip.txt"

JQ_VERSION = "jq-1.6"
GOJQ_VERSION = "gojq 0.12.11"
TIMEOUT = 10  # seconds per engine run; jq 1.6 loops forever on a few gojq.test cases


# --------------------------------------------------------------------------
# Test file parsing (jq's tests/*.test format, as read by src/jq_test.c)

class Case:
    def __init__(self, line, prog, inp=None, outputs=None, fail=False, fail_msg=None,
                 comments=None):
        self.line = line          # 1-based line number of the program line
        self.prog = prog
        self.inp = inp            # input line (text), None for %%FAIL cases
        self.outputs = outputs or []
        self.fail = fail          # a %%FAIL case: the program must not compile
        self.fail_msg = fail_msg
        self.comments = comments or []  # comment lines right before the case


def skipline(line):
    s = line.lstrip(" \t")
    return s == "" or s.startswith("#")


def parse_test_file(path):
    """Parse a jq .test file the way jq's test harness does."""
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    cases = []
    i = 0
    must_fail = False
    comments = []
    while i < len(lines):
        line = lines[i]
        i += 1
        if skipline(line):
            if line.strip():
                comments.append(line.strip())
            else:
                comments = []
            continue
        if line in ("%%FAIL", "%%FAIL IGNORE MSG"):
            must_fail = True
            continue
        prog, prog_line = line, i
        if must_fail:
            # The expected error message: every line up to the next blank or
            # comment line (jq 1.8 messages span several lines).
            msg = []
            while i < len(lines) and not skipline(lines[i]):
                msg.append(lines[i])
                i += 1
            cases.append(Case(prog_line, prog, fail=True, fail_msg="\n".join(msg),
                              comments=comments))
            must_fail = False
            comments = []
            continue
        if i >= len(lines):
            raise ValueError(f"{path}:{prog_line}: program without an input line")
        inp = lines[i]
        i += 1
        outs = []
        while i < len(lines) and not skipline(lines[i]):
            outs.append(lines[i])
            i += 1
        cases.append(Case(prog_line, prog, inp=inp, outputs=outs, comments=comments))
        comments = []
    return cases


# --------------------------------------------------------------------------
# Running the engines

def run(engine, prog, inp):
    """Run `engine -c prog` with `inp` on stdin. Returns (rc, stdout_lines, stderr, bad_utf8)."""
    # jq 1.6 has no `--`; a leading space keeps a program such as `-1` from
    # being read as an option.
    arg = " " + prog if prog.startswith("-") else prog
    try:
        p = subprocess.run([engine, "-c", arg], input=(inp + "\n").encode("utf-8"),
                           capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return ("timeout", [], "timeout", False)
    bad = False
    try:
        out = p.stdout.decode("utf-8")
    except UnicodeDecodeError:
        out = p.stdout.decode("utf-8", "replace")
        bad = True
    lines = out.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return (p.returncode, lines, p.stderr.decode("utf-8", "replace").strip(), bad)


def describe(r):
    rc, lines, err, bad = r
    s = " ".join(lines) if lines else "(no output)"
    if bad:
        s += " [invalid UTF-8]"
    if rc != 0:
        s += f" [exit {rc}: {err.splitlines()[0] if err else ''}]"
    return s


# --------------------------------------------------------------------------
# JSON value comparison for the upstream file

def jparse(text):
    return json.loads(text, parse_constant=lambda c: {"NaN": math.nan, "Infinity": math.inf,
                                                      "-Infinity": -math.inf}[c])


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def jequal(a, b):
    if is_num(a) and is_num(b):
        if isinstance(a, int) and isinstance(b, int):
            return a == b
        fa, fb = float(a), float(b)
        return fa == fb or (math.isnan(fa) and math.isnan(fb))
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(jequal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(jequal(a[k], b[k]) for k in a)
    return a == b


def upstream_passes(case, r):
    rc, lines, _err, _bad = r
    if case.fail:
        return rc == 3, "gojq compiles it" if rc != 3 else ""
    if rc == 3 or rc == "timeout":
        return False, "gojq does not compile it" if rc == 3 else "timeout"
    if len(lines) < len(case.outputs):
        return False, f"{len(lines)} outputs, expected {len(case.outputs)}"
    if len(lines) > len(case.outputs):
        return False, f"superfluous outputs ({len(lines)} instead of {len(case.outputs)})"
    for got, want in zip(lines, case.outputs):
        try:
            g, w = jparse(got), jparse(want)
        except (ValueError, RecursionError):
            # not JSON jq-style (or nested too deeply for Python): compare as text
            if got.replace(" ", "") != want.replace(" ", ""):
                return False, f"got {got}, expected {want}"
            continue
        if not jequal(g, w):
            return False, f"got {got}, expected {want}"
    return True, ""


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", choices=["agree", "gojq", "regressions", "upstream"],
                    action="append",
                    help="check only this part (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every failure in full")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 4)
    args = ap.parse_args()
    parts = args.only or ["agree", "gojq", "regressions", "upstream"]

    missing = [e for e in ("jq", "gojq") if shutil.which(e) is None]
    if missing:
        print(f"error: {' and '.join(missing)} not found on the PATH.\n"
              "Install them with: apt-get install -y jq gojq\n"
              f"(the expected outputs are those of {JQ_VERSION} and {GOJQ_VERSION})",
              file=sys.stderr)
        return 2
    for engine, want in (("jq", JQ_VERSION), ("gojq", GOJQ_VERSION)):
        v = subprocess.run([engine, "--version"], capture_output=True, text=True).stdout.strip()
        if not v.startswith(want):
            print(f"warning: {engine} --version says {v!r}, the files were made with {want}; "
                  "expect mismatches", file=sys.stderr)

    problems = []
    summary = []
    pool = ThreadPoolExecutor(args.jobs)

    def report(kind, case, msg):
        problems.append(f"{kind}:{case.line}: {case.prog}\n    {msg}")

    # ---- agree.test
    if "agree" in parts:
        cases = parse_test_file(AGREE)
        jobs = [(c, pool.submit(run, "jq", c.prog, c.inp), pool.submit(run, "gojq", c.prog, c.inp))
                for c in cases if not c.fail]
        bad = 0
        for c in cases:
            if c.fail:
                report("agree.test", c, "%%FAIL blocks do not belong in agree.test")
                bad += 1
        for c, fj, fg in jobs:
            rj, rg = fj.result(), fg.result()
            errs = []
            for name, r in (("jq 1.6", rj), ("gojq", rg)):
                if r[0] != 0 or r[1] != c.outputs or r[3]:
                    errs.append(f"{name}: {describe(r)}")
            if errs:
                bad += 1
                report("agree.test", c, f"expected: {' '.join(c.outputs) or '(no output)'}\n    "
                       + "\n    ".join(errs))
        summary.append(f"agree.test: {len(cases)} cases, {len(cases) - bad} ok, {bad} mismatches")

    # ---- gojq.test
    if "gojq" in parts:
        cases = parse_test_file(GOJQ)
        jobs = [(c, pool.submit(run, "jq", c.prog, "null" if c.fail else c.inp),
                 pool.submit(run, "gojq", c.prog, "null" if c.fail else c.inp)) for c in cases]
        bad = 0
        for c, fj, fg in jobs:
            rj, rg = fj.result(), fg.result()
            if c.fail:
                ok = rg[0] == 3 and rj[0] == 0
                msg = f"gojq should reject it at compile time and jq 1.6 run it:\n    " \
                      f"jq 1.6: {describe(rj)}\n    gojq: {describe(rg)}"
            else:
                g_ok = rg[0] == 0 and rg[1] == c.outputs and not rg[3]
                j_same = rj[0] == 0 and rj[1] == c.outputs and not rj[3]
                ok = g_ok and not j_same
                if not g_ok:
                    msg = f"expected: {' '.join(c.outputs) or '(no output)'}\n    gojq: {describe(rg)}"
                else:
                    msg = "jq 1.6 now gives the same output: the case belongs in agree.test"
            if not ok:
                bad += 1
                report("gojq.test", c, msg)
        nfail = sum(1 for c in cases if c.fail)
        summary.append(f"gojq.test: {len(cases)} cases ({nfail} %%FAIL), "
                       f"{len(cases) - bad} ok, {bad} mismatches")

    # ---- regressions.test
    if "regressions" in parts:
        cases = parse_test_file(REGRESSIONS)
        jobs = [(c, pool.submit(run, "jq", c.prog, "null" if c.fail else c.inp),
                 pool.submit(run, "gojq", c.prog, "null" if c.fail else c.inp)) for c in cases]
        bad = 0
        for c, fj, fg in jobs:
            rj, rg = fj.result(), fg.result()
            differs = any(x.startswith("# jq 1.6 differs:") for x in c.comments)
            if c.fail:
                g_ok, j_same = rg[0] == 3, rj[0] == 3
                want = "a compile error"
            else:
                g_ok = rg[0] == 0 and rg[1] == c.outputs and not rg[3]
                j_same = rj[0] == 0 and rj[1] == c.outputs and not rj[3]
                want = " ".join(c.outputs) or "(no output)"
            if not g_ok:
                msg = f"expected: {want}\n    gojq: {describe(rg)}"
            elif j_same == differs:
                msg = (f"expected (jq 1.6 {'differs' if differs else 'agrees'}): {want}\n"
                       f"    jq 1.6: {describe(rj)}")
            else:
                continue
            bad += 1
            report("regressions.test", c, msg)
        summary.append(f"regressions.test: {len(cases)} cases, {len(cases) - bad} ok, "
                       f"{bad} mismatches")

    # ---- upstream jq-1.8.2.test vs skip.txt
    if "upstream" in parts:
        cases = parse_test_file(UPSTREAM)
        skip = {}
        for n, line in enumerate(SKIP.read_text(encoding="utf-8").split("\n"), 1):
            if not line.strip() or line.startswith("#"):
                continue
            num, _, reason = line.partition("\t")
            if not num.isdigit() or not reason.strip():
                print(f"error: {SKIP}:{n}: expected LINE<TAB>reason, got {line!r}", file=sys.stderr)
                return 2
            skip[int(num)] = reason.strip()
        by_line = {c.line: c for c in cases}
        bad = 0
        for num in sorted(skip):
            if num not in by_line:
                problems.append(f"skip.txt: line {num} is not the program line of a case")
                bad += 1
        jobs = [(c, pool.submit(run, "gojq", c.prog, "null" if c.fail else c.inp)) for c in cases]
        failing = 0
        for c, fg in jobs:
            passed, why = upstream_passes(c, fg.result())
            failing += not passed
            if passed and c.line in skip:
                bad += 1
                report("skip.txt", c, f"gojq passes this case but it is listed ({skip[c.line]})")
            elif not passed and c.line not in skip:
                bad += 1
                report("skip.txt", c, f"gojq fails this case ({why}) but it is not listed")
        summary.append(f"upstream/jq-1.8.2.test: {len(cases)} cases, gojq passes "
                       f"{len(cases) - failing}, skip.txt lists {len(skip)}, {bad} mismatches")

    pool.shutdown()
    if problems:
        print(f"{len(problems)} problem(s):")
        shown = problems if args.verbose else problems[:40]
        for p in shown:
            print(p)
        if len(shown) < len(problems):
            print(f"... and {len(problems) - len(shown)} more (use -v)")
        print()
    for s in summary:
        print(s)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

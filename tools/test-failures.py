#!/usr/bin/env python3
"""Print the tail of every failed test's output, from meson's testlog.json.

make check runs this when `meson test` fails, so the reason for a failure is
the last thing on the screen (and in a CI log that keeps only its tail).

With --rerun SUITE, failed tests of that suite run again until they pass:
at most --attempts times (default 2) after failures of their own, and at
most --fault-attempts times (default 4) after failures whose output has
the line the nested test host prints when its kernel failed
(NV-EMULATOR-FAULT, see tools/nested/README.md). That suite is `nested`:
real guests under a KVM nested in QEMU's software emulation, whose nested
SVM now and then double-faults or locks up L1's kernel. The exit status is
0 only if every failed test was of that suite and passed when run again;
each such test is named as flaky, with how its runs ended, and every
failure's output is printed above, so that it is never hidden.

usage: tools/test-failures.py BUILD-DIR [--rerun SUITE] [--attempts N]
                              [--fault-attempts N] [--lines N]
"""
import argparse
import json
import os
import subprocess
import sys

BAD = {"FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS"}
FAULT = "NV-EMULATOR-FAULT"


def output_of(r):
    return (r.get("stdout") or "") + (r.get("stderr") or "")


def is_fault(r):
    """The test failed because L1's kernel did (tests/integration/lib/nv-test.sh)."""
    return any(l.startswith(FAULT) for l in output_of(r).split("\n"))


def read_log(build, base):
    path = "%s/meson-logs/%s.json" % (build, base)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return [json.loads(l) for l in f if l.strip()]
    except (OSError, ValueError) as e:
        sys.exit("test-failures: cannot read %s: %s" % (path, e))


def suites_of(name):
    """'project:suite1+suite2 / test' -> ({'suite1', 'suite2'}, 'test')."""
    head, _, test = name.partition(" / ")
    return set(head.partition(":")[2].split("+")), test


def print_failures(failed, lines):
    for r in failed:
        out = output_of(r)
        tail = out.rstrip("\n").split("\n")[-lines:]
        print("=" * 72)
        print("%s: %s after %.1f s; the last %d lines of its output:"
              % (r.get("name"), r.get("result"), r.get("duration", 0), len(tail)))
        print("=" * 72)
        print("\n".join(tail))


def main():
    ap = argparse.ArgumentParser(usage=__doc__.strip().split("\n")[-1])
    ap.add_argument("build")
    ap.add_argument("legacy_lines", nargs="?", type=int)
    ap.add_argument("--rerun", metavar="SUITE")
    ap.add_argument("--lines", type=int, default=60)
    ap.add_argument("--attempts", type=int, default=2,
                    help="runs again at most after failures of the test (default 2)")
    ap.add_argument("--fault-attempts", type=int, default=4,
                    help="runs again at most after %s failures (default 4)" % FAULT)
    a = ap.parse_args()
    lines = a.legacy_lines or a.lines
    failed = [r for r in read_log(a.build, "testlog") if r.get("result") in BAD]
    print_failures(failed, lines)
    names = ", ".join(r.get("name", "?") for r in failed)
    if not failed:
        print("test-failures: meson test failed but no test did (setup or build error?)")
        return 1
    rerun = [r for r in failed if a.rerun and a.rerun in suites_of(r.get("name", ""))[0]]
    if not rerun or len(rerun) != len(failed):
        print("=" * 72)
        print("%d test(s) failed: %s" % (len(failed), names))
        print("full log: %s/meson-logs/testlog.txt" % a.build)
        return 1
    # test -> full name; how each run ended; reruns used of each kind
    left = {suites_of(r["name"])[1]: r["name"] for r in rerun}
    ends = {suites_of(r["name"])[1]: ["fault" if is_fault(r) else "fail"] for r in rerun}
    used = {t: {"fault": 0, "fail": 0} for t in left}
    budget = {"fault": a.fault_attempts, "fail": a.attempts}
    attempt = 0
    while True:
        tests = sorted(t for t in left if used[t][ends[t][-1]] < budget[ends[t][-1]])
        if not tests:
            break
        attempt += 1
        for t in tests:
            used[t][ends[t][-1]] += 1
        print("=" * 72)
        print("%d test(s) of suite %s failed (%s); running them again (round %d)"
              % (len(tests), a.rerun,
                 ", ".join("%s after %s" % (t, " ".join(ends[t])) for t in tests), attempt),
              flush=True)
        log = "%s/meson-logs/rerun.json" % a.build
        if os.path.exists(log):
            os.unlink(log)
        subprocess.call(["meson", "test", "-C", a.build, "--no-rebuild", "--print-errorlogs",
                         "--num-processes", "1", "--logbase", "rerun"] + tests)
        records = read_log(a.build, "rerun") if os.path.exists(log) else []
        print_failures([r for r in records if r.get("result") in BAD], lines)
        by_name = {r.get("name"): r for r in records}
        for t in tests:
            r = by_name.get(left[t])
            if r is not None and r.get("result") == "OK":
                ends[t].append("ok")
                del left[t]
            else:
                ends[t].append("fault" if r is not None and is_fault(r) else "fail")
    if left:
        print("=" * 72)
        print("failed every time: %s"
              % "; ".join("%s: %s" % (n, " ".join(ends[t])) for t, n in sorted(left.items())))
        print("full logs: %s/meson-logs/testlog.txt and rerun.txt" % a.build)
        return 1
    print("=" * 72)
    print("FLAKY (failed, then passed when run again; the failures are above): %s"
          % "; ".join("%s: %s" % (t, " ".join(e)) for t, e in sorted(ends.items())))
    print("(fault: L1's kernel failed under the emulator, %s; fail: any other failure)" % FAULT)
    return 0


if __name__ == "__main__":
    sys.exit(main())

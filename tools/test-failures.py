#!/usr/bin/env python3
"""Print the tail of every failed test's output, from meson's testlog.json.

make check runs this when `meson test` fails, so the reason for a failure is
the last thing on the screen (and in a CI log that keeps only its tail).

With --rerun SUITE, failed tests of that suite run again, at most
--attempts times (default 2) until they pass (the nested
suite: real guests under a KVM nested in QEMU's software emulation, whose
emulator stalls now and then on a loaded machine, see MACHINE-NOTES). The
exit status is 0 only if every failed test was of that suite and passed
when run again; each such test is named as flaky, every failure's
output printed above, so that it is never hidden.

usage: tools/test-failures.py BUILD-DIR [--rerun SUITE] [--attempts N] [--lines N]
"""
import argparse
import json
import os
import subprocess
import sys

BAD = {"FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS"}


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
        out = (r.get("stdout") or "") + (r.get("stderr") or "")
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
                    help="runs again at most (default 2)")
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
    left = {suites_of(r["name"])[1]: r["name"] for r in rerun}
    for attempt in range(1, a.attempts + 1):
        tests = sorted(left)
        print("=" * 72)
        print("%d test(s) of suite %s failed (%s); running them again (%d of at most %d)"
              % (len(tests), a.rerun, ", ".join(tests), attempt, a.attempts), flush=True)
        log = "%s/meson-logs/rerun.json" % a.build
        if os.path.exists(log):
            os.unlink(log)
        subprocess.call(["meson", "test", "-C", a.build, "--no-rebuild", "--print-errorlogs",
                         "--num-processes", "1", "--logbase", "rerun"] + tests)
        records = read_log(a.build, "rerun") if os.path.exists(log) else []
        ok = {r.get("name") for r in records if r.get("result") == "OK"}
        print_failures([r for r in records if r.get("result") in BAD], lines)
        left = {t: n for t, n in left.items() if n not in ok}
        if not left:
            break
    if left:
        print("=" * 72)
        print("failed every time: %s" % ", ".join(sorted(left.values())))
        print("full logs: %s/meson-logs/testlog.txt and rerun.txt" % a.build)
        return 1
    print("=" * 72)
    print("FLAKY (failed, then passed when run again; the failures are above): %s" % names)
    return 0


if __name__ == "__main__":
    sys.exit(main())

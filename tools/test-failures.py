#!/usr/bin/env python3
"""Print the tail of every failed test's output, from meson's testlog.json.

make check runs this when `meson test` fails, so the reason for a failure is
the last thing on the screen (and in a CI log that keeps only its tail).

usage: tools/test-failures.py BUILD-DIR [LINES]
"""
import json
import sys

BAD = {"FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS"}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip())
    lines = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    path = sys.argv[1] + "/meson-logs/testlog.json"
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            records = [json.loads(l) for l in f if l.strip()]
    except (OSError, ValueError) as e:
        sys.exit("test-failures: cannot read %s: %s" % (path, e))
    failed = [r for r in records if r.get("result") in BAD]
    for r in failed:
        out = (r.get("stdout") or "") + (r.get("stderr") or "")
        tail = out.rstrip("\n").split("\n")[-lines:]
        print("=" * 72)
        print("%s: %s after %.1f s; the last %d lines of its output:"
              % (r.get("name"), r.get("result"), r.get("duration", 0), len(tail)))
        print("=" * 72)
        print("\n".join(tail))
    if failed:
        print("=" * 72)
        print("%d test(s) failed: %s" % (len(failed), ", ".join(r.get("name", "?") for r in failed)))
        print("full log: %s/meson-logs/testlog.txt" % sys.argv[1])


if __name__ == "__main__":
    main()

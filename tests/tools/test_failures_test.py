#!/usr/bin/env python3
"""tools/test-failures.py against a fake `meson` that plays back a plan.

Each case writes meson-logs/testlog.json for a build directory with the
first run's failures, puts a `meson` on PATH that answers `meson test ...
--logbase rerun TESTS` with the next planned outcome of each test, and
checks test-failures.py's exit status, which reruns it asked for, and what
it printed.
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(HERE, "..", "..", "tools", "test-failures.py")

FAKE_MESON = r'''#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
build = args[args.index("-C") + 1]
tests = args[args.index("rerun") + 1:]
state = os.environ["FAKE_STATE"]
with open(state) as f:
    plan = json.load(f)
with open(os.environ["FAKE_CALLS"], "a") as f:
    f.write(" ".join(tests) + "\n")
out = []
for t in tests:
    end = plan[t].pop(0)
    rec = {"name": NAME % t, "result": "OK" if end == "ok" else "FAIL",
           "duration": 1.0, "stdout": OUT[end], "stderr": ""}
    out.append(rec)
with open(state, "w") as f:
    json.dump(plan, f)
with open(os.path.join(build, "meson-logs", "rerun.json"), "w") as f:
    for r in out:
        f.write(json.dumps(r) + "\n")
'''

NAME = "nicvisor:integration+nested / %s"
OUT = {
    "ok": "all good\n",
    "fail": "[t] FAIL: the guest did not answer\n",
    "fault": "[t] FAIL: timed out\nNV-EMULATOR-FAULT: L1 l1: [ 88.2] watchdog: BUG: soft lockup\n",
}


def run_case(name, first, plan, want_rc, want_calls, want_text=()):
    """first: {test: end} of the first run; plan: {test: [ends of reruns]}."""
    with tempfile.TemporaryDirectory() as tmp:
        build = os.path.join(tmp, "build")
        bindir = os.path.join(tmp, "bin")
        os.makedirs(os.path.join(build, "meson-logs"))
        os.makedirs(bindir)
        with open(os.path.join(build, "meson-logs", "testlog.json"), "w") as f:
            for t, end in first.items():
                suite = "unit" if t.startswith("unit-") else "integration+nested"
                f.write(json.dumps({"name": "nicvisor:%s / %s" % (suite, t),
                                    "result": "OK" if end == "ok" else "FAIL",
                                    "duration": 2.0, "stdout": OUT[end], "stderr": ""}) + "\n")
        meson = os.path.join(bindir, "meson")
        with open(meson, "w") as f:
            f.write(FAKE_MESON.replace("NAME % t", json.dumps(NAME) + " % t")
                    .replace("OUT[end]", json.dumps(OUT) + "[end]"))
        os.chmod(meson, 0o755)
        state = os.path.join(tmp, "plan.json")
        with open(state, "w") as f:
            json.dump(plan, f)
        calls = os.path.join(tmp, "calls")
        open(calls, "w").close()
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ["PATH"],
                   FAKE_STATE=state, FAKE_CALLS=calls)
        p = subprocess.run([sys.executable, TOOL, build, "--rerun", "nested"],
                           env=env, capture_output=True, text=True, timeout=60)
        with open(calls) as f:
            got_calls = [l.split() for l in f.read().splitlines()]
        with open(state) as f:
            left = json.load(f)
    errors = []
    if p.returncode != want_rc:
        errors.append("exit %d, want %d" % (p.returncode, want_rc))
    if got_calls != want_calls:
        errors.append("reruns %s, want %s" % (got_calls, want_calls))
    if any(left.values()):
        errors.append("planned outcomes not used: %s" % left)
    for text in want_text:
        if text not in p.stdout:
            errors.append("output lacks %r" % text)
    if errors:
        print("FAIL %s: %s\n--- output ---\n%s%s" % (name, "; ".join(errors), p.stdout, p.stderr))
        return False
    print("ok %s" % name)
    return True


def main():
    ok = True
    # Emulator faults get up to 4 reruns: passes on the third.
    ok &= run_case("faults-then-pass", {"nested-a": "fault"},
                   {"nested-a": ["fault", "fault", "ok"]}, 0,
                   [["nested-a"]] * 3, ["nested-a: fault fault fault ok"])
    # The test's own failures get 2 reruns only.
    ok &= run_case("fails-every-time", {"nested-a": "fail"},
                   {"nested-a": ["fail", "fail"]}, 1,
                   [["nested-a"]] * 2, ["failed every time", "fail fail fail"])
    # Five faults in a row: the first run and 4 reruns, then it gives up.
    ok &= run_case("faults-every-time", {"nested-a": "fault"},
                   {"nested-a": ["fault"] * 4}, 1, [["nested-a"]] * 4,
                   ["failed every time"])
    # The budgets are separate: a fault does not use up a failure's rerun.
    ok &= run_case("mixed", {"nested-a": "fail", "nested-b": "fault"},
                   {"nested-a": ["fault", "fail", "ok"], "nested-b": ["ok"]}, 0,
                   [["nested-a", "nested-b"], ["nested-a"], ["nested-a"]],
                   ["nested-a: fail fault fail ok", "nested-b: fault ok"])
    # A failure outside the suite is never run again.
    ok &= run_case("other-suite", {"nested-a": "fault", "unit-x": "fail"},
                   {"nested-a": []}, 1, [], ["2 test(s) failed"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

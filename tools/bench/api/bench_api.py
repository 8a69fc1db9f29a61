#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tools/bench/api: northbound API request latency, ours (nicvisor-dpu)
against ovsdb-server, in one run on the same machine.

The load is the same program for both (nv_api_load, tools/bench/api/
api_load.c): 16 client threads, each with one persistent connection (ours:
an nng req socket over ipc://, as every orchestrator and nicvisorctl
holds; ovsdb: a JSON-RPC stream over a unix socket, as ovs-vswitchd and
ovn-controller hold), sending one request at a time, 10 000 requests in
all, every request timed. The mix per client repeats ten requests: five
reads of one object by name, three lists, one durable create and one
durable delete of an object of its own:

  ours   GetNetwork, ListNetworks/ListVms/ListHosts, CreateNetwork,
         DeleteNetwork (--dataplane fake: no packet path; each change is
         in state.pb, written, fsynced and renamed, before the answer)
  peer   ovsdb-server (Open vSwitch's database server, the durable
         control-plane store of OVS and OVN) on a private database of a
         one-table schema (load.ovsschema, a Network of name and vlan):
         select by name, select all, insert and delete each committed
         with "durable": true (fdatasync before the answer)

Both servers keep their files in the same directory (--dir, default
/var/tmp), start fresh, get a warm-up load first, and run unpinned (ours is
multithreaded, ovsdb-server single-threaded: each as it ships). Rounds
alternate between them; each figure is the median over rounds of that
round's percentile. Ends with BENCH lines (api_p50_ms, api_p99_ms; ratio
peer/ours, since less is better) and writes them to docs/benchmarks.md
between the bench:api markers.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tools", "bench"))
import benchlib  # noqa: E402

log = benchlib.logger("bench-api")
FIGURES = ("p50_ms", "p99_ms", "read_p50_ms", "read_p99_ms", "write_p50_ms",
           "write_p99_ms", "rps", "cpu_ms_per_1k")


def wait_ready(proc, probe, what, secs=10):
    """Until probe() (a command) succeeds; proc must stay alive."""
    end = time.time() + secs
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        if subprocess.run(probe, capture_output=True, timeout=10).returncode == 0:
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not answering after {secs} s")


def cpu_ticks(pid):
    """utime + stime of every thread of pid, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def load(tool, kind, url, pid, args, prepare=False, requests=None):
    cmd = [tool, kind, url, "--clients", str(args.clients), "--requests",
           str(requests or args.requests)] + (["--prepare"] if prepare else [])
    c0 = cpu_ticks(pid)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    cpu = cpu_ticks(pid) - c0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: status {r.returncode}: {r.stderr.strip()}")
    fig = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", r.stdout)}
    fig["cpu_ms_per_1k"] = cpu * 1000 / (fig["done"] / 1000)
    return fig


class Ours:
    name = "ours"

    def __init__(self, build, d):
        self.dir = os.path.join(d, "ours")
        os.makedirs(self.dir)
        self.sock = os.path.join(self.dir, "api.sock")
        self.url = "ipc://" + self.sock
        self.log = open(os.path.join(self.dir, "agent.log"), "w")
        self.p = subprocess.Popen(
            [os.path.join(build, "dpu", "nicvisor-dpu"), "--api", self.url,
             "--events", "ipc://" + os.path.join(self.dir, "events.sock"),
             "--southbound", "ipc://" + os.path.join(self.dir, "south.sock"),
             "--state-dir", os.path.join(self.dir, "state"), "--dataplane", "fake",
             "--vhost-dir", os.path.join(self.dir, "vhost"), "--log-level", "warn"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_ready(self.p, [os.path.join(build, "tools", "nicvisorctl", "nicvisorctl"),
                            "--api", self.url, "hosts"], "nicvisor-dpu")
        self.kind = "nicvisor"
        self.prepare = True

    def version(self):
        return "nicvisor-dpu (this tree), --dataplane fake"

    def stop(self):
        stop(self.p)
        self.log.close()


class Ovsdb:
    name = "peer"

    def __init__(self, d):
        self.dir = os.path.join(d, "ovsdb")
        os.makedirs(self.dir)
        db = os.path.join(self.dir, "load.db")
        self.sock = os.path.join(self.dir, "db.sock")
        self.url = "unix:" + self.sock
        subprocess.run(["ovsdb-tool", "create", db, os.path.join(HERE, "load.ovsschema")],
                       check=True)
        self.log = open(os.path.join(self.dir, "ovsdb.out"), "w")
        self.p = subprocess.Popen(
            ["ovsdb-server", "--remote=punix:" + self.sock,
             "--unixctl=" + os.path.join(self.dir, "ctl.sock"), "--no-chdir",
             "--log-file=" + os.path.join(self.dir, "ovsdb.log"), db],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_ready(self.p, ["ovsdb-client", "list-dbs", self.url], "ovsdb-server")
        subprocess.run(["ovsdb-client", "transact", self.url,
                        '["Load",{"op":"insert","table":"Network","row":{"name":"load-net",'
                        '"vlan":999}},{"op":"commit","durable":true}]'],
                       check=True, capture_output=True, timeout=10)
        self.kind = "ovsdb"
        self.prepare = False

    def version(self):
        out = subprocess.run(["ovsdb-server", "--version"], capture_output=True, text=True)
        return out.stdout.splitlines()[0].strip()

    def stop(self):
        stop(self.p)
        self.log.close()


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def fs_type(path):
    out = subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True)
    return out.stdout.strip() or "?"


def run(args):
    tool = os.path.join(args.build, "tools", "bench", "nv_api_load")
    if not os.access(tool, os.X_OK):
        raise RuntimeError(f"{tool}: not built (ninja -C {args.build})")
    d = tempfile.mkdtemp(prefix="nv-bench-api.", dir=args.dir)
    servers = []
    try:
        servers.append(Ours(args.build, d))
        if shutil.which("ovsdb-server") and shutil.which("ovsdb-tool"):
            servers.append(Ovsdb(d))
        else:
            log("no ovsdb-server: peer figures skipped")
        res = {s.name: [] for s in servers}
        for s in servers:
            f = load(tool, s.kind, s.url, s.p.pid, args, prepare=s.prepare,
                     requests=args.warmup)
            log(f"{s.name} warm-up: p50 {f['p50_ms']:.2f} ms, p99 {f['p99_ms']:.2f} ms")
        for r in range(args.rounds):
            for s in (servers if r % 2 == 0 else servers[::-1]):
                f = load(tool, s.kind, s.url, s.p.pid, args)
                res[s.name].append(f)
                log(f"round {r} {s.name}: " + " ".join(f"{k}={f[k]:.3g}" for k in FIGURES))
        versions = {s.name: s.version() for s in servers}
        return res, versions, fs_type(d)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(d, ignore_errors=True)


def bench_lines(med):
    lines = []
    if "peer" not in med:
        return lines
    for fig, name in (("p50_ms", "api_p50_ms"), ("p99_ms", "api_p99_ms")):
        o, p = med["ours"][fig], med["peer"][fig]
        lines.append(f"BENCH {name} ours={o:.2f} peer={p:.2f} unit=ms "
                     f"ratio={p / o if o > 0 else 0:.2f}")
    return lines


def write_doc(lines, med, res, versions, fstype, args):
    load_avg = " ".join(open("/proc/loadavg").read().split()[:3])
    rows = []
    for label, fig, unit in (("all requests p50", "p50_ms", "ms"),
                             ("all requests p99", "p99_ms", "ms"),
                             ("reads and lists p50", "read_p50_ms", "ms"),
                             ("reads and lists p99", "read_p99_ms", "ms"),
                             ("durable writes p50", "write_p50_ms", "ms"),
                             ("durable writes p99", "write_p99_ms", "ms"),
                             ("requests per second (16 clients)", "rps", ""),
                             ("server CPU per 1000 requests", "cpu_ms_per_1k", "ms")):
        cells = []
        for who in ("ours", "peer"):
            v = med.get(who, {}).get(fig)
            cells.append("-" if v is None else (f"{v:.0f}" if fig == "rps" else f"{v:.2f}"))
        rows.append(f"| {label}{' (' + unit + ')' if unit else ''} | {cells[0]} | {cells[1]} |")
    per_round = "; ".join(f"{who}: " + " / ".join(f"{f['p50_ms']:.2f}/{f['p99_ms']:.2f}"
                                                    for f in fs)
                          for who, fs in res.items())
    body = [
        "## API: request latency under 16 concurrent clients (`tools/bench/api`)", "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on "
        f"{benchlib.cpu_model()} ({os.cpu_count()} CPUs), a shared development machine "
        f"(load average {load_avg} at the end; the benchmark itself ran at normal priority, "
        "other work beside it did not stop): compare ratios, not absolutes. "
        f"{args.clients} client threads, one persistent connection each, one request at a "
        f"time, {args.requests} requests per round after a {args.warmup}-request warm-up, "
        f"{args.rounds} rounds alternating between the servers, each figure the median of "
        "the rounds' percentiles. The same load program (nv_api_load) drives both. Both "
        f"servers keep their files on {fstype} in the same directory.", "",
        "The mix, per client, repeats ten requests: five reads of one object by name, "
        "three lists, one durable create and one durable delete of an object of its own. "
        f"Ours: {versions.get('ours', '-')}; GetNetwork, ListNetworks/ListVms/ListHosts, "
        "CreateNetwork/DeleteNetwork over nng req/rep on ipc://, each change written to "
        "state.pb, fsynced and renamed before the answer. Peer: "
        f"{versions.get('peer', 'ovsdb-server (absent)')}, the durable control-plane "
        "database of Open vSwitch and OVN, on a private one-table database "
        "(`tools/bench/api/load.ovsschema`): select by name, select all, insert and "
        "delete each with a `\"durable\": true` commit (fdatasync before the answer), "
        "JSON-RPC over a unix socket.", "",
        "Fairness: both are durable before they answer and both answer from memory for "
        "reads; both run as they ship, unpinned (ours answers on nng's worker threads "
        "under one agent lock, ovsdb-server is one thread), so \"server CPU\" (utime + "
        "stime of the server process over the round) is part of the picture. Ours does "
        "more per write (it rewrites its whole state file with two fsyncs; ovsdb appends a "
        "log record with one fdatasync), ovsdb more per read (JSON instead of protobuf). "
        "The 16 clients run on the same cores as the server, for both.", "",
        "| figure | ours | ovsdb-server |", "| --- | --- | --- |"] + rows + [
        "", f"- p50/p99 (ms) of each round: {per_round}", "",
        "```"] + lines + ["```", "",
        "Reproduce: `make bench-api`, or `tools/bench/api/bench_api.py --build build "
        f"--rounds {args.rounds}`.",
    ]
    benchlib.write_section("api", "tools/bench/api/bench_api.py", body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=10000)
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--dir", default="/var/tmp", help="where both servers keep their files")
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()
    if not (1 <= args.rounds <= 50 and 1 <= args.clients <= 64 and
            10 <= args.requests <= 10000000 and 10 <= args.warmup <= 10000000):
        ap.error("rounds 1..50, clients 1..64, requests and warmup 10 and more")
    if not os.path.isdir(args.dir):
        ap.error(f"--dir {args.dir}: not a directory")
    res, versions, fstype = run(args)
    med = {who: {k: statistics.median(f[k] for f in fs) for k in FIGURES}
           for who, fs in res.items()}
    lines = bench_lines(med)
    for ln in lines:
        print(ln)
    if not args.no_doc:
        write_doc(lines, med, res, versions, fstype, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

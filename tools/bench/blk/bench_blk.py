#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tools/bench/blk: vhost-user-blk backends, ours (the dataplane's switch
worker lcore serving the disks, in blk_testd) against qemu-storage-daemon's
vhost-user-blk export, in one run on the same machine, serving the same
files.

The load generator is a vhost-user-blk frontend itself: blk_driver (a
userspace virtio-blk driver, one split queue in shared memory as a guest
has) in its `rate ... secs=S` mode, spinning on the used ring, pinned to
CPU 0; the backend's serving thread is on CPU 1 (qsd: the whole process;
ours: the worker lcore, with the main lcore and the control threads on
CPU 0 as nicvisor-dpu keeps them off the workers' cores). Per backend, per
target, 4 KiB random reads and writes at queue depth 1 and 32: IOPS over a
window after warm-up, latency percentiles (post to used element, seen by
the generator), and the backend's CPU over that window, hence CPU per IO
and IOPS per backend core:
  qsd   utime + stime of all its threads (/proc/PID/stat); its iothread
        sleeps in the kernel when it has nothing to do
  ours  the worker's TSC cycles in rounds that did block work (the
        dataplane's own counter, dp_worker_stats, as the switch's
        per-core figures count its rounds that moved packets: a poll-mode
        core's idle polling is not work) plus the utime + stime of every
        other thread of the process (io_uring's io-wq workers, rte_vhost's
        thread, the housekeeping); the raw process CPU, a whole core
        because the worker spins, is in the table too

Targets (the same files for both backends):
  disk  a file on the file system of --dir (default /var/tmp), filled with
        random data; O_DIRECT on both sides (ours opens it O_DIRECT when
        the file system allows; qsd: cache.direct=on)
  ram   a file on /dev/shm (tmpfs): the backend's overhead alone, no device
        behind it (both buffered: qsd cache.direct=off through io_uring;
        ours by system calls in the worker, as it serves files in memory)

  ours  blk_testd --no-idle-sleep (the worker spins, as nicvisor-dpu
        without --dp-idle-sleep); one worker lcore, no switch ports
  qsd   qemu-storage-daemon, file driver with aio=io_uring, the exports in
        one iothread (its default adaptive polling, poll-max-ns 32768,
        unless --qsd-poll-max-ns)

The files are dropped from the page cache after filling (an O_DIRECT
write over cached pages ends in a kworker, not inline, which a volume
only ever written O_DIRECT does not see).

Ends with BENCH lines and writes them to docs/benchmarks.md between the
bench:blk markers. Needs root (DPDK), taskset; qemu-storage-daemon for
the peer figures (skipped with a note if absent).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "integration", "dataplane"))
sys.path.insert(0, os.path.join(SRC, "tools", "bench"))
from benchlib import write_section  # noqa: E402

GEN_CPU, BACKEND_CPU = 0, 1
WORKLOADS = [("randread", 1), ("randread", 32), ("randwrite", 1), ("randwrite", 32)]
TARGETS = ("disk", "ram")


def log(*a):
    print("[bench-blk]", *a, file=sys.stderr, flush=True)


def cpu_seconds(pid, tid=None):
    """utime + stime of every thread of pid (or of its thread tid), in
    seconds."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fill(path, mb):
    """A file of mb MiB of random data (no holes: reads hit real blocks)."""
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(mb):
            # cheap variation so blocks differ
            f.write(chunk[i % 4096:] + chunk[:i % 4096])
        f.flush()
        os.fsync(f.fileno())
        # out of the page cache: an O_DIRECT write over cached pages ends
        # in a kworker (invalidation) instead of inline, as a volume that
        # only O_DIRECT ever touched does not
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


class Ours:
    name = "ours"

    def __init__(self, dptest, build, files):
        testd = os.path.join(build, "tests", "integration", "blk", "blk_testd")
        if not os.path.exists(testd):
            raise SystemExit(f"{testd} is not built")
        Ours.count = getattr(Ours, "count", 0) + 1
        sockdir = os.path.join(dptest.TMP, f"ours{Ours.count}")
        os.makedirs(sockdir, exist_ok=True)
        prefix = f"nvbblk{os.getpid()}n{Ours.count}"
        dptest.at_cleanup(lambda: shutil.rmtree(f"/var/run/dpdk/{prefix}", ignore_errors=True))
        # the worker lcore (which serves the disks) on the backend's CPU;
        # the main lcore and the control threads (rte_vhost's, the
        # housekeeping) on the generator's, as nicvisor-dpu keeps them
        # off the workers' cores; their CPU time is charged to ours
        self.p = dptest.Proc(f"blk_testd{Ours.count}", [
            "taskset", "-c", f"{GEN_CPU},{BACKEND_CPU}", testd, "--vhost-dir", sockdir,
            "--prefix", prefix, "--cpus", f"{GEN_CPU},{BACKEND_CPU}", "--mem", "256",
            "--no-idle-sleep"])
        self.p.wait_for(r"^READY$", 60)
        self.pid = self.p.p.pid
        self.worker_tid = self.find_worker()
        self.socks = {}
        for t, path in files.items():
            m = self.p.mark()
            self.p.send(f"disk {t} {path} 1")
            r = self.p.wait_for(r"^(OK (\S+)|ERR.*)$", 30, m)
            if r.group(2) is None:
                raise SystemExit(f"blk_testd: {r.group(1)}")
            self.socks[t] = r.group(2)

    def find_worker(self):
        """The tid of the one switch worker lcore, which serves the disks."""
        tids = []
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            try:
                comm = open(f"/proc/{self.pid}/task/{tid}/comm").read().strip()
            except OSError:
                continue
            if re.match(r"(lcore-worker|dpdk-worker|rte-worker)", comm):
                tids.append(int(tid))
        if len(tids) != 1:
            raise SystemExit(f"expected one worker lcore in blk_testd, found {len(tids)}")
        return tids[0]

    def busy(self):
        """(block requests completed, seconds of the worker's rounds that
        did block work, CPU seconds of the worker thread), summed over the
        workers."""
        m = self.p.mark()
        self.p.send("workers")
        self.p.wait_for(r"^OK \d+$", 30, m)
        reqs = secs = 0
        for w in re.finditer(r"^WORKER .*blk_requests=(\d+) blk_busy_cycles=(\d+) "
                             r"tsc_hz=(\d+)", self.p.text(m), re.M):
            reqs += int(w.group(1))
            secs += int(w.group(2)) / int(w.group(3))
        return reqs, secs, cpu_seconds(self.pid, self.worker_tid)

    def stop(self):
        m = self.p.mark()
        self.p.send("quit")
        self.p.wait_for(r"^BYE$", 30, m)
        self.p.stop()


class Qsd:
    name = "qsd"
    iothread_opts = ""  # e.g. ",poll-max-ns=0" (--qsd-poll-max-ns)

    def __init__(self, dptest, build, files):
        Qsd.count = getattr(Qsd, "count", 0) + 1
        d = os.path.join(dptest.TMP, f"qsd{Qsd.count}")
        os.makedirs(d, exist_ok=True)
        argv = ["taskset", "-c", str(BACKEND_CPU), "qemu-storage-daemon",
                "--object", "iothread,id=io0" + Qsd.iothread_opts]
        self.socks = {}
        for t, path in files.items():
            direct = "on" if t == "disk" else "off"
            self.socks[t] = os.path.join(d, f"{t}.sock")
            argv += ["--blockdev", f"driver=file,node-name={t},filename={path},"
                     f"cache.direct={direct},aio=io_uring",
                     "--export", f"type=vhost-user-blk,id=e{t},node-name={t},"
                     f"addr.type=unix,addr.path={self.socks[t]},writable=on,num-queues=1,"
                     "iothread=io0"]
        self.p = dptest.Proc(f"qsd{Qsd.count}", argv)
        self.pid = self.p.p.pid
        end = time.monotonic() + 30
        while not all(os.path.exists(s) for s in self.socks.values()):
            if not self.p.alive() or time.monotonic() > end:
                self.p.dump()
                raise SystemExit("qemu-storage-daemon did not create its sockets")
            time.sleep(0.1)

    def busy(self):
        """qsd has no busy-cycle counter: its CPU time is the figure
        (its iothread sleeps in the kernel when it has nothing to do)."""
        return None

    def stop(self):
        self.p.stop()


def run_one(dptest, build, backend, sock, rw, qd, sectors, args):
    """One generator run; returns a dict of the figures."""
    drv = os.path.join(build, "tests", "integration", "blk", "blk_driver")
    g = dptest.Proc(f"gen-{backend.name}", [
        "taskset", "-c", str(GEN_CPU), drv, sock, "rate", "0", f"rw={rw}", f"qd={qd}",
        f"secs={args.window}", f"warm={args.warm}", f"sectors={sectors}"])
    stalled = None
    b0 = b1 = None
    try:
        w = g.wait_for(r"^(WINDOW|RATE timeout.*)$", args.warm + 30)
        c0 = cpu_seconds(backend.pid)
        b0 = backend.busy()
        r = g.wait_for(r"^RATE (n=.*|timeout.*)$", args.window + 30,
                       0 if w.group(1) != "WINDOW" else w.end())
        c1 = cpu_seconds(backend.pid)
        b1 = backend.busy()
        g.p.wait(30)
        if r.group(1).startswith("timeout"):
            stalled = r.group(0)
    finally:
        g.stop()
    if stalled is not None:
        # blk_driver gives up on a request after 5 s: a stall, recorded
        log(f"{backend.name} {rw} qd{qd}: {stalled} (a request took more than 5 s)")
        return {"iops": 0.0, "p50": STALL_US, "p99": STALL_US, "max": STALL_US,
                "cpu": (c1 - c0) / max(args.window, 1e-3), "us_per_io": float("inf"),
                "per_core": 0.0, "stalls": 1, "busy": 0.0, "busy_us_per_io": float("inf"),
                "proc_per_core": 0.0}
    kv = dict(f.split("=", 1) for f in r.group(1).split())
    if g.p.returncode != 0 or int(kv.get("errors", "1")) != 0:
        raise SystemExit(f"generator against {backend.name}: {r.group(0)} "
                         f"(exit {g.p.returncode})")
    n = int(kv["n"])
    secs = int(kv["ms"]) / 1000.0
    cpu = max(c1 - c0, 1.0 / os.sysconf("SC_CLK_TCK"))
    f = {"iops": float(kv["iops"]), "p50": float(kv["p50_us"]),
         "p99": float(kv["p99_us"]), "max": float(kv["max_us"]),
         "cpu": cpu / secs, "us_per_io": cpu * 1e6 / n, "per_core": n / cpu, "stalls": 0}
    if b0 is not None:
        # The CPU the block work took: the worker's rounds that did block
        # work (its idle polling excluded, as the switch's per-core
        # figures do) plus everything the process's other threads used
        # (io_uring's io-wq workers, rte_vhost's thread, ...); over the
        # backend's own count of requests in the same interval.
        reqs = b1[0] - b0[0]
        worker = b1[2] - b0[2]
        others = max((c1 - c0) - worker, 0.0)
        # TSC cycles are wall time: a round the kernel preempted counts
        # its wait too, so no more than the worker thread's CPU time
        busy = max(min(b1[1] - b0[1], worker) + others, 1e-6)
        f.update(busy=busy / secs, busy_us_per_io=busy * 1e6 / max(reqs, 1),
                 per_core=reqs / busy, proc_per_core=n / cpu)
    else:
        f.update(busy=f["cpu"], busy_us_per_io=f["us_per_io"], proc_per_core=n / cpu)
    return f


def run(args, dptest):
    sectors = args.size_mb * 2048
    files = {}
    for t in args.targets.split(","):
        base = args.dir if t == "disk" else "/dev/shm"
        path = os.path.join(base, f"nv-bench-blk.{os.getpid()}.{t}.img")
        dptest.at_cleanup(lambda p=path: os.path.exists(p) and os.unlink(p))
        log(f"filling {path} ({args.size_mb} MiB)")
        fill(path, args.size_mb)
        files[t] = path
    kinds = [Ours]
    notes = []
    if shutil.which("qemu-storage-daemon") and "qsd" in args.backends.split(","):
        kinds.append(Qsd)
    elif "qsd" in args.backends.split(","):
        notes.append("qemu-storage-daemon not installed (qemu-system-common): no peer figures")
    res = {}
    for rnd in range(args.rounds):
        for kind in kinds[rnd % len(kinds):] + kinds[:rnd % len(kinds)]:
            be = kind(dptest, args.build, files)
            try:
                for t in files:
                    for rw, qd in WORKLOADS:
                        f = run_one(dptest, args.build, be, be.socks[t], rw, qd, sectors, args)
                        res.setdefault((kind.name, t, rw, qd), []).append(f)
                        log(f"round {rnd + 1} {kind.name} {t} {rw} qd{qd}: "
                            f"{f['iops'] / 1e3:.1f} kIOPS p50 {f['p50']:.1f} us "
                            f"p99 {f['p99']:.1f} us, backend {f['cpu']:.2f} CPU, "
                            f"{f['us_per_io']:.2f} us CPU/IO; busy {f['busy']:.2f} core, "
                            f"{f['busy_us_per_io']:.2f} us/IO")
            finally:
                be.stop()
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in res.items()}
    return med, res, files, notes


def fs_type(path):
    out = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", path], stdout=subprocess.PIPE,
                         text=True, timeout=30)
    return out.stdout.strip() or "?"


HIST_TOP_US = 99999.0  # blk_driver's histogram ends at 100 ms
STALL_US = 5e6  # blk_driver gives up after 5 s


def us(v):
    """A latency for the table: beyond the histogram is "> 100000"."""
    return "> 100000" if v >= HIST_TOP_US else f"{v:.1f}"


def div(a, b):
    return a / b if b > 0 else float("inf")


def bench_lines(med):
    lines = []

    def get(be, t, rw, qd):
        return med.get((be, t, rw, qd))

    for t in TARGETS:
        sfx = "" if t == "disk" else "_ram"
        for rw in ("randread", "randwrite"):
            o, q = get("ours", t, rw, 32), get("qsd", t, rw, 32)
            if o and q:
                lines.append(f"BENCH {rw}_4k_qd32_per_core{sfx} ours={o['per_core'] / 1e3:.1f} "
                             f"peer={q['per_core'] / 1e3:.1f} unit=kIOPS/core "
                             f"ratio={div(o['per_core'], q['per_core']):.2f}")
                lines.append(f"BENCH {rw}_4k_qd32_iops{sfx} ours={o['iops'] / 1e3:.1f} "
                             f"peer={q['iops'] / 1e3:.1f} unit=kIOPS "
                             f"ratio={div(o['iops'], q['iops']):.2f}")
            o, q = get("ours", t, rw, 1), get("qsd", t, rw, 1)
            if o and q:
                lines.append(f"BENCH {rw}_4k_qd1_latency{sfx} ours={o['p50']:.1f} "
                             f"peer={q['p50']:.1f} unit=us_p50 "
                             f"ratio={div(q['p50'], o['p50']):.2f}")
                lines.append(f"BENCH {rw}_4k_qd1_latency_p99{sfx} ours={o['p99']:.1f} "
                             f"peer={q['p99']:.1f} unit=us_p99 "
                             f"ratio={div(q['p99'], o['p99']):.2f}")
    return lines


def table(med):
    rows = []
    for t in TARGETS:
        for rw, qd in WORKLOADS:
            for be in ("ours", "qsd"):
                f = med.get((be, t, rw, qd))
                if f:
                    rows.append(f"| {t} | {rw} | {qd} | {be} | {f['iops'] / 1e3:.1f} | "
                                f"{us(f['p50'])} | {us(f['p99'])} | {f['cpu']:.2f} | "
                                f"{f['busy']:.2f} | {f['busy_us_per_io']:.2f} | "
                                f"{f['per_core'] / 1e3:.1f} |")
    return rows


def write_doc(lines, rows, notes, args, files):
    disk_fs = fs_type(os.path.dirname(files["disk"])) if "disk" in files else "?"
    load = open("/proc/loadavg").read().split()[:3]
    body = ["## Block: vhost-user-blk backends (`tools/bench/blk`)", "",
            f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: the load "
            "generator (blk_driver, a userspace virtio-blk frontend spinning on one split "
            f"queue) on CPU {GEN_CPU}; the backend's serving thread on CPU {BACKEND_CPU} (qsd: "
            "the whole process; ours: the worker lcore, its main lcore and control threads "
            f"on CPU {GEN_CPU} as nicvisor-dpu keeps them off the workers' cores); 4 KiB "
            f"random I/O over {args.size_mb} MiB, {args.warm:g} s warm-up, {args.window:g} s "
            f"window, {args.rounds} round(s), each column the median of its rounds. Targets: "
            f"`disk` a file on {disk_fs} (O_DIRECT on both sides), `ram` a file on tmpfs (the "
            "backend's overhead alone; buffered: qsd through io_uring, ours by system calls in "
            "the worker, as it serves files in memory). Ours: blk_testd, the worker spinning (production "
            "setting); qsd: qemu-storage-daemon 7.2, file driver, aio=io_uring, one iothread"
            f"{Qsd.iothread_opts.replace(',', ', ') or ' (default adaptive polling)'}. "
            f"Shared 2-core development machine (load average {' '.join(load)} at the end): "
            "compare ratios, not absolutes.", "",
            "Backend CPU: qsd's is its process's utime + stime (its iothread sleeps when it "
            "has nothing to do). Ours is the worker's TSC cycles in rounds that did block work "
            "(the dataplane's own counter, as the switch's per-core figures count rounds that "
            "moved packets: a poll-mode core's idle polling is not work) plus the utime + "
            "stime of every other thread of the process (io-wq workers, rte_vhost, "
            "housekeeping). \"process CPUs\" is utime + stime of the whole process: ours "
            "spins, so it holds a core whatever it does.", "",
            "| target | workload | QD | backend | kIOPS | p50 us | p99 us | process CPUs "
            "| backend CPUs | CPU us/IO | kIOPS/core |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"] + rows + [""]
    body += [f"- {n}" for n in notes] + ([""] if notes else [])
    body += ["```"] + lines + ["```", "",
             "Reproduce (root; needs qemu-storage-daemon for the peer figures): "
             "`make bench-blk`, or `tools/bench/blk/bench_blk.py --build build "
             f"--rounds {args.rounds}`.",
             ]
    write_section("blk", "tools/bench/blk/bench_blk.py", body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warm", type=float, default=1.0)
    ap.add_argument("--window", type=float, default=4.0)
    ap.add_argument("--size-mb", type=int, default=256)
    ap.add_argument("--dir", default="/var/tmp", help="where the `disk` target's file goes")
    ap.add_argument("--targets", default="disk,ram")
    ap.add_argument("--backends", default="ours,qsd")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--workloads", default=",".join(f"{rw}:{qd}" for rw, qd in WORKLOADS),
                    help="e.g. randread:32,randwrite:1")
    ap.add_argument("--qsd-poll-max-ns", type=int, default=None,
                    help="qsd's iothread adaptive polling limit (default: qsd's own, 32768)")
    ap.add_argument("--smoke", action="store_true",
                    help="a short run that checks the figures are sane (the meson test)")
    args = ap.parse_args()
    if not (1 <= args.rounds <= 50 and 0 <= args.warm <= 60 and 0.2 <= args.window <= 600
            and 8 <= args.size_mb <= 65536):
        ap.error("rounds 1..50, warm 0..60 s, window 0.2..600 s, size-mb 8..65536")
    if not set(args.targets.split(",")) <= set(TARGETS) or not args.targets:
        ap.error("targets: disk,ram")
    if not set(args.backends.split(",")) <= {"ours", "qsd"}:
        ap.error("backends: ours,qsd")
    try:
        wl = [(w.split(":")[0], int(w.split(":")[1])) for w in args.workloads.split(",")]
    except (IndexError, ValueError):
        ap.error("workloads: RW:QD,... with RW randread or randwrite")
    if not wl or any(rw not in ("randread", "randwrite") or not 1 <= qd <= 64 for rw, qd in wl):
        ap.error("workloads: RW:QD,... with RW randread or randwrite, QD 1..64")
    WORKLOADS[:] = wl
    if args.qsd_poll_max_ns is not None:
        if args.qsd_poll_max_ns < 0:
            ap.error("--qsd-poll-max-ns: 0 or more")
        Qsd.iothread_opts = f",poll-max-ns={args.qsd_poll_max_ns}"
    if args.smoke:
        args.rounds, args.warm, args.window, args.size_mb, args.no_doc = 1, 0.2, 0.5, 16, True
    if os.geteuid() != 0 or shutil.which("taskset") is None or os.cpu_count() < 2:
        print("SKIP: bench-blk needs root, taskset and 2 CPUs")
        return 77
    os.environ["NV_BUILD"] = args.build
    import dptest

    med, res, files, notes = run(args, dptest)
    notes.append("kIOPS of each round (the machine is shared, hence the spread): " + "; ".join(
        f"{be} {t} {rw} qd{qd}: " + " / ".join(f"{r['iops'] / 1e3:.1f}" for r in v)
        for (be, t, rw, qd), v in sorted(res.items())))
    stalls = [f"{be} {t} {rw} qd{qd}: {max(r['max'] for r in v) / 1e3:.0f} ms"
              for (be, t, rw, qd), v in sorted(res.items()) if max(r['max'] for r in v) > 100e3]
    gaveup = [f"{be} {t} {rw} qd{qd}: {sum(r['stalls'] for r in v)} of {len(v)}"
              for (be, t, rw, qd), v in sorted(res.items()) if any(r['stalls'] for r in v)]
    if gaveup:
        notes.append("runs where the generator gave up on a request after 5 s (0 IOPS "
                     "recorded): " + "; ".join(gaveup))
    if stalls:
        notes.append("requests that took more than 100 ms (the longest, of all rounds; "
                     "latencies beyond 100 ms are shown as > 100000): " + "; ".join(stalls))
    lines = bench_lines(med)
    for ln in lines:
        print(ln)
    if args.smoke:
        for k, f in med.items():
            dptest.check(f["iops"] > 0 and 0 < f["p50"] <= f["p99"] and f["cpu"] > 0 and
                         0 < f["busy"] <= f["cpu"] + 0.05,
                         f"{k}: {f['iops']:.0f} IOPS, p50 {f['p50']} <= p99 {f['p99']} us, "
                         f"process CPU {f['cpu']:.2f}, backend CPU {f['busy']:.2f}")
        want = len(set(args.targets.split(","))) * len(WORKLOADS) * \
            (2 if shutil.which("qemu-storage-daemon") and "qsd" in args.backends else 1)
        dptest.check(len(med) == want, f"{want} measurements")
    if not args.no_doc:
        write_doc(lines, table(med), notes, args, files)
    return 0


if __name__ == "__main__":
    sys.exit(main())

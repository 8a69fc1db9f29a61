#!/usr/bin/env python3
"""tools/bench/boot: VMM overhead of booting, ours against QEMU, in one run.

The same purpose-built guest (tests/guests/marker.S: prints a marker line
on COM1, then writes the debug-exit port) boots on this machine's /dev/kvm
under `nicvisor-shim run` and under `qemu-system-x86_64 -M microvm`, runs
interleaved so both see the same machine. For each: wall time from starting
the VMM process to the marker on its console, and peak RSS (GNU time, in
separate runs so that it adds nothing to the timed ones). For ours the VM process also reports its own peak RSS and the
guest RAM resident at the end (mincore), whose difference is what the VMM
itself costs. Then the same guest through the full agent path: nicvisorctl
create --start against nicvisor-dpu and a nicvisor-shim daemon, to the
marker in the console stream.

On a machine with hardware virtualization (VMX/SVM) it also boots the
Debian guest (PVH vmlinux + initramfs) under both VMMs and reports the time
to its userspace marker; under PVM a stock kernel cannot boot, so that part
is skipped with a note.

Ends with one BENCH line per figure and writes them, with the command
lines, to docs/benchmarks.md (between the boot markers).
"""
import argparse
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

MARKER = b"NICVISOR-TINY-READY"
GUEST_MARKER = b"NICVISOR-GUEST-READY"
SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def peak_rss_kib(argv, timeout, env=None):
    """Peak RSS of argv in KiB, measured by GNU time. wait4() from this
    process would not do: a child forked from Python carries Python's RSS
    into its ru_maxrss until it execs."""
    with tempfile.NamedTemporaryFile(prefix="nv-bench-rss.") as out:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name] + argv,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=env, timeout=timeout)
        return int(open(out.name).read().split()[-1])


def timed_boot(argv, marker, timeout, env=None):
    """Start argv, return (ms to marker on stdout, stderr text, status)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    out = b""
    t_marker = None
    deadline = t0 + timeout
    fds = [p.stdout, p.stderr]
    err = b""
    while fds:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        ready, _, _ = select.select(fds, [], [], left)
        for f in ready:
            chunk = os.read(f.fileno(), 65536)
            if not chunk:
                fds.remove(f)
                continue
            if f is p.stdout:
                out += chunk
                if t_marker is None and marker in out:
                    t_marker = time.perf_counter()
            else:
                err += chunk
    if fds:  # timed out with output still open: end it
        p.kill()
    _, status = os.waitpid(p.pid, 0)  # reaps it: Popen must not poll before
    p.returncode = status
    if t_marker is None:
        raise RuntimeError("%s: no marker within %ss (status %d)\n%s\n%s" %
                           (argv[0], timeout, status, out.decode(errors="replace")[-2000:],
                            err.decode(errors="replace")[-2000:]))
    return (t_marker - t0) * 1000.0, err.decode(errors="replace"), status


def summary(xs):
    xs = sorted(xs)
    n = len(xs)
    return {"median": statistics.median(xs), "min": xs[0], "max": xs[-1],
            "p10": xs[max(0, int(n * 0.1))], "p90": xs[min(n - 1, int(n * 0.9))]}


def fmt(s, unit):
    return "median %.2f %s (min %.2f, p10 %.2f, p90 %.2f, max %.2f)" % (
        s["median"], unit, s["min"], s["p10"], s["p90"], s["max"])


def hw_virt():
    flags = open("/proc/cpuinfo").read()
    if re.search(r"\bvmx\b", flags):
        return "vmx"
    if re.search(r"\bsvm\b", flags):
        return "svm"
    return "pvm" if os.path.isdir("/sys/module/kvm_pvm") else "none"


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def agent_path(build, guest, runs, tmp):
    """CreateVm+StartVm to the marker through nicvisor-dpu and a shim daemon."""
    dpu = os.path.join(build, "dpu", "nicvisor-dpu")
    shim = os.path.join(build, "host-shim", "nicvisor-shim")
    ctl = os.path.join(build, "tools", "nicvisorctl", "nicvisorctl")
    env = dict(os.environ, NICVISOR_API="ipc://%s/api.sock" % tmp,
               NICVISOR_EVENTS="ipc://%s/events.sock" % tmp)
    south = "ipc://%s/host.sock" % tmp
    logs = [open(os.path.join(tmp, n + ".log"), "w") for n in ("agent", "shim")]
    agent = subprocess.Popen([dpu, "--api", env["NICVISOR_API"], "--events",
                              env["NICVISOR_EVENTS"], "--southbound", south, "--state-dir",
                              os.path.join(tmp, "state")], stdout=logs[0], stderr=logs[0])
    daemon = None
    times = []
    try:
        for _ in range(100):
            if os.path.exists(os.path.join(tmp, "host.sock")):
                break
            time.sleep(0.05)
        daemon = subprocess.Popen([shim, "--agent", south, "--host-id", "bench",
                                   "--debug-exit"], stdout=logs[1], stderr=logs[1])
        for _ in range(200):
            r = subprocess.run([ctl, "hosts"], env=env, capture_output=True, text=True)
            if re.search(r"^bench +yes", r.stdout, re.M):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("the shim daemon did not register")
        for i in range(runs + 1):  # the first one warms the image store
            name = "b%d" % i
            t0 = time.perf_counter()
            subprocess.run([ctl, "create", name, "--kernel", guest, "--memory", "64",
                            "--start"], env=env, check=True, capture_output=True)
            subprocess.run([ctl, "console", name, "--until", MARKER.decode(), "--timeout",
                            "10"], env=env, check=True, capture_output=True)
            t = (time.perf_counter() - t0) * 1000.0
            if i > 0:
                times.append(t)
            subprocess.run([ctl, "wait", name, "--state", "stopped", "--timeout", "10"],
                           env=env, check=True, capture_output=True)
            subprocess.run([ctl, "delete", name], env=env, check=True, capture_output=True)
    finally:
        for p in (daemon, agent):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for f in logs:
            f.close()
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    shim = os.path.join(build, "host-shim", "nicvisor-shim")
    guest = os.path.join(build, "tests", "guests", "marker.elf")
    qemu = shutil.which("qemu-system-x86_64")
    for f in (shim, guest):
        if not os.path.exists(f):
            sys.exit("bench-boot: %s missing: build first (make build)" % f)
    if qemu is None:
        sys.exit("bench-boot: qemu-system-x86_64 missing (tools/deps.sh installs it)")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        sys.exit("bench-boot: /dev/kvm is not usable")

    ours_cmd = [shim, "run", "--kernel", guest, "--debug-exit", "--memory", "64",
                "--until", MARKER.decode(), "--timeout", "10"]
    qemu_cmd = [qemu, "-M", "microvm", "-accel", "kvm", "-m", "64", "-nodefaults",
                "-nographic", "-serial", "stdio", "-no-reboot",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", guest]
    env = dict(os.environ, NV_LOG_LEVEL="info")
    ours_t, ours_rss, ours_vm_rss, ours_guest, qemu_t, qemu_rss = [], [], [], [], [], []
    log("bench-boot: %d runs each, interleaved, on %s (%s)" % (a.runs, cpu_model(), hw_virt()))
    for i in range(a.runs + 1):  # the first round warms caches and is not counted
        t, err, _ = timed_boot(ours_cmd, MARKER, 20, env)
        m = re.search(r"peak RSS (\d+) KiB, guest RAM resident (\d+) KiB", err)
        if m is None:
            raise RuntimeError("nicvisor-shim run did not report its RSS:\n" + err)
        qt, _, _ = timed_boot(qemu_cmd, MARKER, 20)
        if i == 0:
            continue
        rss = peak_rss_kib(ours_cmd, 20, env)
        qrss = peak_rss_kib(qemu_cmd, 20)
        ours_t.append(t)
        ours_rss.append(rss / 1024.0)
        ours_vm_rss.append(int(m.group(1)) / 1024.0)
        ours_guest.append(int(m.group(2)) / 1024.0)
        qemu_t.append(qt)
        qemu_rss.append(qrss / 1024.0)
    overhead = [v - g for v, g in zip(ours_vm_rss, ours_guest)]
    with tempfile.TemporaryDirectory(prefix="nv-bench-boot.") as tmp:
        agent_t = agent_path(build, guest, a.runs, tmp)

    st = {k: summary(v) for k, v in (("ours", ours_t), ("qemu", qemu_t), ("agent", agent_t),
                                       ("ours_rss", ours_rss), ("vm_rss", ours_vm_rss),
                                       ("guest", ours_guest), ("overhead", overhead),
                                       ("qemu_rss", qemu_rss))}
    log("nicvisor-shim run, to marker:   " + fmt(st["ours"], "ms"))
    log("qemu microvm, to marker:        " + fmt(st["qemu"], "ms"))
    log("agent path (create+start):      " + fmt(st["agent"], "ms"))
    log("VM process peak RSS:            " + fmt(st["vm_rss"], "MiB"))
    log("  of which guest RAM resident:  " + fmt(st["guest"], "MiB"))
    log("  VMM overhead:                 " + fmt(st["overhead"], "MiB"))
    log("peak RSS, nicvisor-shim run:    " + fmt(st["ours_rss"], "MiB"))
    log("peak RSS, qemu:                 " + fmt(st["qemu_rss"], "MiB"))

    ours_m, qemu_m, agent_m = st["ours"]["median"], st["qemu"]["median"], st["agent"]["median"]
    ovh_m, qrss_m = st["overhead"]["median"], st["qemu_rss"]["median"]
    lines = [
        "BENCH boot_marker ours=%.2f peer=%.2f unit=ms ratio=%.2f" % (ours_m, qemu_m,
                                                                     qemu_m / ours_m),
        "BENCH boot_marker_agent_path ours=%.2f peer=%.2f unit=ms ratio=%.2f" % (
            agent_m, qemu_m, qemu_m / agent_m),
        "BENCH shim_rss_overhead ours=%.2f peer=%.2f unit=MiB ratio=%.2f" % (
            ovh_m, qrss_m, qrss_m / ovh_m),
    ]
    debian = []
    if hw_virt() in ("vmx", "svm"):
        images = os.path.join(build, "images")
        cmdline = ("console=ttyS0 quiet panic=-1 cryptomgr.notests mitigations=off pci=off "
                   "nv.poweroff")
        kern = os.path.join(images, "vmlinux")
        initrd = os.path.join(images, "initramfs.cpio.gz")
        dour, dq = [], []
        for i in range(min(a.runs, 10) + 1):
            t, _, _ = timed_boot([shim, "run", "--kernel", kern, "--initrd", initrd,
                                     "--cmdline", cmdline, "--vcpus", "2", "--memory", "256",
                                     "--until", GUEST_MARKER.decode(), "--timeout", "60"],
                                    GUEST_MARKER, 90)
            q, _, _ = timed_boot([qemu, "-M", "microvm", "-accel", "kvm", "-cpu", "host",
                                     "-smp", "2", "-m", "256", "-nodefaults", "-nographic",
                                     "-serial", "stdio", "-no-reboot", "-kernel", kern,
                                     "-initrd", initrd, "-append", cmdline],
                                    GUEST_MARKER, 90)
            if i > 0:
                dour.append(t)
                dq.append(q)
        d_o, d_q = summary(dour)["median"], summary(dq)["median"]
        debian.append("BENCH boot_debian_userspace ours=%.2f peer=%.2f unit=ms ratio=%.2f" %
                      (d_o, d_q, d_q / d_o))
    else:
        log("Debian guest: skipped; this machine's KVM is %s, which cannot boot a stock "
            "kernel (see tools/nested for function tests)" % hw_virt())
    lines += debian
    log("targets: time to marker <= 1/3 of QEMU's: %s; VMM RSS overhead <= 4 MiB: %s" % (
        "met" if qemu_m / ours_m >= 3 else "NOT met", "met" if ovh_m <= 4 else "NOT met"))
    for line in lines:
        print(line)

    if not a.no_write:
        write_doc(a, st, lines, ours_cmd, qemu_cmd)


def write_doc(a, st, lines, ours_cmd, qemu_cmd):
    def rel(argv):
        return " ".join(x.replace(SRC + "/", "") for x in argv)

    body = ["<!-- bench:boot:begin (written by tools/bench/boot/bench_boot.py) -->",
            "## Boot: VMM overhead (`tools/bench/boot`)", "",
            "Measured %s on %s, KVM kind `%s`, %d runs each, interleaved; first round "
            "not counted." % (time.strftime("%Y-%m-%d"), cpu_model(), hw_virt(), a.runs), "",
            "| figure | ours | QEMU microvm |", "| --- | --- | --- |",
            "| time to marker, median (p10..p90) | %.2f ms (%.2f..%.2f) | %.2f ms (%.2f..%.2f) |"
            % (st["ours"]["median"], st["ours"]["p10"], st["ours"]["p90"],
               st["qemu"]["median"], st["qemu"]["p10"], st["qemu"]["p90"]),
            "| time to marker through the agent (CreateVm+StartVm) | %.2f ms (%.2f..%.2f) | - |"
            % (st["agent"]["median"], st["agent"]["p10"], st["agent"]["p90"]),
            "| peak RSS of the process running the guest | %.2f MiB | %.2f MiB |"
            % (st["vm_rss"]["median"], st["qemu_rss"]["median"]),
            "| of which guest RAM resident (mincore) | %.2f MiB | - |" % st["guest"]["median"],
            "| VMM overhead (peak RSS minus guest RAM) | %.2f MiB | - |"
            % st["overhead"]["median"], "",
            "```", *lines, "```", "",
            "Commands (one round):", "", "```",
            rel(ours_cmd), rel(qemu_cmd),
            "nicvisorctl create bN --kernel build/tests/guests/marker.elf --memory 64 --start"
            " && nicvisorctl console bN --until NICVISOR-TINY-READY",
            "```", "", "Reproduce: `make bench-boot` (or `tools/bench/boot/bench_boot.py "
            "--build build`).", "<!-- bench:boot:end -->"]
    path = os.path.join(SRC, "docs", "benchmarks.md")
    text = open(path).read() if os.path.exists(path) else "# nicvisor benchmarks\n"
    block = "\n".join(body) + "\n"
    m = re.search(r"<!-- bench:boot:begin.*?<!-- bench:boot:end -->\n", text, re.S)
    text = text[:m.start()] + block + text[m.end():] if m else text.rstrip("\n") + "\n\n" + block
    open(path, "w").write(text)
    log("bench-boot: wrote %s" % path)


if __name__ == "__main__":
    main()

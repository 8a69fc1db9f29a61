#!/usr/bin/env python3
"""The amd64 packages installed in a clean Debian root, programs started as
their systemd units start them.

tools/pkg/build-deb.sh packages the build; debootstrap (minbase, from the
Debian mirror apt uses, plus the libraries the packages depend on) makes a
root once and keeps it as a tarball in <build>/pkg-root; each run unpacks a
fresh copy, installs the .debs with `chroot ROOT dpkg -i`, then starts
nicvisor-dpu and nicvisor-shim with the argv their units' ExecStart lines
give after EnvironmentFile expansion (as systemd does: ${VAR} is one word,
$VAR splits on whitespace), creates RuntimeDirectory and StateDirectory,
and checks that nicvisorctl reaches the agent, the shim registers as a host,
a volume lands in the state directory, and both stop cleanly on SIGTERM.
The hugepage unit is checked but never started: it would change this
machine's hugepage reservation.

Exit 77 (skip) only for what is outside the project: not root, no
debootstrap or chroot, no Debian mirror.

Usage: install_test.py SOURCE_DIR BUILD_DIR
"""
import glob
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SUITE = "bookworm"


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def fail(why):
    print(f"FAIL: {why}")
    sys.exit(1)


def run(cmd, **kw):
    print("+", " ".join(shlex.quote(c) for c in cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def debian_mirror():
    """The Debian archive apt on this machine uses (deb.debian.org if none)."""
    for f in ["/etc/apt/sources.list"] + glob.glob("/etc/apt/sources.list.d/*"):
        try:
            text = open(f).read()
        except OSError:
            continue
        for m in re.finditer(r"(?:^deb\s+(?:\[[^]]*\]\s+)?|^URIs:\s*)(\S+)", text, re.M):
            url = m.group(1).rstrip("/")
            if url.endswith("/debian"):
                return url
    return "http://deb.debian.org/debian"


def deb_field(deb, field):
    return subprocess.run(["dpkg-deb", "-f", deb, field], check=True,
                          capture_output=True, text=True).stdout.strip()


def depends_names(debs):
    names = set()
    for d in debs:
        for alt in deb_field(d, "Depends").split(","):
            name = alt.split("|")[0].strip().split(" ")[0]
            if name:
                names.add(name)
    return sorted(names)


def base_root(cache, includes):
    """A tarball of a minbase root with includes installed, made once."""
    key = hashlib.sha256(" ".join([SUITE] + includes).encode()).hexdigest()[:16]
    tar = os.path.join(cache, f"base-{SUITE}-{key}.tar")
    if os.path.exists(tar):
        return tar
    os.makedirs(os.path.join(cache, "debs"), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="nv-pkg-base-", dir=cache)
    try:
        mirror = debian_mirror()
        r = subprocess.run(["debootstrap", "--variant=minbase",
                            "--cache-dir=" + os.path.join(cache, "debs"),
                            "--include=" + ",".join(includes), SUITE, tmp, mirror],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout[-3000:], r.stderr[-3000:])
            if re.search(r"Failed getting release file|Couldn't download|Temporary failure",
                         r.stdout + r.stderr):
                skip(f"debootstrap cannot reach the Debian mirror {mirror}")
            fail("debootstrap failed")
        run(["tar", "-C", tmp, "-cf", tar + ".part", "."])
        os.rename(tar + ".part", tar)
        for old in glob.glob(os.path.join(cache, "base-*.tar")):
            if old != tar:
                os.unlink(old)  # made for other dependencies
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", tmp])
    return tar


def unit_service(path):
    """The [Service] keys of a unit file (the last value of each)."""
    keys, section = {}, None
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line:
            k, v = line.split("=", 1)
            keys[k.strip()] = v.strip()
    return keys


def env_file(path):
    env = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            k, v = line.split("=", 1)
            env[k] = v
    return env


def expand_exec(line, env):
    """systemd's ExecStart expansion: ${VAR} one word, $VAR split on spaces."""
    argv = []
    for word in line.split():
        m = re.fullmatch(r"\$\{(\w+)\}", word)
        if m:
            argv.append(env.get(m.group(1), ""))
            continue
        m = re.fullmatch(r"\$(\w+)", word)
        if m:
            argv += env.get(m.group(1), "").split()
            continue
        argv.append(re.sub(r"\$\{(\w+)\}", lambda v: env.get(v.group(1), ""), word))
    return argv


class Root:
    def __init__(self, path):
        self.path = path
        self.mounts = []
        self.procs = []

    def mount_kernel_fs(self):
        """/proc, and /sys read-only (DPDK's EAL reads the CPUs there)."""
        for fs, opts in (("proc", []), ("sysfs", ["-o", "ro"])):
            p = os.path.join(self.path, "proc" if fs == "proc" else "sys")
            run(["mount", "-t", fs] + opts + [fs, p])
            self.mounts.append(p)

    def chroot(self, argv, env=None, **kw):
        e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        e.update(env or {})
        return subprocess.run(["chroot", self.path] + argv, env=e, capture_output=True,
                              text=True, **kw)

    def start_unit(self, name):
        """Start a service as its unit says; returns the Popen."""
        svc = unit_service(os.path.join(self.path, "lib/systemd/system", name))
        env = env_file(os.path.join(self.path, svc["EnvironmentFile"].lstrip("-/")))
        for key, base in (("RuntimeDirectory", "run"), ("StateDirectory", "var/lib")):
            if key in svc:
                os.makedirs(os.path.join(self.path, base, svc[key]), mode=0o755, exist_ok=True)
        argv = expand_exec(svc["ExecStart"], env)
        print(f"{name}: ExecStart -> {argv}", flush=True)
        e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        e.update(env)
        p = subprocess.Popen(["chroot", self.path] + argv, env=e)
        self.procs.append(p)
        return p

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", m])
        subprocess.run(["rm", "-rf", "--one-file-system", self.path])


def wait_for(what, check, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = check()
        if r:
            return r
        time.sleep(0.2)
    fail(f"timed out waiting for {what}")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    src, build = sys.argv[1], os.path.abspath(sys.argv[2])
    if os.geteuid() != 0:
        skip("needs root (chroot, mount, dpkg in a root)")
    for tool in ("debootstrap", "chroot", "dpkg-deb", "dpkg-shlibdeps"):
        if shutil.which(tool) is None:
            skip(f"{tool} is missing (run tools/deps.sh pkg)")

    cache = os.path.join(build, "pkg-root")
    os.makedirs(cache, exist_ok=True)
    debdir = tempfile.mkdtemp(prefix="nv-debs-", dir=cache)
    root = Root(tempfile.mkdtemp(prefix="nv-root-", dir=cache))
    try:
        out = run([os.path.join(src, "tools/pkg/build-deb.sh"), build, debdir],
                  capture_output=True, text=True).stdout.split()
        debs = sorted(d for d in out if d.endswith("_amd64.deb"))
        if [os.path.basename(d).split("_")[0] for d in debs] != \
                ["nicvisor-dpu", "nicvisor-shim", "nicvisorctl"]:
            fail(f"build-deb.sh wrote {out}")

        tar = base_root(cache, depends_names(debs))
        run(["tar", "-C", root.path, "-xf", tar])
        for d in debs:
            shutil.copy(d, os.path.join(root.path, "tmp"))
        r = root.chroot(["dpkg", "-i"] + ["/tmp/" + os.path.basename(d) for d in debs])
        print(r.stdout, r.stderr)
        if r.returncode != 0:
            fail("dpkg -i of the packages failed in the clean root")
        for pkg in ("nicvisor-dpu", "nicvisor-shim", "nicvisorctl"):
            st = root.chroot(["dpkg-query", "-W", "-f=${Status}", pkg]).stdout
            if st != "install ok installed":
                fail(f"{pkg}: status {st!r}")
        for f in ("etc/nicvisor/dpu.conf", "etc/nicvisor/shim.conf",
                  "etc/nicvisor/hugepages.conf", "lib/systemd/system/nicvisor-dpu.service",
                  "lib/systemd/system/nicvisor-shim.service",
                  "lib/systemd/system/nicvisor-hugepages.service"):
            if not os.path.isfile(os.path.join(root.path, f)):
                fail(f"/{f} not installed")
        conffiles = root.chroot(["dpkg-query", "-W", "-f=${Conffiles}", "nicvisor-dpu"]).stdout
        if "/etc/nicvisor/dpu.conf" not in conffiles:
            fail("/etc/nicvisor/dpu.conf is not a conffile")
        huge = unit_service(os.path.join(root.path,
                                         "lib/systemd/system/nicvisor-hugepages.service"))
        if "nr_hugepages" not in huge["ExecStart"] or \
                "NICVISOR_HUGEPAGES_2M" not in env_file(
                    os.path.join(root.path, "etc/nicvisor/hugepages.conf")):
            fail("nicvisor-hugepages.service does not set nr_hugepages from hugepages.conf")
        # A profile (tools/pkg/profiles/<name>/) replaces the installed
        # conf files whole: it must set every variable the units expand.
        for prof in sorted(glob.glob(os.path.join(src, "tools/pkg/profiles/*/*.conf"))):
            installed = env_file(os.path.join(root.path, "etc/nicvisor", os.path.basename(prof)))
            missing = set(installed) - set(env_file(prof))
            if missing:
                fail(f"{prof} lacks {sorted(missing)}")
        for prog in ("nicvisor-dpu", "nicvisorctl"):
            r = root.chroot([prog, "--version"])
            if r.returncode != 0:
                fail(f"{prog} --version: {r.stdout}{r.stderr}")

        root.mount_kernel_fs()
        dpu = root.start_unit("nicvisor-dpu.service")
        ctl_env = env_file(os.path.join(root.path, "etc/nicvisor/dpu.conf"))

        def ctl(*args):
            return root.chroot(["nicvisorctl", "--api", ctl_env["NICVISOR_DPU_API"],
                                "--json"] + list(args), timeout=30)

        wait_for("the agent's API", lambda: dpu.poll() is None and ctl("list").returncode == 0)
        if json.loads(ctl("list").stdout).get("vms"):
            fail("a fresh agent lists VMs")
        shim = root.start_unit("nicvisor-shim.service")

        def hosts():
            r = ctl("hosts")
            return r.returncode == 0 and json.loads(r.stdout).get("hosts")
        print("hosts:", wait_for("the shim to register as a host", hosts), flush=True)
        # The first network starts the DPDK dataplane (no hugepages here):
        # its drivers must have come with the package's dependencies.
        r = ctl("network", "create", "pkgnet")
        if r.returncode != 0:
            fail(f"network create (the dataplane starting): {r.stdout}{r.stderr}")
        r = ctl("volume", "create", "pkgtest", "--size", "1M")
        if r.returncode != 0:
            fail(f"volume create: {r.stdout}{r.stderr}")
        state = os.path.join(root.path, ctl_env["NICVISOR_DPU_STATE_DIR"].lstrip("/"))
        if not glob.glob(os.path.join(state, "volumes", "*")):
            fail(f"no volume file under {ctl_env['NICVISOR_DPU_STATE_DIR']}/volumes")

        for name, p in (("nicvisor-shim", shim), ("nicvisor-dpu", dpu)):
            if p.poll() is not None:
                fail(f"{name} exited early with {p.returncode}")
            p.send_signal(signal.SIGTERM)
            try:
                rc = p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                fail(f"{name} did not stop on SIGTERM")
            if rc != 0:
                fail(f"{name} exited with {rc} on SIGTERM")
        print("ok: packages installed in a clean root; agent, shim and nicvisorctl work")
        return 0
    finally:
        root.cleanup()
        shutil.rmtree(debdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

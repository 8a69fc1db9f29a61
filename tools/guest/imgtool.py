#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Small image helpers for the guest and nested-host builders.

  imgtool.py vmlinux BZIMAGE OUT [--no-trim]
      Extract the uncompressed kernel ELF from an x86 bzImage: the setup
      header (Documentation/x86/boot.rst) gives payload_offset and
      payload_length of the compressed vmlinux inside the protected-mode
      part; decompress it (xz, gzip or zstd) and check that it is an ELF
      with a Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY, type 18).
      Unless --no-trim, the zero tails of its segments are left to the
      loader (p_filesz < p_memsz) and the section headers dropped.

  imgtool.py pvh-entry ELF
      Print the PVH entry address of an ELF, exit 1 if it has none.

  imgtool.py is-static FILE
      Exit 0 if FILE is an ELF without a program interpreter.

  imgtool.py moddeps MODROOT MODULE...
      Print the .ko paths (relative to MODROOT, the lib/modules/<version>
      directory holding modules.dep) to insert for MODULEs, dependencies
      first, each once, in the order modprobe would load them.

  imgtool.py cpio OUT DIR [--node PATH:c|b:MAJOR:MINOR:MODE]... [--gzip]
      Write a newc cpio of DIR's contents with every entry owned by root
      and every mtime 0 (reproducible, no root needed), plus device nodes
      given with --node (e.g. /dev/console:c:5:1:600). --gzip compresses.
"""

import gzip
import lzma
import os
import shutil
import stat
import struct
import subprocess
import sys


def die(msg):
    sys.stderr.write("imgtool: %s\n" % msg)
    sys.exit(1)


# ---------------------------------------------------------------- vmlinux

def bzimage_payload(data):
    # Documentation/x86/boot.rst: "HdrS" at 0x202, setup_sects at 0x1f1,
    # payload_offset/payload_length at 0x248/0x24c (protocol >= 2.08),
    # relative to the start of the protected-mode code.
    if len(data) < 0x250 or data[0x202:0x206] != b"HdrS":
        die("not a bzImage (no HdrS signature)")
    version = struct.unpack_from("<H", data, 0x206)[0]
    if version < 0x208:
        die("boot protocol %#x has no payload fields" % version)
    setup_sects = data[0x1F1] or 4
    pm_start = (setup_sects + 1) * 512
    off, length = struct.unpack_from("<II", data, 0x248)
    start = pm_start + off
    if start + length > len(data):
        die("payload runs past the end of the file")
    return data[start:start + length]


def decompress(payload):
    if payload.startswith(b"\xfd7zXZ\x00"):
        # The payload is an xz stream followed by the 4-byte uncompressed
        # size (scripts/Makefile.lib size_append); ignore what follows.
        d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        return d.decompress(payload)
    if payload.startswith(b"\x1f\x8b"):
        d = gzip.zlib.decompressobj(16 + gzip.zlib.MAX_WBITS)
        return d.decompress(payload)
    if payload.startswith(b"\x28\xb5\x2f\xfd"):
        if shutil.which("zstd") is None:
            die("zstd payload but no zstd program")
        p = subprocess.run(["zstd", "-dc"], input=payload,
                           stdout=subprocess.PIPE, check=True)
        return p.stdout
    die("unknown payload compression (magic %s)" % payload[:6].hex())
    return b""


def elf_notes(data):
    """Yield (name, type, desc) of every note in PT_NOTE segments."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        die("payload is not a little-endian ELF64")
    e_phoff = struct.unpack_from("<Q", data, 0x20)[0]
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(e_phnum):
        p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, e_phoff + i * e_phentsize)
        if p_type != 4:  # PT_NOTE
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            pos += 12
            name = data[pos:pos + namesz].rstrip(b"\0")
            pos += (namesz + 3) & ~3
            desc = data[pos:pos + descsz]
            pos += (descsz + 3) & ~3
            yield name, ntype, desc


def pvh_entry(data):
    for name, ntype, desc in elf_notes(data):
        if name == b"Xen" and ntype == 18:  # XEN_ELFNOTE_PHYS32_ENTRY
            return struct.unpack("<I", desc[:4])[0] if len(desc) == 4 \
                else struct.unpack("<Q", desc[:8])[0]
    return None


def trim_elf(elf):
    """Drop the zeros that end each PT_LOAD's file image (p_filesz shrinks,
    p_memsz stays, so an ELF loader zero-fills them: the same memory) and
    everything after the last segment (the section headers and the
    relocations the decompressor appends). Debian's kernel carries its .bss
    and .brk as file data: this cuts about 25 of its 65 MB."""
    elf = bytearray(elf)
    e_phoff = struct.unpack_from("<Q", elf, 0x20)[0]
    e_phentsize, e_phnum = struct.unpack_from("<HH", elf, 0x36)
    end = e_phoff + e_phentsize * e_phnum
    for i in range(e_phnum):
        ph = e_phoff + i * e_phentsize
        p_type, _flags, p_offset, _va, _pa, p_filesz = struct.unpack_from(
            "<IIQQQQ", elf, ph)
        if p_type == 1:  # PT_LOAD
            used = len(bytes(elf[p_offset:p_offset + p_filesz]).rstrip(b"\0"))
            p_filesz = (used + 7) & ~7
            struct.pack_into("<Q", elf, ph + 0x20, p_filesz)
        end = max(end, p_offset + p_filesz)
    # No section headers any more: e_shoff, e_shnum, e_shstrndx = 0.
    struct.pack_into("<Q", elf, 0x28, 0)
    struct.pack_into("<HH", elf, 0x3C, 0, 0)
    return bytes(elf[:end])


def cmd_vmlinux(args):
    trim = "--no-trim" not in args
    args = [a for a in args if a != "--no-trim"]
    if len(args) != 2:
        die("usage: vmlinux BZIMAGE OUT [--no-trim]")
    with open(args[0], "rb") as f:
        data = f.read()
    elf = decompress(bzimage_payload(data))
    if trim:
        elf = trim_elf(elf)
    entry = pvh_entry(elf)
    if entry is None:
        die("%s: decompressed kernel has no PVH note (type 18)" % args[0])
    tmp = args[1] + ".tmp"
    with open(tmp, "wb") as f:
        f.write(elf)
    os.replace(tmp, args[1])
    print("vmlinux: %d bytes, PVH entry %#x" % (len(elf), entry))


def cmd_is_static(args):
    with open(args[0], "rb") as f:
        data = f.read(1 << 16)
    if data[:4] != b"\x7fELF":
        sys.exit(1)
    e_phoff = struct.unpack_from("<Q", data, 0x20)[0]
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(e_phnum):
        if struct.unpack_from("<I", data, e_phoff + i * e_phentsize)[0] == 3:
            sys.exit(1)  # PT_INTERP: dynamically linked


def cmd_pvh_entry(args):
    with open(args[0], "rb") as f:
        entry = pvh_entry(f.read())
    if entry is None:
        sys.exit(1)
    print("%#x" % entry)


# ---------------------------------------------------------------- modules

def cmd_moddeps(args):
    if len(args) < 2:
        die("usage: moddeps MODROOT MODULE...")
    root, wanted = args[0], args[1:]
    deps, byname = {}, {}
    with open(os.path.join(root, "modules.dep")) as f:
        for line in f:
            path, _, rest = line.partition(":")
            deps[path] = rest.split()
            name = os.path.basename(path).split(".ko")[0]
            byname[name.replace("-", "_")] = path
    order, seen = [], set()

    def visit(path):
        if path in seen:
            return
        seen.add(path)
        # modules.dep lists the farthest dependency last; modprobe
        # inserts from the end of the list.
        for d in reversed(deps[path]):
            visit(d)
        order.append(path)

    for m in wanted:
        path = byname.get(m.replace("-", "_"))
        if path is None:
            die("module %s not found in %s/modules.dep" % (m, root))
        visit(path)
    print("\n".join(order))


# ---------------------------------------------------------------- cpio

def cpio_entry(out, name, mode, size=0, nlink=1, rdev=(0, 0), data=b""):
    name_b = name.encode() + b"\0"
    hdr = "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X" % (
        0, mode, 0, 0, nlink, 0, size, 0, 0, rdev[0], rdev[1],
        len(name_b), 0)
    out.write(hdr.encode() + name_b)
    out.write(b"\0" * ((4 - (110 + len(name_b)) % 4) % 4))
    out.write(data)
    out.write(b"\0" * ((4 - size % 4) % 4))


def cmd_cpio(args):
    nodes, compress, pos = [], False, []
    it = iter(args)
    for a in it:
        if a == "--gzip":
            compress = True
        elif a == "--node":
            nodes.append(next(it))
        else:
            pos.append(a)
    if len(pos) != 2:
        die("usage: cpio OUT DIR [--node PATH:c|b:MAJ:MIN:MODE]... [--gzip]")
    out_path, top = pos
    tmp = out_path + ".tmp"
    raw = open(tmp, "wb")
    out = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                        compresslevel=6) if compress else raw
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        rel = os.path.relpath(dirpath, top)
        if rel != ".":
            st = os.lstat(dirpath)
            cpio_entry(out, rel, stat.S_IFDIR | (st.st_mode & 0o7777), nlink=2)
        for fn in sorted(filenames) + sorted(d for d in dirnames
                                             if os.path.islink(
                                                 os.path.join(dirpath, d))):
            full = os.path.join(dirpath, fn)
            name = os.path.normpath(os.path.join(rel, fn))
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(full).encode()
                cpio_entry(out, name, stat.S_IFLNK | 0o777, len(target),
                           data=target)
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    data = f.read()
                cpio_entry(out, name, stat.S_IFREG | (st.st_mode & 0o7777),
                           len(data), data=data)
    for spec in nodes:
        path, kind, major, minor, mode = spec.split(":")
        ftype = stat.S_IFCHR if kind == "c" else stat.S_IFBLK
        cpio_entry(out, path.lstrip("/"), ftype | int(mode, 8),
                   rdev=(int(major), int(minor)))
    cpio_entry(out, "TRAILER!!!", 0)
    if compress:
        out.close()
    raw.close()
    os.replace(tmp, out_path)


def main():
    cmds = {"vmlinux": cmd_vmlinux, "pvh-entry": cmd_pvh_entry,
            "is-static": cmd_is_static, "moddeps": cmd_moddeps, "cpio": cmd_cpio}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.stderr.write(__doc__)
        sys.exit(2)
    cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()

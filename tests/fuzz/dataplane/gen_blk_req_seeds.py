#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_blk_req (corpus/blk_req): byte 0 is
the queue size - 1, byte 1 the head, byte 2 bit 0 a read-only disk,
bytes 3-10 the capacity in sectors, then the descriptor table, then guest
memory (see fuzz_blk_req.c). One seed per request type and per refusal
of blk_req.c, named for what it holds. Usage: gen_blk_req_seeds.py DIR"""
import os
import struct
import sys

NEXT, WRITE, INDIRECT = 1, 2, 4
IN, OUT, FLUSH, GET_ID, DISCARD, WZ = 0, 1, 4, 8, 11, 13
MEM = 4096  # guest memory per seed; its middle (2048) splits host buffers


def desc(addr, length, flags=0, nxt=0):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def seed(chain, mem, qsize=None, head=0, ro=False, cap=1 << 20):
    """chain: (addr, len, flags) in order; linked 0 -> 1 -> ..."""
    qsize = qsize or max(len(chain), 1)
    table = b""
    for i, (a, n, f) in enumerate(chain):
        last = i == len(chain) - 1
        table += desc(a, n, f | (0 if last else NEXT), i + 1)
    table += bytes(16 * (qsize - len(chain)))
    return bytes([qsize - 1, head, int(ro)]) + struct.pack("<Q", cap) + table + mem


def memory(**at):
    m = bytearray(MEM)
    for off, b in at.values():
        m[off:off + len(b)] = b
    return bytes(m)


def hdr(typ, sector=0):
    return struct.pack("<IIQ", typ, 0, sector)


def seg(sector, n, flags=0):
    return struct.pack("<QII", sector, n, flags)


def req(typ, sector=0, extra=b""):
    return memory(h=(0, hdr(typ, sector)), x=(16, extra))


H = (0, 16, 0)
ST = (4000, 1, WRITE)
seeds = {
    # served
    "read": seed([H, (512, 1024, WRITE), ST], req(IN, 8)),
    "read-across-regions": seed([H, (1536, 1024, WRITE), ST], req(IN)),
    "read-unaligned": seed([H, (100, 512, WRITE), ST], req(IN)),
    "write": seed([H, (512, 512, 0), ST], req(OUT, 3)),
    "read-status-in-data-descriptor": seed([H, (512, 513, WRITE)], req(IN)),
    "flush": seed([H, ST], req(FLUSH)),
    "get-id": seed([H, (512, 20, WRITE), ST], req(GET_ID)),
    "get-id-short": seed([H, (512, 4, WRITE), ST], req(GET_ID)),
    "discard": seed([H, (16, 16, 0), ST], req(DISCARD, extra=seg(8, 8))),
    "write-zeroes-unmap": seed([H, (16, 16, 0), ST], req(WZ, extra=seg(8, 8, 1))),
    "header-split": seed([(0, 8, 0), (8, 8, 0), ST], req(FLUSH)),
    "last-sector": seed([H, (512, 512, WRITE), ST], req(IN, 99), cap=100),
    # refused
    "no-status": seed([H], req(FLUSH)),
    "header-short": seed([(0, 15, 0), ST], req(FLUSH)),
    "unknown-type": seed([H, ST], req(99)),
    "read-not-sectors": seed([H, (512, 100, WRITE), ST], req(IN)),
    "read-with-data-out": seed([H, (512, 512, 0), (1024, 512, WRITE), ST], req(IN)),
    "read-past-end": seed([H, (512, 1024, WRITE), ST], req(IN, 99), cap=100),
    "read-sector-overflow": seed([H, (512, 512, WRITE), ST], req(IN, (1 << 64) - 1),
                                 cap=(1 << 64) - 1),
    "write-read-only": seed([H, (512, 512, 0), ST], req(OUT), ro=True),
    "flush-with-data": seed([H, (512, 512, WRITE), ST], req(FLUSH)),
    "discard-flags": seed([H, (16, 16, 0), ST], req(DISCARD, extra=seg(8, 8, 1))),
    "write-zeroes-reserved-flag": seed([H, (16, 16, 0), ST], req(WZ, extra=seg(8, 8, 2))),
    "discard-zero-sectors": seed([H, (16, 16, 0), ST], req(DISCARD, extra=seg(8, 0))),
    "discard-too-many-sectors": seed([H, (16, 16, 0), ST],
                                     req(DISCARD, extra=seg(0, (1 << 22) + 1), ), cap=1 << 30),
    "discard-read-only": seed([H, (16, 16, 0), ST], req(DISCARD, extra=seg(8, 8)), ro=True),
    "readable-after-writable": seed([(0, 16, WRITE), (16, 16, 0), ST], req(FLUSH)),
    "indirect": seed([(0, 16, INDIRECT)], req(FLUSH)),
    "head-beyond-table": seed([H, ST], req(FLUSH), head=5),
    "loop": bytes([1, 0, 0]) + struct.pack("<Q", 1 << 20) + desc(0, 16, NEXT, 1)
    + desc(4000, 1, WRITE | NEXT, 0) + req(FLUSH),
    "address-outside-memory": seed([H, (MEM - 8, 16, WRITE), ST], req(IN)),
    "too-many-pieces": seed([H] + [(100 + i, 1, WRITE) for i in range(161)], req(IN)),
    "address-wraps": seed([H, ((1 << 64) - 8, 16, WRITE), ST], req(IN)),
}


def write(path):
    os.makedirs(path, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write(sys.argv[1])

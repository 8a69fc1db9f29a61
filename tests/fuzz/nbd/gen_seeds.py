#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_nbd (corpus/nbd): byte 0 picks the
requests (see fuzz_nbd.c), the rest is what the server sends. Each seed
is named for what it holds. Usage: gen_seeds.py DIR"""
import os
import struct
import sys

NBDMAGIC, IHAVEOPT, REPMAGIC = 0x4E42444D41474943, 0x49484156454F5054, 0x3E889045565A9
SIMPLE = 0x67446698
ALL = 0x1 | 0x4 | 0x20 | 0x40  # HAS_FLAGS, FLUSH, TRIM, WRITE_ZEROES


def hello(flags=3):
    return struct.pack(">QQH", NBDMAGIC, IHAVEOPT, flags)


def rep(typ, data=b"", opt=7):
    return struct.pack(">QIII", REPMAGIC, opt, typ, len(data)) + data


def go(size=1 << 20, flags=ALL, block=None):
    out = hello() + rep(3, struct.pack(">HQH", 0, size, flags))
    if block:
        out += rep(3, struct.pack(">HIII", 3, *block))
    return out + rep(3, struct.pack(">H", 1) + b"disk") + rep(1)


def reply(slot, err=0, payload=b"", magic=SIMPLE):
    return struct.pack(">IIQ", magic, err, 1 << 32 | slot) + payload


R, W, F, T, Z, R2 = 1, 2, 4, 8, 16, 32
seeds = {
    "go-all-in-order": bytes([R | W | F | T | Z]) + go(block=(512, 4096, 65536))
    + reply(0, payload=b"\xab" * 4096) + reply(1) + reply(2) + reply(3) + reply(4),
    "go-out-of-order": bytes([R | W | F | R2]) + go()
    + reply(3, payload=b"\x01" * 4096) + reply(1) + reply(0, payload=b"\x02" * 4096) + reply(2),
    "go-errors": bytes([R | W | F]) + go() + reply(0, err=5) + reply(1, err=28) + reply(2, err=1),
    "go-read-only": bytes([R | W | T]) + go(flags=0x3) + reply(0, payload=bytes(4096)),
    "go-unsup-export-name": bytes([R]) + hello(1) + rep(0x80000001, b"no")
    + struct.pack(">QH", 1 << 20, ALL) + bytes(124) + reply(0, payload=bytes(4096)),
    "not-fixed-no-zeroes": bytes([W]) + hello(2) + struct.pack(">QH", 1 << 20, ALL) + reply(0),
    "bad-reply-magic": bytes([R | W]) + go() + reply(1, magic=0x668E33EF),
    "unknown-cookie": bytes([R | W]) + go() + struct.pack(">IIQ", SIMPLE, 0, 7),
    "truncated-payload": bytes([R]) + go() + reply(0, payload=b"\x00" * 1000),
    "truncated-header": bytes([R]) + go() + reply(0)[:9],
    "oldstyle": bytes([0]) + struct.pack(">QQ", NBDMAGIC, 0x00420281861253),
    "unknown-export": bytes([0]) + hello() + rep(0x80000006, b"Export unknown"),
    "oversized-option-reply": bytes([0]) + hello() + struct.pack(">QIII", REPMAGIC, 7, 3, 1 << 30),
    "bad-block-size": bytes([R]) + go(block=(3, 4096, 65536)),
    "uri-tcp": b"nbd://[::1]:10809/a%20b",
    "uri-unix": b"nbd+unix:///disk?socket=/run/nbd.sock",
}
os.makedirs(sys.argv[1], exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(sys.argv[1], name), "wb") as f:
        f.write(data)

#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_pkt_parse (corpus/pkt_parse): byte 0
bit 0 parses with PKT_PARSE_VXLAN, bit 1 hands over only the first byte-1
bytes (see fuzz_pkt_parse.c); the rest is the frame. One seed per case of
the switch's malformed-packet policy, good and bad, named for what it
holds, and what pkt_parse must say of it (VERDICT). Usage: gen_seeds.py DIR"""
import os
import struct
import sys

DST, SRC = bytes.fromhex("020000000002"), bytes.fromhex("020000000001")


def eth(etype, tag=None):
    h = DST + SRC
    if tag is not None:
        h += struct.pack(">HH", 0x8100, tag)
    return h + struct.pack(">H", etype)


def ipv4(proto, payload, frag=0, opts=b"", tot=None, ihl=None):
    hl = 20 + len(opts)
    ihl = hl // 4 if ihl is None else ihl
    tot = hl + len(payload) if tot is None else tot
    return struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0, tot, 0x1234, frag, 64, proto, 0,
                       bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + opts + payload


def ipv6(nh, payload, plen=None):
    plen = len(payload) if plen is None else plen
    return (struct.pack(">IHBB", 0x60000000, plen, nh, 64) + bytes(range(0x20, 0x30))
            + bytes(range(0x40, 0x50)) + payload)


def udp(sport, dport, payload=b"", ulen=None):
    ulen = 8 + len(payload) if ulen is None else ulen
    return struct.pack(">HHHH", sport, dport, ulen, 0) + payload


def tcp(sport, dport, doff=5, payload=b""):
    return struct.pack(">HHIIBBHHH", sport, dport, 1, 0, doff << 4, 0x02, 65535, 0, 0) + payload


def icmp(t=8):
    return struct.pack(">BBHHH", t, 0, 0, 1, 1)


def ext(nh, n=0):
    return struct.pack(">BB", nh, n) + bytes(6 + 8 * n)


def frag6(nh, off8, more):
    return struct.pack(">BBHI", nh, 0, off8 << 3 | more, 0xdeadbeef)


def vxlan(flags=0x08, vni=0x123456, rsvd=0):
    return struct.pack(">B3sI", flags, rsvd.to_bytes(3, "big"), vni << 8)


ARP = struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, SRC, bytes([10, 0, 0, 1]), bytes(6),
                  bytes([10, 0, 0, 2]))
INNER = eth(0x0800) + ipv4(17, udp(1, 2, b"inner"))
PAD = bytes(18)
AH_TCP = struct.pack(">BB", 6, 1) + bytes(10)  # AH (12 bytes), then TCP
V, P = 1, 2  # byte 0 bits


def vx(payload_after_udp, **kw):
    return eth(0x0800) + ipv4(17, udp(49152, 4789, payload_after_udp, **kw))


seeds = {
    # good
    "eth-not-ip": (0, eth(0x88B5) + bytes(46)),
    "llc": (0, eth(38) + bytes(46)),
    "vlan-ipv4-udp": (0, eth(0x0800, 100) + ipv4(17, udp(1000, 2000, b"x" * 10))),
    "ipv4-tcp": (0, eth(0x0800) + ipv4(6, tcp(40000, 80))),
    "ipv4-icmp": (0, eth(0x0800) + ipv4(1, icmp())),
    "ipv4-padded": (0, eth(0x0800) + ipv4(17, udp(1, 2)) + PAD),
    "arp": (0, eth(0x0806) + ARP),
    "ipv6-udp": (0, eth(0x86DD) + ipv6(17, udp(546, 547))),
    "ipv6-icmpv6": (0, eth(0x86DD) + ipv6(58, bytes([135, 0, 0, 0]) + bytes(20))),
    "ipv6-ext-chain": (0, eth(0x86DD) + ipv6(0, ext(43) + ext(60) + ext(51) + AH_TCP + tcp(22, 1))),
    "ipv6-atomic-fragment": (0, eth(0x86DD) + ipv6(44, frag6(17, 0, 0) + udp(1, 2))),
    "vxlan": (V, vx(vxlan() + INNER)),
    "vxlan-headers-only": (V | P, bytes([64]) + vx(vxlan() + INNER)),
    "tcp-headers-only": (P, bytes([54]) + eth(0x0800) + ipv4(6, tcp(1, 2, payload=bytes(500)))),
    # forwarded as L2
    "qinq": (0, eth(0x8100, 100) + struct.pack(">HH", 200, 0x0800) + ipv4(17, udp(1, 2))),
    "qinq-8021ad": (0, DST + SRC + struct.pack(">HHHH", 0x88A8, 100, 0x8100, 200) + bytes(40)),
    "ipv4-options": (0, eth(0x0800) + ipv4(17, udp(1, 2), opts=bytes([148, 4, 0, 0, 1, 0, 0, 0]))),
    "ipv4-first-fragment": (0, eth(0x0800) + ipv4(17, udp(1, 2, bytes(16), ulen=1000),
                                                   frag=0x2000)),
    "ipv4-later-fragment": (0, eth(0x0800) + ipv4(17, bytes(24), frag=0x2000 | 185)),
    "ipv6-first-fragment": (0, eth(0x86DD) + ipv6(44, frag6(17, 0, 1) + udp(1, 2, bytes(8),
                                                                          ulen=3000))),
    "ipv6-later-fragment": (0, eth(0x86DD) + ipv6(44, frag6(17, 100, 1) + bytes(16))),
    "ipv6-ext-too-deep": (0, eth(0x86DD) + ipv6(60, ext(60) * 9 + udp(1, 2))),
    # dropped
    "runt": (0, eth(0x0800)[:13]),
    "vlan-truncated": (0, eth(0x8100)[:14] + b"\x00"),
    "ipv4-truncated": (0, eth(0x0800) + ipv4(17, b"")[:19]),
    "ipv4-ihl-4": (0, eth(0x0800) + ipv4(17, udp(1, 2), ihl=4)),
    "ipv4-total-past-frame": (0, eth(0x0800) + ipv4(17, udp(1, 2), tot=100)),
    "ipv4-total-below-header": (0, eth(0x0800) + ipv4(17, udp(1, 2), tot=19)),
    "ipv4-bad-version": (0, eth(0x0800) + b"\x65" + ipv4(17, udp(1, 2))[1:]),
    "ipv4-bad-option": (0, eth(0x0800) + ipv4(17, udp(1, 2), opts=bytes([7, 9, 0, 0]))),
    "udp-length-short": (0, eth(0x0800) + ipv4(17, udp(1, 2, ulen=7))),
    "udp-length-long": (0, eth(0x0800) + ipv4(17, udp(1, 2, ulen=9))),
    "udp-truncated": (0, eth(0x0800) + ipv4(17, udp(1, 2)[:7])),
    "tcp-doff-4": (0, eth(0x0800) + ipv4(6, tcp(1, 2, doff=4))),
    "tcp-doff-past": (0, eth(0x0800) + ipv4(6, tcp(1, 2, doff=15))),
    "icmp-truncated": (0, eth(0x0800) + ipv4(1, icmp()[:7])),
    "arp-truncated": (0, eth(0x0806) + ARP[:27]),
    "arp-bad-lengths": (0, eth(0x0806) + ARP[:4] + bytes([8, 4]) + ARP[6:] + bytes(4)),
    "fragment-not-8": (0, eth(0x0800) + ipv4(17, bytes(23), frag=0x2000 | 185)),
    "fragment-ping-of-death": (0, eth(0x0800) + ipv4(17, bytes(24), frag=8190)),
    "fragment-tcp-offset-8": (0, eth(0x0800) + ipv4(6, bytes(24), frag=1)),
    "fragment-tiny-tcp": (0, eth(0x0800) + ipv4(6, bytes(16), frag=0x2000)),
    "ipv6-payload-past-frame": (0, eth(0x86DD) + ipv6(17, udp(1, 2), plen=9)),
    "ipv6-jumbogram": (0, eth(0x86DD) + ipv6(17, udp(1, 2), plen=0)),
    "ipv6-hbh-not-first": (0, eth(0x86DD) + ipv6(60, ext(0) + udp(1, 2))),
    "ipv6-ext-past-payload": (0, eth(0x86DD) + ipv6(60, struct.pack(">BB", 17, 20) + bytes(14))),
    "ipv6-tiny-first-fragment": (0, eth(0x86DD) + ipv6(44, frag6(6, 0, 1) + bytes(8))),
    "ipv6-two-fragment-headers": (0, eth(0x86DD) + ipv6(44, frag6(44, 0, 1) + frag6(17, 0, 1)
                                                       + udp(1, 2))),
    "vxlan-no-i-flag": (V, vx(vxlan(flags=0) + INNER)),
    "vxlan-reserved-flag": (V, vx(vxlan(flags=0x0C) + INNER)),
    "vxlan-reserved-bytes": (V, vx(vxlan(rsvd=1) + INNER)),
    "vxlan-truncated": (V, vx(vxlan()[:7])),
    "vxlan-inner-truncated": (V, vx(vxlan() + INNER[:13])),
}
# What pkt_parse says of each seed (with its byte 0's flags); the unit
# test checks the same cases one by one, and tests/integration/dataplane/
# malformed.py sends these frames through the switch and counts them.
_BY_VERDICT = {
    "ok": [
        "arp", "eth-not-ip", "ipv4-icmp", "ipv4-padded", "ipv4-tcp", "ipv6-atomic-fragment",
        "ipv6-ext-chain", "ipv6-icmpv6", "ipv6-udp", "llc", "tcp-headers-only", "vlan-ipv4-udp",
        "vxlan", "vxlan-headers-only",
    ],
    "l2_only": [
        "ipv4-first-fragment", "ipv4-later-fragment", "ipv4-options", "ipv6-ext-too-deep",
        "ipv6-first-fragment", "ipv6-later-fragment", "qinq", "qinq-8021ad",
    ],
    "truncated": [
        "arp-truncated", "icmp-truncated", "ipv4-truncated", "ipv6-ext-past-payload", "runt",
        "udp-truncated", "vlan-truncated", "vxlan-inner-truncated", "vxlan-truncated",
    ],
    "bad_length": [
        "ipv4-ihl-4", "ipv4-total-below-header", "ipv4-total-past-frame", "ipv6-jumbogram",
        "ipv6-payload-past-frame", "tcp-doff-4", "tcp-doff-past", "udp-length-long",
        "udp-length-short",
    ],
    "bad_header": [
        "arp-bad-lengths", "ipv4-bad-option", "ipv4-bad-version", "ipv6-hbh-not-first",
    ],
    "bad_fragment": [
        "fragment-not-8", "fragment-ping-of-death", "fragment-tcp-offset-8", "fragment-tiny-tcp",
        "ipv6-tiny-first-fragment", "ipv6-two-fragment-headers",
    ],
    "bad_vxlan": [
        "vxlan-no-i-flag", "vxlan-reserved-bytes", "vxlan-reserved-flag",
    ],
}
VERDICT = {name: verdict for verdict, names in _BY_VERDICT.items() for name in names}
assert VERDICT.keys() == seeds.keys()


def write(path):
    os.makedirs(path, exist_ok=True)
    for name, (b0, frame) in seeds.items():
        # With P the byte after byte 0 is the prefix length; without, it is 0.
        data = bytes([b0]) + (frame if b0 & P else bytes([0]) + frame)
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write(sys.argv[1])

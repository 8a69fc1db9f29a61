# SPDX-License-Identifier: MIT
"""The wire side of uplink tests, run inside a network namespace.

  wire.py capture IFACE SECS [hex]
                               print one line per frame seen on IFACE:
                               "FRAME src=.. dst=.. vlan=N|none type=0x.... len=N",
                               (with hex: " hex=" and the frame's first 128
                               bytes), then "DONE"; "CAPTURING" once the
                               socket is bound
  wire.py host IFACE MAC IP VLAN SECS
                               capture as above, and answer ARP and ICMP echo
                               for IP on VLAN (tagged replies): a host on a
                               VLAN without the kernel's 8021q module
  wire.py send IFACE SRC DST VLAN COUNT
                               send COUNT frames (EtherType 0x88b5), tagged
                               802.1Q VLAN unless VLAN is 0
  wire.py sendhex IFACE FILE COUNT
                               send each frame of FILE (hex, one a line) COUNT
                               times, as it is

The kernel takes VLAN tags off frames for packet sockets and reports them in
PACKET_AUXDATA; capture reads them from there.
"""
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def fmt(b):
    return ":".join(f"{x:02x}" for x in b)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return (~t) & 0xFFFF


def answer(s, data, vlan, me_mac, me_ip, want_vlan):
    """The reply of a host at me_ip/me_mac on want_vlan, or None."""
    if vlan != str(want_vlan):
        return None
    off = 12
    if struct.unpack("!H", data[12:14])[0] == 0x8100:
        off = 16
    etype = struct.unpack("!H", data[off:off + 2])[0]
    body = data[off + 2:]
    src = data[6:12]
    tag = struct.pack("!HH", 0x8100, want_vlan)
    if etype == 0x0806 and len(body) >= 28:
        op = struct.unpack("!H", body[6:8])[0]
        if op == 1 and body[24:28] == me_ip:
            arp = body[:6] + struct.pack("!H", 2) + me_mac + me_ip + body[8:14] + body[14:18]
            return src + me_mac + tag + struct.pack("!H", 0x0806) + arp
    if etype == 0x0800 and len(body) >= 28 and body[16:20] == me_ip and body[9] == 1:
        ihl = (body[0] & 0xF) * 4
        tot = struct.unpack("!H", body[2:4])[0]
        ip = bytearray(body[:tot])
        if ip[ihl] != 8:
            return None
        ip[12:16], ip[16:20] = body[16:20], body[12:16]
        ip[8] = 64
        ip[10:12] = b"\0\0"
        ip[10:12] = struct.pack("!H", csum(bytes(ip[:ihl])))
        ip[ihl] = 0
        ip[ihl + 2:ihl + 4] = b"\0\0"
        ip[ihl + 2:ihl + 4] = struct.pack("!H", csum(bytes(ip[ihl:])))
        return src + me_mac + tag + struct.pack("!H", 0x0800) + bytes(ip)
    return None


def capture(iface, secs, host=None, hexdump=False):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((iface, 0))
    s.settimeout(0.2)
    print("CAPTURING", flush=True)
    end = time.monotonic() + secs
    while time.monotonic() < end:
        try:
            data, anc, _, addr = s.recvmsg(65535, socket.CMSG_SPACE(32))
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        vlan = "none"
        for level, typ, cdata in anc:
            if level == SOL_PACKET and typ == PACKET_AUXDATA and len(cdata) >= 20:
                status, _, _, _, _, tci, tpid = struct.unpack("IIIHHHH", cdata[:20])
                if status & TP_STATUS_VLAN_VALID:
                    vlan = str(tci & 0xfff)
        etype = struct.unpack("!H", data[12:14])[0]
        if etype == 0x8100:  # tag still in the frame
            vlan = str(struct.unpack("!H", data[14:16])[0] & 0xfff)
            etype = struct.unpack("!H", data[16:18])[0]
        extra = f" hex={data[:128].hex()}" if hexdump else ""
        print(f"FRAME src={fmt(data[6:12])} dst={fmt(data[0:6])} vlan={vlan} "
              f"type=0x{etype:04x} len={len(data)}{extra}", flush=True)
        if host is not None:
            if vlan != "none" and struct.unpack("!H", data[12:14])[0] != 0x8100:
                # Put the tag the kernel took off back for answer().
                data = data[:12] + struct.pack("!HH", 0x8100, int(vlan)) + data[12:]
            reply = answer(s, data, vlan, *host)
            if reply is not None:
                s.send(reply)
    print("DONE", flush=True)


def send(iface, src, dst, vlan, count):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    hdr = mac(dst) + mac(src)
    if vlan:
        hdr += struct.pack("!HH", 0x8100, vlan)
    frame = hdr + struct.pack("!H", 0x88B5) + b"nicvisor-dp-test".ljust(46, b".")
    for _ in range(count):
        s.send(frame)
        time.sleep(0.001)


def sendhex(iface, path, count):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    with open(path) as f:
        frames = [bytes.fromhex(ln) for ln in f.read().split()]
    for frame in frames:
        for _ in range(count):
            s.send(frame)
            time.sleep(0.001)


if __name__ == "__main__":
    if sys.argv[1] == "capture":
        capture(sys.argv[2], float(sys.argv[3]), hexdump=sys.argv[4:] == ["hex"])
    elif sys.argv[1] == "host":
        capture(sys.argv[2], float(sys.argv[6]),
                (mac(sys.argv[3]), socket.inet_aton(sys.argv[4]), int(sys.argv[5])))
    elif sys.argv[1] == "send":
        send(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    elif sys.argv[1] == "sendhex":
        sendhex(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(2)

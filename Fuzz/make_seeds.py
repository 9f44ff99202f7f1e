#!/usr/bin/env python3
"""Builds the seed frames for the Wire fuzzer (Fuzz/corpus/) and prints them as
hex for the test fixtures. Independent of the Swift code on purpose: checksums
here come from a plain RFC 1071 implementation, so a fixture is a second
opinion, not the Wire module grading its own homework."""
import os, struct, sys

def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF

def mac(s): return bytes(int(x, 16) for x in s.split(":"))
def ip(s): return bytes(int(x) for x in s.split("."))

A_MAC, B_MAC = mac("02:00:c6:12:00:02"), mac("02:00:c6:12:00:01")
A_IP, B_IP = ip("198.18.0.2"), ip("198.18.0.1")

def eth(dst, src, etype, payload, vlan=None, pad=True):
    h = dst + src
    if vlan is not None: h += struct.pack("!HH", 0x8100, vlan)
    f = h + struct.pack("!H", etype) + payload
    if pad and len(f) < 60: f += b"\0" * (60 - len(f))
    return f

def ipv4(src, dst, proto, payload, ident, df=True, ttl=64):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000 if df else 0, ttl, proto, 0, src, dst)
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload

def pseudo(src, dst, proto, n): return src + dst + struct.pack("!BBH", 0, proto, n)

def udp(src, dst, sp, dp, data):
    h = struct.pack("!HHHH", sp, dp, 8 + len(data), 0)
    c = csum(pseudo(src, dst, 17, 8 + len(data)) + h + data) or 0xFFFF
    return struct.pack("!HHHH", sp, dp, 8 + len(data), c) + data

def tcp(src, dst, sp, dp, seq, ack, flags, win, opts, data=b""):
    off = (20 + len(opts)) // 4
    h = struct.pack("!HHIIBBHHH", sp, dp, seq, ack, off << 4, flags, win, 0, 0) + opts
    c = csum(pseudo(src, dst, 6, len(h) + len(data)) + h + data)
    return h[:16] + struct.pack("!H", c) + h[18:] + data

def icmp(typ, code, rest, data):
    m = struct.pack("!BBHI", typ, code, 0, rest) + data
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]

arp = eth(b"\xff" * 6, A_MAC, 0x0806,
          struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, A_MAC, A_IP, b"\0" * 6, B_IP))
# Linux ping: a struct timeval (x86-64, little-endian) then the bytes 0x10, 0x11, ...
ping_data = struct.pack("<qq", 1_763_724_000, 412_345) + bytes(range(0x10, 0x38))
ping = eth(B_MAC, A_MAC, 0x0800, ipv4(A_IP, B_IP, 1, icmp(8, 0, 0x1c46_0001, ping_data), 0x5b3a))
udp_ip = ipv4(A_IP, B_IP, 17, udp(A_IP, B_IP, 40000, 5000, b"hello rtud"), 0x1f2e)
udpf = eth(B_MAC, A_MAC, 0x0800, udp_ip)
syn_opts = bytes.fromhex("020405b4") + bytes.fromhex("0402080a") + struct.pack("!II", 0x9a1c_42e7, 0) + bytes.fromhex("01030307")
syn = eth(B_MAC, A_MAC, 0x0800, ipv4(A_IP, B_IP, 6, tcp(A_IP, B_IP, 45678, 80, 0x6b8b_4567, 0, 0x02, 64240, syn_opts), 0x0000))
sack_opts = bytes.fromhex("0101080a") + struct.pack("!II", 0x9a1c_4301, 0x0012_3456) + bytes.fromhex("0101050a") + struct.pack("!II", 0x1000_0400, 0x1000_0800)
ack = eth(B_MAC, A_MAC, 0x0800, ipv4(A_IP, B_IP, 6, tcp(A_IP, B_IP, 45678, 80, 0x6b8b_4568, 0x1000_0001, 0x10, 501, sack_opts), 0x3c1d))
vlan = eth(B_MAC, A_MAC, 0x0800, udp_ip, vlan=100)
unreach = eth(A_MAC, B_MAC, 0x0800, ipv4(B_IP, A_IP, 1, icmp(3, 4, 1400, udp_ip[:28]), 0x0a0b, df=False))

frames = dict(arp=arp, ping=ping, udp=udpf, tcp_syn=syn, tcp_ack_sack=ack, vlan=vlan, icmp_frag_needed=unreach)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
for name, f in frames.items():
    with open(os.path.join(out, name.replace("_", "-")), "wb") as fh: fh.write(f)
    if "-hex" in sys.argv: print(name, f.hex())

#!/usr/bin/env python3
"""Builds the seed frames for the Wire fuzzer (Fuzz/corpus/) and prints them as
hex for the test fixtures. Besides Ethernet frames, the emulated ATM link's
formats, each as a whole input (the fuzzer hands every input to every parser):
an RFC 4717 pseudowire packet, an AAL5 CPCS-PDU and one 53-byte cell. Independent of the Swift code on purpose: checksums
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

def crc32_aal5(b):
    """CRC-32/BZIP2 (I.363.5 §10.2.1.3), bit by bit: MSB first, preset and complement."""
    crc = 0xFFFFFFFF
    for byte in b:
        crc ^= byte << 24
        for _ in range(8): crc = ((crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
    return crc ^ 0xFFFFFFFF

def hec(word):
    """CRC-8 x^8+x^2+x+1 over the header word, XOR 0x55 (I.432.1 §4.3.2)."""
    c = 0
    for byte in struct.pack("!I", word):
        c ^= byte
        for _ in range(8): c = ((c << 1) ^ 0x07 if c & 0x80 else c << 1) & 0xFF
    return c ^ 0x55

assert crc32_aal5(b"123456789") == 0xFC891918 and hec(0x00100202) == 0xD3  # ATM-FACTS.md

def aal5(sdu, uu=0, cpi=0):
    pad = -(len(sdu) + 8) % 48
    body = sdu + b"\0" * pad + struct.pack("!BBH", uu, cpi, len(sdu))
    return body + struct.pack("!I", crc32_aal5(body))

def cell_word(vpi, vci, last): return vpi << 20 | vci << 4 | (1 if last else 0) << 1

# The ping's IPv4 packet, RFC 2684 LLC/SNAP-encapsulated, in an AAL5 PDU on VC 0/32.
pdu = aal5(bytes.fromhex("aaaa03000000") + struct.pack("!H", 0x0800) + ping[14:])
cells = [pdu[i:i + 48] for i in range(0, len(pdu), 48)]
words = [cell_word(0, 32, i == len(cells) - 1) for i in range(len(cells))]
# RFC 4717 N-to-one cell mode: label 16 (S, TTL 64), control word with sequence 1,
# cells as header word (no HEC) and payload.
pw = struct.pack("!II", 16 << 12 | 1 << 8 | 64, 1) + b"".join(struct.pack("!I", w) + c for w, c in zip(words, cells))
cell = struct.pack("!IB", words[0], hec(words[0])) + cells[0]

frames = dict(arp=arp, ping=ping, udp=udpf, tcp_syn=syn, tcp_ack_sack=ack, vlan=vlan, icmp_frag_needed=unreach,
              atm_pseudowire=pw, aal5_pdu=pdu, atm_cell=cell)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
for name, f in frames.items():
    with open(os.path.join(out, name.replace("_", "-")), "wb") as fh: fh.write(f)
    if "-hex" in sys.argv: print(name, f.hex())

#!/usr/bin/env python3
"""Builds the seed corpora under fuzz/corpus/ from the repository's vectors, keepalived's
samples (Debian package keepalived), captures of live servers and of the kernel (capture.py,
rtnl_record.py write them to CAPTURES) and protocol examples written from the RFCs.

    python3 fuzz/tools/capture.py CAPTURES
    ip netns add rec && ip netns exec rec python3 fuzz/tools/rtnl_record.py CAPTURES/rtnl; ip netns del rec
    python3 fuzz/tools/make_seeds.py CAPTURES     # from the repository root
"""
import glob
import hashlib
import os
import shutil
import struct
import sys

ROOT = os.getcwd()
# What capture.py and rtnl_record.py wrote (live servers, the kernel).
CAPTURES = sys.argv[1] if len(sys.argv) > 1 else "/tmp/hafuzz"
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
VECTORS = os.path.join(ROOT, "vrrp-core", "tests", "vectors", "keepalived-2.2.7")


def put(target, data, name=None):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frames(path):
    d = open(path, "rb").read()
    e = "<" if struct.unpack("<I", d[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    off, out = 24, []
    while off + 16 <= len(d):
        _, _, incl, _ = struct.unpack(e + "IIII", d[off : off + 16])
        off += 16
        out.append(d[off : off + incl])
        off += incl
    return out


def ipv4_vrrp_packets():
    """Distinct IPv4 VRRP packets (IP header + advert) from keepalived's captures."""
    seen, out = set(), []
    for p in sorted(glob.glob(os.path.join(VECTORS, "*.pcap"))):
        for f in frames(p):
            if f[12:14] != b"\x08\x00":
                continue
            ip = f[14:]
            total = struct.unpack(">H", ip[2:4])[0]
            ip = ip[:total]
            if ip[9] != 112:
                continue
            # Same advert apart from IP id and checksum: one is enough.
            key = ip[:4] + ip[6:10] + ip[12:]
            if key in seen:
                continue
            seen.add(key)
            out.append((os.path.basename(p), ip))
    return out


def garps():
    seen, out = set(), []
    for p in sorted(glob.glob(os.path.join(VECTORS, "*.pcap"))):
        for f in frames(p):
            if f[12:14] == b"\x08\x06" and f[6:12] + f[28:32] not in seen:
                seen.add(f[6:12] + f[28:32])
                out.append(f)
    return out


# ---------------------------------------------------------------- vrrp_receive, vrrp_instance
packets = ipv4_vrrp_packets()
for _, ip in packets[:10]:
    put("vrrp_receive", b"\x00" + ip)
# An IPv4 header with options (IHL 6, router alert), and link padding after the total length.
_, first = packets[0]
opt = bytearray(first[:20])
opt[0] = 0x46
opt[2:4] = struct.pack(">H", len(first) + 4)
put("vrrp_receive", b"\x00" + bytes(opt) + b"\x94\x04\x00\x00" + first[20:])
put("vrrp_receive", b"\x00" + first + b"\x00" * 6)


def cmsg(level, kind, data):
    raw = struct.pack("=Q", 16 + len(data)) + struct.pack("=ii", level, kind) + data
    return raw + b"\x00" * (-len(raw) % 8)


ff02_12 = bytes.fromhex("ff020000000000000000000000000012")
fe80_1 = bytes.fromhex("fe800000000000000000000000000001")
# What Linux hands an IPv6 raw socket with IPV6_RECVHOPLIMIT and IPV6_RECVPKTINFO: the
# packet info first, then the hop limit (net/ipv6/datagram.c, ip6_datagram_recv_specific_ctl).
put("vrrp_receive", b"\x01" + cmsg(41, 50, ff02_12 + struct.pack("=I", 2)) + cmsg(41, 52, struct.pack("=i", 255)))
put("vrrp_receive", b"\x01" + cmsg(41, 50, fe80_1 + struct.pack("=I", 7)) + cmsg(41, 52, struct.pack("=i", 64)))
put("vrrp_receive", b"\x01" + cmsg(41, 52, struct.pack("=i", 255)))
put("vrrp_receive", b"\x01" + cmsg(1, 29, struct.pack("=QQ", 1700000000, 123456)) + cmsg(41, 50, ff02_12 + struct.pack("=I", 3)))

# vrrp_instance: setup byte, then operations; op & 7 in {0, 1} is a packet: length byte, bytes.
v2 = [ip[20:] for name, ip in packets if ip[20] >> 4 == 2 and name == "v2.pcap"]
v3 = [ip[20:] for name, ip in packets if ip[20] >> 4 == 3]
# v2 with auth "1111", as keepalived's captures; receive adverts, let timers run, take commands.
seq = bytes([0x04])
for adv in v2[:3]:
    seq += bytes([0x08, len(adv)]) + adv + bytes([0x03, 0x02])
put("vrrp_instance", seq + bytes([0x3B, 0x0C, 0x0D, 0x06, 0x0E, 0x03]))
seq = bytes([0x01])
for adv in v3[:3]:
    seq += bytes([0x10, len(adv)]) + adv + bytes([0x1B])
put("vrrp_instance", seq + bytes([0x03, 0x03, 0x05, 0x0D]))
# No adverts: a backup that becomes master, then a higher-priority advert preempts it.
if v2:
    adv = bytearray(v2[0])
    put("vrrp_instance", bytes([0x04, 0x03, 0x03, 0x03, 0x00, len(adv)]) + bytes(adv) + bytes([0x03]))
put("vrrp_instance", bytes([0x12, 0x03, 0x03, 0x07, 0x04, 0x05, 0x0D, 0x06, 0x0E]))

# ------------------------------------------------------------------------------ garp_frames
for f in garps()[:3]:
    mac, v4 = f[6:12], f[28:32]
    put("garp_frames", mac + v4 + bytes.fromhex("20010db8000000000000000000000200") + bytes([51]))
put("garp_frames", bytes.fromhex("00005e000133") + bytes([10, 99, 0, 200]) + fe80_1 + bytes([51]))
put("garp_frames", b"\xff" * 27)

# ----------------------------------------------------------------------------- config_parse
SAMPLES = "/usr/share/doc/keepalived/samples"
for name in [
    "keepalived.conf.sample",
    "keepalived.conf.vrrp",
    "keepalived.conf.vrrp.sync",
    "keepalived.conf.vrrp.scripts",
    "keepalived.conf.vrrp.routes",
    "keepalived.conf.IPv6",
    "keepalived.conf.HTTP_GET.port",
    "keepalived.conf.SSL_GET",
    "keepalived.conf.SMTP_CHECK",
    "keepalived.conf.UDP_CHECK",
    "keepalived.conf.misc_check",
    "keepalived.conf.fwmark",
    "keepalived.conf.quorum",
    "keepalived.conf.virtual_server_group",
    "keepalived.conf.status_code",
    "keepalived.conf.conditional_conf",
]:
    put("config_parse", open(os.path.join(SAMPLES, name), "rb").read(), name.replace("keepalived.conf.", "keepalived-"))

# ----------------------------------------------------------------------------- ipvs_netlink
trace = open(os.path.join(ROOT, "ipvs-sys", "tests", "data", "kernel-6.1-dump.trace")).read()
recvs = [bytes.fromhex(l.split()[1]) for l in trace.splitlines() if l.startswith("recv ")]
seen = set()
for dgram in recvs:
    if len(dgram) > 36 and dgram[16:] not in seen:
        seen.add(dgram[16:])
        # Even mode: command byte, then the attributes after the generic netlink header.
        put("ipvs_netlink", bytes([0x00, dgram[16]]) + dgram[20:])
for dgram in recvs[:6]:
    # Odd mode: the whole datagram as the kernel's reply.
    put("ipvs_netlink", b"\x01" + dgram)
for path in sorted(glob.glob(os.path.join(ROOT, "ipvs-sys", "tests", "data", "invalid-*.bin"))):
    put("ipvs_netlink", b"\x00\x01" + open(path, "rb").read())

# ---------------------------------------------------------------------------- ipvsadm_rules
for name in ["kernel-6.1-ipvsadm-S-n.txt", "rules-long-options.txt", "rules-long-options.saved.txt"]:
    put("ipvsadm_rules", open(os.path.join(ROOT, "ipvs-sys", "tests", "data", name), "rb").read(), name)
put("ipvsadm_rules", """\
-A -t [2001:db8::100]:443 -s mh -b mh-fallback,mh-port
-a -t [2001:db8::100]:443 -r [2001:db8::11]:443 -m -w 5
-a -t [2001:db8::100]:443 -r [2001:db8::12]:8443 -i -w 1 --tun-type gre --tun-csum
-A -f 7 -s wlc -p 600 -M 255.255.255.0 --pe sip
-a -f 7 -r 10.0.0.21:0 -g -w 3 -x 200 -y 100
-A --sctp-service 10.0.0.1:3868 -s rr -o
-a --sctp-service 10.0.0.1:3868 -r 10.0.0.31:3868 -g -w 1
-e -f 7 -r 10.0.0.21:0 -g -w 0
-A -f 8 -6 -s sh -b sh-fallback -p 300 -M 64
-a -f 8 -6 -r [::ffff:10.0.0.5]:0 -m -w 2
""", "ipv6-fwmark-sctp.txt")
put("ipvsadm_rules", """\
ipvsadm -A -t 10.0.0.1:80 -s rr
ipvsadm -a -t 10.0.0.1:80 -r 10.0.0.2:80 -m
ipvsadm -d -t 10.0.0.1:80 -r 10.0.0.2:80
ipvsadm -C
-A -u 10.0.0.1:53 -s lblc
-a -u 10.0.0.1:53 -r 10.0.0.3 -g -w 65535
""", "commands.txt")

# -------------------------------------------------------------------------- control_request
for line in [
    '{"command":"status"}\n',
    '{"command":"reload"}\n',
    '{"command":"drain","server":"192.168.2.11:80","virtual_server":null}\n',
    '{"command":"drain","server":"192.168.2.11:80","virtual_server":"192.168.2.200:80"}\n',
    '{"command":"enable","server":"[2001:db8::11]:443","virtual_server":"fwmark 7"}\n',
    '{"reply":"reload","accepted":true,"message":"configuration reloaded: 1 instance changed"}\n',
    '{"reply":"drain","accepted":false,"message":"no real server 10.0.0.9:80"}\n',
    '{"reply":"error","message":"bad request: unknown variant `stop`, expected one of `status`, `reload`, `drain`, `enable` at line 1 column 17"}\n',
]:
    put("control_request", line)
put("control_request", """{"reply":"status","instances":[{"name":"VI_1","interface":"eth0","vrid":51,"state":"MASTER","priority":100,"effective_priority":100,"master_address":"10.99.0.11","virtual_addresses":["10.99.0.200"],"last_transition":{"from":"BACKUP","to":"MASTER","reason":"master down timer expired","seconds_ago":12.503},"statistics":{"master_transitions":1,"new_master_reason":"not_master","rcvd_advertisements":3,"adv_interval_errors":0,"ip_ttl_errors":0,"rcvd_pri_zero_packets":0,"sent_pri_zero_packets":0}}],"virtual_servers":[{"name":"192.168.2.200:80","services":["TCP 192.168.2.200:80"],"scheduler":"rr","quorum":1,"live_weight":2,"quorum_up":true,"sorry_server":null,"sorry_server_active":false,"suspended":false,"real_servers":[{"address":"10.0.0.11:80","health":"up","drained":false,"configured_weight":1,"desired_weight":1,"weight":1,"in_ipvs":true,"last_reason":"HTTP_GET#0: status 200","seconds_since_change":30.25,"active_connections":4,"inactive_connections":17},{"address":"10.0.0.12:80","health":"down","drained":true,"configured_weight":1,"desired_weight":null,"weight":null,"in_ipvs":false,"last_reason":"connection refused","seconds_since_change":2.0,"active_connections":0,"inactive_connections":0}]}],"ipvs":{"available":true,"error":null,"operations":3,"refused":0,"repairs":0,"reads":12,"last_operations":["-A -t 192.168.2.200:80 -s rr","-a -t 192.168.2.200:80 -r 10.0.0.11:80 -m -w 1"],"sync_daemon":null},"tracked":[{"kind":"script","name":"chk_haproxy","up":true,"value":null,"instances":[["VI_1",-20]]}],"log_lines_dropped":0}\n""")

# ------------------------------------------------------------------------------- smtp_reply
for t in [
    # RFC 5321 D.1 (the server's side).
    "220 foo.com Simple Mail Transfer Service Ready\r\n250 foo.com\r\n221 foo.com Service closing transmission channel\r\n",
    # Postfix, as it answers HELO.
    "220 mail.example.org ESMTP Postfix (Debian/GNU)\r\n250 mail.example.org\r\n221 2.0.0 Bye\r\n",
    # A multi-line banner and HELO reply (RFC 5321 4.2.1).
    "220-mx.example.net ESMTP\r\n220-No UCE\r\n220 ready\r\n250-mx.example.net Hello\r\n250 HELP\r\n221 Bye\n",
    # Refusals.
    "554 5.7.1 No SMTP service here\r\n",
    "220 mx ESMTP\r\n421 4.3.2 Service shutting down\r\n",
    "220 mx\r\n250 mx\r\n",
    "220\n250\n221\n",
    # Captured from aiosmtpd 1.4.6 (python3 -m aiosmtpd -n).
    open(CAPTURES + "/cap_smtp").read(),
]:
    put("smtp_reply", t)

# ---------------------------------------------------------------------------- http_response
# First byte: check options (bits: 0-1 protocol, 2 status_code 200,300-399, 3 digest of
# "OK\n", 4 regex ^(OK|ok), 5 regex_no_match, 6 body limit 8).
for opts, resp in [
    # Captured from python3 -m http.server (GET /health, /missing, / with HTTP/1.0, 1.1).
    (0x08, open(CAPTURES + "/cap_http_health", "rb").read()),
    (0x02, open(CAPTURES + "/cap_http_missing", "rb").read()),
    (0x11, open(CAPTURES + "/cap_http_", "rb").read()),
    (0x0A, b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nOK\n"),
    (0x1A, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nOK\n\r\n0\r\n\r\n"),
    (0x08, b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nOK\n"),
    (0x06, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 301 Moved Permanently\r\nLocation: https://example.com/\r\nContent-Length: 0\r\n\r\n"),
    (0x02, b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9\r\n\r\nNot Found"),
    (0x01, b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n"),
    (0x30, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    (0x48, b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567890123456789"),
]:
    put("http_response", bytes([opts]) + resp)


# ------------------------------------------------------------------------------- dns_answer
def name(n):
    return b"".join(bytes([len(p)]) + p.encode() for p in n.split(".")) + b"\x00"


def dns(id_, flags, question, answers=(), authority=(), additional=()):
    hdr = struct.pack(">HHHHHH", id_, flags, 1, len(answers), len(authority), len(additional))
    return hdr + question + b"".join(answers) + b"".join(authority) + b"".join(additional)


def q(n, t):
    return name(n) + struct.pack(">HH", t, 1)


def rr(t, rdata, ttl=300, owner=b"\xc0\x0c"):
    return owner + struct.pack(">HHIH", t, 1, ttl, len(rdata)) + rdata


A, NS, CNAME, SOA, MX, TXT, AAAA, OPT = 1, 2, 5, 6, 15, 16, 28, 41
RD_RA = 0x8180
opt = b"\x00" + struct.pack(">HHIH", OPT, 1232, 0, 0)
# Selector byte = index of the record type asked (A, NS, CNAME, SOA, MX, TXT, AAAA).
put("dns_answer", b"\x00" + dns(0xBEEF, RD_RA, q("example.com", A), [rr(A, bytes([93, 184, 215, 14]))], additional=[opt]))
put("dns_answer", b"\x06" + dns(0x1234, RD_RA, q("example.com", AAAA), [rr(AAAA, bytes.fromhex("26062800021f0000000000000000000a"))]))
put("dns_answer", b"\x04" + dns(0x0001, RD_RA, q("example.com", MX), [rr(MX, b"\x00\x0a" + name("mail.example.com")), rr(MX, b"\x00\x14\x04mail\xc0\x0c")]))
put("dns_answer", b"\x05" + dns(0x7F00, RD_RA, q("example.com", TXT), [rr(TXT, b"\x0bv=spf1 -all")]))
put("dns_answer", b"\x01" + dns(0x4242, RD_RA | 0x0400, q("example.com", NS), [rr(NS, b"\x01a\x0ciana-servers\x03net\x00"), rr(NS, b"\x01b\xc0\x2b")]))
put("dns_answer", b"\x00" + dns(0x5151, RD_RA, q("www.example.com", A), [rr(CNAME, b"\xc0\x10"), rr(A, bytes([93, 184, 215, 14]), owner=b"\xc0\x10")]))
soa = name("ns.icann.org") + name("noc.dns.icann.org") + struct.pack(">IIIII", 2025011601, 7200, 3600, 1209600, 3600)
put("dns_answer", b"\x03" + dns(0x6666, RD_RA | 3, q("nx.example.com", A), authority=[rr(SOA, soa, owner=b"\xc0\x0f")]))
put("dns_answer", b"\x00" + dns(0x7777, RD_RA | 0x0200, q("example.com", A)))
put("dns_answer", b"\x00" + dns(0x8888, RD_RA | 2, q("example.com", A)))

# ------------------------------------------------------------------------------- icmp_reply
# Selector (bit 0 raw socket, bit 1 IPv6), identifier, sequence, the datagram.
def icmp(t, ident, seq, payload=b"ha-healthcheck"):
    body = bytes([t, 0, 0, 0]) + struct.pack(">HH", ident, seq) + payload
    s = sum(struct.unpack(">%dH" % (len(body) // 2), body + b"\x00" * (len(body) % 2)))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return body[:2] + struct.pack(">H", ~s & 0xFFFF) + body[4:]


ipv4_hdr = bytes.fromhex("4500002a1c2d00004001606b7f0000017f000001")
put("icmp_reply", bytes([0]) + struct.pack(">HH", 0x1234, 7) + icmp(0, 0x0042, 7))
put("icmp_reply", bytes([1]) + struct.pack(">HH", 0x1234, 7) + ipv4_hdr + icmp(0, 0x1234, 7))
put("icmp_reply", bytes([1]) + struct.pack(">HH", 0x1234, 7) + ipv4_hdr + icmp(8, 0x1234, 7))
put("icmp_reply", bytes([3]) + struct.pack(">HH", 0x1234, 7) + icmp(129, 0x1234, 7))
put("icmp_reply", bytes([2]) + struct.pack(">HH", 0x1234, 7) + icmp(1, 0, 0, bytes(28)))

# -------------------------------------------------------------------------------- lvs_state
# Pairs (op, arg): op % 8 = 0 up, 1 down, 2 weight, 3/4 drain/undrain, 5 VRRP, 6 reload,
# 7 adopt an altered kernel table.
put("lvs_state", bytes([0, 0, 0, 1, 0, 2, 0, 0x80, 0, 0x81, 5, 1, 7, 0, 1, 1, 1, 2, 1, 0]))
put("lvs_state", bytes([3, 0x40, 4, 0x40, 3, 0x81, 6, 1, 0, 3, 0, 4, 7, 0x21, 7, 0x42, 6, 0, 5, 0, 5, 1]))
put("lvs_state", bytes([0x12, 1, 0x22, 0x81, 1, 0x80, 1, 0x81, 5, 0, 0, 0x80, 7, 0x61, 6, 1, 1, 0]))

# --------------------------------------------------------------------------- config_include
# Files main, one, two, three separated by NUL; no `/`, `\`, `..`, and no `.` with `$`.
put("config_include", b"\x00".join([
    b"global_defs {\n  router_id LVS_A\n}\ninclude one\ninclude t*\n",
    b"vrrp_instance VI_1 {\n  state MASTER\n  interface eth0\n  virtual_router_id 51\n  priority 100\n  advert_int 1\n  virtual_ipaddress {\n    10.99.0.200\n  }\n}\n",
    b"virtual_server 10.99.0.200 80 {\n  delay_loop 6\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  real_server 10.99.0.11 80 {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n}\n",
    b"! three is included by the pattern t* with two\n@fuzz vrrp_script chk { script \"true\"\n interval 2 }\n",
]))
put("config_include", b"\x00".join([
    b"$IF=eth0\n$VRID=51\ninclude one\nincludem two\n",
    b"vrrp_instance VI_$VRID {\n  interface $IF\n  virtual_router_id $VRID\n  priority 100\n}\n~SEQ(i, 1, 3) include three\n",
    b"include main\n",
    b"$PRIO=90\n@^fuzz $PRIO=80\n",
]))
put("config_include", b"\x00".join([
    b"include *\ninclude four\nincludew missing\ninclude [\n",
    b"include two\n",
    b"include three\n",
    b"include one\n",
]))

# ------------------------------------------------------------------------------- rtnl_reply
# Recorded by rtnl_record.py in a network namespace: dumps of links and addresses (veth,
# bridge, macvlan VMAC, labels, IPv6, a peer address), an EEXIST refusal, an acknowledgement,
# and RTM_NEWLINK notifications of links going down, up and away.
RTNL = os.path.join(CAPTURES, "rtnl")
for path in sorted(glob.glob(os.path.join(RTNL, "*"))):
    base = os.path.basename(path)
    if base.endswith("link-change") and base[:2] not in ("08", "10", "14", "17"):
        continue
    put("rtnl_reply", open(path, "rb").read(), "kernel-" + base)

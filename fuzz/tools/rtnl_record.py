#!/usr/bin/env python3
"""Records rtnetlink replies and link notifications as the kernel sends them, inside a
throwaway network namespace (run with `ip netns exec NS python3 rtnl_record.py OUTDIR`)."""
import os, socket, struct, subprocess, sys, time
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 1, 4, 0x200, 0x400, 0x300
n = 0
def save(tag, data):
    global n
    n += 1
    open(os.path.join(out, f"{n:02d}-{tag}"), "wb").write(data)
def sh(cmd):
    subprocess.run(cmd, shell=True, check=True)
sh("ip link set lo up")
sh("ip link add dummy0 address 02:00:00:00:00:01 type veth peer name dummy0p && ip link set dummy0p up && ip link set dummy0 up")
sh("ip addr add 10.99.0.11/24 dev dummy0 && ip addr add 10.99.0.200/24 dev dummy0 label dummy0:vip")
sh("ip -6 addr add 2001:db8::11/64 dev dummy0 nodad")
sh("ip link add veth0 type veth peer name veth1 && ip link set veth0 up")
sh("ip link add br0 type bridge && ip link set veth1 master br0")
sh("ip link add link dummy0 name vrrp.51 address 00:00:5e:00:01:33 type macvlan mode private")
sh("ip addr add 10.99.0.1 peer 10.99.0.2/32 dev veth0")
time.sleep(0.5)
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
s.bind((0, 0))
def request(kind, flags, body, seq, tag):
    s.send(struct.pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST | flags, seq, 0) + body)
    while True:
        d = s.recv(65536)
        save(tag, d)
        t = struct.unpack("=H", d[4:6])[0]
        if t in (2, 3):  # NLMSG_ERROR (acks too), NLMSG_DONE
            return
ifinfo = struct.pack("=BBHiII", 0, 0, 0, 0, 0, 0)
request(18, NLM_F_DUMP, ifinfo, 1, "link-dump")
request(22, NLM_F_DUMP, struct.pack("=BBBBI", 0, 0, 0, 0, 0), 2, "addr-dump")
idx = socket.if_nametoindex("dummy0")
addr = struct.pack("=BBBBI", 2, 24, 0, 0, idx)
rta = lambda t, v: struct.pack("=HH", 4 + len(v), t) + v + b"\0" * (-len(v) % 4)
body = addr + rta(2, socket.inet_aton("10.99.0.200")) + rta(1, socket.inet_aton("10.99.0.200"))
request(20, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, 3, "addr-exists")
body = addr + rta(2, socket.inet_aton("10.99.0.201")) + rta(1, socket.inet_aton("10.99.0.201"))
request(20, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, 4, "addr-ack")
# Link notifications (RTMGRP_LINK).
w = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
w.bind((0, 1))
w.settimeout(0.5)
for cmd in ["ip link set dummy0 down", "ip link set dummy0 up", "ip link set veth0 down",
            "ip link set vrrp.51 up", "ip link del vrrp.51"]:
    sh(cmd)
    time.sleep(0.2)
    try:
        while True:
            save("link-change", w.recv(65536))
    except socket.timeout:
        pass

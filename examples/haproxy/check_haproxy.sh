#!/bin/sh
# /etc/keepalived/check_haproxy.sh: succeeds when haproxy answers "show info" on its stats
# socket (haproxy.cfg: stats socket /run/haproxy/admin.sock). A dead haproxy refuses the
# connection; a hung one accepts it but says nothing, and socat gives up after 1 s.
echo "show info" | socat -T 1 stdio unix-connect:/run/haproxy/admin.sock 2>/dev/null |
    grep -q '^Pid:'

#!/bin/sh
# CPU of ha's health checker against keepalived 2.2.7's checker process for the same
# configuration: VS virtual servers sharing RS real servers in all, each with TCP_CHECK at
# delay_loop DELAY, against one listener. Runs INSIDE the IPVS test VM (busybox sh); see
# README.md here for the `cargo xtask vm-run` line that boots it.
#   checker_vm.sh [RS=10000] [VS=10] [DELAY=1]      (SETTLE, SECONDS, ORDER="ha keepalived")
set -eu
# The guest's busybox runs its own `ip` applet before PATH: use iproute2's.
ip() { /sbin/ip "$@"; }
rs=${1:-10000}
vs=${2:-10}
delay=${3:-1}
settle=${SETTLE:-30}
seconds=${SECONDS_MEASURED:-20}
order=${ORDER:-ha keepalived}
dir=/tmp/checker
mkdir -p "$dir"
cleanup() {
    [ -n "${listener:-}" ] && kill "$listener" 2> /dev/null
    ip link del rs0 2> /dev/null
    ip netns del rs 2> /dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

# The real servers live in a namespace where every 10.2.x.y is local (one route), so one
# listener on 0.0.0.0:80 answers all of them.
ip netns add rs
ip -n rs link set lo up
ip link add rs0 type veth peer name rsa netns rs
ip addr add 10.4.0.1/30 dev rs0
ip link set rs0 up
ip -n rs addr add 10.4.0.2/30 dev rsa
ip -n rs link set rsa up
ip route add 10.2.0.0/16 via 10.4.0.2
ip -n rs route add local 10.2.0.0/16 dev lo
ip netns exec rs lvs_bench serve 0.0.0.0:80 > /dev/null &
listener=$!
# The checker closes first: TIME_WAIT gathers here. Reuse it, and use a wide port range.
sysctl -qw net.ipv4.tcp_tw_reuse=1
sysctl -qw net.ipv4.ip_local_port_range="10000 65000"

conf=$dir/keepalived.conf
{
    printf 'global_defs {\n  router_id checker\n  script_user root\n}\n'
    per=$(((rs + vs - 1) / vs))
    n=0
    v=1
    while [ "$v" -le "$vs" ] && [ "$n" -lt "$rs" ]; do
        printf 'virtual_server 10.201.0.%d 80 {\n  delay_loop %s\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n' "$v" "$delay"
        i=0
        while [ "$i" -lt "$per" ] && [ "$n" -lt "$rs" ]; do
            printf '  real_server 10.2.%d.%d 80 {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n' \
                $((n / 250)) $((n % 250 + 1))
            i=$((i + 1))
            n=$((n + 1))
        done
        printf '}\n'
        v=$((v + 1))
    done
} > "$conf"

# USER_HZ: 100 on Linux x86 (busybox has no getconf).
hz=100
# CPU ticks (utime + stime, USER_HZ) of a process, of its threads named $2, of ksoftirqd.
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
thread_ticks() {
    t=0
    for task in /proc/"$1"/task/*; do
        [ "$(cat "$task/comm")" = "$2" ] && t=$((t + $(ticks "$1/task/${task##*/}")))
    done
    echo "$t"
}
# The guest's busybox has no pgrep: find ksoftirqd/0 by its comm.
softirqd() {
    for c in /proc/[0-9]*/comm; do
        if [ "$(cat "$c" 2> /dev/null)" = ksoftirqd/0 ]; then
            c=${c%/comm}
            ticks "${c#/proc/}"
            return
        fi
    done
    echo 0
}
# Machine ticks: total and idle (/proc/stat, first line).
machine() { awk '/^cpu / { print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6 }' /proc/stat; }
# TCP counters of a namespace ("" = this one): ActiveOpens AttemptFails, from /proc/net/snmp.
tcp_counters() {
    ${1:+ip netns exec "$1"} cat /proc/net/snmp | awk '/^Tcp:/ { if (h) { print $6, $8; exit } h = 1 }'
}
listen_drops() {
    ip netns exec rs cat /proc/net/netstat | awk '/^TcpExt:/ { if (h) { for (i = 1; i <= NF; i++) if (name[i] == "ListenDrops") print $i; exit } for (i = 1; i <= NF; i++) name[i] = $i; h = 1 }'
}
dests() { ipvsadm -Ln | grep -c -- '-> [0-9]' || true; }

echo "config: $rs real servers in $vs virtual servers, TCP_CHECK delay_loop $delay (connect_timeout 3); settle ${settle} s, measured ${seconds} s"

# measure NAME PID [THREAD]: CPU of PID (and of its THREAD threads) over $seconds.
measure() {
    name=$1
    pid=$2
    thread=${3:-}
    set -- $(tcp_counters)
    opens0=$1
    fails0=$2
    drops0=$(listen_drops)
    c0=$(ticks "$pid")
    [ -n "$thread" ] && th0=$(thread_ticks "$pid" "$thread")
    s0=$(softirqd)
    set -- $(machine)
    m0=$1
    idle0=$2
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    sleep "$seconds"
    set -- $(tcp_counters)
    opens1=$1
    fails1=$2
    drops1=$(listen_drops)
    c1=$(ticks "$pid")
    [ -n "$thread" ] && th1=$(thread_ticks "$pid" "$thread")
    s1=$(softirqd)
    set -- $(machine)
    m1=$1
    idle1=$2
    cpu=$(((c1 - c0) * 100 / (seconds * hz)))
    rate=$(((opens1 - opens0) / seconds))
    line="$name: CPU $((c1 - c0)) ticks in ${seconds} s = ${cpu}% of the vCPU"
    [ -n "$thread" ] && line="$line (${thread} thread $(((th1 - th0) * 100 / (seconds * hz)))%)"
    line="$line; ${rate} connects/s, $((fails1 - fails0)) failed, listener drops $((drops1 - drops0))"
    [ "$rate" -gt 0 ] && line="$line; $(((c1 - c0) * 10000 / (opens1 - opens0))) us of CPU per check"
    line="$line; ksoftirqd $(((s1 - s0) * 100 / (seconds * hz)))%; VM busy $(((m1 - m0 - idle1 + idle0) * 100 / (m1 - m0)))%; guest load $load0"
    echo "$line"
}

for who in $order; do
    case $who in
    ha)
        ha run --check -f "$conf" --control-socket "$dir/ha.sock" 2> "$dir/ha.log" &
        pid=$!
        sleep "$settle"
        measure "ha run --check" "$pid" healthcheck
        up=$(ha status --json --socket "$dir/ha.sock" | grep -c '"health": "up"' || true)
        echo "  ha: real servers up $up/$rs, IPVS destinations $(dests), $(awk '/^VmRSS:/ { print $2 }' /proc/$pid/status) KiB RSS"
        kill -TERM "$pid"
        wait "$pid" || true
        ;;
    keepalived)
        rm -f "$dir"/*.pid
        keepalived -C -n -D -f "$conf" -p "$dir/k.pid" -r "$dir/v.pid" -c "$dir/c.pid" > "$dir/ka.log" 2>&1 &
        pid=$!
        sleep "$settle"
        check_pid=$(cat "$dir/c.pid")
        measure "keepalived checker child" "$check_pid"
        echo "  keepalived: IPVS destinations $(dests), parent CPU $(ticks "$pid") ticks since start, checker $(awk '/^VmRSS:/ { print $2 }' /proc/$check_pid/status) KiB RSS"
        kill -TERM "$pid"
        wait "$pid" || true
        ;;
    esac
    sleep 2
done

#!/bin/sh
# RSS of `ha run` and of keepalived 2.2.7 (parent + VRRP child + checker child) for the same
# configuration: N VRRP instances and VS virtual servers x RS real servers with TCP_CHECK
# (delay_loop 6) against one listener. Runs INSIDE the IPVS test VM (busybox sh), which has
# IPVS; see benches/rss/README.md for the `cargo xtask vm-run` line that boots it.
#   lvs_vm.sh [N=100] [VS=10] [RS=100]      (SETTLE=seconds, default 20)
set -eu
# The guest's busybox runs its own `ip` applet before PATH: use iproute2's.
ip() { /sbin/ip "$@"; }
n=${1:-100}
vs=${2:-10}
rs=${3:-100}
settle=${SETTLE:-20}
dir=/tmp/rss
mkdir -p "$dir"
cleanup() {
    [ -n "${listener:-}" ] && kill "$listener" 2> /dev/null
    ip link del vrrp0 2> /dev/null
    ip link del rs0 2> /dev/null
    ip netns del rs 2> /dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

# VRRP runs on a veth pair; the real servers live in a namespace where every 10.2.x.y is
# local (one route), so one listener on 0.0.0.0:80 answers all of them.
ip link add vrrp0 type veth peer name vrrp1
ip link set vrrp1 up
ip addr add 10.200.0.1/16 dev vrrp0
ip link set vrrp0 up
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

conf=$dir/keepalived.conf
{
    printf 'global_defs {\n  router_id rss\n  vrrp_version 3\n  script_user root\n}\n'
    i=1
    while [ "$i" -le "$n" ]; do
        printf 'vrrp_instance VI_%d {\n  state BACKUP\n  interface vrrp0\n  virtual_router_id %d\n  priority 100\n  advert_int 1\n  virtual_ipaddress {\n    10.200.%d.%d/32\n  }\n}\n' \
            "$i" "$i" $((i / 250 + 1)) $((i % 250 + 1))
        i=$((i + 1))
    done
    v=1
    while [ "$v" -le "$vs" ]; do
        printf 'virtual_server 10.201.0.%d 80 {\n  delay_loop 6\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n' "$v"
        r=1
        while [ "$r" -le "$rs" ]; do
            printf '  real_server 10.2.%d.%d 80 {\n    weight 1\n    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n' \
                "$v" "$r"
            r=$((r + 1))
        done
        printf '}\n'
        v=$((v + 1))
    done
} > "$conf"

kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/$3"; }
rss() { kib "$1" VmRSS status; }
# Proportional set size: pages shared between keepalived's forked processes (and with
# anything else) counted once in all, which summing RSS does not do.
pss() { kib "$1" Pss smaps_rollup; }
anon() { kib "$1" RssAnon status; }
dests() { ipvsadm -Ln | grep -c -- '-> [0-9]' || true; }

echo "config: $n VRRP instances, $vs virtual servers x $rs real servers (TCP_CHECK, delay_loop 6); settle ${settle} s"

ha run -f "$conf" --control-socket "$dir/ha.sock" 2> "$dir/ha.log" &
ha_pid=$!
sleep "$settle"
ha_rss=$(rss "$ha_pid")
ha_pss=$(pss "$ha_pid")
ha_anon=$(anon "$ha_pid")
ha_threads=$(awk '/^Threads:/ { print $2 }' "/proc/$ha_pid/status")
ha_master=$(ha status --json --socket "$dir/ha.sock" | grep -c '"state": "MASTER"' || true)
ha_up=$(ha status --json --socket "$dir/ha.sock" | grep -c '"health": "up"' || true)
ha_dests=$(dests)
kill -TERM "$ha_pid"
wait "$ha_pid" || true

keepalived -n -D -f "$conf" -p "$dir/k.pid" -r "$dir/v.pid" -c "$dir/c.pid" > "$dir/ka.log" 2>&1 &
ka_pid=$!
sleep "$settle"
vrrp_pid=$(cat "$dir/v.pid")
check_pid=$(cat "$dir/c.pid")
ka_rss_p=$(rss "$ka_pid")
ka_rss_v=$(rss "$vrrp_pid")
ka_rss_c=$(rss "$check_pid")
ka_pss=$(($(pss "$ka_pid") + $(pss "$vrrp_pid") + $(pss "$check_pid")))
ka_anon=$(($(anon "$ka_pid") + $(anon "$vrrp_pid") + $(anon "$check_pid")))
ka_master=$(ip -o addr show dev vrrp0 | grep -c '/32' || true)
ka_dests=$(dests)
kill -TERM "$ka_pid"
wait "$ka_pid" || true

echo "ha run                                     VmRSS ${ha_rss} KiB, PSS ${ha_pss} KiB, RssAnon ${ha_anon} KiB (${ha_threads} threads; MASTER ${ha_master}/$n, real servers up ${ha_up}, IPVS destinations ${ha_dests})"
echo "keepalived (parent + vrrp + checker)       VmRSS $((ka_rss_p + ka_rss_v + ka_rss_c)) KiB (${ka_rss_p} + ${ka_rss_v} + ${ka_rss_c}), PSS ${ka_pss} KiB, RssAnon ${ka_anon} KiB (VIPs held ${ka_master}/$n, IPVS destinations ${ka_dests})"

#!/usr/bin/env bash
# RSS of `ha run` and of keepalived (--vrrp) for the same configuration with N VRRP instances,
# in a network namespace of its own. Run as root after `cargo build --release -p ha-cli`.
#   benches/rss/vrrp.sh [N=100]
set -euo pipefail
n=${1:-100}
here=$(cd "$(dirname "$0")/../.." && pwd)
ha=${HA_BIN:-$here/target/release/ha}
[ -x "$ha" ] || { echo "build first: cargo build --release -p ha-cli" >&2; exit 2; }
ns=ha-rss-$$
dir=$(mktemp -d)
cleanup() {
    [ -n "${ha_pid:-}" ] && kill -TERM "$ha_pid" 2>/dev/null || true
    [ -n "${ka_pid:-}" ] && kill -TERM "$ka_pid" 2>/dev/null || true
    sleep 0.5
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add eth0 type veth peer name eth1
ip -n "$ns" link set eth1 up
ip -n "$ns" addr add 10.200.0.1/16 dev eth0
ip -n "$ns" link set eth0 up

conf=$dir/keepalived.conf
{
    printf 'global_defs {\n  router_id rss\n  vrrp_version 3\n  script_user root\n}\n'
    for i in $(seq 1 "$n"); do
        printf 'vrrp_instance VI_%d {\n  state BACKUP\n  interface eth0\n  virtual_router_id %d\n  priority 100\n  advert_int 1\n  virtual_ipaddress {\n    10.200.%d.%d/32\n  }\n}\n' \
            "$i" "$i" $((i / 250 + 1)) $((i % 250 + 1))
    done
} > "$conf"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

ip netns exec "$ns" "$ha" run -f "$conf" --control-socket "$dir/ha.sock" 2>/dev/null &
ha_pid=$!
sleep 6
ha_rss=$(rss_kib "$ha_pid")
ha_state=$("$ha" status --json --socket "$dir/ha.sock" | grep -c '"state": "MASTER"' || true)
kill -TERM "$ha_pid"; wait "$ha_pid" 2>/dev/null || true; ha_pid=

ip netns exec "$ns" keepalived -P -n -D -f "$conf" -p "$dir/k.pid" -r "$dir/v.pid" -c "$dir/c.pid" -b "$dir/b.pid" 2>/dev/null &
ka_pid=$!
sleep 6
ka_parent=$(rss_kib "$ka_pid")
ka_vrrp=$(rss_kib "$(cat "$dir/v.pid")")
kill -TERM "$ka_pid"; wait "$ka_pid" 2>/dev/null || true; ka_pid=

echo "VRRP instances: $n (all MASTER in ha: $ha_state)"
echo "ha run                      RSS ${ha_rss} KiB"
echo "keepalived (parent + vrrp)  RSS $((ka_parent + ka_vrrp)) KiB (${ka_parent} + ${ka_vrrp})"

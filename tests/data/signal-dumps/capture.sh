#!/bin/bash
# Capture Debian keepalived 2.2.7's signal dumps for keepalived.conf (see README.md).
# Runs keepalived only inside two network namespaces it creates and removes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
lb=sigcap-lb-$$ peer=sigcap-peer-$$
work=$(mktemp -d)
cleanup() {
  [ -n "${kpid:-}" ] && kill -TERM "$kpid" 2>/dev/null && sleep 2
  [ -n "${wpid:-}" ] && kill "$wpid" 2>/dev/null
  ip netns del "$lb" 2>/dev/null || true
  ip netns del "$peer" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$lb"; ip netns add "$peer"
ip link add eth0 netns "$lb" type veth peer name eth0 netns "$peer"
ip -n "$lb" link set lo up; ip -n "$lb" link set eth0 up
ip -n "$peer" link set lo up; ip -n "$peer" link set eth0 up
ip -n "$lb" addr add 10.9.0.2/24 dev eth0
ip -n "$peer" addr add 10.9.0.12/24 dev eth0
ip netns exec "$peer" python3 -m http.server 80 --bind 10.9.0.12 >/dev/null 2>&1 &
wpid=$!
for i in $(seq 100); do ip netns exec "$lb" bash -c "exec 3<>/dev/tcp/10.9.0.12/80" 2>/dev/null && break; sleep 0.2; done
mkdir "$work/tmp"
ip netns exec "$lb" env TMPDIR="$work/tmp" keepalived -n -l -D -f "$here/keepalived.conf" \
  -p "$work/k.pid" -r "$work/v.pid" -c "$work/c.pid" >"$work/log" 2>&1 &
kpid=$!
sleep 8
for s in USR1 USR2 36; do kill -s "$s" "$kpid"; sleep 1; done
cp "$work/tmp/"* "$out/" 2>/dev/null || true
kill -s 63 "$kpid"; sleep 1
cp "$work/tmp/keepalived.stats" "$out/keepalived.stats.clearing"
kill -s USR2 "$kpid"; sleep 1
cp "$work/tmp/keepalived.stats" "$out/keepalived.stats.after-clear"
stat -c "%A %n" "$work/tmp/"* | sed "s|$work/tmp/||" > "$out/modes.txt"
kill -TERM "$kpid"; wait "$kpid" || true; kpid=
cp "$work/log" "$out/keepalived.log"

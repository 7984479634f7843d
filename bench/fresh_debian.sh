#!/usr/bin/env bash
# The README's commands on a stock Debian 12 (or Ubuntu 24.04), from a fresh clone, timed.
#
#   sudo bench/fresh_debian.sh                 # Debian 12 (bookworm)
#   sudo DIST=debian13 bench/fresh_debian.sh   # Debian 13 (trixie): Python 3.13, externally managed too
#   sudo DIST=ubuntu2404 bench/fresh_debian.sh # Ubuntu 24.04 (noble), needs Debian's ubuntu-keyring
#
# Builds (once, cached as a tarball in $PYKEEPALIVED_BENCH_CACHE, default /var/cache/pykeepalived-bench/) a
# minimal image of the distribution's own packages with mmdebstrap: python3 (externally managed, PEP 668, no
# venv module), sudo, ca-certificates.  Each run unpacks it into a fresh directory, clones this repository's
# HEAD into it and, in a chroot, with nothing of this machine's environment (env -i) and sudo's secure_path:
#   1. sudo ./scripts/demo                      the README's main command (namespaces made inside the chroot)
#   2. sudo ./scripts/demo                      again: the venv is reused
#   3. sudo ./scripts/test --install-only       the test command's install step (not the suite)
# It checks that the demo passed, that no /usr/sbin/policy-rc.d was left behind, and prints the times.
# /proc, /sys, /dev and /run are mounted in a private mount namespace (unshare -m), so they disappear with it
# whatever happens; the unpacked tree is removed at the end (KEEP=1 keeps it).  This machine's CA bundle is
# copied in (CA_BUNDLE=FILE, or CA_BUNDLE= for the image's own), for a site whose proxy re-signs TLS.
# Takes minutes (apt and pip downloads): run by hand, not in CI.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dist="${DIST:-debian12}"
cache="${PYKEEPALIVED_BENCH_CACHE:-/var/cache/pykeepalived-bench}"
case "$dist" in
  debian12)
    suite=bookworm
    mirrors=("deb http://deb.debian.org/debian bookworm main"
             "deb http://deb.debian.org/debian bookworm-updates main"
             "deb http://deb.debian.org/debian-security bookworm-security main")
    keyring=()
    extra="" ;;
  debian13)  # trixie: a newer externally managed Python (3.13), as Ubuntu 24.04's (3.12) is newer than 3.11
    suite=trixie
    mirrors=("deb http://deb.debian.org/debian trixie main"
             "deb http://deb.debian.org/debian trixie-updates main"
             "deb http://deb.debian.org/debian-security trixie-security main")
    keyring=()
    extra="" ;;
  ubuntu2404)
    suite=noble
    mirrors=("deb http://archive.ubuntu.com/ubuntu noble main universe"
             "deb http://archive.ubuntu.com/ubuntu noble-updates main universe"
             "deb http://security.ubuntu.com/ubuntu noble-security main universe")
    keyring=(--keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg)
    extra=",apt" ;;  # Ubuntu's apt is priority important, so minbase leaves it out; every Ubuntu install has it
  *) echo "DIST must be debian12, debian13 or ubuntu2404" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "fresh_debian: needs root (chroot, mounts, namespaces)" >&2; exit 1; }
command -v mmdebstrap >/dev/null || { echo "fresh_debian: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 1; }

declare -A took
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

image="$cache/$dist-minbase.tar"
mkdir -p "$cache"
if [ ! -s "$image" ]; then
  t0=$(now)
  echo "fresh_debian: building $image (mmdebstrap $suite minbase + python3 sudo ca-certificates)" >&2
  mmdebstrap --quiet --variant=minbase --format=tar "${keyring[@]}" --include=python3,sudo,ca-certificates$extra \
    "$suite" "$image.part" "${mirrors[@]}"
  mv "$image.part" "$image"
  took[image]=$(secs "$t0" "$(now)")
fi

root="$(mktemp -d /var/tmp/pykeepalived-fresh.XXXXXX)"
cleanup() {
  # processes still running with their root in the tree are ours (started by this run): stop them by pid
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
  done
  if [ "${KEEP:-0}" = 1 ]; then echo "fresh_debian: kept $root" >&2; else rm -rf --one-file-system "$root"; fi
}
trap cleanup EXIT
t0=$(now)
tar -C "$root" -xf "$image"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# this machine's trust store (a site behind a TLS-inspecting proxy adds its CA there); CA_BUNDLE= to skip
ca="${CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}"
[ -n "$ca" ] && [ -s "$ca" ] && cp "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
git clone -q "$repo" "$root/root/pykeepalived"
git -C "$root/root/pykeepalived" checkout -q "${REF:-HEAD}"  # REF=commit: another committed state
took[unpack+clone]=$(secs "$t0" "$(now)")
echo "fresh_debian: $dist in $root, clone of $(git -C "$root/root/pykeepalived" rev-parse --short HEAD)" >&2

# one step in the chroot: a login-less root shell with sudo's PATH only, nothing of this machine's environment
in_chroot() {
  unshare --mount --propagation private -- /bin/sh -ec '
    root="$1"; shift
    mount --bind "$root" "$root"  # / a mount point, as on a host: ip netns exec remounts it rslave
    mount -t proc proc "$root/proc"
    mount --rbind /sys "$root/sys"
    mount --rbind /dev "$root/dev"
    mount -t tmpfs -o mode=755 tmpfs "$root/run"
    mkdir -p "$root/run/netns" "$root/run/lock"
    exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb PATH=/usr/bin:/bin \
      /bin/sh -c "cd /root/pykeepalived && $*"' in_chroot "$root" "$@"
}

status=0
step() {
  local name="$1"; shift
  local t0 rc=0
  t0=$(now)
  echo "fresh_debian: --- $name: $*" >&2
  in_chroot "$@" > "$root/../$(basename "$root").$name.log" 2>&1 || rc=$?
  took[$name]=$(secs "$t0" "$(now)")
  tail -n 25 "$root/../$(basename "$root").$name.log" | sed "s/^/  $name| /" >&2
  if [ "$rc" != 0 ]; then echo "fresh_debian: $name FAILED (exit $rc)" >&2; status=1; fi
  if [ -e "$root/usr/sbin/policy-rc.d" ]; then
    echo "fresh_debian: $name left /usr/sbin/policy-rc.d behind" >&2; status=1
  fi
}
step demo 'sudo ./scripts/demo'
step demo-again 'sudo ./scripts/demo'
step test-install 'sudo ./scripts/test --install-only'
in_chroot 'echo "python3: $(command -v python3) ($(python3 -V)); venv: $(.venv/bin/python -V)";
           ls /usr/lib/python3*/EXTERNALLY-MANAGED' >&2 || status=1

# policy-rc.d kept apt's daemons (keepalived, haproxy) from starting: nothing may run in the tree now
for p in /proc/[0-9]*; do
  if [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ]; then
    echo "fresh_debian: left running in the chroot: ${p#/proc/} $(tr '\0' ' ' < "$p/cmdline")" >&2; status=1
  fi
done
echo "fresh_debian: times on $dist (seconds)" >&2
for k in image unpack+clone demo demo-again test-install; do
  [ -n "${took[$k]:-}" ] && printf '  %-14s %8s\n' "$k" "${took[$k]}" >&2
done
if [ "$status" = 0 ]; then
  rm -f /var/tmp/"$(basename "$root")".*.log
else
  echo "fresh_debian: logs in /var/tmp/$(basename "$root").*.log" >&2
fi
exit "$status"

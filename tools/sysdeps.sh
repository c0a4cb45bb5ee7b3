#!/usr/bin/env bash
# Installs the Debian packages the test suite uses (real heartbeat 3.0.6 for
# interop, cluster-glue's stonith for fencing, socat for serial pty pairs,
# iproute2 for network namespaces, clang
# with its libFuzzer runtime for `make fuzz`, debhelper and debootstrap for
# `make deb` and its install test, drbd-utils for its OCF agent, whose
# meta-data crmsh reads when it loads an exported configuration, kmod for
# the modprobe that the Filesystem agent needs, ...).
# As root it installs what is missing; otherwise it only reports, and the
# tests that need a missing package skip themselves with the reason.
set -u
pkgs=(libssl-dev socat iproute2 nftables heartbeat resource-agents cluster-glue tcpdump iputils-ping psmisc systemd
      clang-14 libclang-rt-14-dev
      debhelper dpkg-dev debootstrap python3-venv python3-dev libffi-dev e2fsprogs man-db groff-base
      pacemaker-cli-utils crmsh pcs corosync drbd-utils kmod)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "sysdeps: not root, not installing: ${missing[*]} (tests needing them will be skipped)"
    exit 0
fi
echo "sysdeps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d keeps package scripts from starting a real heartbeat on the host.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

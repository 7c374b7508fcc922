#!/usr/bin/env bash
# Install the Debian packages the embedded site and the tests need, when missing.
# `system-deps.sh --bench` (make bench): also rclone, the restore benchmark's reference tool (not needed by make test).
# Required: openssh-server/-client (the SFTP provider and the VPN appliance are a real sshd), sip-tester (SIPp),
# systemd (systemd-analyze only: nothing is started).
# For the real VPN tunnel (root only): strongSwan's charon with kernel-libipsec, swanctl, ping. Without
# them (or without root) the embedded site falls back to its fake appliance and says so.
# For the status page tests (root only, like the tunnel; CI runs as root): Debian's chromium, headless.
set -euo pipefail
need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
# SIPp answers the SIP OPTIONS probes of `orchestrator watch` in the tests (a real SIP implementation)
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
# systemd-analyze verifies the watcher's unit the stack writes into its instance's user data
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
if [ "${1:-}" = "--bench" ]; then
  command -v rclone >/dev/null 2>&1 || need+=(rclone)
fi
tunnel=()
[ -x /usr/lib/ipsec/charon ] || tunnel+=(strongswan-charon)
[ -x /usr/sbin/swanctl ] || tunnel+=(strongswan-swanctl)
[ -e /usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so ] || tunnel+=(libcharon-extra-plugins)
[ -x /usr/bin/ping ] || tunnel+=(iputils-ping)
command -v ip >/dev/null 2>&1 || tunnel+=(iproute2)
browser=()
command -v chromium >/dev/null 2>&1 || browser+=(chromium)
if [ "$(id -u)" -ne 0 ]; then
  if [ ${#tunnel[@]} -gt 0 ]; then
    echo "note: no real VPN tunnel in the embedded site (needs root and: ${tunnel[*]}); it uses its fake appliance" >&2
  fi
  if [ ${#browser[@]} -gt 0 ]; then
    echo "note: no headless chromium: the status page browser tests will be skipped (as root: apt-get install -y chromium)" >&2
  fi
  if [ ${#need[@]} -eq 0 ]; then exit 0; fi
  echo "missing Debian packages: ${need[*]}" >&2
  echo "install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
all=("${need[@]}" "${tunnel[@]}" "${browser[@]}")
if [ ${#all[@]} -eq 0 ]; then exit 0; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${all[@]}" >/dev/null
echo "installed: ${all[*]}"

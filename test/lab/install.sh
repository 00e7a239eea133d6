#!/usr/bin/env bash
# Install the PBX lab tools (Debian 12 "bookworm") used by the integration tests:
# Kamailio, rtpengine (userspace only), SIPp, baresip, SIPVicious, sipsak, tshark,
# GStreamer, sox, openssl, iproute2, iptables, prometheus (promtool),
# prometheus-alertmanager (+ amtool).
#
# Idempotent: installs only the packages that are missing (dpkg-query), so a
# second run does no apt work at all. Runs as root (or through sudo).
# Stock services are NOT started by the install (policy-rc.d) and are disabled
# afterwards, or the Debian kamailio would take 5060, prometheus 9090, alertmanager 9093.
set -euo pipefail

PACKAGES=(
  kamailio kamailio-tls-modules rtpengine-daemon rtpengine-utils
  sip-tester baresip-core sipvicious sipsak tshark
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  sox openssl iproute2 iptables
  espeak-ng  # spoken IVR prompts for the expect_prompt tests (ivr-prompt.test.ts)
  prometheus prometheus-alertmanager
  fail2ban  # fail2ban-regex / fail2ban-server: the shipped filter and jail, end to end
  systemd  # systemd-analyze and systemd-notify for the unit file tests (present on most hosts)
  libspandsp-dev  # G.722 oracle for the unit tests (an independent ITU-exact codec)
  g++ make python3  # toolchain for the udpio addon (native/udpio), built by npm ci
)
# services shipped by the packages above that must not run during tests
SERVICES=(kamailio rtpengine-daemon prometheus prometheus-alertmanager fail2ban)

# packages of the list that are not fully installed (one dpkg-query for all)
missing_packages() {
  local have
  have=$(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null | awk '$4 == "installed" {print $1}' || true)
  for p in "${PACKAGES[@]}"; do
    grep -qx -- "$p" <<< "$have" || echo "$p"
  done
}

mapfile -t missing < <(missing_packages)
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install.sh: all ${#PACKAGES[@]} lab packages already installed"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: re-running as root for: ${missing[*]}" >&2
  exec sudo -- bash "$0" "$@"
fi

echo "install.sh: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once, non-interactively
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections

# keep maintainer scripts from starting the stock services (restored on exit)
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  created_policy=1
fi
cleanup() { if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  for s in "${SERVICES[@]}"; do
    # only units that were just installed: never touch a service the host already ran
    for m in "${missing[@]}"; do
      case "$m" in "$s" | "$s"-daemon) systemctl disable --now "$s" >/dev/null 2>&1 || true ;; esac
    done
  done
fi

mapfile -t still < <(missing_packages)
if [ "${#still[@]}" -ne 0 ]; then
  echo "install.sh: still missing after apt-get: ${still[*]}" >&2
  exit 1
fi
echo "install.sh: done"

#!/usr/bin/env bash
# Sets up Parley on a fresh Debian/Ubuntu machine: Debian packages (offline speech, SIP test peers,
# Chromium for the browser test) and the npm dependencies. Run as root (or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
PKGS=(
  # offline speech: PocketSphinx STT, flite + espeak-ng TTS
  pocketsphinx-en-us libpocketsphinx3 libsphinxbase3 flite libflite1 espeak-ng
  # real SIP peers and audio tools for the tests
  baresip-core sip-tester sox
  # real browsers for the demo tests (Firefox needs a sound server with a null sink to run audio);
  # openssl for the test certificate
  chromium firefox-esr pulseaudio openssl
  # native addon build (@discordjs/opus compiles libopus from source)
  python3 make g++
  # system libopus: audio/opus.ts decodes through it (via koffi) for FEC; falls back to the addon
  libopus0
  # PostgreSQL server for the store tests (test/support/postgres.ts runs initdb/postgres in a temp dir;
  # the package's own cluster is not used)
  postgresql
  # the cluster's engines (issue 13): the tests and `npm run cluster` start their own Kamailio, HAProxy and
  # Redis on loopback ports in temp dirs; the packages' own services are not used
  kamailio haproxy redis-server
)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update
  # do not let the packages start their system services (Redis on 6379, HAProxy, Kamailio on 5060): the
  # tests run their own instances. policy-rc.d exit 101 = "action forbidden" (invoke-rc.d); ours is removed after.
  POLICY_ADDED=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null && $SUDO chmod +x /usr/sbin/policy-rc.d && POLICY_ADDED=1
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${missing[@]}"
  if [ -n "$POLICY_ADDED" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi
# onnxruntime-node's postinstall would fetch CUDA files (fails offline); its CPU build is in the tarball.
export ONNXRUNTIME_NODE_INSTALL=skip
# Native addons whose prebuilt downloads fail offline (@discordjs/opus, better-sqlite3) compile from source
# against the running Node's headers: point node-gyp at them so it does not try to download them either.
NODE_PREFIX="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$NODE_PREFIX/include/node/common.gypi" ]; then
  export npm_config_nodedir="$NODE_PREFIX"
fi
npm ci --no-audit --no-fund

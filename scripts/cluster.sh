#!/usr/bin/env bash
# `npm run cluster`: a local Parley cluster on 127.0.0.1 for trying by hand (docs/cluster.md):
# Redis, PostgreSQL, two Parley instances, HAProxy (HTTP/WS) and Kamailio (SIP) in front. Ctrl-C stops all.
# Needs the Debian packages scripts/setup.sh installs (redis-server, postgresql, haproxy, kamailio).
set -euo pipefail
cd "$(dirname "$0")/.."
for bin in redis-server haproxy kamailio; do
  command -v "$bin" >/dev/null || { echo "cluster: $bin is not installed (bash scripts/setup.sh)" >&2; exit 1; }
done
exec node --import tsx scripts/cluster.ts "$@"

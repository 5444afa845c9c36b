#!/usr/bin/env bash
# Runs the browser tests (run.mjs, headless Chromium driven by playwright-core) against the real
# binary: `consilium serve` on a free loopback port with a temporary data directory, and an admin
# token made with `consilium admin create-token` against the same data. Screenshots go to
# tests/browser/screenshots/. Usage: tests/browser/run.sh [BINARY]  (default target/debug/consilium)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=$(realpath "${1:-$root/target/debug/consilium}")
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
export CONSILIUM__DATA_DIR="$work/data"
export CONSILIUM__SERVER__BIND="127.0.0.1:$port"
# Metrics on any free loopback port (the default 9464 may be taken by another run).
export CONSILIUM__SERVER__METRICS_BIND="127.0.0.1:0"
export CONSILIUM__SERVER__PUBLIC_URL="$base"
export CONSILIUM__LOG__FORMAT=pretty
# Previews carry the recipient and the time, as a deployment that wants it would run (the viewer's
# screenshots show it).
export CONSILIUM__PREVIEWS__WATERMARK=true
cd "$work"

"$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 60); do curl -fsS -o /dev/null "$base/readyz" 2>/dev/null && break; sleep 0.5; done
if ! curl -fsS -o /dev/null "$base/readyz"; then
  echo "the server did not become ready:" >&2
  tail -n 40 "$work/server.log" >&2
  exit 1
fi
token=$("$bin" admin create-token --name browser-tests | tail -n 1)

status=0
BASE_URL="$base" ADMIN_TOKEN="$token" SCREENSHOT_DIR="$here/screenshots" \
  node "$here/run.mjs" || status=$?
# The radiologist's link and the image viewer (a synthetic CT series, tests/browser/phantom.mjs).
BASE_URL="$base" ADMIN_TOKEN="$token" SCREENSHOT_DIR="$here/screenshots" \
  node "$here/links.mjs" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- last lines of the server log ---" >&2
  tail -n 40 "$work/server.log" >&2
fi
exit "$status"

#!/usr/bin/env bash
# One command from a fresh clone to a running three-node local forest:
# installs nats-server (Debian package) if missing, installs and builds Morpheus, plants `local medium`.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v nats-server >/dev/null 2>&1; then
  echo "== installing nats-server (Debian package)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server
fi
if ! command -v node >/dev/null 2>&1; then
  echo "Node.js >= 20.19 is needed: apt-get install nodejs npm (or use your Node version manager)" >&2
  exit 1
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund
fi
echo "== build"
npm run build --silent
echo "== morpheus plant local ${1:-medium}"
./bin/run.js plant local "${1:-medium}"
echo
echo "Morpheus is ./bin/run.js (or run \`npm link\` once to get \`morpheus\` on PATH)."
echo "Try: ./bin/run.js list    ./bin/run.js status <forest>    ./bin/run.js teardown <forest>"

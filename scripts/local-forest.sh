#!/usr/bin/env bash
# One command from a fresh clone to a running three-node local forest, with `morpheus` installed:
# installs nats-server (Debian package) if missing, builds Morpheus and installs it like any npm CLI
# (scripts/install.sh: the release tarball, offline, into npm's global prefix or ~/.local), then
# plants `local medium` with the installed `morpheus`.
# Usage: bash scripts/local-forest.sh [size] [--prefix DIR] [other scripts/install.sh options]
set -euo pipefail
cd "$(dirname "$0")/.."

size=medium install_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-build) install_args+=("$1"); shift ;;
    --*) install_args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    *) size="$1"; shift ;;
  esac
done

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v nats-server >/dev/null 2>&1; then
  echo "== installing nats-server (Debian package)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server
fi

bin="$(bash scripts/install.sh "${install_args[@]}" | tail -n 1)"

echo "== morpheus plant local $size"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
"$bin" plant local "$size" | tee "$out"
forest="$(grep -o 'forest-[0-9]\+' "$out" | head -n 1 || true)"

# The commands below work as printed: by name when the installed morpheus is the one on PATH,
# else by its full path (with the line that puts it on PATH).
if [ "$(command -v morpheus || true)" = "$bin" ]; then
  m=morpheus
else
  m="$bin"
  echo
  echo "morpheus is installed as $bin; to call it by name: export PATH=\"$(dirname "$bin"):\$PATH\""
fi
echo
echo "Try:"
echo "  $m list"
echo "  $m status ${forest:-<forest>}"
echo "  $m teardown ${forest:-<forest>} --yes"

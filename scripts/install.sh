#!/usr/bin/env bash
# Installs `morpheus` on PATH the way npm installs any CLI, from this clone, with no npm registry:
# builds (npm run release: the CLI tarball with the bundled plugins and every runtime dependency
# inside, plus one tarball per plugin in release/), then
#   npm install -g --offline [--prefix DIR] release/morpheus-<version>.tgz
#
# Usage: bash scripts/install.sh [--prefix DIR] [--skip-build] [--out DIR] [--tarball FILE]
#   --prefix DIR    npm's global prefix to install into: `morpheus` goes to DIR/bin. Default: npm's
#                   own global prefix (`npm prefix -g`) when it is writable, else ~/.local.
#   --skip-build    pack the tree as built (node scripts/release.js) instead of `npm run release`.
#   --out DIR       where the tarballs go (default: release/).
#   --tarball FILE  install this release tarball as it is (no build, no packing).
# Progress goes to stderr; the last line on stdout is the absolute path of the installed `morpheus`.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix="" skip_build="" out="$PWD/release" tarball=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --skip-build) skip_build=1; shift ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --tarball) tarball="${2:?--tarball needs a file}"; shift 2 ;;
    *) echo "install.sh: unknown argument \"$1\" (usage: bash scripts/install.sh [--prefix DIR] [--skip-build] [--out DIR] [--tarball FILE])" >&2; exit 2 ;;
  esac
done

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install.sh: Node.js >= 20.19 and npm are needed: apt-get install nodejs npm (or use your Node version manager)" >&2
  exit 1
fi
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' \
  || { echo "install.sh: Node.js >= 20.19 is needed (this is $(node --version))" >&2; exit 1; }

if [ -z "$prefix" ]; then
  prefix="$(npm prefix -g 2>/dev/null || true)"
  if [ -z "$prefix" ] || ! { mkdir -p "$prefix/bin" "$prefix/lib" 2>/dev/null && [ -w "$prefix/bin" ] && [ -w "$prefix/lib" ]; }; then
    prefix="$HOME/.local"
  fi
fi
mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"

# Build and pack (progress on stderr: stdout carries only the binary's path).
pack() {
  if [ -z "$skip_build" ]; then
    if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
      echo "== npm ci"
      npm ci --no-audit --no-fund
    fi
    echo "== npm run release (build, then pack the CLI and each plugin into $out)"
    npm run --silent release -- --out "$out"
  else
    echo "== packing the built tree into $out"
    node scripts/release.js --out "$out"
  fi
}

if [ -n "$tarball" ]; then
  [ -f "$tarball" ] || { echo "install.sh: no such tarball: $tarball" >&2; exit 2; }
  tarball="$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")"
else
  pack >&2
  tarball="$out/morpheus-$(node -p 'require("./package.json").version').tgz"
fi
echo "== npm install -g --offline --prefix $prefix $tarball" >&2
npm install -g --offline --no-audit --no-fund --prefix "$prefix" "$tarball" >&2

bin="$prefix/bin/morpheus"
"$bin" --version >&2
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "note: $prefix/bin is not on your PATH; add it (e.g. to ~/.profile): export PATH=\"$prefix/bin:\$PATH\"" >&2 ;;
esac
echo "$bin"

#!/usr/bin/env bash
# Make `solc-v<version>` available where py-solc-x (ape-solidity) looks for compilers.
#   1. an executable already there (for example a native solc) is kept, never overwritten;
#   2. else a native `solc` on PATH that reports the pinned version is linked;
#   3. else the solc-js launcher (tools/solcjs-cli.js) is linked.
set -euo pipefail
dir="$1"
version="$2"
target="$dir/solc-v$version"
root="$(cd "$(dirname "$0")/.." && pwd)"
launcher="$root/tools/solcjs-cli.js"
mkdir -p "$dir"

if [ -e "$target" ] && [ "$(readlink -f "$target")" != "$(readlink -f "$launcher")" ]; then
  echo ">> keeping existing compiler $target"
  touch -h "$target" 2>/dev/null || true
  exit 0
fi
native="$(command -v solc || true)"
if [ -n "$native" ] && "$native" --version 2>/dev/null | grep -q "Version: $version+"; then
  echo ">> linking native solc $native as $target"
  ln -sfn "$native" "$target"
  exit 0
fi
echo ">> linking solc-js launcher as $target"
chmod +x "$launcher"
ln -sfn "$launcher" "$target"
"$target" --version | grep -q "Version: $version+" || {
  echo "error: $target does not report version $version; run 'npm install' (package.json pins solc $version)" >&2
  exit 1
}

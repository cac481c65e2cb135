#!/usr/bin/env bash
# Checks that @scrl/roi-align works on its own: packs it (prepack regenerates vendor/ and builds
# dist/), installs the tarball in an empty folder with only @tensorflow/tfjs-core and
# @tensorflow/tfjs-backend-cpu from the npm registry, and runs the README's example there.
#
#   tools/check-standalone-roi-align.sh            # temp folder removed afterwards
#   KEEP=1 tools/check-standalone-roi-align.sh     # keep it for inspection
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
pkg="$root/packages/roi-align"
work="$(mktemp -d "${TMPDIR:-/tmp}/roi-align-standalone.XXXXXX")"
if [[ -z "${KEEP:-}" ]]; then trap 'rm -rf "$work"' EXIT; fi

echo "== npm pack (prepack: vendor + build) into $work"
(cd "$pkg" && npm pack --silent --pack-destination "$work" >/dev/null)
tarball="$(ls "$work"/scrl-roi-align-*.tgz)"
echo "tarball: $(basename "$tarball"), $(tar -tzf "$tarball" | wc -l) files:"
tar -tzf "$tarball" | sed 's/^/  /' | grep -E 'vendor/|package.json|README|dist/index.js$'
if tar -tzf "$tarball" | grep -qE '\.test\.|__fixtures__'; then
  echo "FAIL: the tarball contains tests or fixtures" >&2
  exit 1
fi

echo "== npm install in an empty folder"
app="$work/app"
mkdir "$app"
cd "$app"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error \
  "$tarball" @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-backend-cpu@4.22.0
echo "installed: $(ls node_modules/@tensorflow | tr '\n' ' ')"

echo "== README example"
# The first ```js block of the README.
awk '/^```js$/{on=1; next} /^```$/{if (on) exit} on' "$pkg/README.md" > example.js
node example.js | tee output.txt

expect() {
  if ! grep -qF -- "$1" output.txt; then
    echo "FAIL: the example did not print: $1" >&2
    exit 1
  fi
}
expect '[ 3, 1, 1, 8 ]'
expect '[ 2, 7, 7, 8 ]'
expect 'RoIAlign(outputSize=[7, 7], spatialScale=0.03125, samplingRatio=2, aligned=false) [ 3, 7, 7, 8 ]'
expect '[ 0, 2 ]'
echo "OK: @scrl/roi-align works standalone with only @tensorflow/tfjs-core and @tensorflow/tfjs-backend-cpu"

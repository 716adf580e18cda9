#!/bin/sh
# Fetches axe-core (the accessibility engine the browser tests inject into every page) from the
# npm registry and keeps axe.min.js and its licence here. Run it to update the vendored copy.
set -eu
VERSION=${1:-4.14.1}
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "axe-core@$VERSION" >/dev/null && tar -xzf "axe-core-$VERSION.tgz")
cp "$tmp/package/axe.min.js" axe.min.js
cp "$tmp/package/LICENSE" LICENSE
echo "$VERSION" > VERSION

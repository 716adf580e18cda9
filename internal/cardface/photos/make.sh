#!/bin/sh
# Makes the JPEG 2000 face photos embedded in package cardface: the placeholder portraits of
# package card, encoded by OpenJPEG (Debian package libopenjp2-tools) at a compression ratio of
# 20. Run from the repository root: sh internal/cardface/photos/make.sh
set -eu
dir=internal/cardface/photos
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go run ./internal/cardface/gen "$tmp" 8
for p in "$tmp"/face-*.ppm; do
	opj_compress -i "$p" -o "$dir/$(basename "$p" .ppm).jp2" -r 20 >/dev/null
done
ls -l "$dir"/*.jp2

#!/bin/sh
# Regenerates testdata/vectors: certificates of a card from the J-LIS simulator (test naming,
# issued at testkit.Epoch) with its CA certificates, and good signing and authentication
# certificates of the tests' own CA with its root. The fuzz target (../fuzz) starts from them
# without opening a simulator, and TestVectors checks they still verify.
set -eu
cd "$(dirname "$0")/.."
go test -run '^TestVectors$' -update .

#!/bin/sh
# Benchmarks of the CRL machinery: the streaming writer against x509.CreateRevocationList, the
# streaming reader + index against x509.ParseRevocationList on the same file, and 1 M watched
# serials checked against an index; every baseline is measured in the same run.
#
#   scripts/bench-crl.sh                        # 1 M entries (about a minute)
#   MYNAGATE_BENCH_10M=1 scripts/bench-crl.sh   # also 10 M entries (several minutes; the x509
#                                               # baseline alone needs about 6 GB of heap)
#
# Goals: 10 M entries read + indexed in < 5 s with < 300 MB peak heap; 1 M lookups in < 10 s.
# Wall times depend on what else the machine runs, so the load is printed and CPU seconds are
# reported next to wall seconds.
set -eu
cd "$(dirname "$0")/.."

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'), $(go version)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

go test -run '^$' -bench 'WriteCRL|ReadCRL|Lookup' -benchtime 1x -timeout 60m \
	./internal/crlwriter ./revocation | tee "$out"

echo
echo "summary"
awk '
function metric(name,    i) { for (i = 3; i < NF; i++) if ($(i+1) == name) return $i; return "" }
/^Benchmark/ {
	n = $1; sub(/-[0-9]+$/, "", n)
	if (n ~ /WriteCRL/) {
		printf "  %-22s write %6.2f s (cpu %.2f s), peak heap %8.2f MiB", n, metric("write-s"), metric("write-cpu-s"), metric("write-peak-MiB")
		if (metric("x509-s") != "") printf "; x509.CreateRevocationList %.2f s, %.0f MiB (x%.1f time, x%.0f heap)", metric("x509-s"), metric("x509-peak-MiB"), metric("x509/write-time"), metric("x509/write-heap")
		printf "\n"
	}
	if (n ~ /ReadCRL/) {
		s = metric("stream-s"); p = metric("stream-peak-MiB")
		printf "  %-22s read+index %6.2f s (cpu %.2f s), peak heap %7.1f MiB, index %6.1f MiB; x509 %.2f s (cpu %.2f s), %.0f MiB (x%.1f time, x%.1f heap)\n", n, s, metric("stream-cpu-s"), p, metric("index-MiB"), metric("x509-s"), metric("x509-cpu-s"), metric("x509-peak-MiB"), metric("x509/stream-time"), metric("x509/stream-heap")
		if (n ~ /10M/) printf "  %-22s goal < 5 s and < 300 MB (286 MiB): %s\n", "", (s < 5 && p < 286) ? "met" : "NOT met (see the load above)"
	}
	if (n ~ /Lookup/) {
		l = metric("1M-lookups-s")
		printf "  %-22s 1 M lookups %.3f s (%.0f ns each, %.0f ns by bytes); Go map %.0f ns (x%.2f); goal < 10 s: %s\n", n, l, metric("ns/lookup"), metric("ns/lookup-bytes"), metric("ns/map-lookup"), metric("index/map-time"), (l < 10) ? "met" : "NOT met"
	}
}' "$out"

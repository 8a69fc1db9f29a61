#!/bin/sh
# The bounded run of the fuzz suite: FUZZER for SECONDS on a scratch copy
# of CORPUS (new inputs never land in the source tree). A crash, leak or
# timeout fails the test (exit 1: libFuzzer's own default, 77, would read
# as a skip to meson); libFuzzer prints the input.
# Usage: run-fuzz.sh FUZZER CORPUS SECONDS
set -eu
fuzzer=$1
corpus=$2
seconds=$3
if [ "$seconds" -eq 0 ]; then
	echo "fuzz_seconds is 0: bounded run skipped"
	exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/nv-fuzz-run-XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/corpus"
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
	-error_exitcode=1 -timeout_exitcode=1 \
	-print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$corpus"

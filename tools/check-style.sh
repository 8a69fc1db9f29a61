#!/bin/sh
# The `style` test suite: every C source and header is clang-formatted.
# Usage: tools/check-style.sh [--fix]
set -eu
cd "$(dirname "$0")/.."
files=$(find proto common vmm host-shim dpu dataplane tools tests \
	\( -name '*.c' -o -name '*.h' \) -not -path '*/corpus/*' | sort)
if [ "${1:-}" = --fix ]; then
	echo "$files" | xargs clang-format -i
	exit 0
fi
bad=0
for f in $files; do
	if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
		echo "style: $f is not clang-formatted (run: make format)"
		bad=1
	fi
done
n=$(echo "$files" | wc -w)
[ $bad -eq 0 ] && echo "style: $n files clean"
exit $bad

#!/bin/sh
# Builds every tests/fuzz/fuzz_*.c with clang's libFuzzer under ASan and
# UBSan and runs each for SECONDS (default 60) from its seed corpus
# (tests/fuzz/corpus/<name>/, copied so the repository is not written to).
# A target names the sources it links in a line "FUZZ_SOURCES: a.c b.c",
# and libraries, if any, in a line "FUZZ_LIBS: -lm".
set -eu
secs=${1:-60}
top=$(cd "$(dirname "$0")/../.." && pwd)
out="$top/build-fuzz"
mkdir -p "$out"
: >"$out/autoconf.h"
status=0
for src in "$top"/tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	short=${name#fuzz_}
	deps=$(sed -n 's/.*FUZZ_SOURCES:[[:space:]]*//p' "$src" | head -n 1)
	libs=$(sed -n 's/.*FUZZ_LIBS:[[:space:]]*//p' "$src" | head -n 1)
	files=""
	for d in $deps; do files="$files $top/$d"; done
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I"$out" -I"$top/src" "$src" $files $libs -o "$out/$name"
	corpus="$out/corpus-$short"
	rm -rf "$corpus"
	mkdir -p "$corpus"
	if [ -d "$top/tests/fuzz/corpus/$short" ]; then
		cp "$top/tests/fuzz/corpus/$short"/* "$corpus"/ 2>/dev/null || true
	fi
	echo "fuzz: $name for ${secs}s"
	if ! "$out/$name" -max_total_time="$secs" -print_final_stats=1 "$corpus" >"$out/$name.log" 2>&1; then
		tail -40 "$out/$name.log"
		echo "fuzz: $name FAILED (crash input and log in $out)" >&2
		status=1
	else
		grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$out/$name.log" | sed "s/^/fuzz: $name /"
	fi
done
exit $status

#!/bin/sh
# check-format.sh: src/*.[ch] follow .clang-format. Pinned to clang-format
# 14 (Debian 12's; packaging/deps.sh --test installs it), since other
# versions lay some lines out differently. To fix what it reports:
#   clang-format-14 -i src/*.[ch]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cf=$(command -v clang-format-14 || true)
if [ -z "$cf" ]; then
	echo "check-format.sh: clang-format-14 is not installed (packaging/deps.sh --test)" >&2
	exit 1
fi
cd "$top"
# --Werror turns each needed change into an error naming file:line
if "$cf" --dry-run --Werror src/*.[ch]; then
	echo "check-format.sh: src/ follows .clang-format ($(ls src/*.[ch] | wc -l) files)"
else
	echo "check-format.sh: run 'clang-format-14 -i src/*.[ch]' and commit" >&2
	exit 1
fi

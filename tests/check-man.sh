#!/bin/sh
# check-man.sh: "mandoc -Tlint" must print nothing for the man pages.
# Run by "make check" with MANDOC (found by configure) and RT_SRCDIR (the
# source tree). A missing mandoc is a failure, not a skip: install it.
# The pages use man(7) macros, whose cross references mandoc does not look
# up, so the result does not depend on which other manuals are installed.
# POSIX sh only.

me=check-man
srcdir=${RT_SRCDIR:-.}
mandoc=${MANDOC:-}
[ -n "$mandoc" ] || mandoc=mandoc

case $mandoc in
*/*) [ -x "$mandoc" ] ;;
*) command -v "$mandoc" >/dev/null 2>&1 ;;
esac || {
	echo "$me: mandoc not found (MANDOC=${MANDOC:-unset}): install the Debian package mandoc (apt-get install mandoc), then re-run configure" >&2
	exit 1
}

pages="man/rtftd.8 man/rtftd.conf.5"
fail=0
for page in $pages; do
	if [ ! -r "$srcdir/$page" ]; then
		echo "$me: cannot read $srcdir/$page" >&2
		fail=1
		continue
	fi
	# -Tlint reports everything down to style level; any line is a failure,
	# and so is a failing exit status without output.
	out=$("$mandoc" -Tlint "$srcdir/$page" 2>&1)
	rc=$?
	if [ -n "$out" ] || [ "$rc" -ne 0 ]; then
		echo "$me: $page: $mandoc -Tlint exited $rc:"
		printf '%s\n' "$out"
		fail=1
	fi
done

if [ "$fail" -ne 0 ]; then
	echo "$me: FAILED"
	exit 1
fi
echo "$me: $pages: mandoc -Tlint is clean"
exit 0

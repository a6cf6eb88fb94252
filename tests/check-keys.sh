#!/bin/sh
# check-keys.sh: every configuration key that "rtftd --list-keys" prints must
# be documented, so the docs cannot fall behind the key table in config.c:
#   man/rtftd.conf.5  an entry whose tag line (a macro line) names the key in
#                     lower case and its environment variable in upper case,
#                     and whose text agrees with --list-keys: "Reloadable: yes"
#                     for a "reload" key, "needs a restart" or "new worker
#                     generation" for a "restart" key;
#   man/rtftd.8       the upper-case name in the ENVIRONMENT section;
#   etc/rtftd.conf    a "# key =" or "key =" line.
# It also fails when etc/rtftd.conf or a "key (KEY)" tag line in
# rtftd.conf.5 names a key that rtftd does not know (a stale entry).
#
# Run by "make check" with RTFTD_BIN (the built rtftd) and RT_SRCDIR (the
# source tree). Exit 0 with a one-line summary, or 1 naming every problem.
# POSIX sh only.

me=check-keys
LC_ALL=C
export LC_ALL

if [ -z "${RTFTD_BIN:-}" ]; then
	echo "$me: RTFTD_BIN is not set (run this through \"make check\")" >&2
	exit 1
fi
if [ ! -x "$RTFTD_BIN" ]; then
	echo "$me: $RTFTD_BIN is not an executable file (build rtftd first)" >&2
	exit 1
fi
srcdir=${RT_SRCDIR:-.}

conf5=man/rtftd.conf.5
man8=man/rtftd.8
sample=etc/rtftd.conf
for f in "$conf5" "$man8" "$sample"; do
	if [ ! -r "$srcdir/$f" ]; then
		echo "$me: cannot read $srcdir/$f" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-keys.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

if ! "$RTFTD_BIN" --list-keys >"$tmp/list" 2>"$tmp/list.err"; then
	echo "$me: \"$RTFTD_BIN --list-keys\" failed:" >&2
	cat "$tmp/list.err" >&2
	exit 1
fi

# "name reload|restart|generation" lines; anything else is a broken --list-keys.
if ! awk 'NF == 0 { next }
	NF != 2 || $1 !~ /^[a-z][a-z0-9_]*$/ || ($2 != "reload" && $2 != "restart" && $2 != "generation") {
		printf "check-keys: unexpected --list-keys line %d: %s\n", NR, $0; bad = 1
	}
	END { exit bad }' "$tmp/list" >&2; then
	exit 1
fi
awk 'NF == 2 { print $1, $2 }' "$tmp/list" >"$tmp/keys"
nkeys=$(wc -l <"$tmp/keys" | tr -d ' ')
if [ "$nkeys" -eq 0 ]; then
	echo "$me: \"$RTFTD_BIN --list-keys\" printed no keys" >&2
	exit 1
fi

# roff source without font escapes (\fB, \f(CW, \f[B]) and \& so that
# "\fBport\fR" reads as "port".
unroff() {
	sed -e 's/\\f[BIRP1-4]//g' -e 's/\\f([A-Za-z][A-Za-z]//g' \
		-e 's/\\f\[[^]]*\]//g' -e 's/\\&//g' "$1"
}
unroff "$srcdir/$conf5" >"$tmp/conf5"
unroff "$srcdir/$man8" |
	awk '/^\.SH[[:blank:]]/ { insec = ($0 ~ /^\.SH[[:blank:]]+"?ENVIRONMENT"?[[:blank:]]*$/); next } insec' \
		>"$tmp/env8"

# word: the name with no letter, digit or underscore right before or after
word() {
	printf '(^|[^A-Za-z0-9_])%s([^A-Za-z0-9_]|$)' "$1"
}

fail=0
problem() {
	echo "$me: $*"
	fail=1
}

while read -r key mode; do
	KEY=$(printf '%s' "$key" | tr '[:lower:]' '[:upper:]')

	# rtftd.conf.5: the entry starts at a macro line naming both key and KEY
	# and runs to the next .TP, .SS or .SH; awk fails when there is none.
	if ! awk -v k="$(word "$key")" -v K="$(word "$KEY")" '
		inent && /^\.(TP|SS|SH)([[:blank:]]|$)/ { exit }
		inent { print; next }
		/^\./ && $0 ~ k && $0 ~ K { inent = 1; found = 1 }
		END { exit !found }' "$tmp/conf5" >"$tmp/entry"; then
		problem "$key: missing from $conf5 (no tag line with \"$key\" and \"$KEY\")"
	else
		entry=$(tr '\n' ' ' <"$tmp/entry")
		case $mode in
		reload)
			case $entry in
			*"Reloadable: yes"*) ;;
			*) problem "$key: $conf5 does not say \"Reloadable: yes\", but --list-keys says reload" ;;
			esac
			;;
		restart)
			case $entry in
			*"Reloadable: yes"*)
				problem "$key: $conf5 says \"Reloadable: yes\", but --list-keys says restart" ;;
			*"needs a restart"*) ;;
			*) problem "$key: $conf5 does not say that a change \"needs a restart\" (--list-keys says restart)" ;;
			esac
			;;
		generation)
			case $entry in
			*"new worker generation"*) ;;
			*) problem "$key: $conf5 does not say that a change starts a \"new worker generation\" (--list-keys says generation)" ;;
			esac
			;;
		esac
	fi

	if ! grep -Eq "$(word "$KEY")" "$tmp/env8"; then
		problem "$KEY: missing from the ENVIRONMENT section of $man8"
	fi

	if ! grep -Eq "^#?[[:blank:]]*${key}[[:blank:]]*=" "$srcdir/$sample"; then
		problem "$key: missing from $sample (no \"# $key =\" or \"$key =\" line)"
	fi
done <"$tmp/keys"

# Stale entries: documented keys that rtftd does not know.
cut -d ' ' -f 1 "$tmp/keys" | sort >"$tmp/names"
sed -n -e 's/^#\{0,1\}[[:blank:]]*\([a-z][a-z0-9_]*\)[[:blank:]]*=.*/\1/p' "$srcdir/$sample" | sort -u >"$tmp/sample.names"
for k in $(comm -13 "$tmp/names" "$tmp/sample.names"); do
	problem "$k: $sample has a line for it, but rtftd --list-keys does not know it"
done
awk '/^\.BR [a-z][a-z0-9_]* " \(" [A-Z][A-Z0-9_]* \)[[:blank:]]*$/ { print $2 }' "$tmp/conf5" |
	sort -u >"$tmp/conf5.names"
for k in $(comm -13 "$tmp/names" "$tmp/conf5.names"); do
	problem "$k: $conf5 has an entry for it, but rtftd --list-keys does not know it"
done

if [ "$fail" -ne 0 ]; then
	echo "$me: FAILED: document every key (see the list above), then run make check again"
	exit 1
fi
echo "$me: all $nkeys keys are documented in $conf5, the ENVIRONMENT section of $man8, and $sample"
exit 0

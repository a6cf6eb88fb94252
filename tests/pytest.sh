#!/bin/sh
# pytest.sh: runs the pytest integration suite (tests/integration)
# against the built rtftd. Used by "make check", which sets RTFTD_BIN (the
# built binary), RT_SRCDIR (the source tree) and PYTHON3.
# Exit status is pytest's, except that "no tests collected" (5) is a
# failure (1): a suite that runs nothing must not pass. POSIX sh only.

me=pytest.sh

if [ -z "${RTFTD_BIN:-}" ]; then
	echo "$me: RTFTD_BIN is not set (run this through \"make check\")" >&2
	exit 1
fi
if [ ! -x "$RTFTD_BIN" ]; then
	echo "$me: $RTFTD_BIN is not an executable file (build rtftd first)" >&2
	exit 1
fi
RT_SRCDIR=${RT_SRCDIR:-.}
export RTFTD_BIN RT_SRCDIR

# Debian's python3 with python3-pytest and python3-websockets; a python3
# from elsewhere on PATH may lack them.
python=${PYTHON3:-/usr/bin/python3}
# keep the source tree clean (it is read-only under "make distcheck")
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE

"$python" -m pytest -q -p no:cacheprovider "$RT_SRCDIR/tests/integration"
rc=$?
if [ "$rc" -eq 5 ]; then
	echo "$me: pytest collected no tests" >&2
	rc=1
fi
exit "$rc"

#!/bin/sh
# Installs what rtftd needs on Debian 12, as root: the build dependencies,
# and with --test everything the test suite runs (PostgreSQL, promtool,
# mandoc, pytest, clang's fuzzer runtime, chromium and playwright-core for
# the web page's tests, coturn, ...) and the benchmark's smoke run (wrk,
# nginx). Safe to run again.
set -eu

want_test=no
for arg in "$@"; do
	case "$arg" in
	--test) want_test=yes ;;
	-h|--help) echo "usage: packaging/deps.sh [--test]"; exit 0 ;;
	*) echo "packaging/deps.sh: unknown argument $arg" >&2; exit 2 ;;
	esac
done

if [ "$(id -u)" != 0 ]; then
	echo "packaging/deps.sh: run as root (it calls apt-get)" >&2
	exit 1
fi

build="build-essential autoconf automake libtool pkg-config
	libevent-dev libevhtp-dev libonig-dev libjson-c-dev libsodium-dev
	libsystemd-dev libsqlite3-dev libpq-dev libssl-dev libcurl4-openssl-dev"
test="python3 python3-pytest python3-websockets postgresql prometheus
	mandoc clang libclang-rt-14-dev systemd curl xz-utils
	wrk nginx golang-go golang-github-gorilla-websocket-dev
	chromium fonts-dejavu-core coturn iproute2 clang-format-14
	python3-cryptography"
# golang-go and gorilla/websocket build bench/reference-go, the Go relay
# bench/run compares rtftd with.
# nginx: bench/run starts its own on a loopback port, as a yardstick for
# rtftd's HTTP (GET /healthz). Debian 12's nginx-light is nginx plus the
# echo module, so plain nginx is the smaller install.
# chromium (driven by playwright-core from npm, see below) runs the web
# page's tests, with fonts-dejavu-core for readable screenshots; coturn's
# turnserver and turnutils_uclient check the TURN credentials rtftd mints;
# iproute2's ip sets up the network namespace the browser tests run in.
# python3-cryptography signs the tokens of the sign-in tests (tests/integration/test_jwt.py,
# tests/data/jwt/make-fixtures.py).
# clang-format-14 checks src/ against .clang-format (tests/check-format.sh):
# pinned, because another version formats some lines differently.

pkgs=$build
[ "$want_test" = yes ] && pkgs="$pkgs $test"
# the benchmark's reference server runs on Node.js: use the machine's node
# and npm when there are (they may not come from Debian), else Debian's
if [ "$want_test" = yes ] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
	pkgs="$pkgs nodejs npm"
fi

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "packaging/deps.sh: all dependencies are installed"
else
	echo "packaging/deps.sh: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	# Packages with a service (nginx, postgresql, coturn) try to start it on
	# install (nginx on port 80, turnserver on 3478). Neither the tests nor
	# the benchmark want those daemons, and in a container without an init
	# system starting them fails: a policy-rc.d that answers 101 ("action
	# forbidden") makes invoke-rc.d skip them. Only when the machine has
	# none (Docker images ship one); removed again however the install ends.
	policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		trap 'rm -f "$policy"' EXIT
		trap 'exit 1' HUP INT TERM
		printf '#!/bin/sh\n# packaging/deps.sh: no service starts during its install\nexit 101\n' >"$policy"
		chmod 755 "$policy"
	fi
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi

# The browser tests drive chromium through playwright-core (npm, pinned in
# tests/browser/package-lock.json; it downloads no browser of its own).
if [ "$want_test" = yes ]; then
	browser_dir=$(cd "$(dirname "$0")/.." && pwd)/tests/browser
	if [ ! -d "$browser_dir/node_modules/playwright-core" ]; then
		echo "packaging/deps.sh: installing playwright-core in $browser_dir"
		if [ -f "$browser_dir/package-lock.json" ]; then
			npm ci --prefix "$browser_dir" --no-audit --no-fund
		else
			npm install --prefix "$browser_dir" --no-audit --no-fund
		fi
	fi
fi

#!/bin/sh
# Checks cross/openwrt: the procd init script (sourced with stub procd
# functions, as /etc/rc.common would) and that the package's PKG_VERSION is
# the crate's version. POSIX sh on purpose: OpenWrt runs the init script
# with busybox ash. Run as `sh cross/openwrt/test-init.sh`.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
init="$here/files/pman.init"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() {
	failed=$((failed + 1))
	printf 'FAIL: %s\n' "$*" >&2
}
check() { # check DESCRIPTION EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then ok; else fail "$1: want '$2', got '$3'"; fi
}

# 1. Syntax, with this machine's sh (dash on Debian, close to busybox ash).
if sh -n "$init"; then ok; else fail "sh -n $init"; fi

# 2. Source it with stubs and run start_service. Each stub call is logged
#    one per line: "name arg1|arg2|...".
cat >"$tmp/run.sh" <<'EOF'
set -eu
log=$1
init=$2
record() {
	name=$1
	shift
	line=$name
	sep=' '
	for a in "$@"; do
		line="$line$sep$a"
		sep='|'
	done
	printf '%s\n' "$line" >>"$log"
}
procd_open_instance() { record procd_open_instance "$@"; }
procd_set_param() { record procd_set_param "$@"; }
procd_append_param() { record procd_append_param "$@"; }
procd_close_instance() { record procd_close_instance "$@"; }
procd_add_reload_trigger() { record procd_add_reload_trigger "$@"; }
procd_add_validation() { record procd_add_validation "$@"; }
procd_open_trigger() { record procd_open_trigger "$@"; }
procd_close_trigger() { record procd_close_trigger "$@"; }
. "$init"
printf 'START=%s\nSTOP=%s\nUSE_PROCD=%s\n' "${START:-}" "${STOP:-}" "${USE_PROCD:-}" >"$log.vars"
start_service
# reload_service must ask the running daemon, not restart it: run it with a
# stub pman that records its arguments.
PROG=$3
reload_service
EOF
cat >"$tmp/pman" <<EOF
#!/bin/sh
printf '%s\n' "\$*" >"$tmp/pman.args"
EOF
chmod +x "$tmp/pman"

if sh "$tmp/run.sh" "$tmp/log" "$init" "$tmp/pman" 2>"$tmp/err"; then
	ok
else
	fail "sourcing the init script and running start_service: $(cat "$tmp/err")"
fi
touch "$tmp/log" "$tmp/log.vars"

get() { sed -n "s/^$1=//p" "$tmp/log.vars"; }
check "USE_PROCD" 1 "$(get USE_PROCD)"
start=$(get START)
case $start in
	'' | *[!0-9]*) fail "START is not a number: '$start'" ;;
	*) if [ "$start" -ge 90 ] && [ "$start" -le 99 ]; then ok; else fail "START=$start, want 90..99"; fi ;;
esac

check "instances opened" 1 "$(grep -c '^procd_open_instance' "$tmp/log" || true)"
check "instances closed" 1 "$(grep -c '^procd_close_instance' "$tmp/log" || true)"
check "command" "procd_set_param command|/usr/bin/pman|daemon|-f|-c|/etc/pman.conf" \
	"$(grep '^procd_set_param command' "$tmp/log" || true)"

respawn=$(grep '^procd_set_param respawn' "$tmp/log" || true)
case $respawn in
	"procd_set_param respawn" | "procd_set_param respawn|"*) ok ;;
	*) fail "no 'procd_set_param respawn' (got '$respawn')" ;;
esac

term=$(sed -n 's/^procd_set_param term_timeout|//p' "$tmp/log")
case $term in
	'' | *[!0-9]*) fail "term_timeout missing or not a number: '$term'" ;;
	*) if [ "$term" -ge 30 ]; then ok; else fail "term_timeout=$term, want >= 30 (stopwaitsecs)"; fi ;;
esac

# Everything between open and close, in that order.
order=$(sed 's/ .*//' "$tmp/log" | tr '\n' ' ')
case $order in
	"procd_open_instance "*"procd_close_instance ") ok ;;
	*) fail "procd calls out of order: $order" ;;
esac

check "reload_service runs" "-c /etc/pman.conf reload" "$(cat "$tmp/pman.args" 2>/dev/null || true)"

# 3. The package and the crate agree on the version.
pkg_version=$(sed -n 's/^PKG_VERSION:=//p' "$here/Makefile")
crate_version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$root/Cargo.toml")
if [ -n "$crate_version" ]; then ok; else fail "no version in $root/Cargo.toml"; fi
check "PKG_VERSION (cross/openwrt/Makefile) = Cargo.toml version" "$crate_version" "$pkg_version"

# 4. The default config includes /etc/pman.d and the package installs it as
#    a conffile.
if grep -q '^files *= */etc/pman.d/\*\.conf' "$here/files/pman.conf"; then ok; else
	fail "files/pman.conf: no '[include] files = /etc/pman.d/*.conf'"
fi
if grep -q '^/etc/pman.conf$' "$here/Makefile"; then ok; else fail "Makefile: /etc/pman.conf not a conffile"; fi

printf 'openwrt: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]

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

# The shell the init script runs with: busybox ash, as on OpenWrt, when
# this machine has busybox (Debian: apt-get install busybox), else sh.
if command -v busybox >/dev/null 2>&1 && busybox ash -c 'exit 0' 2>/dev/null; then
	shell="busybox ash"
else
	shell=sh
	echo "openwrt: no busybox here: testing the init script with sh instead of busybox ash" >&2
fi
echo "openwrt: init script under: $shell"

# 1. Syntax.
if $shell -n "$init"; then ok; else fail "$shell -n $init"; fi

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
# The drop-in directory, with two drop-ins and a file that is not one.
CONF_DIR=$4
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

mkdir "$tmp/pman.d"
touch "$tmp/pman.d/a.conf" "$tmp/pman.d/b.conf" "$tmp/pman.d/notes.txt"
if $shell "$tmp/run.sh" "$tmp/log" "$init" "$tmp/pman" "$tmp/pman.d" 2>"$tmp/err"; then
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

# procd watches the config and each drop-in: their checksums are part of
# the instance.
check "file" "procd_set_param file|/etc/pman.conf" "$(grep '^procd_set_param file' "$tmp/log" || true)"
check "drop-ins" "procd_append_param file|$tmp/pman.d/a.conf procd_append_param file|$tmp/pman.d/b.conf" \
	"$(grep '^procd_append_param file' "$tmp/log" | tr '\n' ' ' | sed 's/ $//')"

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

# An empty drop-in directory: the glob matches nothing, no file is added.
rm -f "$tmp/pman.d"/*.conf
: >"$tmp/log"
if $shell "$tmp/run.sh" "$tmp/log" "$init" "$tmp/pman" "$tmp/pman.d" 2>"$tmp/err"; then ok; else
	fail "start_service with no drop-ins: $(cat "$tmp/err")"
fi
check "no drop-ins" 0 "$(grep -c '^procd_append_param file' "$tmp/log" || true)"

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

# 5. The rpcd plugin runs `pman rpcd` with rpcd's arguments, and the ACL is
#    JSON that gives read = status/log, write = the rest; the Makefile
#    installs both where rpcd looks.
plugin="$here/files/pman.rpcd"
if $shell -n "$plugin"; then ok; else fail "$shell -n $plugin"; fi
check "rpcd plugin" 'exec /usr/bin/pman rpcd "$@"' "$(sed -n 2p "$plugin")"
if [ -x "$plugin" ]; then ok; else fail "$plugin is not executable"; fi
sed 's#/usr/bin/pman#'"$tmp/pman"'#' "$plugin" >"$tmp/plugin"
$shell "$tmp/plugin" call status
check "rpcd plugin passes its arguments" "rpcd call status" "$(cat "$tmp/pman.args")"
acl="$here/files/pman.acl.json"
if command -v python3 >/dev/null 2>&1; then
	acl_says=$(python3 -c 'import json, sys
acl = json.load(open(sys.argv[1]))["pman"]
print(" ".join(sorted(acl["read"]["ubus"]["pman"])), "/", " ".join(sorted(acl["write"]["ubus"]["pman"])))' "$acl" 2>&1)
	check "ACL read / write" "log status / reload restart start stop" "$acl_says"
else
	echo "openwrt: no python3: the ACL's JSON is not checked" >&2
fi
if grep -q 'files/pman.rpcd $(1)/usr/libexec/rpcd/pman$' "$here/Makefile"; then ok; else
	fail "Makefile: does not install files/pman.rpcd as /usr/libexec/rpcd/pman"
fi
if grep -q 'files/pman.acl.json $(1)/usr/share/rpcd/acl.d/pman.json$' "$here/Makefile"; then ok; else
	fail "Makefile: does not install files/pman.acl.json as /usr/share/rpcd/acl.d/pman.json"
fi

printf 'openwrt: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]

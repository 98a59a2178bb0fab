#!/usr/bin/env bash
# Cross-build check for CI: every router CPU (mipsel and mips first: the
# smallest routers), their integration tests under qemu-user, and the
# OpenWrt init script. About 12 minutes warm and 20-25 cold on 2 cores
# (see cross/README.md), within CI's 90. PMAN_CI_TARGETS overrides the list.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

read -r -a targets <<<"${PMAN_CI_TARGETS:-mipsel-unknown-linux-musl armv7-unknown-linux-musleabihf mips-unknown-linux-musl aarch64-unknown-linux-musl x86_64-unknown-linux-musl arm-unknown-linux-musleabi}"
start=$SECONDS
cross/build.sh "${targets[@]}"
cross/test.sh "${targets[@]}"
sh cross/openwrt/test-init.sh
echo "cross/ci.sh: done in $((SECONDS - start))s"

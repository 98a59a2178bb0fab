#!/usr/bin/env bash
# Cross-build check for CI: the two router CPUs that matter most (mipsel:
# ramips/mt7621, armv7: most ARM routers), their integration tests under
# qemu-user, and the OpenWrt init script. About 4 minutes warm, 10 cold
# (see cross/README.md); add targets only with CI's 90-minute bound in mind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

targets=(mipsel-unknown-linux-musl armv7-unknown-linux-musleabihf)
start=$SECONDS
cross/build.sh "${targets[@]}"
cross/test.sh "${targets[@]}"
sh cross/openwrt/test-init.sh
echo "cross/ci.sh: done in $((SECONDS - start))s"

#!/bin/bash
# Set up the kernel oracle (shared/tools/kernel-oracle) with the Linux 7.2.13
# guest kernel. Idempotent: rerun it at the start of any session (/tmp does not
# survive a new machine). See docs/oracle-setup.md.
#
#   tools/oracle-setup.sh            apt install, copy tool, fetch kernel, build
#   tools/oracle-setup.sh --check    the same, then run a + hib1 on virtio,
#                                    virtio-ssd, brd and compare with the
#                                    recorded JSON in shared/oracle/linux-7.2.13
#
# Environment: ORACLE_WORK (default /tmp/oracle), ORACLE_TOOL (default
# /tmp/kernel-oracle), ORACLE_SHARED (default: ../shared next to this repo),
# ORACLE_KVER (default 7.2.13+deb14-amd64).
# Afterwards: cd $ORACLE_TOOL && KVER=$(cat $ORACLE_WORK/KVER) ./run.sh a
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${ORACLE_SHARED:-$(cd "$HERE/../../shared" 2>/dev/null && pwd || echo /work/shared)}
SRC=$SHARED/tools/kernel-oracle
TOOL=${ORACLE_TOOL:-/tmp/kernel-oracle}
export ORACLE_WORK=${ORACLE_WORK:-/tmp/oracle}
WANT=${ORACLE_KVER:-7.2.13+deb14-amd64}
[ -x "$SRC/run.sh" ] || { echo "oracle-setup: no tool at $SRC (set ORACLE_SHARED)" >&2; exit 1; }
log() { echo "oracle-setup: $*" >&2; }

# 1. Host packages (the README's list). Only touches apt when one is missing.
PKGS=(qemu-system-x86 linux-image-amd64 busybox-static cpio gcc libc6-dev util-linux
      kmod xz-utils zstd python3 bc)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${PKGS[@]}" >&2
fi

# 2. Writable copy of the tool, plus every scenario of shared/oracle/scenarios
#    (so './run.sh hib1' works). An unchanged copy is kept as it is (mtimes
#    stay, so run.sh does not rebuild).
rm -rf "$TOOL.new"
cp -r "$SRC" "$TOOL.new"
cp "$SHARED"/oracle/scenarios/*.ops "$TOOL.new/scenarios/" 2>/dev/null || true
chmod -R u+w "$TOOL.new"
if [ -d "$TOOL" ] && diff -rq "$TOOL" "$TOOL.new" >/dev/null 2>&1; then
  rm -rf "$TOOL.new"
else
  rm -rf "$TOOL"; mv "$TOOL.new" "$TOOL"; log "copied tool to $TOOL"
fi

# 3. Guest kernel (downloaded and unpacked under $ORACLE_WORK/kernels, not
#    installed). The mirror comes from the system's apt configuration.
mkdir -p "$ORACLE_WORK"
KVER=
if [ -f "$ORACLE_WORK/kernels/$WANT/packages.txt" ]; then
  KVER=$WANT
else
  for suite in sid forky; do
    if KVER=$("$TOOL/fetch-kernel.sh" --suite "$suite" "linux-image-$WANT"); then break; fi
    KVER=
    log "linux-image-$WANT not found in $suite"
  done
  if [ -z "$KVER" ]; then
    KVER=$("$TOOL/fetch-kernel.sh" --suite sid linux-image-amd64)
    log "WARNING: $WANT is gone; using sid's current kernel $KVER (results may differ from the recorded 7.2.13 data)"
  fi
fi
echo "$KVER" > "$ORACLE_WORK/KVER"

# 4. Build base.cpio + vmlinux (about 1 s).
"$TOOL/build.sh" "$KVER" >&2
log "ready: cd $TOOL && KVER=$KVER ORACLE_WORK=$ORACLE_WORK ./run.sh a"

# 5. Optional: compare a fresh run of a and hib1 with the recorded JSON.
if [ "${1:-}" = --check ]; then
  OUT=$ORACLE_WORK/check
  rm -rf "$OUT"
  KVER=$KVER RUNS=1 DEVS="virtio virtio-ssd brd" "$TOOL/collect.sh" "$OUT" a hib1 >&2
  st=0
  for f in "$OUT"/*.json; do
    if cmp -s "$f" "$SHARED/oracle/linux-7.2.13/$(basename "$f")"; then echo "MATCH $(basename "$f" .json)"
    else echo "DIFF  $(basename "$f" .json)"; st=1; fi
  done
  exit $st
fi
echo "$KVER"

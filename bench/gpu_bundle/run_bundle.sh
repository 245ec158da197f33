#!/bin/bash
# run_bundle.sh BUNDLE.tar.xz [STEP...]: on the GPU machine, from a checkout of the same commit.
# Unpacks the bundle to $BUNDLE_DIR (default /tmp/vkrwkv-bundle), points the library path and the
# validation layer at it, and runs the steps:
#   info   vkrwkv info (devices, capabilities)
#   tests  every test binary in parallel with VKR_VALIDATION=1; logs and a summary in $LOG_DIR
#   bench  vkr_bench_kernels $BENCH_ARGS (e.g. "--quick", "--filter wkv"); table to stdout
# The test binaries read the reference models from the ../shared path they were built with
# (VKR_SHARED_DIR): recreate it (a symbolic link) when the checkout sits elsewhere.
set -uo pipefail
bundle=${1:?usage: run_bundle.sh BUNDLE.tar.xz [info|tests|bench]...}
shift
dir=${BUNDLE_DIR:-/tmp/vkrwkv-bundle}
logs=${LOG_DIR:-/tmp/vkrwkv-logs}
mkdir -p "$dir" "$logs"
tar -C "$dir" -xJf "$bundle"
export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VK_LAYER_PATH="$dir/layer"
# The CLI tests run build/bin/vkrwkv relative to the source tree they were built from.
[ -e build/bin ] || { mkdir -p build && ln -s "$dir/bin" build/bin; }
for step in "$@"; do
  case $step in
  info) "$dir/bin/vkrwkv" info ;;
  tests)
    rm -f "$logs/summary.txt"
    ls "$dir"/bin/test_* | xargs -P "$(nproc)" -I{} sh -c \
      'n=$(basename {}); VKR_VALIDATION=1 timeout 600 {} --gtest_brief=1 > "$0/$n.log" 2>&1; echo "$n rc=$?" >> "$0/summary.txt"' "$logs"
    sort "$logs/summary.txt"
    grep -h -E '^\[  FAILED' "$logs"/*.log ;;
  bench) "$dir/bin/vkr_bench_kernels" ${BENCH_ARGS:-} ;;
  *) echo "run_bundle.sh: unknown step '$step' (info, tests, bench)" >&2; exit 2 ;;
  esac
done

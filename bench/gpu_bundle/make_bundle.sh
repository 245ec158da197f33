#!/bin/bash
# make_bundle.sh BUILD_DIR OUT.tar.xz: packs a build's programs (stripped), the non-system shared
# libraries they load (libfmt, libpcre2 from Debian) and the Khronos validation layer, so the
# tests and benchmarks run on a GPU machine that has a Vulkan driver but none of the Debian dev
# packages (a lent cloud GPU, a container). Unpack and run with run_bundle.sh.
set -euo pipefail
build=${1:?usage: make_bundle.sh BUILD_DIR OUT.tar.xz}
out=$(realpath -m "${2:?usage: make_bundle.sh BUILD_DIR OUT.tar.xz}")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,lib,layer}
cp "$build"/bin/* "$stage/bin/"
strip "$stage"/bin/* 2>/dev/null || true
# Every library ldd resolves outside the C runtime (glibc, libstdc++ and libgcc are on any x86-64
# Linux with a GPU driver; the loader libvulkan.so.1 comes with the driver or the target's distro).
for b in "$stage"/bin/*; do ldd "$b" 2>/dev/null; done | awk '/=> \//{print $3}' | sort -u |
  grep -vE '/(libc|libm|libstdc\+\+|libgcc_s|libvulkan|ld-linux[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" "$stage/lib/"; done
layer=/usr/lib/x86_64-linux-gnu/libVkLayer_khronos_validation.so
manifest=/usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json
if [ -f "$layer" ] && [ -f "$manifest" ]; then
  cp "$layer" "$stage/layer/"
  sed 's#"library_path": *"[^"]*"#"library_path": "./libVkLayer_khronos_validation.so"#' \
    "$manifest" > "$stage/layer/VkLayer_khronos_validation.json"
fi
tar -C "$stage" -cJf "$out" .
ls -l "$out"

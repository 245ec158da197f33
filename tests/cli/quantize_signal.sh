#!/usr/bin/env bash
# quantize_signal.sh VKRWKV SIGNAL: `vkrwkv quantize` stopped by SIGINT / SIGTERM mid-rewrite
# exits non-zero within seconds saying it was interrupted, and leaves neither the output file nor
# its .part behind.
set -u
bin=$1
sig=$2
dir=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null; rm -rf "$dir"' EXIT
pid=0
# ~100 M weights: Q4_K_M on one thread takes ~10 s, so the signal lands mid-rewrite.
"$bin" make-model --layers 4 --width 1024 --vocab 8192 -o "$dir/m.gguf" 2>/dev/null ||
  { echo "FAIL: make-model"; exit 1; }
"$bin" quantize --threads 1 "$dir/m.gguf" "$dir/q.gguf" Q4_K_M 2>"$dir/err" &
pid=$!
sleep 1.5
kill -0 $pid 2>/dev/null || { echo "FAIL: quantize ended before the signal"; cat "$dir/err"; exit 1; }
kill -"$sig" $pid
for _ in $(seq 1 100); do
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
if kill -0 $pid 2>/dev/null; then
  echo "FAIL: still running 10 s after SIG$sig"
  exit 1
fi
wait $pid
rc=$?
cat "$dir/err"
[ $rc -ne 0 ] && [ $rc -lt 128 ] || { echo "FAIL: exit code $rc (want a clean failure)"; exit 1; }
grep -q "interrupted" "$dir/err" || { echo "FAIL: no 'interrupted' message"; exit 1; }
[ ! -e "$dir/q.gguf" ] && [ ! -e "$dir/q.gguf.part" ] ||
  { echo "FAIL: a partial output was left"; ls -la "$dir"; exit 1; }
echo "PASS"

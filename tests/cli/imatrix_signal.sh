#!/usr/bin/env bash
# imatrix_signal.sh VKRWKV SIGNAL: `vkrwkv imatrix` stopped by SIGINT / SIGTERM mid-run finishes
# the chunk in progress, saves what it collected (a readable imatrix with those chunks) and
# exits 0 within seconds.
set -u
bin=$1
sig=$2
dir=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null; rm -rf "$dir"' EXIT
pid=0
"$bin" make-model --layers 2 --width 256 --vocab 512 -o "$dir/m.gguf" 2>/dev/null ||
  { echo "FAIL: make-model"; exit 1; }
# A long text: hundreds of 16-token chunks, so the run is still going when the signal lands.
for _ in $(seq 1 400); do echo "In the beginning God created the heaven and the earth."; done >"$dir/t.txt"
"$bin" imatrix -m "$dir/m.gguf" -f "$dir/t.txt" -c 16 -o "$dir/i.gguf" >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 1 300); do
  grep -q '^\[2/' "$dir/err" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
kill -0 $pid 2>/dev/null || { echo "FAIL: imatrix ended before the signal"; cat "$dir/err"; exit 1; }
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
cat "$dir/err" | tail -4
cat "$dir/out"
[ $rc -eq 0 ] || { echo "FAIL: exit code $rc (want 0: the chunks done are saved)"; exit 1; }
grep -q "interrupted: keeping [0-9]* chunks" "$dir/err" || { echo "FAIL: no 'interrupted' line"; exit 1; }
grep -q "wrote .*i.gguf ([0-9]* entries, [0-9]* chunks of 16 tokens)" "$dir/out" ||
  { echo "FAIL: no saved imatrix"; exit 1; }
# The saved file reads back (quantizing with it succeeds).
"$bin" quantize --imatrix "$dir/i.gguf" "$dir/m.gguf" "$dir/q.gguf" Q4_K_M 2>"$dir/qerr" ||
  { echo "FAIL: the saved imatrix does not quantize"; cat "$dir/qerr"; exit 1; }
echo "PASS"

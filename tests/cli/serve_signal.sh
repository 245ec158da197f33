#!/usr/bin/env bash
# serve_signal.sh VKRWKV SIGNAL: `vkrwkv serve` stopped by SIGINT / SIGTERM while a streamed request
# is generating and another waits in the queue: the stream gets an error event and [DONE], the
# queued request a 500 naming the shutdown, and the server exits 0 within seconds (no hang, no
# crash). Plain bash (/dev/tcp), so CI needs no HTTP client.
set -u
bin=$1
sig=$2
dir=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null; rm -rf "$dir"' EXIT

"$bin" serve --port 0 --parallel 1 --temp 0 2>"$dir/err" >/dev/null &
pid=$!
for _ in $(seq 1 600); do
  grep -q "^serving" "$dir/err" && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
if grep -q "no Vulkan" "$dir/err"; then
  echo "VKR_TEST_SKIPPED: no Vulkan device"
  exit 0
fi
port=$(sed -n 's|^serving .* on http://127.0.0.1:\([0-9]*\) .*|\1|p' "$dir/err")
[ -n "$port" ] || { echo "FAIL: the server did not start"; cat "$dir/err"; exit 1; }

# request BODY FD: POSTs BODY on a new connection opened on FD.
request() {
  local body=$1
  printf 'POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "${#body}" "$body"
}
# Greedy on the bundled model runs > 1500 tokens without an end token: still generating below.
exec 3<>"/dev/tcp/127.0.0.1/$port"
request '{"prompt":"In the beginning","max_tokens":100000,"temperature":0,"stream":true}' >&3
# Wait for the first text event of the stream.
got=""
for _ in $(seq 1 600); do
  IFS= read -r -t 1 line <&3 || continue
  case $line in data:*) got=1; break ;; esac
done
[ -n "$got" ] || { echo "FAIL: no stream event before the signal"; cat "$dir/err"; exit 1; }
# Then a second request, queued behind it (--parallel 1): wait until /health counts it.
exec 4<>"/dev/tcp/127.0.0.1/$port"
request '{"prompt":"And God said","max_tokens":8}' >&4
queued=""
for _ in $(seq 1 100); do
  exec 5<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' >&5
  if timeout 5 cat <&5 | grep -q '"queued":1'; then
    queued=1
    break
  fi
  sleep 0.05
done
[ -n "$queued" ] || { echo "FAIL: the second request was never queued"; cat "$dir/err"; exit 1; }

kill "-$sig" $pid
rc=""
for _ in $(seq 1 300); do
  if ! kill -0 $pid 2>/dev/null; then
    wait $pid
    rc=$?
    break
  fi
  sleep 0.1
done
[ -n "$rc" ] || { echo "FAIL: the server still runs 30 s after SIG$sig"; cat "$dir/err"; exit 1; }
timeout 10 cat <&3 >"$dir/stream"
timeout 10 cat <&4 >"$dir/queued"
cat "$dir/err"
fail=0
[ "$rc" = 0 ] || { echo "FAIL: exit code $rc after SIG$sig"; fail=1; }
grep -q "^SIG$sig: stopping" "$dir/err" || { echo "FAIL: no stopping message"; fail=1; }
grep -q "^server stopped" "$dir/err" || { echo "FAIL: no stopped message"; fail=1; }
grep -q 'the server stopped before the request finished' "$dir/stream" ||
  { echo "FAIL: the stream has no error event"; tail -c 300 "$dir/stream"; fail=1; }
grep -q 'data: \[DONE\]' "$dir/stream" || { echo "FAIL: the stream has no [DONE]"; fail=1; }
grep -q '^HTTP/1.1 500' "$dir/queued" && grep -q 'the server stopped before the request finished' \
  "$dir/queued" || { echo "FAIL: the queued request got no 500 naming the shutdown"; cat "$dir/queued"; fail=1; }
[ $fail = 0 ] && echo "PASS"
exit $fail

#!/usr/bin/env bash
# Benchmarks of the local backend, each against a baseline measured in the
# same run: requests/s through the LambdaProxy to a warm function vs the
# app directly, the time from `ownstak deploy` to the new URL answering,
# streaming throughput through the proxy vs the app directly, and the
# proxy's memory with 50 concurrent streaming clients.
#   ./scripts/bench.sh            full run (10 s per load step)
#   BENCH_SECONDS=2 ./scripts/bench.sh   short run
source "$(dirname "$0")/env.sh"
need_apt wrk wrk
cd "$ROOT"
SECS="${BENCH_SECONDS:-10}"
CONNS="${BENCH_CONNECTIONS:-1 16 64}"
cargo build --release --bins -p ownstak-cli -p ownstak-runtime >&2
BIN="$CARGO_TARGET_DIR/release"
WORK="$(mktemp -d)"
cleanup() { kill -TERM ${BACKEND:-} ${DIRECT:-} ${STANDALONE:-} ${STREAM_DIRECT:-} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
LAMBDA_PORT=$(free_port); PROXY_PORT=$(free_port); DIRECT_PORT=$(free_port)
"$BIN/ownstak" local up --max-environments 64 --data-dir "$WORK/data" --lambda-addr "127.0.0.1:$LAMBDA_PORT" --proxy-addr "127.0.0.1:$PROXY_PORT" --log warn >/dev/null &
BACKEND=$!
until curl -fsS "http://127.0.0.1:$LAMBDA_PORT/__ownstak__/health" >/dev/null 2>&1; do sleep 0.05; done

cp -r examples/hello "$WORK/app"
# Deploy → URL answering, measured from the command's start.
deploy_to_answer() {
  local start end n
  start=$(date +%s.%N)
  n=$("$BIN/ownstak" deploy "$WORK/app" --project bench --env prod --lambda-endpoint "http://127.0.0.1:$LAMBDA_PORT" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["deployment"])')
  until [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: bench-prod-$n.local.dev.localhost" "http://127.0.0.1:$PROXY_PORT/")" = 200 ]; do :; done
  end=$(date +%s.%N)
  python3 -c "print(f'{($end-$start)*1000:.0f}')"
}
echo "deploy_to_answer_ms first=$(deploy_to_answer)"
echo "changed $(date +%s%N)" > "$WORK/app/message.txt"
echo "deploy_to_answer_ms second=$(deploy_to_answer)"

(cd "$WORK/app" && PORT=$DIRECT_PORT exec node server.js >/dev/null) &
DIRECT=$!
until curl -fsS "http://127.0.0.1:$DIRECT_PORT/" >/dev/null 2>&1; do sleep 0.05; done

# The proxy alone in its own process, so that its memory can be read.
STANDALONE_PORT=$(free_port)
"$BIN/ownstak" proxy --proxy-addr "127.0.0.1:$STANDALONE_PORT" --lambda-endpoint "http://127.0.0.1:$LAMBDA_PORT" --max-in-flight 4096 --log warn >/dev/null &
STANDALONE=$!
until curl -fsS -H "Host: bench-prod.local.dev.localhost" "http://127.0.0.1:$STANDALONE_PORT/" >/dev/null 2>&1; do sleep 0.05; done
rss() { awk -v f="$2:" '$1==f {print $2}' "/proc/$1/status"; }

load() { # load NAME URL HOST CONNS SECONDS
  local out rps lat
  local threads=$(( $4 < 2 ? 1 : 2 ))
  out=$(wrk -t"$threads" -c"$4" -d"${5:-$SECS}s" --latency -H "Host: $3" "$2")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  echo "$1 c=$4 requests=$total rps=$rps p50=$p50 p99=$p99 errors=[${errs}]"
}
# Warm up enough environments for the highest concurrency.
wrk -t2 -c64 -d3s -H "Host: bench-prod.local.dev.localhost" "http://127.0.0.1:$STANDALONE_PORT/" >/dev/null
PROXY_IDLE=$(rss $STANDALONE VmRSS)
for c in $CONNS; do
  load direct "http://127.0.0.1:$DIRECT_PORT/" "127.0.0.1" "$c"
  load proxy "http://127.0.0.1:$STANDALONE_PORT/" "bench-prod.local.dev.localhost" "$c"
done
LONG="${BENCH_LONG_SECONDS:-30}"
load proxy_sustained "http://127.0.0.1:$STANDALONE_PORT/" "bench-prod.local.dev.localhost" 64 "$LONG"
echo "proxy_rss_load idle_kib=$PROXY_IDLE peak_kib=$(rss $STANDALONE VmHWM)"

# Streaming: one large response through the proxy vs from the app directly.
STREAM_DIRECT_PORT=$(free_port)
"$BIN/ownstak" deploy examples/streaming --project stream --env prod --lambda-endpoint "http://127.0.0.1:$LAMBDA_PORT" >/dev/null
(cd examples/streaming && PORT=$STREAM_DIRECT_PORT HOST=127.0.0.1 exec node server.js >/dev/null) &
STREAM_DIRECT=$!
until curl -fsS "http://127.0.0.1:$STREAM_DIRECT_PORT/" >/dev/null 2>&1; do sleep 0.05; done
until curl -fsS -H "Host: stream-prod.local.dev.localhost" "http://127.0.0.1:$STANDALONE_PORT/" >/dev/null 2>&1; do sleep 0.05; done
BYTES=$((256 * 1024 * 1024))
stream() { # stream NAME URL HOST
  local t
  t=$(curl -s -o /dev/null -H "Host: $3" -w '%{time_starttransfer} %{time_total} %{size_download}' "$2/big?bytes=$BYTES")
  read -r ttfb total size <<<"$t"
  python3 -c "print(f'$1 stream bytes=$size ttfb_ms={$ttfb*1000:.1f} mib_per_s={$size/1048576/$total:.0f}')"
}
stream direct "http://127.0.0.1:$STREAM_DIRECT_PORT" 127.0.0.1
stream proxy "http://127.0.0.1:$STANDALONE_PORT" stream-prod.local.dev.localhost

# Memory of the standalone proxy with 50 slow streaming clients at once.
IDLE=$(rss $STANDALONE VmRSS)
for _ in $(seq 50); do
  curl -s -o /dev/null --limit-rate 4M -H "Host: stream-prod.local.dev.localhost" "http://127.0.0.1:$STANDALONE_PORT/big?bytes=$((16 * 1024 * 1024))" &
done
wait $(jobs -p | grep -v -e "^$BACKEND\$" -e "^$DIRECT\$" -e "^$STREAM_DIRECT\$" -e "^$STANDALONE\$") 2>/dev/null || true
PEAK=$(rss $STANDALONE VmHWM)
echo "proxy_rss_50_streams idle_kib=$IDLE peak_kib=$PEAK"

# Next.js cold start: a fresh environment's first response through the
# proxy, against `node server.js` started directly (both from the same
# build). Needs `npm ci` in examples/nextjs; skipped otherwise.
if [ -d examples/nextjs/node_modules ]; then
  NEXT="$WORK/next"
  rsync -a --exclude node_modules --exclude .next --exclude .ownstak examples/nextjs/ "$NEXT/" 2>/dev/null || cp -r examples/nextjs "$NEXT"
  ln -sfn "$ROOT/examples/nextjs/node_modules" "$NEXT/node_modules"
  "$BIN/ownstak" build "$NEXT" >/dev/null 2>&1
  "$BIN/ownstak" deploy "$NEXT" --project next --env prod --lambda-endpoint "http://127.0.0.1:$LAMBDA_PORT" --json > "$WORK/next-deploy.json"
  cold() {
    local n start end
    n=$("$BIN/ownstak" deploy "$NEXT" --project next --env prod --lambda-endpoint "http://127.0.0.1:$LAMBDA_PORT" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["deployment"])')
    echo "changed $RANDOM$RANDOM" > /dev/null
    start=$(date +%s%N)
    curl -s -o /dev/null -H "Host: next-prod-$n.local.dev.localhost" "http://127.0.0.1:$PROXY_PORT/"
    end=$(date +%s%N)
    echo $(( (end - start) / 1000000 ))
  }
  direct_cold() {
    local port start end pid
    port=$(free_port)
    start=$(date +%s%N)
    (cd "$NEXT/.ownstak/compute" && PORT=$port HOSTNAME=127.0.0.1 exec node server.js >/dev/null 2>&1) &
    pid=$!
    until curl -fs -o /dev/null "http://127.0.0.1:$port/"; do :; done
    end=$(date +%s%N)
    kill $pid; wait $pid 2>/dev/null || true
    echo $(( (end - start) / 1000000 ))
  }
  echo "nextjs_cold_start_ms function=$(cold),$(cold),$(cold) direct=$(direct_cold),$(direct_cold),$(direct_cold)"
fi

#!/usr/bin/env bash
# The main job on the embedded local backend: build ownstak, start the
# backend, deploy examples/hello and the Next.js example next to it, print
# their URLs, and keep serving until Ctrl-C. (DEMO_NEXTJS=0 skips Next.js.)
source "$(dirname "$0")/env.sh"
cd "$ROOT"
cargo build --release --bins -p ownstak-cli -p ownstak-runtime
BIN="$CARGO_TARGET_DIR/release"
DATA="${OWNSTAK_DATA_DIR:-$HOME/.ownstak/local}"
LAMBDA_ADDR="${LAMBDA_ADDR:-127.0.0.1:9001}"
PROXY_ADDR="${PROXY_ADDR:-127.0.0.1:3000}"

"$BIN/ownstak" local up --data-dir "$DATA" --lambda-addr "$LAMBDA_ADDR" --proxy-addr "$PROXY_ADDR" &
BACKEND=$!
trap 'kill -TERM $BACKEND 2>/dev/null; wait $BACKEND' INT TERM EXIT
for _ in $(seq 100); do
  curl -fsS "http://$LAMBDA_ADDR/__ownstak__/health" >/dev/null 2>&1 && break
  kill -0 $BACKEND 2>/dev/null || { echo "the backend failed to start" >&2; exit 1; }
  sleep 0.1
done
"$BIN/ownstak" deploy examples/hello --project hello --env prod --lambda-endpoint "http://$LAMBDA_ADDR"
if [ "${DEMO_NEXTJS:-1}" != 0 ]; then
  if [ ! -d examples/nextjs/node_modules ]; then
    (cd examples/nextjs && npm ci --no-audit --no-fund)
  fi
  "$BIN/ownstak" build examples/nextjs
  "$BIN/ownstak" deploy examples/nextjs --project web --env prod --lambda-endpoint "http://$LAMBDA_ADDR"
fi
echo
echo "Try:  curl http://hello-prod.local.dev.localhost:${PROXY_ADDR##*:}/"
"$BIN/ownstak" deployments --project hello --env prod --lambda-endpoint "http://$LAMBDA_ADDR"
echo "Serving. Press Ctrl-C to stop."
wait $BACKEND

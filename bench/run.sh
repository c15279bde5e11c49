#!/usr/bin/env bash
# Benchmarks of ownstak against the peers a user would pick instead, all in
# one run on this machine (loopback only), each figure next to a baseline
# measured in the same run (issue 7):
#   1. proxy hop: a ~1 KiB page from (a) the app directly, (b) nginx in front
#      of it, (c) the ownstak proxy → local Lambda service → runtime → app,
#      (d) cargo-lambda's emulator (`cargo lambda watch`, function URL path);
#      wrk at 1/16/64 connections: requests/s, p50, p99, peak RSS
#   2. cold start of the Next.js example with ownstak-runtime and with AWS
#      Lambda Web Adapter as `bootstrap`, both in the local backend
#   3. streaming a large response through the proxy vs the app directly,
#      and the backend's memory with many streams and many uploads at once
#   4. `ownstak deploy` of the Next.js example until its URL answers
#      (`next build` apart), and a second, unchanged deploy
#  1b. the proxy hop alone against an instant Lambda endpoint, vs nginx's hop
#  1c. a cached page through the proxy vs nginx's hop; invocations for 1,000
#      GETs; the proxy's memory with its cache filled past its size; and
#      (after 4.) invocations for a Next.js page load on a warm cache
#
#   ./bench/run.sh           full run; writes BENCHMARKS.md at the repo root
#   ./bench/run.sh --smoke   ownstak's own scenarios, very short, with the
#                            debug build that already exists and without
#                            the Rust peers (cargo-lambda, Lambda Web
#                            Adapter); writes a temporary file (or
#                            $BENCH_OUT) and fails if a scenario produced
#                            no numbers (part of scripts/test.sh)
#
# Overrides: BENCH_SECONDS (per wrk step), BENCH_CONNECTIONS ("1 16 64"),
# BENCH_COLD_ROUNDS, BENCH_STREAM_MIB, BENCH_OUT, BENCH_KEEP=1 (keep $WORK).
# Peers are installed on first use and cached: nginx and wrk with apt,
# cargo-lambda and lambda_web_adapter with `cargo install --locked` into
# ~/.cache/ownstak/tools; the Next.js example's dependencies with npm.
source "$(dirname "$0")/../scripts/env.sh"
cd "$ROOT"
STARTED=$(date +%s)

MODE=full
case "${1:-}" in
  "") ;;
  --smoke) MODE=smoke ;;
  -h | --help) sed -n '2,/^source/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac
if [ "$MODE" = full ]; then
  SECS=${BENCH_SECONDS:-10}; WARM=2; FIRST_WARM=5; CONNS=${BENCH_CONNECTIONS:-"1 16 64"}
  COLD_ROUNDS=${BENCH_COLD_ROUNDS:-10}; STREAM_MIB=${BENCH_STREAM_MIB:-256}; STREAM_ROUNDS=3
  STREAM_CLIENTS=50; STREAM_CLIENT_MIB=16; UPLOAD_CLIENTS=60; UPLOAD_MIB=4
  CACHE_MIB=256; FILL_SECS=40
  OUT=${BENCH_OUT:-$ROOT/BENCHMARKS.md}
  PEERS=1; PROFILE=release
else
  SECS=${BENCH_SECONDS:-1}; WARM=1; FIRST_WARM=2; CONNS=${BENCH_CONNECTIONS:-"1 16"}
  COLD_ROUNDS=${BENCH_COLD_ROUNDS:-2}; STREAM_MIB=${BENCH_STREAM_MIB:-32}; STREAM_ROUNDS=1
  STREAM_CLIENTS=10; STREAM_CLIENT_MIB=2; UPLOAD_CLIENTS=8; UPLOAD_MIB=4
  CACHE_MIB=4; FILL_SECS=2
  OUT=${BENCH_OUT:-$(mktemp -t ownstak-bench-smoke.XXXXXX.md)}
  # The smoke run checks ownstak's scenarios, not the peers: no `cargo
  # install` and no second (release) build on the test command's path.
  PEERS=0; PROFILE=debug
fi
MAX_CONNS=$(tr ' ' '\n' <<<"$CONNS" | sort -n | tail -1)

# Pinned peers (bump deliberately: the numbers depend on them).
CARGO_LAMBDA_VERSION=1.9.2
LWA_VERSION=0.9.1
TOOLS="$HOME/.cache/ownstak/tools"
FN_TARGET="$HOME/.cache/ownstak/cargo-lambda-fn-target"
NEXT_CACHE="$HOME/.cache/ownstak/bench/nextjs"
export PATH="$TOOLS/bin:$PATH:/usr/sbin:/sbin"
# The smoke run uses the binaries the tests built (crates/testkit builds
# them into a target directory of their own).
if [ "$PROFILE" = debug ]; then BIN_TARGET="$CARGO_TARGET_DIR/test-bins"; else BIN_TARGET="$CARGO_TARGET_DIR"; fi
BIN="$BIN_TARGET/$PROFILE"
WORK="$(mktemp -d -t ownstak-bench.XXXXXX)"
RESULTS="$WORK/results.jsonl"; META="$WORK/meta.txt"; COMMANDS="$WORK/commands.sh"
: >"$RESULTS"; : >"$META"; : >"$COMMANDS"

log() { printf '[bench %4ss] %s\n' $(( $(date +%s) - STARTED )) "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
meta() { printf '%s=%s\n' "$1" "$2" >>"$META"; }
result() { printf '%s\n' "$1" >>"$RESULTS"; }
# The command line as it can be pasted, with the run's paths abbreviated.
record() {
  local a line="" q="'"
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./:=@%+,~-]+$ ]]; then line+="$a "; else line+="$q${a//$q/$q\\$q$q}$q "; fi
  done
  line=${line//"$WORK"/\$WORK}; line=${line//"$BIN"/\$BIN}; line=${line//"$TOOLS"/\$TOOLS}
  line=${line//"$OWNSTAK_PYTHON"/\$PY}; line=${line//"$ROOT"\//}; line=${line//"$HOME"/\~}
  printf '%s\n' "${line% }" >>"$COMMANDS"
}
note() { printf '\n# %s\n' "$*" >>"$COMMANDS"; }

# --- processes --------------------------------------------------------------
# Every server is started in a session of its own (setsid), so that its
# processes can be found (for memory) and stopped (on exit) by session id,
# with their descendants in other sessions too (cargo-lambda starts each
# function instance in a new session).
SESSIONS=()
start() { # start NAME LOGFILE COMMAND... ; sets PID_<NAME> (= its session id)
  local name=$1 logfile=$2 pidfile="$WORK/$1.pid" i pid=""; shift 2
  record "$@"
  rm -f "$pidfile"
  setsid -f sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" >"$logfile" 2>&1 </dev/null
  for ((i = 0; i < 100; i++)); do [ -s "$pidfile" ] && pid=$(cat "$pidfile") && break; sleep 0.02; done
  [ -n "$pid" ] || die "$name did not start"
  SESSIONS+=("$pid")
  printf -v "PID_$name" '%s' "$pid"
}
tree_pids() { # tree_pids SID...: the processes of the sessions and all their descendants
  ps -e -o pid=,ppid=,sid= | awk -v sids="$*" '
    BEGIN { n = split(sids, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
    { pid[NR] = $1; ppid[NR] = $2; if ($3 in want) got[$1] = 1 }
    END {
      do { more = 0; for (i = 1; i <= NR; i++) if (!(pid[i] in got) && (ppid[i] in got)) { got[pid[i]] = 1; more = 1 } } while (more)
      for (p in got) print p
    }'
}
alive() { local p; for p in "$@"; do if kill -0 "$p" 2>/dev/null; then echo "$p"; fi; done; }
stop() { # stop SID [GRACE_SECONDS]: SIGTERM to the leader, then to the rest, then SIGKILL
  local sid=$1 grace=${2:-10} i pids
  pids=$(tree_pids "$sid")
  kill -TERM "$sid" 2>/dev/null || true
  for ((i = 0; i < grace * 20; i++)); do kill -0 "$sid" 2>/dev/null || break; sleep 0.05; done
  pids=$(alive $pids $(tree_pids "$sid"))
  [ -z "$pids" ] || kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do [ -n "$(alive $pids)" ] || break; sleep 0.05; done
  pids=$(alive $pids)
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
}
cleanup() {
  local rc=$? sid
  trap - EXIT INT TERM
  set +e
  for sid in "${SESSIONS[@]}"; do stop "$sid" 5; done
  if [ "${BENCH_KEEP:-0}" = 1 ] || [ $rc != 0 ]; then
    echo "bench: work directory kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_http WHAT TIMEOUT PID LOG URL [HOST]: until the URL answers 200 (bounded).
wait_http() {
  local what=$1 timeout=$2 pid=$3 logfile=$4 url=$5 host=${6:-} deadline code
  deadline=$(( $(date +%s) + timeout ))
  while :; do
    code=$(curl -s -o /dev/null -m 10 -w '%{http_code}' ${host:+-H "Host: $host"} "$url" || true)
    [ "$code" = 200 ] && return 0
    kill -0 "$pid" 2>/dev/null || { tail -30 "$logfile" >&2; die "$what exited before answering $url"; }
    [ "$(date +%s)" -lt "$deadline" ] || { tail -30 "$logfile" >&2; die "$what did not answer $url with 200 within $timeout s (last: $code)"; }
    sleep 0.05
  done
}
# check_page WHAT URL [HOST]: the answer must be 200 with exactly the fixture page.
check_page() {
  local code
  code=$(curl -s -o "$WORK/page.got" -m 10 -w '%{http_code}' ${3:+-H "Host: $3"} "$2" || true)
  [ "$code" = 200 ] || die "$1: $2 answered HTTP $code, not 200: $(head -c 300 "$WORK/page.got")"
  cmp -s "$WORK/page.got" crates/fixtures/src/bin/page.html || die "$1: $2 did not return the fixture page: $(head -c 300 "$WORK/page.got")"
}

# --- peers and builds -----------------------------------------------------------
cargo_tool() { # cargo_tool CRATE VERSION BINARY
  if ! grep -qs "^\"$1 $2 " "$TOOLS/.crates.toml" || [ ! -x "$TOOLS/bin/$3" ]; then
    log "installing $1 $2 into $TOOLS (once; takes minutes)"
    CARGO_TARGET_DIR="$TOOLS/build" cargo install --locked --quiet --root "$TOOLS" --version "$2" "$1" >&2
    rm -rf "$TOOLS/build"
  fi
}
need_apt wrk wrk
command -v nginx >/dev/null 2>&1 || apt_install nginx
NGINX=$(command -v nginx)
if [ "$PEERS" = 1 ]; then
  cargo_tool lambda_web_adapter "$LWA_VERSION" lambda-adapter
  cargo_tool cargo-lambda "$CARGO_LAMBDA_VERSION" cargo-lambda
fi
python_env

log "building ownstak, the runtime and the fixtures ($PROFILE)"
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bins -p ownstak-cli -p ownstak-runtime -p ownstak-fixtures
else
  # The same command as crates/testkit's: after the tests it is a no-op.
  CARGO_TARGET_DIR="$BIN_TARGET" cargo build --quiet --workspace --bins
fi
if [ "$PEERS" = 1 ]; then
  (cd bench/cargo-lambda-fn && CARGO_TARGET_DIR="$FN_TARGET" cargo build --release --quiet --locked)
fi
PY="$OWNSTAK_PYTHON"
HELPER="$ROOT/bench/helper.py"

# The Next.js example in a cached copy with its own node_modules (next
# build refuses a symlinked node_modules outside the app root).
prepare_next() {
  mkdir -p "$NEXT_CACHE"
  find "$NEXT_CACHE" -mindepth 1 -maxdepth 1 ! -name node_modules -exec rm -rf {} +
  tar -C examples/nextjs --exclude=./node_modules --exclude=./.next --exclude=./.ownstak -cf - . | tar -C "$NEXT_CACHE" -xf -
  if ! cmp -s examples/nextjs/package-lock.json "$NEXT_CACHE/node_modules/.bench-lock"; then
    rm -rf "$NEXT_CACHE/node_modules"
    if [ -d examples/nextjs/node_modules ] && cmp -s examples/nextjs/package-lock.json examples/nextjs/node_modules/.package-lock.json 2>/dev/null \
      || [ -f examples/nextjs/node_modules/next/package.json ]; then
      log "copying examples/nextjs/node_modules into $NEXT_CACHE (once)"
      cp -a examples/nextjs/node_modules "$NEXT_CACHE/"
    else
      log "npm ci in $NEXT_CACHE (once)"
      (cd "$NEXT_CACHE" && npm ci --no-audit --no-fund >&2)
    fi
    cp examples/nextjs/package-lock.json "$NEXT_CACHE/node_modules/.bench-lock"
  fi
}

# --- machine and versions ----------------------------------------------------
meta invocation "./bench/run.sh${1:+ $1}"
meta mode "$MODE"
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta cpu "$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
meta cores "$(nproc)"
meta memory "$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
meta kernel "$(uname -sr)"
meta os "$(. /etc/os-release && echo "$PRETTY_NAME")"
meta rustc "$(rustc -V)"
meta node "$(node -v)"
meta nginx "$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
meta wrk "$(wrk -v 2>&1 | head -1 | awk '{print $1, $2}')"
if [ "$PEERS" = 1 ]; then
  meta cargo-lambda "$(cargo-lambda lambda --version 2>/dev/null | head -1 || echo "$CARGO_LAMBDA_VERSION")"
  meta lambda_web_adapter "$LWA_VERSION (crates.io, binary \`lambda-adapter\`)"
fi
meta build "$PROFILE"
meta ownstak "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown) (plus any uncommitted changes in the working tree)"
meta hop_seconds "$SECS"
meta max_envs "$MAX_CONNS"
meta stream_bytes "$((STREAM_MIB * 1048576))"
meta stream_rounds "$STREAM_ROUNDS"
if [ "$MODE" = smoke ]; then meta note "**Smoke mode**: steps of a second or so with the debug build and without the Rust peers, only checking that every scenario produces numbers; not for comparison."; fi

# --- measuring -------------------------------------------------------------
to_us() { # wrk's 1.23ms / 456.00us / 1.02s → microseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1000000; else print n }'
}
reset_hwm() { local p; for p in $(tree_pids "$@"); do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done; }
sum_hwm() { # prints "KIB PROCESSES" over the sessions
  local p kib=0 n=0 v
  for p in $(tree_pids "$@"); do
    v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
    [ -n "$v" ] || continue
    kib=$((kib + v)); n=$((n + 1))
  done
  echo "$kib $n"
}
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # cpu_ticks SID...: user + system clock ticks of the sessions' processes so far
  local p t=0 v
  for p in $(tree_pids "$@"); do
    v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || true)
    [ -n "$v" ] && t=$((t + v))
  done
  echo "$t"
}
wrk_run() { # wrk_run CONNS SECONDS URL HOST → wrk's output
  local threads=$(($1 < 2 ? 1 : 2))
  timeout $(($2 + 30)) wrk -t"$threads" -c"$1" -d"$2s" --timeout 10s --latency -H "Host: $4" "$3" || die "wrk against $3 failed"
}
# hop PATH URL HOST SESSION...: warm up, then one measured step per call at $c connections
hop() {
  local path=$1 url=$2 host=$3; shift 3
  local out rps p50 p99 total non2xx sockerr rss procs ticks cpu_us
  wrk_run "$c" "$WARM" "$url" "$host" >/dev/null
  reset_hwm "$@"
  record wrk -t$(($c < 2 ? 1 : 2)) -c"$c" -d"${SECS}s" --timeout 10s --latency -H "Host: $host" "$url"
  ticks=$(cpu_ticks "$@")
  out=$(wrk_run "$c" "$SECS" "$url" "$host")
  ticks=$(( $(cpu_ticks "$@") - ticks ))
  read -r rss procs <<<"$(sum_hwm "$@")"
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(to_us "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_us "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out"); non2xx=${non2xx:-0}
  sockerr=$(awk '/Socket errors/ {sub(/^ *Socket errors: */, ""); print}' <<<"$out")
  [ -n "$rps" ] && [ -n "$p50" ] && [ "${total:-0}" -gt 0 ] || { echo "$out" >&2; die "no numbers from wrk for path ($path) at $c connections"; }
  cpu_us=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$total" 'BEGIN { printf "%.1f", t * 1000000 / hz / n }')
  log "hop ($path) c=$c: $rps req/s, p50 ${p50} µs, p99 ${p99} µs, CPU ${cpu_us} µs/request, peak RSS ${rss} KiB in $procs processes, non-2xx $non2xx ${sockerr:+, socket errors: $sockerr}"
  result "{\"s\":\"${HOP_S:-hop}\",\"path\":\"$path\",\"c\":$c,\"rps\":$rps,\"p50_us\":$p50,\"p99_us\":$p99,\"cpu_us\":$cpu_us,\"rss_kib\":$rss,\"procs\":$procs,\"requests\":$total,\"non2xx\":$non2xx,\"sockerr\":\"$sockerr\"}"
}

# === 1. proxy hop ===========================================================
log "scenario 1: proxy hop (${SECS}s per step at $CONNS connections)"
note "1. proxy hop"
APP_PORT=$(free_port); NGINX_PORT=$(free_port); CL_PORT=$(free_port)
A_LAMBDA=$(free_port); A_PROXY=$(free_port); A_S3=$(free_port)

# The app is nginx answering the page from memory with one worker, both
# directly and inside the function (where each environment runs its own).
PAGE=crates/fixtures/src/bin/page.html
mkdir -p "$WORK/app"
python3 bench/helper.py nginx-conf page "127.0.0.1:$APP_PORT" "$WORK/app" "$PAGE" >"$WORK/app/nginx.conf"
start app "$WORK/app.log" "$NGINX" -p "$WORK/app" -c "$WORK/app/nginx.conf" -e "$WORK/app/error.log"
wait_http "nginx as the app" 10 "$PID_app" "$WORK/app.log" "http://127.0.0.1:$APP_PORT/"

mkdir -p "$WORK/nginx/logs"
cat >"$WORK/nginx/nginx.conf" <<EOF
# A plain reverse proxy with keep-alive connections to the app.
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  upstream app { server 127.0.0.1:$APP_PORT; keepalive 128; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
cp "$WORK/nginx/nginx.conf" "$WORK/nginx.conf.used"
start nginx "$WORK/nginx.log" "$NGINX" -e "$WORK/nginx/logs/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"
wait_http nginx 10 "$PID_nginx" "$WORK/nginx.log" "http://127.0.0.1:$NGINX_PORT/"

start backend_a "$WORK/backend-a.log" "$BIN/ownstak" local up --max-environments "$MAX_CONNS" --data-dir "$WORK/data-a" \
  --lambda-addr "127.0.0.1:$A_LAMBDA" --proxy-addr "127.0.0.1:$A_PROXY" --s3-addr "127.0.0.1:$A_S3" --log warn
wait_http "ownstak local up" 30 "$PID_backend_a" "$WORK/backend-a.log" "http://127.0.0.1:$A_LAMBDA/__ownstak__/health"
mkdir -p "$WORK/hop-app"
python3 bench/helper.py nginx-conf page @PORT@ /tmp "$PAGE" >"$WORK/hop-app/nginx.conf.in"
cat >"$WORK/hop-app/start.sh" <<EOF
#!/bin/sh
# nginx as the function's app, on the port the runtime gives it.
dir=\$(mktemp -d)
sed -e "s/@PORT@/\$PORT/" -e "s|/tmp/|\$dir/|g" nginx.conf.in >"\$dir/nginx.conf"
exec $NGINX -p "\$dir" -c "\$dir/nginx.conf" -e "\$dir/error.log"
EOF
record "$BIN/ownstak" deploy "$WORK/hop-app" --project bench --env prod --command "sh start.sh" --lambda-endpoint "http://127.0.0.1:$A_LAMBDA"
timeout 120 "$BIN/ownstak" deploy "$WORK/hop-app" --project bench --env prod --command "sh start.sh" \
  --lambda-endpoint "http://127.0.0.1:$A_LAMBDA" --json >"$WORK/hop-deploy.json" || die "deploying the fixture app failed"
HOP_HOST=bench-prod.local.dev.localhost
wait_http "the deployed fixture app" 30 "$PID_backend_a" "$WORK/backend-a.log" "http://127.0.0.1:$A_PROXY/" "$HOP_HOST"

CL_URL="http://127.0.0.1:$CL_PORT/lambda-url/bench-fn/"
if [ "$PEERS" = 1 ]; then
  start cargo_lambda "$WORK/cargo-lambda.log" env -C bench/cargo-lambda-fn CARGO_TARGET_DIR="$FN_TARGET" \
    cargo lambda watch --release --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$CL_PORT" --concurrency "$MAX_CONNS"
  wait_http "cargo lambda watch" 120 "$PID_cargo_lambda" "$WORK/cargo-lambda.log" "$CL_URL"
fi

check_page "(a) the app" "http://127.0.0.1:$APP_PORT/"
check_page "(b) nginx" "http://127.0.0.1:$NGINX_PORT/"
check_page "(c) ownstak" "http://127.0.0.1:$A_PROXY/" "$HOP_HOST"
[ "$PEERS" = 0 ] || check_page "(d) cargo-lambda" "$CL_URL"

# Warm every path at the highest concurrency first (starts the environments).
log "warming up every path at $MAX_CONNS connections"
wrk_run "$MAX_CONNS" "$FIRST_WARM" "http://127.0.0.1:$APP_PORT/" "127.0.0.1:$APP_PORT" >/dev/null
wrk_run "$MAX_CONNS" "$FIRST_WARM" "http://127.0.0.1:$NGINX_PORT/" "127.0.0.1:$NGINX_PORT" >/dev/null
wrk_run "$MAX_CONNS" "$FIRST_WARM" "http://127.0.0.1:$A_PROXY/" "$HOP_HOST" >/dev/null
[ "$PEERS" = 0 ] || wrk_run "$MAX_CONNS" "$((FIRST_WARM * 2))" "$CL_URL" "127.0.0.1:$CL_PORT" >/dev/null
for c in $CONNS; do
  hop a "http://127.0.0.1:$APP_PORT/" "127.0.0.1:$APP_PORT" "$PID_app"
  hop b "http://127.0.0.1:$NGINX_PORT/" "127.0.0.1:$NGINX_PORT" "$PID_nginx" "$PID_app"
  hop c "http://127.0.0.1:$A_PROXY/" "$HOP_HOST" "$PID_backend_a"
  [ "$PEERS" = 0 ] || hop d "$CL_URL" "127.0.0.1:$CL_PORT" "$PID_cargo_lambda"
done
[ "$PEERS" = 0 ] || stop "$PID_cargo_lambda"
if [ "$MODE" = full ]; then
  # cargo-lambda as it starts by default: one function instance, so invocations queue.
  start cargo_lambda1 "$WORK/cargo-lambda-1.log" env -C bench/cargo-lambda-fn CARGO_TARGET_DIR="$FN_TARGET" \
    cargo lambda watch --release --ignore-changes --invoke-address 127.0.0.1 --invoke-port "$CL_PORT"
  wait_http "cargo lambda watch" 120 "$PID_cargo_lambda1" "$WORK/cargo-lambda-1.log" "$CL_URL"
  check_page "(d') cargo-lambda" "$CL_URL"
  c=16
  hop d1 "$CL_URL" "127.0.0.1:$CL_PORT" "$PID_cargo_lambda1"
  stop "$PID_cargo_lambda1"
fi
stop "$PID_backend_a"

# === 1b. the proxy hop alone, against an instant Lambda endpoint ==============
# nginx plays a Lambda Invoke endpoint that answers every invocation at once
# with the page as an API Gateway v2 response; `ownstak proxy --buffered`
# in front of it is one hop, as nginx in front of the app is. CPU is read
# from the hop's own processes only.
log "scenario 1b: the proxy hop against an instant Lambda endpoint"
note "1b. proxy hop against an instant Lambda endpoint"
LM_PORT=$(free_port); P_PORT=$(free_port)
mkdir -p "$WORK/lambda"
python3 bench/helper.py nginx-conf lambda "127.0.0.1:$LM_PORT" "$WORK/lambda" "$PAGE" >"$WORK/lambda/nginx.conf"
start lambda_mock "$WORK/lambda.log" "$NGINX" -p "$WORK/lambda" -c "$WORK/lambda/nginx.conf" -e "$WORK/lambda/error.log"
wait_http "nginx as a Lambda endpoint" 10 "$PID_lambda_mock" "$WORK/lambda.log" "http://127.0.0.1:$LM_PORT/"
start proxy_alone "$WORK/proxy-alone.log" "$BIN/ownstak" proxy --buffered --lambda-endpoint "http://127.0.0.1:$LM_PORT" \
  --proxy-addr "127.0.0.1:$P_PORT" --log warn
wait_http "ownstak proxy" 30 "$PID_proxy_alone" "$WORK/proxy-alone.log" "http://127.0.0.1:$P_PORT/" "$HOP_HOST"
check_page "(p) ownstak proxy → instant Lambda" "http://127.0.0.1:$P_PORT/" "$HOP_HOST"
wrk_run "$MAX_CONNS" "$FIRST_WARM" "http://127.0.0.1:$P_PORT/" "$HOP_HOST" >/dev/null
HOP_S=proxyhop
for c in $CONNS; do
  hop a "http://127.0.0.1:$APP_PORT/" "127.0.0.1:$APP_PORT" "$PID_app"
  hop l "http://127.0.0.1:$LM_PORT/" "127.0.0.1:$LM_PORT" "$PID_lambda_mock"
  hop n "http://127.0.0.1:$NGINX_PORT/" "127.0.0.1:$NGINX_PORT" "$PID_nginx"
  hop p "http://127.0.0.1:$P_PORT/" "$HOP_HOST" "$PID_proxy_alone"
done
HOP_S=hop
stop "$PID_proxy_alone"; stop "$PID_lambda_mock"

# === 1c. a cached page =========================================================
# The same instant Lambda endpoint, now marking the page shareable
# (`public, s-maxage=600`) and logging every invocation; `ownstak proxy`
# answers it from its response cache. Baseline: the nginx hop (n) again.
log "scenario 1c: a cached page through the proxy"
note "1c. a cached page (the response cache)"
LC_PORT=$(free_port); PC_PORT=$(free_port); PF_PORT=$(free_port)
mkdir -p "$WORK/lambda-cached"
python3 bench/helper.py nginx-conf lambda-cached "127.0.0.1:$LC_PORT" "$WORK/lambda-cached" "$PAGE" >"$WORK/lambda-cached/nginx.conf"
start lambda_cached "$WORK/lambda-cached.log" "$NGINX" -p "$WORK/lambda-cached" -c "$WORK/lambda-cached/nginx.conf" -e "$WORK/lambda-cached/error.log"
wait_http "nginx as a Lambda endpoint (shareable page)" 10 "$PID_lambda_cached" "$WORK/lambda-cached.log" "http://127.0.0.1:$LC_PORT/"
start proxy_cached "$WORK/proxy-cached.log" "$BIN/ownstak" proxy --buffered --lambda-endpoint "http://127.0.0.1:$LC_PORT" \
  --proxy-addr "127.0.0.1:$PC_PORT" --log warn
wait_http "ownstak proxy (cache)" 30 "$PID_proxy_cached" "$WORK/proxy-cached.log" "http://127.0.0.1:$PC_PORT/" "$HOP_HOST"
INVOKED=$(python3 bench/helper.py log-count "$WORK/lambda-cached/invocations.log" POST)
record python3 bench/helper.py gets "127.0.0.1:$PC_PORT" "$HOP_HOST" /count 1000
python3 bench/helper.py gets "127.0.0.1:$PC_PORT" "$HOP_HOST" /count 1000
INVOKED=$(( $(python3 bench/helper.py log-count "$WORK/lambda-cached/invocations.log" POST) - INVOKED ))
log "1,000 GETs of a cached page: $INVOKED invocations"
result "{\"s\":\"cache_count\",\"gets\":1000,\"invocations\":$INVOKED}"
check_page "(h) ownstak proxy, cached page" "http://127.0.0.1:$PC_PORT/" "$HOP_HOST"
HOP_S=cached
for c in $CONNS; do
  hop n "http://127.0.0.1:$NGINX_PORT/" "127.0.0.1:$NGINX_PORT" "$PID_nginx"
  hop h "http://127.0.0.1:$PC_PORT/" "$HOP_HOST" "$PID_proxy_cached"
done
HOP_S=hop
stop "$PID_proxy_cached"
# Memory with the cache full: a proxy with a CACHE_MIB cache is sent more
# distinct shareable pages than fit, then its VmHWM and the cache's own
# byte count (`ownstak_proxy_cache_bytes`) are read.
note "1c. the cache filled past its size with distinct pages (wrk with a Lua script numbering the paths)"
start proxy_fill "$WORK/proxy-fill.log" "$BIN/ownstak" proxy --buffered --lambda-endpoint "http://127.0.0.1:$LC_PORT" \
  --proxy-addr "127.0.0.1:$PF_PORT" --cache-size "$CACHE_MIB" --expose-metrics --log warn
wait_http "ownstak proxy (cache fill)" 30 "$PID_proxy_fill" "$WORK/proxy-fill.log" "http://127.0.0.1:$PF_PORT/" "$HOP_HOST"
cat >"$WORK/fill.lua" <<'LUA'
-- One thread: every request a new path, so every answer is a new entry.
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/fill/" .. n)
end
LUA
FILL_IDLE=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID_proxy_fill/status")
record wrk -t1 -c16 -d"${FILL_SECS}s" -s fill.lua -H "Host: $HOP_HOST" "http://127.0.0.1:$PF_PORT/"
FILL_OUT=$(timeout $((FILL_SECS + 30)) wrk -t1 -c16 -d"${FILL_SECS}s" -s "$WORK/fill.lua" -H "Host: $HOP_HOST" "http://127.0.0.1:$PF_PORT/") \
  || die "filling the cache failed"
FILL_REQS=$(awk '/requests in/ {print $1}' <<<"$FILL_OUT")
METRICS=$(curl -s -H "Host: $HOP_HOST" "http://127.0.0.1:$PF_PORT/__ownstak__/metrics")
FILL_BYTES=$(awk '/^ownstak_proxy_cache_bytes / {print $2}' <<<"$METRICS")
FILL_EVICTED=$(awk '/^ownstak_proxy_cache_evictions_total / {print $2}' <<<"$METRICS")
FILL_PEAK=$(awk '/^VmHWM:/ {print $2}' "/proc/$PID_proxy_fill/status")
[ -n "$FILL_REQS" ] && [ -n "$FILL_BYTES" ] || die "no numbers from the cache fill"
log "cache fill: $FILL_REQS pages, cache holds $FILL_BYTES bytes (${FILL_EVICTED:-0} evicted), proxy RSS idle ${FILL_IDLE} KiB, peak ${FILL_PEAK} KiB"
result "{\"s\":\"cache_fill\",\"cache_mib\":$CACHE_MIB,\"requests\":$FILL_REQS,\"cache_bytes\":$FILL_BYTES,\"evicted\":${FILL_EVICTED:-0},\"idle_kib\":$FILL_IDLE,\"peak_kib\":$FILL_PEAK}"
stop "$PID_proxy_fill"; stop "$PID_lambda_cached"; stop "$PID_nginx"; stop "$PID_app"

# === the backend for scenarios 2 to 4 =========================================
B_LAMBDA=$(free_port); B_PROXY=$(free_port); B_S3=$(free_port)
note "2.-4. one local backend"
start backend_b "$WORK/backend-b.log" "$BIN/ownstak" local up --data-dir "$WORK/data-b" \
  --lambda-addr "127.0.0.1:$B_LAMBDA" --proxy-addr "127.0.0.1:$B_PROXY" --s3-addr "127.0.0.1:$B_S3" --log warn
wait_http "ownstak local up" 30 "$PID_backend_b" "$WORK/backend-b.log" "http://127.0.0.1:$B_LAMBDA/__ownstak__/health"
ENDPOINT="http://127.0.0.1:$B_LAMBDA"
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# === 4. deploy (first: it creates the Next.js function used by scenario 2) ===
log "scenario 4: building and deploying the Next.js example"
note "4. deploy (and the build for 2.)"
prepare_next
NEXT="$NEXT_CACHE"
record "$BIN/ownstak" build "$NEXT"
t0=$(date +%s%N)
timeout 600 "$BIN/ownstak" build "$NEXT" >"$WORK/next-build.log" 2>&1 || { tail -40 "$WORK/next-build.log" >&2; die "ownstak build of the Next.js example failed"; }
result "{\"s\":\"deploy\",\"step\":\"build\",\"ms\":$(ms_since "$t0")}"
deploy_next() { # deploy_next STEP
  local t0 cmd_ms n ms note
  record "$BIN/ownstak" deploy "$NEXT" --project next --env prod --lambda-endpoint "$ENDPOINT" --json
  t0=$(date +%s%N)
  timeout 300 "$BIN/ownstak" deploy "$NEXT" --project next --env prod --lambda-endpoint "$ENDPOINT" --json >"$WORK/deploy-$1.json" \
    || die "ownstak deploy of the Next.js example failed"
  cmd_ms=$(ms_since "$t0")
  n=$("$PY" "$HELPER" json-field "$WORK/deploy-$1.json" deployment)
  wait_http "deployment $n of next/prod" 60 "$PID_backend_b" "$WORK/backend-b.log" "http://127.0.0.1:$B_PROXY/" "next-prod-$n.local.dev.localhost"
  ms=$(ms_since "$t0")
  note=$("$PY" "$HELPER" deploy-note "$WORK/deploy-$1.json")
  log "deploy ($1): command ${cmd_ms} ms, URL answering after ${ms} ms; $note"
  result "{\"s\":\"deploy\",\"step\":\"$1\",\"ms\":$ms,\"cmd_ms\":$cmd_ms,\"note\":\"$note\"}"
}
deploy_next first
deploy_next second
# A page load (the HTML, then every /_next/static/ file it names) twice:
# the second, on a warm cache, must invoke nothing.
NEXT_LOG="$WORK/data-b/logs/ownstak-next-prod.log"
record "$PY" bench/helper.py page-load "127.0.0.1:$B_PROXY" next-prod.local.dev.localhost
LOAD_REQS=$("$PY" "$HELPER" page-load "127.0.0.1:$B_PROXY" next-prod.local.dev.localhost)
INVOKED=$("$PY" "$HELPER" log-count "$NEXT_LOG" "REPORT RequestId")
"$PY" "$HELPER" page-load "127.0.0.1:$B_PROXY" next-prod.local.dev.localhost >/dev/null
INVOKED=$(( $("$PY" "$HELPER" log-count "$NEXT_LOG" "REPORT RequestId") - INVOKED ))
log "Next.js page load ($LOAD_REQS requests) on a warm cache: $INVOKED invocations"
result "{\"s\":\"page_load\",\"requests\":$LOAD_REQS,\"invocations\":$INVOKED}"

# === 2. cold start ==========================================================
log "scenario 2: Next.js cold starts, $COLD_ROUNDS rounds"
COLD_SPECS=(
  "direct:direct:$NEXT/.ownstak/compute"
  "fn:ownstak:ownstak-next-prod:next-prod:$WORK/data-b/logs/ownstak-next-prod.log"
)
if [ "$PEERS" = 1 ]; then
note "2. cold start: Lambda Web Adapter as bootstrap (the adapter is the runtime client; see bench/lwa-bootstrap)"
record "$PY" bench/helper.py lwa-zip "$NEXT/.ownstak/compute" "$TOOLS/bin/lambda-adapter" bench/lwa-bootstrap "$WORK/lwa.zip"
"$PY" "$HELPER" lwa-zip "$NEXT/.ownstak/compute" "$TOOLS/bin/lambda-adapter" bench/lwa-bootstrap "$WORK/lwa.zip" >&2
record "$PY" bench/helper.py create "$ENDPOINT" ownstak-lwa-prod "$WORK/lwa.zip"
timeout 120 "$PY" "$HELPER" create "$ENDPOINT" ownstak-lwa-prod "$WORK/lwa.zip" >/dev/null || die "creating ownstak-lwa-prod failed"
wait_http "ownstak-lwa-prod" 60 "$PID_backend_b" "$WORK/backend-b.log" "http://127.0.0.1:$B_PROXY/" "lwa-prod.local.dev.localhost"
grep -q "extension registration failure" "$WORK/data-b/logs/ownstak-lwa-prod.log" 2>/dev/null \
  && meta lwa_note "Lambda Web Adapter normally runs as a Lambda extension. The local backend has no Extensions API, so \`bench/lwa-bootstrap\` starts \`node server.js\` in the background and execs \`lambda-adapter\` as the runtime client; the adapter's extension registration gets a 404 and panics in a background task (logged as \`extension registration failure\`) without stopping the adapter, which then waits for the app (its default readiness check, GET / every 10 ms) and serves invocations."
COLD_SPECS+=("fn:lwa:ownstak-lwa-prod:lwa-prod:$WORK/data-b/logs/ownstak-lwa-prod.log")
fi
record "$PY" bench/helper.py cold "$ENDPOINT" "127.0.0.1:$B_PROXY" "$COLD_ROUNDS" 1000 "${COLD_SPECS[@]}"
timeout $((COLD_ROUNDS * 3 * 60 + 60)) "$PY" "$HELPER" cold "$ENDPOINT" "127.0.0.1:$B_PROXY" "$COLD_ROUNDS" 1000 "${COLD_SPECS[@]}" >"$WORK/cold.txt" \
  || die "the cold-start rounds failed"
while read -r name ms; do
  result "{\"s\":\"cold\",\"name\":\"$name\",\"ms\":$ms}"
done <"$WORK/cold.txt"
log "cold starts (ms): $(tr '\n' ' ' <"$WORK/cold.txt")"

# === 3. streaming ==========================================================
log "scenario 3: streaming $STREAM_MIB MiB"
note "3. streaming"
record "$BIN/ownstak" deploy examples/streaming --project stream --env prod --lambda-endpoint "$ENDPOINT"
timeout 120 "$BIN/ownstak" deploy examples/streaming --project stream --env prod --lambda-endpoint "$ENDPOINT" >/dev/null || die "deploying examples/streaming failed"
STREAM_PORT=$(free_port)
start stream_direct "$WORK/stream-direct.log" env -C examples/streaming PORT="$STREAM_PORT" HOST=127.0.0.1 node server.js
wait_http "examples/streaming" 30 "$PID_stream_direct" "$WORK/stream-direct.log" "http://127.0.0.1:$STREAM_PORT/"
wait_http "stream/prod" 60 "$PID_backend_b" "$WORK/backend-b.log" "http://127.0.0.1:$B_PROXY/" "stream-prod.local.dev.localhost"
BYTES=$((STREAM_MIB * 1048576))
stream() { # stream PATH URL HOST
  local out ttfb total size
  record curl -s -o /dev/null -H "Host: $3" -w '%{time_starttransfer} %{time_total} %{size_download}' "$2/big?bytes=$BYTES"
  out=$(curl -s -o /dev/null -m 300 -H "Host: $3" -w '%{time_starttransfer} %{time_total} %{size_download}' "$2/big?bytes=$BYTES") || die "streaming from $2 failed"
  read -r ttfb total size <<<"$out"
  [ "$size" = "$BYTES" ] || die "streaming from $2 ($1) returned $size bytes, not $BYTES"
  read -r ttfb_ms mibps < <(python3 -c "print(f'{$ttfb * 1000:.2f} {$size / 1048576 / $total:.1f}')")
  log "stream ($1): ttfb ${ttfb_ms} ms, ${mibps} MiB/s"
  result "{\"s\":\"stream\",\"path\":\"$1\",\"ttfb_ms\":$ttfb_ms,\"mibps\":$mibps}"
}
for ((i = 0; i < STREAM_ROUNDS; i++)); do
  stream direct "http://127.0.0.1:$STREAM_PORT" "127.0.0.1:$STREAM_PORT"
  stream proxy "http://127.0.0.1:$B_PROXY" stream-prod.local.dev.localhost
done
# Memory of the backend process (proxy + Lambda API + store) with many slow streams at once.
IDLE=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID_backend_b/status")
echo 5 >"/proc/$PID_backend_b/clear_refs" 2>/dev/null || true
note "$STREAM_CLIENTS of these at once, reading the backend's VmHWM before and after:"
record curl -s -o /dev/null --limit-rate 4M -H "Host: stream-prod.local.dev.localhost" "http://127.0.0.1:$B_PROXY/big?bytes=$((STREAM_CLIENT_MIB * 1048576))"
CURLS=()
for ((i = 0; i < STREAM_CLIENTS; i++)); do
  curl -s -o /dev/null -m 120 --limit-rate 4M -H "Host: stream-prod.local.dev.localhost" "http://127.0.0.1:$B_PROXY/big?bytes=$((STREAM_CLIENT_MIB * 1048576))" &
  CURLS+=($!)
done
for p in "${CURLS[@]}"; do wait "$p" || die "a concurrent streaming client failed"; done
PEAK=$(awk '/^VmHWM:/ {print $2}' "/proc/$PID_backend_b/status")
log "backend memory with $STREAM_CLIENTS streams: idle ${IDLE} KiB, peak ${PEAK} KiB"
result "{\"s\":\"stream_mem\",\"clients\":$STREAM_CLIENTS,\"mib\":$STREAM_CLIENT_MIB,\"idle_kib\":$IDLE,\"peak_kib\":$PEAK}"
# Memory with many request bodies in flight at once (issue 11): each
# upload is held whole and sent base64-encoded inside the invoke payload.
IDLE=$(awk '/^VmRSS:/ {print $2}' "/proc/$PID_backend_b/status")
echo 5 >"/proc/$PID_backend_b/clear_refs" 2>/dev/null || true
note "$UPLOAD_CLIENTS POSTs of $UPLOAD_MIB MiB at once, reading the backend's VmHWM before and after:"
record "$PY" bench/helper.py uploads "127.0.0.1:$B_PROXY" stream-prod.local.dev.localhost "$UPLOAD_CLIENTS" "$UPLOAD_MIB"
UPLOADED=$(timeout 300 "$PY" "$HELPER" uploads "127.0.0.1:$B_PROXY" stream-prod.local.dev.localhost "$UPLOAD_CLIENTS" "$UPLOAD_MIB") \
  || die "the concurrent uploads failed"
PEAK=$(awk '/^VmHWM:/ {print $2}' "/proc/$PID_backend_b/status")
log "backend memory with $UPLOAD_CLIENTS uploads of $UPLOAD_MIB MiB: idle ${IDLE} KiB, peak ${PEAK} KiB ($UPLOADED)"
result "{\"s\":\"upload_mem\",\"clients\":$UPLOAD_CLIENTS,\"mib\":$UPLOAD_MIB,\"idle_kib\":$IDLE,\"peak_kib\":$PEAK}"
stop "$PID_stream_direct"
stop "$PID_backend_b" 35

# === report ==================================================================
# Every scenario must have produced numbers.
missing=()
HOP_PATHS="a b c"; COLD_NAMES="direct ownstak"
[ "$PEERS" = 0 ] || { HOP_PATHS="a b c d"; COLD_NAMES="direct ownstak lwa"; }
for c in $CONNS; do for p in a l n p; do grep -q "\"s\":\"proxyhop\",\"path\":\"$p\",\"c\":$c," "$RESULTS" || missing+=("proxy hop ($p) c=$c"); done; done
for c in $CONNS; do for p in $HOP_PATHS; do grep -q "\"s\":\"hop\",\"path\":\"$p\",\"c\":$c," "$RESULTS" || missing+=("hop ($p) c=$c"); done; done
for n in $COLD_NAMES; do grep -q "\"s\":\"cold\",\"name\":\"$n\"" "$RESULTS" || missing+=("cold start $n"); done
for p in direct proxy; do grep -q "\"s\":\"stream\",\"path\":\"$p\"" "$RESULTS" || missing+=("stream $p"); done
grep -q '"s":"upload_mem"' "$RESULTS" || missing+=("upload memory")
for c in $CONNS; do for p in n h; do grep -q "\"s\":\"cached\",\"path\":\"$p\",\"c\":$c," "$RESULTS" || missing+=("cached page ($p) c=$c"); done; done
for k in cache_count cache_fill page_load; do grep -q "\"s\":\"$k\"" "$RESULTS" || missing+=("$k"); done
for s in build first second; do grep -q "\"s\":\"deploy\",\"step\":\"$s\"" "$RESULTS" || missing+=("deploy $s"); done
[ ${#missing[@]} = 0 ] || die "no numbers for: ${missing[*]}"
meta duration "$(( $(date +%s) - STARTED ))"
"$PY" "$HELPER" report "$RESULTS" "$META" "$COMMANDS" "$OUT"
log "done in $(( $(date +%s) - STARTED )) s; wrote $OUT"

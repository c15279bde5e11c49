"""The parts of bench/run.sh that are easier in Python (standard library,
plus boto3 from the project's virtualenv for the Lambda API).

  helper.py lwa-zip COMPUTE_DIR ADAPTER BOOTSTRAP OUT.zip
      packages a Next.js standalone build with Lambda Web Adapter
  helper.py create ENDPOINT FUNCTION ZIP
      creates FUNCTION (provided.al2023, handler `bootstrap`), publishes
      version 1 and points the aliases `current` and `deployment-1` at it
  helper.py cold ENDPOINT PROXY ROUNDS FIRST SPEC...
      ROUNDS rounds of one cold start per SPEC, interleaved; prints
      `NAME MILLISECONDS` per cold start. A SPEC is
        fn:NAME:FUNCTION:HOST_PREFIX:LOG  a function of the local backend:
            $LATEST gets a new environment variable (so the next version has
            no environment yet), is published, gets the alias
            `deployment-<FIRST+round>`, then one GET of http://PROXY/ with
            Host `HOST_PREFIX-<FIRST+round>.local.dev.localhost` is timed from
            the request to the last byte; the answer must be 200 and the
            function log must gain an `Init: cold` report
        direct:NAME:DIR  `node server.js` started in DIR: timed from the
            spawn to the last byte of the first 200 answer to GET /
  helper.py deploy-note DEPLOY.json | json-field FILE.json KEY
      a summary of `ownstak deploy --json` output | one field of a JSON object
  helper.py nginx-conf KIND LISTEN PREFIX PAGE [UPSTREAM]
      prints an nginx configuration: KIND `page` answers every request with
      PAGE (one worker, as an app); `lambda` answers every request with an
      API Gateway v2 response whose body is PAGE (a Lambda Invoke endpoint
      that answers at once); `lambda-cached` is `lambda` with the page
      marked shareable (`public, s-maxage=600`) and each invocation logged
      to PREFIX/invocations.log; `hop` proxies to UPSTREAM with keep-alive.
      LISTEN is `host:port`, or `@PORT@` for a configuration that a
      function's start script fills in with $PORT
  helper.py uploads PROXY HOST CLIENTS MIB
      CLIENTS threads POST MIB MiB each to http://PROXY/upload with Host
      HOST, all at once; prints the statuses and fails unless all are 200
  helper.py gets PROXY HOST PATH N
      N sequential GETs of PATH on one keep-alive connection (all 200)
  helper.py page-load PROXY HOST
      GET / and then every /_next/static/ file the HTML names, as a
      browser loads a page; prints the number of requests
  helper.py log-count FILE NEEDLE
      prints how many lines of FILE contain NEEDLE
  helper.py report RESULTS META COMMANDS OUT
      writes the Markdown report from the JSON lines in RESULTS
"""

import gzip
import http.client
import json
import os
import re
import signal
import socket
import stat
import statistics
import subprocess
import sys
import threading
import time
import zipfile

ROLE = "arn:aws:iam::000000000000:role/ownstak-bench"


def die(msg):
    print(f"bench: error: {msg}", file=sys.stderr)
    sys.exit(1)


# --- Lambda API -------------------------------------------------------------


def client(endpoint):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}, read_timeout=120, connect_timeout=5),
    )


def add(zf, path, name, mode):
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(path, "rb") as f:
        zf.writestr(info, f.read(), compresslevel=1)


def lwa_zip(compute, adapter, bootstrap, out):
    files = 2
    with zipfile.ZipFile(out, "w") as zf:
        add(zf, bootstrap, "bootstrap", 0o755)
        add(zf, adapter, "lambda-adapter", 0o755)
        for root, dirs, names in os.walk(compute, followlinks=True):
            dirs.sort()
            for n in sorted(names):
                p = os.path.join(root, n)
                rel = os.path.relpath(p, compute)
                if rel in ("bootstrap", "lambda-adapter", "ownstak.json"):
                    continue
                add(zf, p, rel, 0o755 if os.access(p, os.X_OK) else 0o644)
                files += 1
    print(f"{files} files, {os.path.getsize(out)} bytes zipped")


def wait_updated(lam, function, deadline_s=60):
    end = time.monotonic() + deadline_s
    while True:
        c = lam.get_function_configuration(FunctionName=function)
        if c.get("LastUpdateStatus", "Successful") != "InProgress" and c.get("State", "Active") != "Pending":
            return c
        if time.monotonic() > end:
            die(f"{function} did not finish updating within {deadline_s} s")
        time.sleep(0.05)


def create(endpoint, function, zip_path):
    lam = client(endpoint)
    with open(zip_path, "rb") as f:
        code = f.read()
    lam.create_function(
        FunctionName=function,
        Runtime="provided.al2023",
        Role=ROLE,
        Handler="bootstrap",
        Code={"ZipFile": code},
        MemorySize=1024,
        Timeout=30,
        Environment={"Variables": {}},
    )
    wait_updated(lam, function)
    v = lam.publish_version(FunctionName=function)["Version"]
    for alias in ("current", "deployment-1"):
        lam.create_alias(FunctionName=function, Name=alias, FunctionVersion=v)
    print(v)


# --- cold starts --------------------------------------------------------------


def cold_reports(log):
    try:
        with open(log, "rb") as f:
            return f.read().count(b"Init: cold")
    except FileNotFoundError:
        return 0


def get(host, port, host_header, timeout):
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/", headers={"Host": host_header})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def check_page(what, status, body):
    if status != 200 or b"<html" not in body:
        die(f"{what}: HTTP {status}, {len(body)} bytes: {body[:300]!r}")


def cold_function(lam, proxy, function, host_prefix, log, n):
    host, port = proxy.rsplit(":", 1)
    variables = wait_updated(lam, function).get("Environment", {}).get("Variables", {})
    variables = dict(variables, OWNSTAK_BENCH_ROUND=str(n))
    lam.update_function_configuration(FunctionName=function, Environment={"Variables": variables})
    wait_updated(lam, function)
    v = lam.publish_version(FunctionName=function)["Version"]
    lam.create_alias(FunctionName=function, Name=f"deployment-{n}", FunctionVersion=v)
    before = cold_reports(log)
    start = time.perf_counter()
    status, body = get(host, int(port), f"{host_prefix}-{n}.local.dev.localhost", 60)
    ms = (time.perf_counter() - start) * 1000
    check_page(f"{function} version {v}", status, body)
    # The REPORT line is written when the invocation ends, maybe just after the last byte.
    end = time.monotonic() + 5
    while cold_reports(log) <= before:
        if time.monotonic() > end:
            die(f"{function} version {v}: no `Init: cold` report in {log}; the environment was not cold")
        time.sleep(0.02)
    return ms


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cold_direct(directory, timeout_s=30):
    port = free_port()
    env = dict(os.environ, PORT=str(port), HOSTNAME="127.0.0.1")
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["node", "server.js"], cwd=directory, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                die(f"`node server.js` in {directory} exited with {proc.returncode} before answering")
            if time.monotonic() > deadline:
                die(f"`node server.js` in {directory} did not answer within {timeout_s} s")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    pass
            except OSError:
                time.sleep(0.005)
                continue
            status, body = get("127.0.0.1", port, f"127.0.0.1:{port}", 30)
            ms = (time.perf_counter() - start) * 1000
            check_page(f"node server.js in {directory}", status, body)
            return ms
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def cold(endpoint, proxy, rounds, first, specs):
    lam = None
    parsed = []
    for s in specs:
        kind, rest = s.split(":", 1)
        parsed.append((kind, rest.split(":")))
        if kind == "fn" and lam is None:
            lam = client(endpoint)
    for i in range(rounds):
        for kind, a in parsed:
            if kind == "fn":
                name, function, host_prefix, log = a
                ms = cold_function(lam, proxy, function, host_prefix, log, first + i)
            elif kind == "direct":
                name, directory = a
                ms = cold_direct(directory)
            else:
                die(f"unknown cold-start spec {kind}")
            print(f"{name} {ms:.1f}", flush=True)


# --- report -----------------------------------------------------------------


def fmt_us(us):
    if us is None:
        return "–"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def fmt_kib(kib):
    return "–" if kib is None else f"{kib / 1024:.1f} MiB"


def ratio(x, base, digits=2):
    if x is None or not base:
        return "–"
    return f"{x / base:.{digits}f}×"


def load_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    return meta


PATHS = {
    "a": "(a) app directly",
    "b": "(b) nginx → app",
    "c": "(c) ownstak proxy → local Lambda → runtime → app",
    "d": "(d) cargo-lambda watch (function URL)",
    "d1": "(d′) cargo-lambda watch, default `--concurrency 1`",
}


def report(results_path, meta_path, commands_path, out):
    rows = [json.loads(line) for line in open(results_path) if line.strip()]
    meta = load_meta(meta_path)
    with open(commands_path) as f:
        commands = f.read().rstrip("\n")
    L = []
    w = L.append
    w("# Benchmarks")
    w("")
    w(f"Written by `{meta.get('invocation', './bench/run.sh')}` on {meta.get('date', '?')} "
      f"({meta.get('mode', 'full')} mode, {meta.get('duration', '?')} s). Every figure is measured in this "
      "one run, next to its baseline; ratios are against that baseline. All traffic is on loopback, and "
      "the load generator (wrk) shares the machine's cores with the servers.")
    if meta.get("note"):
        w("")
        w(meta["note"])
    w("")
    w("## Machine and versions")
    w("")
    w("| | |")
    w("|---|---|")
    for k in ("cpu", "cores", "memory", "kernel", "os", "rustc", "node", "nginx", "wrk", "cargo-lambda",
              "lambda_web_adapter", "ownstak"):
        if k in meta:
            w(f"| {k} | {meta[k]} |")
    w("")

    # Scenario 1
    hop = [r for r in rows if r["s"] == "hop"]
    w("## 1. Proxy hop: a warm function answering a 987-byte HTML page")
    w("")
    w(f"wrk for {meta.get('hop_seconds', '?')} s per step after a warm-up at the same concurrency; "
      "latencies are wrk's percentiles; *peak RSS* is the sum of `VmHWM` over every process serving "
      "the path (for (b) nginx's master and workers plus the app; for (c) `ownstak local up` — proxy, "
      "Lambda API and asset store in one process — plus every sandbox's runtime, `sh` and app; for (d) "
      "`cargo-lambda` and every function instance it started), each process's "
      "high-water mark reset just before the step (`echo 5 > /proc/PID/clear_refs`). "
      f"ownstak runs with `--max-environments {meta.get('max_envs', '?')}` and cargo-lambda with "
      f"`--concurrency {meta.get('max_envs', '?')}`, so both can run one instance per connection.")
    w("")
    for c in sorted({r["c"] for r in hop}):
        base = next((r for r in hop if r["c"] == c and r["path"] == "a"), None)
        w(f"### {c} connection{'s' if c != 1 else ''}")
        w("")
        w("| path | requests/s | × (a) | p50 | × (a) | p99 | × (a) | CPU per request | × (a) | peak RSS | × (a) "
          "| processes | errors |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in sorted((r for r in hop if r["c"] == c), key=lambda r: list(PATHS).index(r["path"])):
            errs = []
            if r.get("non2xx"):
                errs.append(f"{r['non2xx']} non-2xx")
            if r.get("sockerr"):
                errs.append(r["sockerr"])
            w(f"| {PATHS[r['path']]} | {r['rps']:.0f} | {ratio(r['rps'], base and base['rps'])} "
              f"| {fmt_us(r['p50_us'])} | {ratio(r['p50_us'], base and base['p50_us'])} "
              f"| {fmt_us(r['p99_us'])} | {ratio(r['p99_us'], base and base['p99_us'])} "
              f"| {fmt_us(r.get('cpu_us'))} | {ratio(r.get('cpu_us'), base and base.get('cpu_us'))} "
              f"| {fmt_kib(r['rss_kib'])} | {ratio(r['rss_kib'], base and base['rss_kib'], 1)} "
              f"| {r['procs']} | {', '.join(errs) or '0'} |")
        w("")
    def find(path, c):
        return next((r for r in hop if r["path"] == path and r["c"] == c), None)
    a1, c1, a16, c16, d16 = find("a", 1), find("c", 1), find("a", 16), find("c", 16), find("d", 16)
    targets = []
    if a16 and c16:
        q = c16["rps"] / a16["rps"]
        targets.append(f"- whole local chain (c) ÷ the app directly (a) at 16 connections: **{q:.2f}×** requests/s "
                       f"(target ≥ 0.15×: {'met' if q >= 0.15 else 'missed'})")
    if c16 and d16:
        q = c16["rps"] / d16["rps"]
        targets.append(f"- whole local chain (c) ÷ cargo lambda watch (d) at 16 connections: **{q:.2f}×** "
                       f"requests/s (target ≥ 2.5×: {'met' if q >= 2.5 else 'missed'})")
    if a1 and c1:
        added = c1["p50_us"] - a1["p50_us"]
        targets.append(f"- p50 added by the whole local chain (c) over (a) at 1 connection: **{added:.0f} µs** "
                       f"(target ≤ 150 µs: {'met' if added <= 150 else 'missed'})")

    # Scenario 1b
    ph = [r for r in rows if r["s"] == "proxyhop"]
    if ph:
        w("## 1b. The proxy hop alone, against an instant Lambda endpoint")
        w("")
        w("nginx plays a Lambda Invoke endpoint that answers every invocation at once with the page as an API "
          "Gateway v2 response (l); `ownstak proxy --buffered --lambda-endpoint` in front of it (p) is one hop, "
          "as nginx's reverse proxy (auto workers, keep-alive upstream) in front of nginx serving the page (n, a) "
          "is. Both back ends are nginx with one worker answering from memory. *CPU per request* is the hop's "
          "own user + system time (`/proc/PID/stat`, all its processes) over the requests served; for (a) and "
          "(l) it is the back end's.")
        w("")
        names = {"a": "(a) nginx serving the page", "l": "(l) nginx as an instant Lambda endpoint",
                 "n": "(n) nginx hop → (a)", "p": "(p) ownstak proxy hop → (l)"}
        for c in sorted({r["c"] for r in ph}):
            get = lambda p: next((r for r in ph if r["c"] == c and r["path"] == p), None)
            w(f"### {c} connection{'s' if c != 1 else ''}")
            w("")
            w("| path | requests/s | × (n) | p50 | p99 | CPU per request | × (n) |")
            w("|---|---:|---:|---:|---:|---:|---:|")
            n = get("n")
            for p in ("a", "l", "n", "p"):
                r = get(p)
                if not r:
                    continue
                w(f"| {names[p]} | {r['rps']:.0f} | {ratio(r['rps'], n and n['rps'])} | {fmt_us(r['p50_us'])} "
                  f"| {fmt_us(r['p99_us'])} | {fmt_us(r.get('cpu_us'))} | {ratio(r.get('cpu_us'), n and n.get('cpu_us'))} |")
            w("")
        def pget(p, c):
            return next((r for r in ph if r["c"] == c and r["path"] == p), None)
        p16, n16 = pget("p", 16), pget("n", 16)
        if p16 and n16:
            q = p16["rps"] / n16["rps"]
            targets.append(f"- proxy hop ÷ nginx hop, instant Lambda endpoint, 16 connections: **{q:.2f}×** "
                           f"requests/s (target ≥ 1.0×: {'met' if q >= 1.0 else 'missed'})")
        a1, l1, n1, p1 = pget("a", 1), pget("l", 1), pget("n", 1), pget("p", 1)
        if a1 and l1 and n1 and p1:
            ours, theirs = p1["p50_us"] - l1["p50_us"], n1["p50_us"] - a1["p50_us"]
            ok = theirs > 0 and ours <= 2 * theirs
            targets.append(f"- p50 added at 1 connection: proxy hop **{ours:.0f} µs**, nginx hop {theirs:.0f} µs "
                           f"(target ≤ 2× nginx's: {'met' if ok else 'missed'})")
        cpu = [r.get("cpu_us") for r in ph if r["path"] == "p" and r.get("cpu_us") is not None]
        if cpu:
            worst = max(cpu)
            targets.append(f"- proxy CPU per invoked request: **{worst:.1f} µs** at worst over the connection "
                           f"counts (target ≤ 40 µs: {'met' if worst <= 40 else 'missed'})")

    # Scenario 1c
    ch = [r for r in rows if r["s"] == "cached"]
    count = next((r for r in rows if r["s"] == "cache_count"), None)
    fill = next((r for r in rows if r["s"] == "cache_fill"), None)
    load = next((r for r in rows if r["s"] == "page_load"), None)
    if ch:
        w("## 1c. A cached page through the proxy")
        w("")
        w("The instant Lambda endpoint of 1b, now marking the page shareable (`Cache-Control: public, "
          "s-maxage=600`); `ownstak proxy --buffered` answers it from its response cache (h). The baseline is "
          "nginx's reverse-proxy hop to nginx serving the page (n), measured again beside it. *CPU per request* "
          "is the serving processes' own (for (n) nginx's workers, not the app behind them).")
        w("")
        cget = lambda p, c: next((r for r in ch if r["c"] == c and r["path"] == p), None)
        names = {"n": "(n) nginx hop → nginx serving the page", "h": "(h) ownstak proxy, answer from its cache"}
        for c in sorted({r["c"] for r in ch}):
            w(f"### {c} connection{'s' if c != 1 else ''}")
            w("")
            w("| path | requests/s | × (n) | p50 | × (n) | p99 | CPU per request | × (n) |")
            w("|---|---:|---:|---:|---:|---:|---:|---:|")
            n = cget("n", c)
            for p in ("n", "h"):
                r = cget(p, c)
                if not r:
                    continue
                w(f"| {names[p]} | {r['rps']:.0f} | {ratio(r['rps'], n and n['rps'])} | {fmt_us(r['p50_us'])} "
                  f"| {ratio(r['p50_us'], n and n['p50_us'])} | {fmt_us(r['p99_us'])} | {fmt_us(r.get('cpu_us'))} "
                  f"| {ratio(r.get('cpu_us'), n and n.get('cpu_us'))} |")
            w("")
        h16, n16 = cget("h", 16), cget("n", 16)
        if h16 and n16:
            q = h16["rps"] / n16["rps"]
            targets.append(f"- cached page through the proxy ÷ nginx hop, 16 connections: **{q:.2f}×** requests/s "
                           f"(target ≥ 1.0×: {'met' if q >= 1.0 else 'missed'})")
        h1, n1 = cget("h", 1), cget("n", 1)
        if h1 and n1:
            q = h1["p50_us"] / n1["p50_us"]
            targets.append(f"- cached page p50 at 1 connection ÷ nginx hop's: **{q:.2f}×** "
                           f"(target ≤ 1.2×: {'met' if q <= 1.2 else 'missed'})")
    if count:
        w(f"1,000 sequential GETs of a cached page on a fresh proxy: **{count['invocations']}** invocation(s) "
          "(counted in the Lambda endpoint's access log).")
        w("")
        targets.append(f"- invocations for 1,000 GETs of a cached page: **{count['invocations']}** "
                       f"(target 1: {'met' if count['invocations'] == 1 else 'missed'})")
    if fill:
        limit = fill["cache_mib"] * 1024 + 64 * 1024
        w(f"A proxy with `--cache-size {fill['cache_mib']}` sent {fill['requests']} distinct shareable pages "
          f"(about 1 KiB each) by one wrk thread at 16 connections: the cache then held "
          f"{fill['cache_bytes'] / 1048576:.1f} MiB by its own count ({fill['evicted']} slots evicted to stay "
          f"within its size; a page of a compressible type takes two, its `Vary` list and its entry); the proxy's RSS went from {fmt_kib(fill['idle_kib'])} to a peak of "
          f"**{fmt_kib(fill['peak_kib'])}**.")
        w("")
        targets.append(f"- proxy RSS with a {fill['cache_mib']} MiB cache filled past its size: "
                       f"**{fmt_kib(fill['peak_kib'])}** (target ≤ {fill['cache_mib']} MiB + 64 MiB: "
                       f"{'met' if fill['peak_kib'] <= limit else 'missed'})")
    if load:
        w(f"A Next.js page load (the HTML and every `/_next/static/` file it names, {load['requests']} requests) "
          f"through `local up`'s proxy, repeated on a warm cache: **{load['invocations']}** invocation(s) the "
          "second time (counted in the function's log).")
        w("")
        targets.append(f"- a Next.js page load on a warm cache: **{load['invocations']}** invocations "
                       f"(target 0: {'met' if load['invocations'] == 0 else 'missed'})")

    # Scenario 2
    cold_rows = [r for r in rows if r["s"] == "cold"]
    w("## 2. Cold start: the Next.js example")
    w("")
    w("From the request to the last byte of the first response, through the ownstak proxy, for an "
      "environment that does not exist yet: before each round `$LATEST` gets a new environment variable "
      "(`OWNSTAK_BENCH_ROUND`) and is published as a new version with its own `deployment-N` alias, "
      "so the version has no environment; the function log must show `Init: cold` for the "
      "invocation. Rounds are interleaved between the variants. The baseline is `node server.js` "
      "of the same build started directly, from the spawn to the last byte of its first answer.")
    w("")
    w("| variant | median | × direct | × LWA | min | max | rounds (ms) |")
    w("|---|---:|---:|---:|---:|---:|---|")
    names = {"direct": "`node server.js` directly (baseline)", "ownstak": "ownstak-runtime as `bootstrap`",
             "lwa": "Lambda Web Adapter as `bootstrap`"}
    med = {}
    for n in ("direct", "ownstak", "lwa"):
        v = [r["ms"] for r in cold_rows if r["name"] == n]
        if v:
            med[n] = statistics.median(v)
    for n in ("direct", "ownstak", "lwa"):
        v = [r["ms"] for r in cold_rows if r["name"] == n]
        if not v:
            continue
        w(f"| {names[n]} | {med[n]:.0f} ms | {ratio(med[n], med.get('direct'))} | {ratio(med[n], med.get('lwa'))} "
          f"| {min(v):.0f} ms | {max(v):.0f} ms | {', '.join(f'{x:.0f}' for x in v)} |")
    w("")
    if "ownstak" in med and "lwa" in med:
        targets.append(f"- cold start, ours ÷ LWA: **{med['ownstak'] / med['lwa']:.2f}×** (target < 1: "
                       f"{'met' if med['ownstak'] < med['lwa'] else 'missed'})")
    if meta.get("lwa_note"):
        w(meta["lwa_note"])
        w("")

    # Scenario 3
    st = [r for r in rows if r["s"] == "stream"]
    w("## 3. Streaming a large response")
    w("")
    w(f"`GET /big?bytes={meta.get('stream_bytes', '?')}` of examples/streaming (Node.js, written in "
      "64 KiB pieces with backpressure), read by curl; the median of "
      f"{meta.get('stream_rounds', '?')} downloads per path, alternating.")
    w("")
    w("| path | time to first byte | MiB/s | × direct | downloads (MiB/s) |")
    w("|---|---:|---:|---:|---|")
    sm = {}
    for p in ("direct", "proxy"):
        v = [r for r in st if r["path"] == p]
        if v:
            sm[p] = (statistics.median(r["ttfb_ms"] for r in v), statistics.median(r["mibps"] for r in v), v)
    for p, label in (("direct", "app directly (baseline)"), ("proxy", "ownstak proxy → local Lambda → runtime → app")):
        if p in sm:
            ttfb, mibps, v = sm[p]
            w(f"| {label} | {ttfb:.1f} ms | {mibps:.0f} | {ratio(mibps, sm.get('direct', (0, 0))[1])} "
              f"| {', '.join('%.0f' % r['mibps'] for r in v)} |")
    w("")
    mem = next((r for r in rows if r["s"] == "stream_mem"), None)
    if mem:
        w(f"Memory of `ownstak local up` (proxy, Lambda API and asset store; sandboxes excluded) while "
          f"{mem['clients']} clients each stream {mem['mib']} MiB through it at 4 MiB/s: "
          f"{fmt_kib(mem['idle_kib'])} before, peak {fmt_kib(mem['peak_kib'])}.")
        w("")
    up = next((r for r in rows if r["s"] == "upload_mem"), None)
    if up:
        grown = max(0, up["peak_kib"] - up["idle_kib"])
        per = grown / up["clients"]
        b64 = up["mib"] * 1024 * 4 / 3
        w(f"Memory of `ownstak local up` while {up['clients']} clients each POST {up['mib']} MiB through it at "
          f"once (every body is held whole, as Lambda's payload is one document): "
          f"{fmt_kib(up['idle_kib'])} before, peak {fmt_kib(up['peak_kib'])}: "
          f"{fmt_kib(per)} per upload in flight, {per / b64:.2f}× the {fmt_kib(b64)} of its base64 payload "
          f"(the issue measured 25 MiB per upload, about 4.7×, before the body budget and one-pass payloads).")
        w("")
        targets.append(f"- memory per concurrent {up['mib']} MiB upload ÷ its base64 payload: **{per / b64:.2f}×** "
                       f"(target ≤ 2×: {'met' if per <= 2 * b64 else 'missed'})")
    if "direct" in sm and "proxy" in sm:
        q = sm["proxy"][1] / sm["direct"][1]
        targets.append(f"- streaming throughput through the proxy ÷ direct: **{q:.2f}×** (target ≥ 0.8×: "
                       f"{'met' if q >= 0.8 else 'missed'})")

    # Scenario 4
    dep = {r["step"]: r for r in rows if r["s"] == "deploy"}
    w("## 4. Deploying the Next.js example")
    w("")
    w("`ownstak build` (which runs `next build`) is timed apart. A deploy is timed from the start of "
      "`ownstak deploy` to the first 200 from its deployment URL (`next-prod-N.local.dev.localhost`, "
      "polled through the proxy; the first answer includes the new environment's cold start). The "
      "second deploy is the same build again, unchanged.")
    w("")
    w("| step | until the command returns | until the URL answers | × first deploy | notes |")
    w("|---|---:|---:|---:|---|")
    if "build" in dep:
        w(f"| `ownstak build` (`next build`) | {dep['build']['ms'] / 1000:.1f} s | – | – | |")
    first = dep.get("first")
    for k, label in (("first", "first deploy (creates the function)"), ("second", "second deploy, unchanged")):
        if k in dep:
            r = dep[k]
            w(f"| {label} | {r['cmd_ms'] / 1000:.2f} s | {r['ms'] / 1000:.2f} s | "
              f"{ratio(r['ms'], first and first['ms'])} | {r.get('note', '')} |")
    w("")

    if targets:
        w("## The issue's targets")
        w("")
        L.extend(targets)
        w("")
    w("## Commands")
    w("")
    w("Everything above comes from one run of the command at the top; these are the commands it ran "
      "(`$WORK` is its temporary directory, `$BIN` the release target directory, `$TOOLS` "
      "`~/.cache/ownstak/tools`, `$PY` the virtualenv's Python; ports are picked free per run).")
    w("")
    w("```sh")
    w(commands)
    w("```")
    w("")
    with open(out, "w") as f:
        f.write("\n".join(L))


def deploy_note(path):
    d = json.load(open(path))
    a = d.get("assets") or {}
    print(f"deployment {d['deployment']}, version {d['version']}; bundle {d['bundle']['zipBytes'] / 1048576:.1f} MiB zipped; "
          f"assets uploaded: {a.get('uploadedFiles', 0)} ({a.get('uploadedBytes', 0) / 1024:.0f} KiB), "
          f"skipped as already stored: {a.get('skippedFiles', 0)} ({a.get('skippedBytes', 0) / 1024:.0f} KiB)")


def nginx_quote(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def nginx_conf(kind, listen, prefix, page, upstream=None):
    with open(page) as f:
        html = f.read()
    if "$" in html:
        die("the page must not contain `$` (nginx would read it as a variable)")
    listen_line = "127.0.0.1:$PORT" if listen == "@PORT@" else listen
    listen_line = listen_line.replace("$PORT", "@PORT@")
    head = f"""daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
"""
    temps = "".join(f"  {t}_temp_path {prefix}/{t};\n" for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    if kind == "page":
        body = f"""worker_processes 1;
{head}http {{
  access_log off;
{temps}  server {{
    listen {listen_line};
    location / {{ default_type "text/html; charset=utf-8"; return 200 {nginx_quote(html)}; }}
  }}
}}
"""
    elif kind in ("lambda", "lambda-cached"):
        # `lambda-cached` marks the page shareable and logs each invocation
        # (one line per POST) to PREFIX/invocations.log.
        headers = {"content-type": "text/html; charset=utf-8"}
        log = ""
        if kind == "lambda-cached":
            headers["cache-control"] = "public, s-maxage=600"
            log = f"access_log {prefix}/invocations.log; "
        payload = json.dumps({"statusCode": 200, "headers": headers, "body": html})
        body = f"""worker_processes 1;
{head}http {{
  access_log off;
  client_body_buffer_size 64k;
{temps}  server {{
    listen {listen_line};
    location / {{ {log}default_type application/json; return 200 {nginx_quote(payload)}; }}
    # GetAlias, as Lambda answers it (the proxy resolves `current` at most once a second).
    location ~ ^/2015-03-31/functions/([^/]+)/aliases/([^/]+)$ {{
      default_type application/json;
      return 200 '{{"AliasArn":"arn:aws:lambda:us-east-1:000000000000:function:$1:$2","Name":"$2","FunctionVersion":"1","Description":"","RevisionId":"r1"}}';
    }}
  }}
}}
"""
    elif kind == "hop":
        body = f"""worker_processes auto;
{head}http {{
  access_log off;
{temps}  upstream app {{ server {upstream}; keepalive 128; }}
  server {{
    listen {listen_line};
    location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
"""
    else:
        die(f"unknown nginx configuration kind {kind}")
    sys.stdout.write(body)


def uploads(proxy, host_header, clients, mib):
    """POSTs `mib` MiB from each of `clients` threads at once; prints the
    statuses as JSON and fails unless every upload got a 200."""
    host, port = proxy.rsplit(":", 1)
    body = bytes(range(256)) * (int(mib) * 4096)
    clients = int(clients)
    barrier = threading.Barrier(clients)
    statuses = [None] * clients

    def one(i):
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            barrier.wait()
            conn.request("POST", "/upload", body=body,
                         headers={"Host": host_header, "Content-Type": "application/octet-stream"})
            resp = conn.getresponse()
            resp.read()
            statuses[i] = resp.status
        except OSError as e:
            statuses[i] = f"error: {e}"
        finally:
            conn.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = {}
    for st in statuses:
        counts[str(st)] = counts.get(str(st), 0) + 1
    print(json.dumps(counts))
    if counts.get("200") != clients:
        die(f"{clients} concurrent uploads of {mib} MiB: not all answered 200: {counts}")


def gets(proxy, host_header, path, n):
    """N sequential GETs of PATH on one keep-alive connection; all must be 200."""
    host, port = proxy.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    for _ in range(int(n)):
        conn.request("GET", path, headers={"Host": host_header})
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            die(f"GET {path}: {resp.status}")
    conn.close()


def page_load(proxy, host_header):
    """Loads a page as a browser would: the HTML, then every `/_next/static/`
    file it names (scripts, styles, fonts), each once; prints the count."""
    host, port = proxy.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def get(path):
        # gzip, which the standard library decodes (a browser would take br).
        conn.request("GET", path, headers={"Host": host_header, "Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            die(f"page load: GET {path} answered {resp.status}")
        if resp.getheader("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return body

    html = get("/").decode("utf-8", "replace")
    files = sorted(set(re.findall(r'(/_next/static/[^"\'\s>)]+)', html)))
    if not files:
        die("page load: the HTML names no /_next/static/ files")
    for f in files:
        get(f)
    conn.close()
    print(1 + len(files))


def log_count(path, needle):
    """How many lines of the file at PATH contain NEEDLE (0 when it does not exist)."""
    try:
        with open(path, errors="replace") as f:
            print(sum(1 for line in f if needle in line))
    except FileNotFoundError:
        print(0)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "nginx-conf":
        nginx_conf(*args)
    elif cmd == "lwa-zip":
        lwa_zip(*args)
    elif cmd == "create":
        create(*args)
    elif cmd == "cold":
        endpoint, proxy, rounds, first, *specs = args
        cold(endpoint, proxy, int(rounds), int(first), specs)
    elif cmd == "uploads":
        uploads(*args)
    elif cmd == "gets":
        gets(*args)
    elif cmd == "page-load":
        page_load(*args)
    elif cmd == "log-count":
        log_count(*args)
    elif cmd == "deploy-note":
        deploy_note(*args)
    elif cmd == "json-field":
        print(json.load(open(args[0]))[args[1]])
    elif cmd == "report":
        report(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

//! The response cache, through an in-process proxy in front of the real
//! local backend, which runs a function (built with `lambda_runtime`) that
//! counts its own invocations in a file and shapes its answer by the query
//! (`crates/fixtures/src/bin/cache.rs`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};
use ownstak_proxy::CacheConfig;
use ownstak_testkit::{Backend, tempdir};

use crate::common::{self, Running, SOON};

const FUNCTION: &str = "ownstak-shop-prod";
pub(crate) const HOST: &str = "shop-prod.local.dev.localhost";

/// The backend, the function and a caching proxy in front of them.
pub(crate) struct Fixture {
    pub(crate) data: tempfile::TempDir,
    _backend: Backend,
    pub(crate) proxy: Running,
    lambda: aws_sdk_lambda::Client,
    count_file: PathBuf,
    pub(crate) http: reqwest::Client,
}

/// An answer: status, headers, body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
    pub(crate) bytes: Vec<u8>,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub(crate) fn cache_status(&self) -> &str {
        self.header("cache-status")
    }

    /// The `n=` the function wrote: how many times it had been invoked for this path.
    fn n(&self) -> u64 {
        self.body.split_whitespace().find_map(|w| w.strip_prefix("n=")).and_then(|n| n.parse().ok()).unwrap_or(0)
    }

    fn label(&self) -> &str {
        self.body.split_whitespace().find_map(|w| w.strip_prefix("label=")).unwrap_or("")
    }
}

impl Fixture {
    pub(crate) async fn start(cache: CacheConfig) -> Fixture {
        let data = tempdir();
        let backend = Backend::start(&data.path().join("backend"), &[]);
        let lambda = ownstak_testkit::lambda_client(&backend.lambda);
        let count_file = data.path().join("invocations");
        let bootstrap = std::fs::read(ownstak_testkit::bin("fixture-lambda-rs-cache")).unwrap();
        lambda
            .create_function()
            .function_name(FUNCTION)
            .runtime(Runtime::Providedal2023)
            .role("arn:aws:iam::000000000000:role/test")
            .timeout(60)
            .environment(env(&count_file, "v1"))
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(ownstak_testkit::zip(&[("bootstrap", &bootstrap, 0o755)])))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let fixture = {
            let mut config = common::config(Some(&backend.lambda));
            config.cache = Some(cache);
            config.expose_metrics = true;
            let proxy = Running::start(config).await;
            let http = reqwest::Client::builder().no_proxy().build().unwrap();
            Fixture { data, _backend: backend, proxy, lambda, count_file, http }
        };
        fixture.publish(1, "v1", true).await;
        fixture
    }

    /// Publishes the function's code with `FIXTURE_LABEL=label` as deployment `n`, live when `promote`.
    async fn publish(&self, n: u32, label: &str, promote: bool) {
        self.lambda
            .update_function_configuration()
            .function_name(FUNCTION)
            .environment(env(&self.count_file, label))
            .send()
            .await
            .unwrap();
        let version = self.lambda.publish_version().function_name(FUNCTION).send().await.unwrap();
        let version = version.version().unwrap();
        let alias = format!("deployment-{n}");
        self.lambda.create_alias().function_name(FUNCTION).name(alias).function_version(version).send().await.unwrap();
        if !promote {
            return;
        }
        if n == 1 {
            let create = self.lambda.create_alias().function_name(FUNCTION).name("current");
            create.function_version(version).send().await.unwrap();
        } else {
            let update = self.lambda.update_alias().function_name(FUNCTION).name("current");
            update.function_version(version).send().await.unwrap();
        }
    }

    /// GETs `path` on `host` with extra headers.
    async fn get_on(&self, host: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send(reqwest::Method::GET, host, path, headers).await
    }

    pub(crate) async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.get_on(HOST, path, headers).await
    }

    async fn send(&self, method: reqwest::Method, host: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut req = self.http.request(method, format!("http://{}{path}", self.proxy.addr)).header("host", host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        let bytes = resp.bytes().await.unwrap().to_vec();
        Answer { status, headers, body: String::from_utf8_lossy(&bytes).into_owned(), bytes }
    }

    /// How many times the function ran for `path` (path and query, as sent).
    pub(crate) fn invocations(&self, path: &str) -> usize {
        let line = if path.contains('?') { path.to_owned() } else { format!("{path}?") };
        std::fs::read_to_string(&self.count_file).unwrap_or_default().lines().filter(|l| *l == line).count()
    }

    async fn metrics(&self) -> String {
        self.get("/__ownstak__/metrics", &[]).await.body
    }
}

fn env(count_file: &Path, label: &str) -> Environment {
    Environment::builder()
        .variables("FIXTURE_COUNT_FILE", count_file.to_str().unwrap())
        .variables("FIXTURE_LABEL", label)
        .build()
}

/// A cache with a small per-entry limit, so that an oversized answer is cheap to make.
pub(crate) fn small_entries() -> CacheConfig {
    CacheConfig { max_entry_bytes: 64 * 1024, session_cookies: vec!["sid".into()], ..CacheConfig::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shareable_answers_are_served_from_the_cache_and_others_never() {
    let f = Fixture::start(small_entries()).await;

    // A shareable answer: the first request invokes, the second does not.
    let path = "/page?cc=s-maxage%3D600";
    let first = f.get(path, &[]).await;
    assert_eq!((first.status, first.cache_status()), (200, "ownstak; fwd=miss; stored"));
    let second = f.get(path, &[]).await;
    assert!(second.cache_status().starts_with("ownstak; hit"), "{}", second.cache_status());
    assert_eq!((second.n(), second.body.as_str()), (1, first.body.as_str()));
    assert!(second.header("age").parse::<u64>().is_ok(), "a hit carries Age");
    assert_eq!(second.header("content-type"), "text/plain; charset=utf-8");
    // A HEAD is answered from the GET's entry, with its length.
    let head = f.send(reqwest::Method::HEAD, HOST, path, &[]).await;
    assert!(head.cache_status().starts_with("ownstak; hit"), "{}", head.cache_status());
    assert_eq!(head.header("content-length"), first.body.len().to_string());
    assert_eq!(f.invocations(path), 1, "hits never invoke");
    // A client holding the stored ETag gets a 304 from the cache.
    let tagged = "/tagged?cc=s-maxage%3D600&etag=%22abc%22";
    assert_eq!(f.get(tagged, &[]).await.status, 200);
    let revalidated = f.get(tagged, &[("if-none-match", "W/\"x\", W/\"abc\"")]).await;
    assert_eq!((revalidated.status, revalidated.body.as_str()), (304, ""));
    assert!(revalidated.cache_status().starts_with("ownstak; hit"), "{}", revalidated.cache_status());
    assert_eq!(revalidated.header("etag"), "\"abc\"");
    assert_eq!(f.get(tagged, &[("if-none-match", "\"other\"")]).await.status, 200);
    assert_eq!(f.invocations(tagged), 1);
    // `public` with `max-age` is shareable too.
    let public = "/public?cc=public%2C%20max-age%3D600";
    f.get(public, &[]).await;
    assert!(f.get(public, &[]).await.cache_status().starts_with("ownstak; hit"));
    assert_eq!(f.invocations(public), 1);

    // Answers the function does not mark shareable, or may not share, always invoke.
    for path in [
        "/none",
        "/max-age-only?cc=max-age%3D600",
        "/private?cc=private%2C%20s-maxage%3D600",
        "/no-store?cc=s-maxage%3D600%2C%20no-store",
        "/no-cache?cc=s-maxage%3D600%2C%20no-cache",
        "/malformed?cc=s-maxage%3Dsoon",
        "/contradictory?cc=s-maxage%3D5%2C%20s-maxage%3D6",
        "/vary-star?cc=s-maxage%3D600&vary=*",
        "/server-error?cc=s-maxage%3D600&status=500",
    ] {
        for _ in 0..2 {
            let a = f.get(path, &[]).await;
            assert_eq!(a.cache_status(), "ownstak; fwd=miss", "{path}");
        }
        assert_eq!(f.invocations(path), 2, "{path} must invoke every time");
    }

    // Set-Cookie answers are never shared.
    let cookie = "/cookie?cc=s-maxage%3D600&cookie=1";
    for _ in 0..2 {
        let a = f.get(cookie, &[]).await;
        assert_eq!(a.header("set-cookie"), "fixture=1; Path=/");
        assert_eq!(a.cache_status(), "ownstak; fwd=miss");
    }
    assert_eq!(f.invocations(cookie), 2);

    // Requests with credentials never use the cache, even for a stored path.
    for headers in [[("authorization", "Bearer t")], [("cookie", "theme=dark; sid=s3cr3t")]] {
        let a = f.get(path, &headers).await;
        assert_eq!(a.cache_status(), "ownstak; fwd=bypass");
    }
    assert_eq!(f.invocations(path), 3);
    // Other cookies do not keep a request out.
    assert!(f.get(path, &[("cookie", "theme=dark")]).await.cache_status().starts_with("ownstak; hit"));
    // A client asking for a fresh answer gets one, and it is stored.
    let fresh = f.get(path, &[("cache-control", "no-cache")]).await;
    assert_eq!((fresh.cache_status(), fresh.n()), ("ownstak; fwd=request; stored", 4));
    assert_eq!(f.get(path, &[]).await.n(), 4);

    // Vary: each variant has its own entry.
    let vary = "/vary?cc=s-maxage%3D600&vary=accept-language";
    for (lang, n) in [("en", 1), ("fr", 2), ("en", 1), ("fr", 2)] {
        let a = f.get(vary, &[("accept-language", lang)]).await;
        assert!(a.body.contains(&format!("lang={lang}")), "{lang}: {}", a.body);
        assert_eq!(a.n(), n, "{lang}: {}", a.cache_status());
    }
    assert_eq!(f.get(vary, &[]).await.n(), 3, "no Accept-Language is a variant of its own");
    assert_eq!(f.invocations(vary), 3);

    let metrics = f.metrics().await;
    for line in [
        "ownstak_proxy_cache_requests_total{result=\"hit\"}",
        "ownstak_proxy_cache_bytes ",
        "ownstak_proxy_cache_stored_total",
    ] {
        let value = metrics.lines().find(|l| l.starts_with(line)).unwrap_or_else(|| panic!("{line} in {metrics}"));
        assert_ne!(value.rsplit(' ').next(), Some("0"), "{value}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_invoke_once_and_streams_are_stored_while_they_stream() {
    let f = Fixture::start(small_entries()).await;

    // 50 concurrent misses of one key: one invocation; the others get its answer.
    let path = "/slow?cc=s-maxage%3D600&sleep_ms=300";
    let answers = futures_util::future::join_all((0..50).map(|_| f.get(path, &[]))).await;
    for a in &answers {
        assert_eq!((a.status, a.n()), (200, 1), "{}", a.cache_status());
    }
    assert_eq!(f.invocations(path), 1);

    // A streamed answer reaches its client chunk by chunk and is stored on the way.
    let stream = "/stream?cc=s-maxage%3D600&size=40000&chunks=4&pause_ms=50";
    let first = f.get(stream, &[]).await;
    assert_eq!((first.body.len(), first.cache_status()), (40_000, "ownstak; fwd=miss; stored"));
    let second = f.get(stream, &[]).await;
    assert!(second.cache_status().starts_with("ownstak; hit"), "{}", second.cache_status());
    assert_eq!(second.body, first.body);
    assert_eq!(f.invocations(stream), 1);

    // Over the per-entry limit: every client still gets the whole body, and nothing is stored.
    let big = "/big?cc=s-maxage%3D600&size=200000&chunks=8&pause_ms=20";
    for _ in 0..2 {
        let a = f.get(big, &[]).await;
        assert_eq!((a.status, a.body.len()), (200, 200_000));
        assert!(a.cache_status().starts_with("ownstak; fwd=miss"), "{}", a.cache_status());
    }
    assert_eq!(f.invocations(big), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_while_revalidate_refreshes_once_and_stale_if_error_stands_in() {
    let f = Fixture::start(small_entries()).await;
    let gate = f.data.path().join("gate");
    let path = format!(
        "/swr?cc=s-maxage%3D0%2C%20stale-while-revalidate%3D600&block_while={}",
        gate.to_str().unwrap().replace('/', "%2F")
    );
    assert_eq!(f.get(&path, &[]).await.n(), 1);
    // Refreshes now block until the gate is removed.
    std::fs::write(&gate, b"").unwrap();
    let burst = futures_util::future::join_all((0..20).map(|_| f.get(&path, &[]))).await;
    for a in &burst {
        assert_eq!((a.n(), a.cache_status()), (1, "ownstak; hit; stale"));
    }
    let deadline = Instant::now() + SOON;
    while f.invocations(&path) < 2 {
        assert!(Instant::now() < deadline, "the background refresh never started");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for _ in 0..10 {
        assert_eq!(f.get(&path, &[]).await.n(), 1, "stale while the refresh runs");
    }
    assert_eq!(f.invocations(&path), 2, "exactly one refresh for all those stale answers");
    std::fs::remove_file(&gate).unwrap();
    let deadline = Instant::now() + SOON;
    while f.get(&path, &[]).await.n() != 2 {
        assert!(Instant::now() < deadline, "the refreshed answer never replaced the stale one");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // stale-if-error: the function fails from its second invocation on; the stale entry stands in.
    let sie = "/sie?cc=s-maxage%3D0%2C%20stale-if-error%3D600&fail_after=1";
    assert_eq!(f.get(sie, &[]).await.n(), 1);
    let a = f.get(sie, &[]).await;
    assert_eq!((a.status, a.n()), (200, 1));
    assert_eq!(a.cache_status(), "ownstak; hit; stale; fwd=stale; fwd-status=502");
    assert_eq!(f.invocations(sie), 2);
    // Without stale-if-error the failure reaches the client.
    let plain = "/plain?cc=s-maxage%3D0%2C%20stale-while-revalidate%3D0&fail_after=1";
    f.get(plain, &[]).await;
    assert_eq!(f.get(plain, &[]).await.status, 502);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_never_serves_the_old_deployments_entry() {
    let f = Fixture::start(small_entries()).await;
    let path = "/home?cc=s-maxage%3D600";
    assert_eq!(f.get(path, &[]).await.label(), "v1");
    // Deployment 1's own URL is the same version under another name: an entry of its own.
    let own = f.get_on("shop-prod-1.local.dev.localhost", path, &[]).await;
    assert_eq!((own.label(), own.cache_status()), ("v1", "ownstak; fwd=miss; stored"));

    f.publish(2, "v2", true).await;
    // `current` is re-read within a second; from then on it is v2's entry.
    let deadline = Instant::now() + SOON;
    loop {
        let a = f.get(path, &[]).await;
        if a.label() == "v2" {
            break;
        }
        assert!(Instant::now() < deadline, "the promotion never reached the cache");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for _ in 0..3 {
        assert_eq!(f.get(path, &[]).await.label(), "v2", "never the old deployment's entry after the switch");
    }
    let old = f.get_on("shop-prod-1.local.dev.localhost", path, &[]).await;
    assert_eq!((old.label(), old.cache_status().starts_with("ownstak; hit")), ("v1", true));
    let new = f.get_on("shop-prod-2.local.dev.localhost", path, &[]).await;
    assert_eq!(new.label(), "v2");
    assert!(f.get_on("shop-prod-2.local.dev.localhost", path, &[]).await.cache_status().starts_with("ownstak; hit"));
    assert_eq!(f.invocations(path), 4, "one per version and host");
}

//! Static assets through the asset store, end to end: `ownstak build` of a
//! static site (plus a few content-hashed files in `permanent/`, as a
//! Next.js build has), `ownstak deploy` uploading them to the local
//! backend's S3 endpoint, and the proxy serving them with the right caching.

use std::path::Path;
use std::process::{Command, Stdio};

use ownstak_testkit::{Backend, bin, tempdir};

const JS: &str = "console.log('hashed chunk, served for a year');\n";

/// Writes the site with `robots` as its robots.txt, builds it, and adds
/// permanent files to the build as a Next.js build would.
fn build_site(dir: &Path, robots: &str) {
    build_site_with(dir, robots, JS);
}

/// [`build_site`] with `js` as the content of `/_next/static/chunks/main-4f2a.js`.
fn build_site_with(dir: &Path, robots: &str, js: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><h1>assets home</h1>").unwrap();
    std::fs::write(dir.join("robots.txt"), robots).unwrap();
    let out = Command::new(bin("ownstak"))
        .args(["build", dir.to_str().unwrap(), "--framework", "static", "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "ownstak build failed:\n{}", String::from_utf8_lossy(&out.stderr));

    let out_dir = dir.join(".ownstak");
    std::fs::create_dir_all(out_dir.join("permanent/chunks")).unwrap();
    std::fs::write(out_dir.join("permanent/chunks/main-4f2a.js"), js).unwrap();
    std::fs::write(out_dir.join("permanent/app-9c1e.css"), "h1{color:teal}").unwrap();
    let path = out_dir.join("build.json");
    let mut build: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    build["permanent"]["files"] = 2.into();
    build["permanent"]["bytes"] = (js.len() + 14).into();
    build["routes"]
        .as_array_mut()
        .unwrap()
        .insert(0, serde_json::json!({"prefix": "/_next/static/", "dir": "permanent", "immutable": true}));
    std::fs::write(&path, serde_json::to_vec_pretty(&build).unwrap()).unwrap();
}

struct Http {
    client: reqwest::Client,
    proxy: std::net::SocketAddr,
}

impl Http {
    fn request(&self, method: reqwest::Method, label: &str, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("http://{}{path}", self.proxy))
            .header("host", format!("{label}.local.dev.localhost"))
    }

    fn get(&self, label: &str, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, label, path)
    }
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_upload_assets_and_the_proxy_serves_them_from_the_store() {
    let apps = tempdir();
    let site = apps.path().join("site");
    build_site(&site, "v1\n");

    let data = tempdir();
    let backend = Backend::start(data.path(), &["--s3-addr", "127.0.0.1:0"]);
    let http = Http { client: reqwest::Client::builder().no_proxy().build().unwrap(), proxy: backend.proxy };

    let first = backend.deploy(&site, "site", "prod", &[]);
    assert_eq!(first["deployment"], 1, "{first}");
    // 2 permanent files + index.html and robots.txt.
    assert_eq!(first["assets"]["uploadedFiles"], 4, "{first}");
    assert_eq!(first["assets"]["skippedFiles"], 0, "{first}");

    // Permanent: immutable caching, the type from the extension, validators.
    let js = http.get("site-prod-1", "/_next/static/chunks/main-4f2a.js").send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert_eq!(header(&js, "cache-control"), "public, max-age=31536000, immutable");
    assert_eq!(header(&js, "content-type"), "text/javascript; charset=utf-8");
    assert_eq!(header(&js, "accept-ranges"), "bytes");
    let etag = header(&js, "etag");
    assert!(etag.starts_with('"') && etag.len() > 2, "{etag}");
    assert!(!header(&js, "last-modified").is_empty());
    assert_eq!(js.text().await.unwrap(), JS);

    let cached = http
        .get("site-prod-1", "/_next/static/chunks/main-4f2a.js")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    assert_eq!(header(&cached, "etag"), etag);
    assert!(cached.bytes().await.unwrap().is_empty());

    let part =
        http.get("site-prod-1", "/_next/static/chunks/main-4f2a.js").header("range", "bytes=0-9").send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(header(&part, "content-range"), format!("bytes 0-9/{}", JS.len()));
    assert_eq!(part.text().await.unwrap(), &JS[..10]);

    // Per-deployment: revalidated on every use.
    let robots = http.get("site-prod-1", "/robots.txt").send().await.unwrap();
    assert_eq!(robots.status(), 200);
    assert_eq!(header(&robots, "cache-control"), "public, max-age=0, must-revalidate");
    assert_eq!(header(&robots, "content-type"), "text/plain; charset=utf-8");
    assert_eq!(robots.text().await.unwrap(), "v1\n");
    let head = http.request(reqwest::Method::HEAD, "site-prod-1", "/robots.txt").send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-length"), "3");

    // Not in the store: the function answers (its own 404, its own pages).
    let missing = http.get("site-prod-1", "/missing.txt").send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let home = http.get("site-prod-1", "/").send().await.unwrap();
    assert_eq!(home.status(), 200);
    assert!(home.text().await.unwrap().contains("assets home"));
    for path in ["/_next/static/../robots.txt", "/%2e%2e/%2e%2e/etc/passwd", "/_next/static/chunks/none.js"] {
        assert_eq!(http.get("site-prod-1", path).send().await.unwrap().status(), 404, "{path}");
    }

    // A second deploy with the same permanent files skips them; each
    // deployment keeps its own public files.
    build_site(&site, "v2, changed\n");
    let second = backend.deploy(&site, "site", "prod", &[]);
    assert_eq!(second["deployment"], 2, "{second}");
    assert_eq!(second["assets"]["uploadedFiles"], 2, "{second}");
    assert_eq!(second["assets"]["skippedFiles"], 2, "{second}");
    assert_eq!(second["assets"]["skippedBytes"], JS.len() + 14, "{second}");
    for (label, body) in [("site-prod-1", "v1\n"), ("site-prod-2", "v2, changed\n")] {
        let r = http.get(label, "/robots.txt").send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), body, "{label}");
    }
    // `current` follows promotion (its resolution is cached for at most 1 s).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(http.get("site-prod", "/robots.txt").send().await.unwrap().text().await.unwrap(), "v2, changed\n");
    let js = http.get("site-prod-2", "/_next/static/chunks/main-4f2a.js").send().await.unwrap();
    assert_eq!(header(&js, "etag"), etag);

    // POST is the function's.
    let post =
        http.request(reqwest::Method::POST, "site-prod-1", "/_next/static/chunks/main-4f2a.js").send().await.unwrap();
    assert_ne!(post.status(), 200);

    // Unchanged code publishes no new version: every file is already
    // stored under it. The human output reports the upload.
    let out = backend.cli(&["deploy", site.to_str().unwrap(), "--project", "site", "--env", "prod"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("assets       uploaded 0 files (0 B), skipped 4"), "{text}");

    assert!(backend.stop().success());
}

/// A build that changes a permanent file without renaming it (as builds
/// other than Next.js may): each deployment keeps serving its own bytes
/// under `immutable`, so an older deployment (and a rollback to it) never
/// changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_permanent_file_keeps_older_deployments_bytes() {
    let apps = tempdir();
    let site = apps.path().join("site");
    let data = tempdir();
    let backend = Backend::start(data.path(), &["--s3-addr", "127.0.0.1:0"]);
    let http = Http { client: reqwest::Client::builder().no_proxy().build().unwrap(), proxy: backend.proxy };
    let path = "/_next/static/chunks/main-4f2a.js";

    // Everything but that one file's bytes stays the same.
    build_site_with(&site, "same\n", "console.log('A');\n");
    let first = backend.deploy(&site, "site", "prod", &[]);
    build_site_with(&site, "same\n", "console.log('B');\n");
    let second = backend.deploy(&site, "site", "prod", &[]);
    assert_eq!((first["deployment"].as_u64(), second["deployment"].as_u64()), (Some(1), Some(2)));
    assert_ne!(first["version"], second["version"], "other files, another version: {first} {second}");

    for (label, body) in [("site-prod-1", "console.log('A');\n"), ("site-prod-2", "console.log('B');\n")] {
        let r = http.get(label, path).send().await.unwrap();
        assert_eq!(r.status(), 200, "{label}");
        assert_eq!(header(&r, "cache-control"), "public, max-age=31536000, immutable");
        assert_eq!(r.text().await.unwrap(), body, "{label}");
    }
    // A rollback serves deployment 1's bytes again.
    let out = backend.cli(&["promote", "1", "--project", "site", "--env", "prod"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body = http.get("site-prod-1", path).send().await.unwrap().text().await.unwrap();
    assert_eq!(body, "console.log('A');\n");
    assert!(backend.stop().success());
}

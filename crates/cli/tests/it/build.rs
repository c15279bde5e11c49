//! `ownstak build` end to end: the real CLI builds the Next.js example (after
//! a real `npm ci` and `next build`) and a static site into `.ownstak/`,
//! `ownstak deploy DIR` deploys the build to the local backend, and the tests
//! talk to the deployments through the LambdaProxy by host name.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use ownstak_testkit::{Backend, bin, tempdir, workspace_root};

/// Copies `from` to `to`, leaving out installed and built files.
fn copy_source(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if [".next", "node_modules", ".ownstak"].iter().any(|n| name == *n) {
            continue;
        }
        let dest = to.join(&name);
        if e.file_type().unwrap().is_dir() {
            copy_source(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// A copy of examples/nextjs (without node_modules or .next) whose `/` shows `marker`.
fn nextjs_source(root: &Path, marker: &str) -> PathBuf {
    let dir = root.join("nextjs");
    copy_source(&workspace_root().join("examples/nextjs"), &dir);
    std::fs::write(dir.join("marker.txt"), marker).unwrap();
    dir
}

/// Runs `npm ci` in `dir`.
fn npm_ci(dir: &Path) {
    let started = Instant::now();
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run npm");
    assert!(
        out.status.success(),
        "npm ci failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("npm ci took {:.1}s", started.elapsed().as_secs_f64());
}

/// Runs `ownstak build ARGS`.
fn ownstak_build(args: &[&str]) -> Output {
    Command::new(bin("ownstak")).arg("build").args(args).stdin(Stdio::null()).output().expect("run ownstak build")
}

/// Builds `dir` with `--json` and returns the parsed layout.
fn build_ok(dir: &Path) -> serde_json::Value {
    let started = Instant::now();
    let out = ownstak_build(&[dir.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "ownstak build failed:\n{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("ownstak build took {:.1}s", started.elapsed().as_secs_f64());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("build --json output");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(".ownstak/build.json")).unwrap()).unwrap();
    assert_eq!(written["routes"], v["routes"], "build.json and --json agree");
    v
}

struct Http {
    client: reqwest::Client,
    proxy: std::net::SocketAddr,
}

impl Http {
    fn new(backend: &Backend) -> Self {
        let client = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { client, proxy: backend.proxy }
    }

    async fn get(&self, label: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("http://{}{path}", self.proxy))
            .header("host", format!("{label}.local.dev.localhost"))
            .send()
            .await
            .unwrap()
    }

    async fn text(&self, label: &str, path: &str) -> (u16, String) {
        let r = self.get(label, path).await;
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

/// The distinct `/_next/static/…` and `/_next/image…` URLs a page's HTML makes a browser load.
fn page_subresources(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attr in ["src=\"", "href=\"", "srcSet=\"", "srcset=\"", "imageSrcSet=\"", "imagesrcset=\""] {
        for part in html.split(attr).skip(1) {
            let value = part.split('"').next().unwrap_or_default();
            // A srcset lists `url width` pairs; take each url.
            for candidate in value.split(',') {
                let url = candidate.split_whitespace().next().unwrap_or_default().replace("&amp;", "&");
                if (url.starts_with("/_next/static/") || url.starts_with("/_next/image")) && !urls.contains(&url) {
                    urls.push(url);
                }
            }
        }
    }
    urls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nextjs_builds_deploys_and_keeps_every_deployment() {
    let apps = tempdir();
    let dir = nextjs_source(apps.path(), "first build");
    npm_ci(&dir);
    let layout = build_ok(&dir);
    assert_eq!(layout["framework"], "nextjs");
    assert_eq!(layout["compute"]["command"], "node server.js");
    assert_eq!(
        layout["routes"][0],
        serde_json::json!({"prefix": "/_next/static/", "dir": "permanent", "immutable": true})
    );
    let routes = layout["routes"].as_array().unwrap();
    assert!(
        routes.contains(&serde_json::json!({"path": "/robots.txt", "dir": "assets", "immutable": false})),
        "{routes:?}"
    );
    let out = dir.join(".ownstak");
    for f in [
        "compute/server.js",
        "compute/ownstak.toml",
        "compute/public/robots.txt",
        "assets/robots.txt",
        "assets/ownstak.png",
    ] {
        assert!(out.join(f).is_file(), "{f} is missing from the layout");
    }
    assert!(out.join("compute/.next/static").is_dir() && out.join("permanent").read_dir().unwrap().next().is_some());
    assert!(
        !out.join("compute/ownstak.json").exists() && !out.join("compute/bootstrap").exists(),
        "deploy adds those itself"
    );
    assert!(
        layout["compute"]["bytes"].as_u64().unwrap() > 1_000_000 && layout["permanent"]["files"].as_u64().unwrap() > 0,
        "{layout}"
    );

    let data = tempdir();
    let backend = Backend::start(data.path(), &[]);
    let http = Http::new(&backend);
    // `ownstak deploy DIR` with no --command deploys DIR/.ownstak/compute.
    let deployed = backend.deploy(&dir, "web", "prod", &[]);
    assert_eq!(deployed["deployment"], 1, "{deployed}");
    // The build's deployment id is Next's and the deployment's.
    let first_id = layout["deploymentId"].as_str().unwrap().to_owned();
    assert!(first_id.starts_with("dpl_"), "{layout}");
    assert_eq!(deployed["deploymentId"], first_id.as_str(), "{deployed}");

    // The prerendered page, with config headers and the proxy (middleware) header.
    let home = http.get("web-prod-1", "/").await;
    assert_eq!(home.status(), 200);
    assert_eq!(home.headers().get("x-from-config").map(|v| v.to_str().unwrap()), Some("yes"), "{:?}", home.headers());
    assert_eq!(home.headers().get("x-middleware").map(|v| v.to_str().unwrap()), Some("yes"), "{:?}", home.headers());
    let html = home.text().await.unwrap();
    assert!(html.contains("marker: first build"), "{html}");

    // A route handler: JSON and two cookies.
    let api = http.get("web-prod-1", "/api/hello").await;
    assert_eq!(api.status(), 200);
    let cookies: Vec<String> =
        api.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(
        cookies.iter().any(|c| c.starts_with("session=abc123")) && cookies.iter().any(|c| c.starts_with("theme=dark")),
        "{cookies:?}"
    );
    let json: serde_json::Value = api.json().await.unwrap();
    assert_eq!(json["hello"], "world");

    // A redirect from next.config.
    let old = http.get("web-prod-1", "/old").await;
    assert_eq!(old.status(), 307);
    assert_eq!(old.headers()["location"], "/");

    // public/ and not-found.
    let (status, robots) = http.text("web-prod-1", "/robots.txt").await;
    assert_eq!((status, robots.contains("User-agent")), (200, true), "{robots}");
    let (status, missing) = http.text("web-prod-1", "/no/such/page").await;
    assert_eq!(status, 404);
    assert!(missing.contains("This page does not exist"), "{missing}");

    // Streaming: the Suspense fallback arrives in an earlier chunk than the slow part.
    let mut stream = http.get("web-prod-1", "/stream").await;
    assert_eq!(stream.status(), 200);
    let (mut body, mut chunk_no) = (Vec::new(), 0usize);
    let (mut fallback_at, mut slow_at) = (None, None);
    while let Some(chunk) = stream.chunk().await.unwrap() {
        chunk_no += 1;
        body.extend_from_slice(&chunk);
        let text = String::from_utf8_lossy(&body);
        if fallback_at.is_none() && text.contains("loading…") {
            fallback_at = Some(chunk_no);
        }
        if slow_at.is_none() && text.contains("slow content arrived") {
            slow_at = Some(chunk_no);
        }
    }
    let (fallback_at, slow_at) =
        (fallback_at.expect("the fallback was sent"), slow_at.expect("the slow part was sent"));
    assert!(
        fallback_at < slow_at,
        "fallback in chunk {fallback_at}, slow content in chunk {slow_at}: it was not streamed"
    );

    // The hashed files come from the asset store with immutable caching,
    // validators and ranges; the image goes to the function.
    let log = backend.data_dir.join("logs/ownstak-web-prod.log");
    let invocations = || std::fs::read_to_string(&log).unwrap_or_default().matches("REPORT RequestId").count();
    let before = invocations();
    let page = http.get("web-prod-1", "/").await;
    assert_eq!(page.status(), 200);
    let _ = page.text().await.unwrap();
    let subresources = page_subresources(&html);
    let statics: Vec<&String> = subresources.iter().filter(|u| u.starts_with("/_next/static/")).collect();
    assert!(!statics.is_empty(), "no /_next/static/ reference in {html}");
    assert!(
        statics.iter().any(|u| u.ends_with(&format!("?dpl={first_id}"))),
        "Next.js tags its asset URLs with the deployment id: {statics:?}"
    );
    for url in &statics {
        let r = http.get("web-prod-1", url).await;
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable", "{url}");
        let rel = url.trim_start_matches("/_next/static/").split('?').next().unwrap();
        assert!(out.join("permanent").join(rel).is_file(), "{url} is not in permanent/");
    }
    let image = http.get("web-prod-1", "/_next/image?url=%2Fownstak.png&w=64&q=75").await;
    assert_eq!(image.status(), 200);
    let content_type = image.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("image/"), "{content_type}");
    assert!(!image.bytes().await.unwrap().is_empty());
    let used = invocations() - before;
    assert!(used < 2 + statics.len(), "static files must not invoke the function ({used} invocations)");
    eprintln!(
        "one load of / ({} requests: the page, {} /_next/static files, 1 image) invoked the function {used} times",
        2 + statics.len(),
        statics.len()
    );

    // Validators and ranges on a permanent asset.
    let first_static = statics[0].as_str();
    let r = http.get("web-prod-1", first_static).await;
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let full = r.bytes().await.unwrap();
    let not_modified = http
        .client
        .get(format!("http://{}{first_static}", http.proxy))
        .header("host", "web-prod-1.local.dev.localhost")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    let partial = http
        .client
        .get(format!("http://{}{first_static}", http.proxy))
        .header("host", "web-prod-1.local.dev.localhost")
        .header("range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), 206);
    assert_eq!(partial.headers()["content-range"].to_str().unwrap(), format!("bytes 0-9/{}", full.len()));
    assert_eq!(partial.bytes().await.unwrap().as_ref(), &full[..10]);
    let missing_asset = http.get("web-prod-1", "/_next/static/chunks/does-not-exist.js").await;
    assert_eq!(missing_asset.status(), 404);

    // A server action's page, loaded from the environment's URL before the
    // redeploy below: the proxy pins the browser to this deployment with
    // its cookie, and the form's action id is this build's.
    let page = http.get("web-prod", "/action").await;
    assert_eq!(page.status(), 200);
    let pin = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next())
        .find(|c| c.starts_with("__ownstak_dpl="))
        .unwrap_or_else(|| panic!("no deployment cookie: {:?}", page.headers()))
        .to_owned();
    let form = page.text().await.unwrap();
    let action_field = form
        .split("name=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .find(|name| name.starts_with("$ACTION_ID_"))
        .unwrap_or_else(|| panic!("no server action field in {form}"))
        .to_owned();

    // A visibly different second build: both deployments keep their own code.
    std::fs::write(dir.join("marker.txt"), "second build").unwrap();
    let second_layout = build_ok(&dir);
    assert_ne!(second_layout["deploymentId"], first_id.as_str(), "each build has its own id");
    let first_deployed = deployed;
    let deployed = backend.deploy(&dir, "web", "prod", &[]);
    assert_eq!(deployed["deployment"], 2, "{deployed}");
    // The environment's server actions key: made once by the first deploy,
    // kept as a secret, and the same (version 1) for both deployments.
    for d in [&first_deployed, &deployed] {
        assert_eq!(d["secrets"], serde_json::json!(["NEXT_SERVER_ACTIONS_ENCRYPTION_KEY"]), "{d}");
    }
    let lambda = ownstak_testkit::lambda_client(&backend.lambda);
    for q in ["deployment-1", "deployment-2"] {
        let conf =
            lambda.get_function_configuration().function_name("ownstak-web-prod").qualifier(q).send().await.unwrap();
        let vars = conf.environment().and_then(|e| e.variables()).cloned().unwrap_or_default();
        assert_eq!(
            vars.get("OWNSTAK_SECRETS").map(String::as_str),
            Some("NEXT_SERVER_ACTIONS_ENCRYPTION_KEY:1"),
            "{q}"
        );
    }
    let ssm = aws_sdk_ssm::Client::from_conf(
        aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .region(aws_sdk_ssm::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ssm::config::Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(&backend.lambda)
            .build(),
    );
    let key = ssm
        .get_parameter()
        .name("/ownstak/dev/local/web/prod/NEXT_SERVER_ACTIONS_ENCRYPTION_KEY")
        .with_decryption(true)
        .send()
        .await
        .unwrap();
    let key = key.parameter().unwrap();
    assert_eq!(key.version(), 1);
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(key.value().unwrap()).unwrap();
    assert_eq!(bytes.len(), 32, "32 random bytes, base64");
    // Skew protection: a client of the first build still reaches it, by
    // Next's header or its asset query, on the environment host.
    let pinned = http
        .client
        .get(format!("http://{}/", http.proxy))
        .header("host", "web-prod.local.dev.localhost")
        .header("x-deployment-id", &first_id)
        .send()
        .await
        .unwrap();
    assert!(pinned.text().await.unwrap().contains("marker: first build"));
    let (_, by_query) = http.text("web-prod", &format!("/?dpl={first_id}")).await;
    assert!(by_query.contains("marker: first build"), "{by_query}");
    let (_, first) = http.text("web-prod-1", "/").await;
    let (_, second) = http.text("web-prod-2", "/").await;
    let (_, live) = http.text("web-prod", "/").await;
    assert!(first.contains("marker: first build") && !first.contains("second build"), "{first}");
    assert!(second.contains("marker: second build"), "{second}");
    assert!(live.contains("marker: second build"), "{live}");

    // The form loaded before the redeploy still works: posted as a browser
    // without JavaScript posts it, with the cookie it was given.
    let boundary = "ownstakFormBoundary7MA4YWxk";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{action_field}\"\r\n\r\n\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nada\r\n--{boundary}--\r\n"
    );
    let posted = http
        .client
        .post(format!("http://{}/action", http.proxy))
        .header("host", "web-prod.local.dev.localhost")
        .header("cookie", &pin)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .header("origin", "http://web-prod.local.dev.localhost")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = posted.status().as_u16();
    let location = posted.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(
        (300..400).contains(&status) && location.contains("greeted=ada"),
        "the action ran: {status} {location} {}",
        posted.text().await.unwrap_or_default()
    );
    assert!(backend.stop().success());
}

#[test]
fn unsupported_apps_fail_with_a_clear_message() {
    let dir = tempdir();
    std::fs::write(dir.path().join("README.md"), "not an app").unwrap();
    let out = ownstak_build(&[dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no supported app") && err.contains("--framework") && err.contains("--command"), "{err}");
    assert!(!dir.path().join(".ownstak").exists(), "nothing is written for an unsupported app");

    let out = ownstak_build(&[dir.path().to_str().unwrap(), "--framework", "static"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("index.html"));

    // A Next.js app without its dependencies: says to run npm ci.
    let next = tempdir();
    let app = nextjs_source(next.path(), "x");
    let out = ownstak_build(&[app.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("npm ci"), "{err}");

    // A Next.js app configured for static export: says how to fix it.
    std::fs::write(app.join("next.config.mjs"), "export default { output: \"export\" };\n").unwrap();
    let out = ownstak_build(&[app.to_str().unwrap(), "--json"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("output: \"export\"") && err.contains("standalone"), "{err}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["error"].as_str().is_some_and(|e| e.contains("standalone")), "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_site_builds_and_serves_index_and_404() {
    let site = tempdir();
    let dir = site.path();
    std::fs::create_dir_all(dir.join("css")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><h1>static home</h1>").unwrap();
    std::fs::write(dir.join("404.html"), "<!doctype html><h1>static missing</h1>").unwrap();
    std::fs::write(dir.join("css/site.css"), "h1 { color: teal }").unwrap();
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::write(dir.join("docs/index.html"), "<h1>docs</h1>").unwrap();

    let layout = build_ok(dir);
    assert_eq!(layout["framework"], "static");
    assert_eq!(layout["compute"]["command"], "node ownstak-static.js");
    assert_eq!(layout["assets"]["files"], 4, "{layout}");
    let routes = layout["routes"].as_array().unwrap();
    assert!(
        routes.contains(&serde_json::json!({"prefix": "/css/", "dir": "assets", "immutable": false})),
        "{routes:?}"
    );
    assert!(
        routes.contains(&serde_json::json!({"path": "/index.html", "dir": "assets", "immutable": false})),
        "{routes:?}"
    );

    let data = tempdir();
    let backend = Backend::start(data.path(), &[]);
    let http = Http::new(&backend);
    backend.deploy(dir, "site", "prod", &[]);
    let home = http.get("site-prod-1", "/").await;
    assert_eq!(home.status(), 200);
    assert!(home.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(home.text().await.unwrap().contains("static home"));
    let css = http.get("site-prod-1", "/css/site.css").await;
    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    assert_eq!(http.text("site-prod-1", "/docs/").await, (200, "<h1>docs</h1>".to_owned()));
    let (status, body) = http.text("site-prod-1", "/nope").await;
    assert_eq!(status, 404);
    assert!(body.contains("static missing"), "{body}");
    let (status, _) = http.text("site-prod-1", "/../../etc/passwd").await;
    assert_eq!(status, 404);
    assert!(backend.stop().success());
}

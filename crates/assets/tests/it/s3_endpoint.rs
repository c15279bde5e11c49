//! The local S3 endpoint driven by the official aws-sdk-s3 client, and
//! uploads and reads through the store and resolver on top of it.

use std::net::SocketAddr;

use aws_sdk_s3::primitives::ByteStream;
use http::HeaderMap;
use ownstak_assets::{AssetResolver, AssetServer, AssetStore, DEFAULT_BUCKET, StoreConfig, UploadPlan};

struct Running {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _root: tempfile::TempDir,
}

async fn start() -> Running {
    let root = tempfile::tempdir().unwrap();
    let server = AssetServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), &root.path().join("assets")).await.unwrap();
    let url = server.url();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    Running { url, stop: Some(tx), task, _root: root }
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

#[tokio::test]
async fn s3_api_put_get_head_list_range_conditional() {
    let running = start().await;
    let store = AssetStore::new(StoreConfig::local(&running.url, "bucket-one")).await;
    store.ensure_bucket().await.unwrap();
    store.ensure_bucket().await.unwrap(); // idempotent
    let s3 = store.client();

    s3.put_object()
        .bucket("bucket-one")
        .key("dir/hello.txt")
        .content_type("text/plain")
        .cache_control("max-age=5")
        .body(ByteStream::from_static(b"hello, asset world"))
        .send()
        .await
        .unwrap();
    s3.put_object().bucket("bucket-one").key("dir/other.txt").body(ByteStream::from_static(b"x")).send().await.unwrap();

    let got = s3.get_object().bucket("bucket-one").key("dir/hello.txt").send().await.unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(got.cache_control(), Some("max-age=5"));
    assert_eq!(got.content_length(), Some(18));
    let etag = got.e_tag().unwrap().to_owned();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"hello, asset world");

    let head = s3.head_object().bucket("bucket-one").key("dir/hello.txt").send().await.unwrap();
    assert_eq!(head.content_length(), Some(18));
    assert_eq!(head.e_tag(), Some(etag.as_str()));

    let list = s3.list_objects_v2().bucket("bucket-one").prefix("dir/").send().await.unwrap();
    let keys: Vec<_> = list.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["dir/hello.txt", "dir/other.txt"]);

    let part = s3.get_object().bucket("bucket-one").key("dir/hello.txt").range("bytes=0-4").send().await.unwrap();
    assert_eq!(part.content_range(), Some("bytes 0-4/18"));
    assert_eq!(part.body.collect().await.unwrap().into_bytes().as_ref(), b"hello");

    let not_modified =
        s3.get_object().bucket("bucket-one").key("dir/hello.txt").if_none_match(&etag).send().await.unwrap_err();
    assert_eq!(not_modified.raw_response().unwrap().status().as_u16(), 304);
    let missing = s3.get_object().bucket("bucket-one").key("nope").send().await.unwrap_err();
    assert!(missing.into_service_error().is_no_such_key());
    let bad_range =
        s3.get_object().bucket("bucket-one").key("dir/hello.txt").range("bytes=100-200").send().await.unwrap_err();
    assert_eq!(bad_range.raw_response().unwrap().status().as_u16(), 416);

    running.stop().await;
}

#[tokio::test]
async fn uploads_skip_unchanged_permanent_files_and_resolve_requests() {
    let running = start().await;
    let store = AssetStore::new(StoreConfig::local(&running.url, DEFAULT_BUCKET)).await;
    store.ensure_bucket().await.unwrap();

    let build = tempfile::tempdir().unwrap();
    let permanent = build.path().join("permanent");
    let assets = build.path().join("assets");
    std::fs::create_dir_all(permanent.join("chunks")).unwrap();
    std::fs::create_dir_all(assets.join("img")).unwrap();
    std::fs::write(permanent.join("chunks/app-0123.js"), "console.log('permanent');\n").unwrap();
    std::fs::write(permanent.join("chunks/app-0123.css"), "body{}").unwrap();
    std::fs::write(assets.join("robots.txt"), "User-agent: *\n").unwrap();
    std::fs::write(assets.join("img/a.svg"), "<svg/>").unwrap();
    let plan = UploadPlan {
        permanent_dir: Some(permanent.clone()),
        permanent_prefix: Some("/_next/static/".into()),
        assets_dir: Some(assets.clone()),
        assets_base: "/".into(),
    };

    let mut seen = 0;
    let first = store.upload("ownstak-site-prod", "1", &plan, |_| seen += 1).await.unwrap();
    assert_eq!(seen, 4);
    assert_eq!((first.uploaded_files, first.skipped_files), (4, 0));
    assert_eq!(first.uploaded_bytes, 26 + 6 + 14 + 6);

    std::fs::write(assets.join("robots.txt"), "User-agent: *\nDisallow: /\n").unwrap();
    let second = store.upload("ownstak-site-prod", "2", &plan, |_| {}).await.unwrap();
    assert_eq!((second.uploaded_files, second.skipped_files), (2, 2), "{second:?}");
    assert_eq!(second.skipped_bytes, 32);

    let resolver = AssetResolver::new(StoreConfig::local(&running.url, DEFAULT_BUCKET)).await;
    let none = HeaderMap::new();
    let mut js =
        resolver.get("ownstak-site-prod", "1", "/_next/static/chunks/app-0123.js", &none).await.unwrap().unwrap();
    assert_eq!(js.status, 200);
    assert_eq!(js.headers["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(js.headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(js.headers["content-length"], "26");
    let mut body = Vec::new();
    while let Some(chunk) = js.body.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(body, b"console.log('permanent');\n");

    // Each version keeps its own per-deployment files.
    for (version, len) in [("1", "14"), ("2", "26")] {
        let r = resolver.get("ownstak-site-prod", version, "/robots.txt", &none).await.unwrap().unwrap();
        assert_eq!(r.headers["content-length"], len);
        assert_eq!(r.headers["cache-control"], "public, max-age=0, must-revalidate");
    }

    let mut cond = HeaderMap::new();
    cond.insert("if-none-match", js.headers["etag"].clone());
    let r = resolver.get("ownstak-site-prod", "1", "/_next/static/chunks/app-0123.js", &cond).await.unwrap().unwrap();
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let mut range = HeaderMap::new();
    range.insert("range", "bytes=0-9".parse().unwrap());
    let r = resolver.get("ownstak-site-prod", "1", "/_next/static/chunks/app-0123.js", &range).await.unwrap().unwrap();
    assert_eq!(r.status, 206);
    assert_eq!(r.headers["content-range"], "bytes 0-9/26");
    let head = resolver.head("ownstak-site-prod", "1", "/img/a.svg", &none).await.unwrap().unwrap();
    assert_eq!(head.headers["content-type"], "image/svg+xml; charset=utf-8");
    assert!(head.body.is_empty());

    for path in [
        "/missing.txt",
        "/",
        "/_next/static/chunks/nope.js",
        "/../permanent/x",
        "/%2e%2e/robots.txt",
        "//robots.txt",
        "/_next/static/../../robots.txt",
    ] {
        assert!(resolver.get("ownstak-site-prod", "1", path, &none).await.unwrap().is_none(), "{path}");
    }
    // A version without an index serves nothing from the store.
    assert!(resolver.get("ownstak-site-prod", "3", "/robots.txt", &none).await.unwrap().is_none());
    assert!(resolver.get("../x", "1", "/robots.txt", &none).await.is_err());

    running.stop().await;
}

async fn body_of(resolver: &AssetResolver, function: &str, version: &str, path: &str) -> Option<Vec<u8>> {
    let mut r = resolver.get(function, version, path, &HeaderMap::new()).await.unwrap()?;
    assert_eq!(r.status, 200, "{path}");
    let mut body = Vec::new();
    while let Some(chunk) = r.body.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    Some(body)
}

#[tokio::test]
async fn a_changed_permanent_file_never_changes_what_older_deployments_serve() {
    let running = start().await;
    let store = AssetStore::new(StoreConfig::local(&running.url, DEFAULT_BUCKET)).await;
    store.ensure_bucket().await.unwrap();
    let build = tempfile::tempdir().unwrap();
    let permanent = build.path().join("permanent");
    std::fs::create_dir_all(permanent.join("chunks")).unwrap();
    let plan = UploadPlan {
        permanent_dir: Some(permanent.clone()),
        permanent_prefix: Some("/_next/static/".into()),
        assets_dir: None,
        assets_base: "/".into(),
    };
    let f = "ownstak-site-prod";

    // Same path, other bytes (a build that does not hash its file names).
    std::fs::write(permanent.join("chunks/x.js"), "A").unwrap();
    let first = ownstak_assets::prepare_upload(&plan).await.unwrap();
    store.upload_prepared(f, "1", &first, |_| {}).await.unwrap();
    std::fs::write(permanent.join("chunks/x.js"), "B").unwrap();
    let second = ownstak_assets::prepare_upload(&plan).await.unwrap();
    assert_ne!(first.digest(), second.digest(), "other bytes, another digest");
    let report = store.upload_prepared(f, "2", &second, |_| {}).await.unwrap();
    assert_eq!(report.uploaded_files, 1, "{report:?}");

    let resolver = AssetResolver::new(StoreConfig::local(&running.url, DEFAULT_BUCKET)).await;
    assert_eq!(body_of(&resolver, f, "1", "/_next/static/chunks/x.js").await.unwrap(), b"A");
    assert_eq!(body_of(&resolver, f, "2", "/_next/static/chunks/x.js").await.unwrap(), b"B");
    // A path the deployment was not built with is not served from the store.
    assert!(body_of(&resolver, f, "1", "/_next/static/chunks/y.js").await.is_none());

    // The same bytes again: the same digest, nothing uploaded.
    std::fs::write(permanent.join("chunks/x.js"), "A").unwrap();
    let third = ownstak_assets::prepare_upload(&plan).await.unwrap();
    assert_eq!(third.digest(), first.digest());
    let report = store.upload_prepared(f, "3", &third, |_| {}).await.unwrap();
    assert_eq!((report.uploaded_files, report.skipped_files), (0, 1), "{report:?}");

    // The objects are named by their content.
    let listed = store.client().list_objects_v2().bucket(DEFAULT_BUCKET).prefix("content/").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    let sha = |b: &[u8]| {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(b))
    };
    let mut expected = vec![format!("content/{f}/{}.js", sha(b"A")), format!("content/{f}/{}.js", sha(b"B"))];
    expected.sort();
    assert_eq!(keys, expected);

    // A deployment indexed before content addressing (format 1) is still
    // served from its path-keyed objects.
    let s3 = store.client();
    s3.put_object()
        .bucket(DEFAULT_BUCKET)
        .key(format!("permanent/{f}/chunks/old.js"))
        .body(ByteStream::from_static(b"old"))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(DEFAULT_BUCKET)
        .key(format!("deployments/{f}/9/_index.json"))
        .body(ByteStream::from_static(
            br#"{"version":1,"assetsBase":"/","assets":[],"permanentPrefix":"/_next/static/"}"#,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(&resolver, f, "9", "/_next/static/chunks/old.js").await.unwrap(), b"old");

    running.stop().await;
}

/// The whole body of an answer.
async fn read_all(r: &mut ownstak_assets::AssetResponse) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(chunk) = r.body.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    body
}

#[tokio::test]
async fn text_files_are_stored_precompressed_and_served_by_accept_encoding() {
    use std::io::Read as _;
    let running = start().await;
    let store = AssetStore::new(StoreConfig::local(&running.url, DEFAULT_BUCKET)).await;
    store.ensure_bucket().await.unwrap();
    let build = tempfile::tempdir().unwrap();
    let (permanent, assets) = (build.path().join("permanent"), build.path().join("assets"));
    std::fs::create_dir_all(permanent.join("chunks")).unwrap();
    std::fs::create_dir_all(&assets).unwrap();
    let js = "export function greet(name) { return `hello ${name}`; }\n".repeat(100);
    std::fs::write(permanent.join("chunks/app.js"), &js).unwrap();
    std::fs::write(assets.join("index.html"), "<!doctype html><p>hello</p>\n".repeat(100)).unwrap();
    std::fs::write(assets.join("tiny.css"), "a{}").unwrap();
    let plan = UploadPlan {
        permanent_dir: Some(permanent),
        permanent_prefix: Some("/_next/static/".into()),
        assets_dir: Some(assets),
        assets_base: "/".into(),
    };
    let prepared = ownstak_assets::prepare_upload(&plan).await.unwrap();
    let encoded = &prepared.index().encoded;
    assert_eq!(encoded.keys().collect::<Vec<_>>(), ["/_next/static/chunks/app.js", "/index.html"]);
    let report = store.upload_prepared("ownstak-site-prod", "1", &prepared, |_| {}).await.unwrap();
    assert_eq!(report.uploaded_files, 3 + 4, "three files and two copies of each text file: {report:?}");
    // A second deploy of the same build: the per-deployment files are
    // stored per version again; every content object, copies included, is skipped.
    let again = ownstak_assets::prepare_upload(&plan).await.unwrap();
    assert_eq!(again.digest(), prepared.digest(), "compression is deterministic");
    let report = store.upload_prepared("ownstak-site-prod", "2", &again, |_| {}).await.unwrap();
    assert_eq!((report.uploaded_files, report.skipped_files), (2, 1 + 4), "{report:?}");

    let resolver = AssetResolver::new(StoreConfig::local(&running.url, DEFAULT_BUCKET)).await;
    let path = "/_next/static/chunks/app.js";
    let ask = |accept: &str| {
        let mut h = HeaderMap::new();
        h.insert("accept-encoding", accept.parse().unwrap());
        h
    };
    let mut br = resolver.get("ownstak-site-prod", "1", path, &ask("gzip, deflate, br, zstd")).await.unwrap().unwrap();
    assert_eq!(
        (br.headers["content-encoding"].to_str().unwrap(), br.headers["vary"].to_str().unwrap()),
        ("br", "Accept-Encoding")
    );
    assert_eq!(br.headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(br.headers["cache-control"], "public, max-age=31536000, immutable");
    let bytes = read_all(&mut br).await;
    assert_eq!(br.headers["content-length"], bytes.len().to_string());
    let mut plain = String::new();
    brotli::Decompressor::new(&bytes[..], 4096).read_to_string(&mut plain).unwrap();
    assert_eq!(plain, js);
    let mut gz = resolver.get("ownstak-site-prod", "1", path, &ask("gzip")).await.unwrap().unwrap();
    assert_eq!(gz.headers["content-encoding"], "gzip");
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&read_all(&mut gz).await[..]).read_to_string(&mut plain).unwrap();
    assert_eq!(plain, js);
    let mut identity = resolver.get("ownstak-site-prod", "1", path, &HeaderMap::new()).await.unwrap().unwrap();
    assert!(identity.headers.get("content-encoding").is_none());
    assert_eq!(identity.headers["vary"], "Accept-Encoding");
    assert_eq!(read_all(&mut identity).await, js.as_bytes());
    // A per-deployment page, a HEAD, a 304 on the encoded copy's own ETag.
    let page = resolver.head("ownstak-site-prod", "1", "/index.html", &ask("br")).await.unwrap().unwrap();
    assert_eq!(page.headers["content-encoding"], "br");
    assert_eq!(page.headers["cache-control"], "public, max-age=0, must-revalidate");
    let mut cond = ask("br");
    cond.insert("if-none-match", br.headers["etag"].clone());
    let not_modified = resolver.get("ownstak-site-prod", "1", path, &cond).await.unwrap().unwrap();
    assert_eq!(
        (not_modified.status.as_u16(), not_modified.headers["vary"].to_str().unwrap()),
        (304, "Accept-Encoding")
    );
    // Too small to be worth it: as it is, without Vary.
    let tiny = resolver.get("ownstak-site-prod", "1", "/tiny.css", &ask("br")).await.unwrap().unwrap();
    assert!(tiny.headers.get("content-encoding").is_none() && tiny.headers.get("vary").is_none());
    running.stop().await;
}

//! Who may use the S3 endpoint: requests a web page can send are refused
//! with S3's `AccessDenied` before they read or write anything; any key
//! works by default (as with other local emulators); with signature
//! verification only the backend's key pair does; allowed origins get
//! through.

use std::net::SocketAddr;
use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata as _;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use ownstak_assets::{AssetServer, AssetStore, DEFAULT_BUCKET, EndpointSecurity, StoreConfig};
use ownstak_guard::KeyPair;
use ownstak_testkit::{RawResponse, raw_http};

struct Running {
    addr: SocketAddr,
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _root: tempfile::TempDir,
}

async fn start(security: EndpointSecurity) -> Running {
    let root = tempfile::tempdir().unwrap();
    let server = AssetServer::bind_with(SocketAddr::from(([127, 0, 0, 1], 0)), &root.path().join("assets"), security)
        .await
        .unwrap();
    let (addr, url) = (server.local_addr(), server.url());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async move {
        let _ = rx.await;
    }));
    Running { addr, url, stop: Some(tx), task, _root: root }
}

impl Running {
    /// An S3 client of the store signing with `keys`.
    async fn client(&self, keys: &KeyPair) -> aws_sdk_s3::Client {
        AssetStore::new(StoreConfig::local(&self.url, DEFAULT_BUCKET).with_credentials(keys.clone()))
            .await
            .client()
            .clone()
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

/// The default endpoint's own key pair.
fn local_keys() -> KeyPair {
    KeyPair::new(ownstak_assets::LOCAL_ACCESS_KEY, ownstak_assets::LOCAL_SECRET_KEY)
}

/// Asserts an S3 refusal: 403 and the XML error `AccessDenied` with `needle` in its message.
fn assert_refusal(r: &RawResponse, needle: &str) {
    assert_eq!(r.status, 403, "{r:?} {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/xml"), "{r:?}");
    let text = r.text();
    assert!(text.contains("<Error><Code>AccessDenied</Code><Message>"), "{text}");
    assert!(text.contains(needle), "expected {needle:?} in {text}");
}

async fn keys_in_bucket(s3: &aws_sdk_s3::Client) -> Vec<String> {
    let list = s3.list_objects_v2().bucket(DEFAULT_BUCKET).send().await.unwrap();
    list.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}

/// GETs a presigned URL with a raw request.
async fn get_presigned(addr: SocketAddr, request: &aws_sdk_s3::presigning::PresignedRequest) -> RawResponse {
    let uri: http::Uri = request.uri().parse().unwrap();
    let target = uri.path_and_query().unwrap().as_str();
    raw_http(addr, &format!("GET {target} HTTP/1.1\nHost: {}", uri.authority().unwrap()), b"").await
}

#[tokio::test]
async fn browser_requests_neither_write_nor_read_objects() {
    let running = start(EndpointSecurity::default()).await;
    let s3 = running.client(&local_keys()).await;
    s3.create_bucket().bucket(DEFAULT_BUCKET).send().await.unwrap();
    s3.put_object()
        .bucket(DEFAULT_BUCKET)
        .key("secret.txt")
        .body(ByteStream::from_static(b"s3cr3t"))
        .send()
        .await
        .unwrap();
    let (addr, port) = (running.addr, running.addr.port());

    // A cross-site form through a rebound name.
    let r = raw_http(
        addr,
        &format!(
            "PUT /{DEFAULT_BUCKET}/pwned.txt HTTP/1.1\nHost: evil.example:{port}\nOrigin: http://evil.example\nContent-Type: text/plain"
        ),
        b"pwned",
    )
    .await;
    assert_refusal(&r, "Host `evil.example");
    // A browser's POST form upload (a policy in the form, no Authorization header).
    let form = "--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\npwned.txt\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\npwned\r\n--b--\r\n";
    let r = raw_http(
        addr,
        &format!(
            "POST /{DEFAULT_BUCKET} HTTP/1.1\nHost: 127.0.0.1:{port}\nOrigin: http://evil.example\nContent-Type: multipart/form-data; boundary=b"
        ),
        form.as_bytes(),
    )
    .await;
    assert_refusal(&r, "Origin: http://evil.example");
    // A page without Origin (an <img>, a script tag) reading an object; a script writing one.
    let r = raw_http(addr, &format!("GET /{DEFAULT_BUCKET}/secret.txt HTTP/1.1\nHost: 127.0.0.1:{port}"), b"").await;
    assert_refusal(&r, "not signed with AWS Signature Version 4");
    assert!(!r.text().contains("s3cr3t"));
    let r = raw_http(
        addr,
        &format!("PUT /{DEFAULT_BUCKET}/pwned.txt HTTP/1.1\nHost: localhost:{port}\nContent-Type: text/plain"),
        b"pwned",
    )
    .await;
    assert_refusal(&r, "not signed");
    // A rebound page whose request even carries a signature.
    let r = raw_http(
        addr,
        &format!(
            "GET /{DEFAULT_BUCKET}/secret.txt HTTP/1.1\nHost: evil.example\nX-Amz-Date: 20250101T000000Z\nx-amz-content-sha256: UNSIGNED-PAYLOAD\n\
             Authorization: AWS4-HMAC-SHA256 Credential=ownstak-local/20250101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, \
             Signature=0000000000000000000000000000000000000000000000000000000000000000"
        ),
        b"",
    )
    .await;
    assert_refusal(&r, "does not name this machine");

    assert_eq!(keys_in_bucket(&s3).await, ["secret.txt"], "nothing was written");
    running.stop().await;
}

#[tokio::test]
async fn any_credentials_work_by_default() {
    let running = start(EndpointSecurity::default()).await;
    let anyone = KeyPair::new("AKIAANYTHING", "any/secret+at/all");
    let store =
        AssetStore::new(StoreConfig::local(&running.url, DEFAULT_BUCKET).with_credentials(anyone.clone())).await;
    store.ensure_bucket().await.unwrap();
    let s3 = store.client();
    s3.put_object()
        .bucket(DEFAULT_BUCKET)
        .key("dir/a b+c.txt")
        .content_type("text/plain")
        .body(ByteStream::from_static(b"from any key"))
        .send()
        .await
        .unwrap();
    let got = s3.get_object().bucket(DEFAULT_BUCKET).key("dir/a b+c.txt").send().await.unwrap();
    assert_eq!(got.body.collect().await.unwrap().into_bytes().as_ref(), b"from any key");
    let list = s3.list_objects_v2().bucket(DEFAULT_BUCKET).prefix("dir/").send().await.unwrap();
    assert_eq!(list.contents().len(), 1);
    // And the endpoint's own pair, unchanged, sees the same store.
    assert_eq!(keys_in_bucket(&running.client(&local_keys()).await).await, ["dir/a b+c.txt"]);

    let presigned = s3
        .get_object()
        .bucket(DEFAULT_BUCKET)
        .key("dir/a b+c.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let r = get_presigned(running.addr, &presigned).await;
    assert_eq!((r.status, r.text().as_str()), (200, "from any key"), "{r:?}");
    s3.delete_object().bucket(DEFAULT_BUCKET).key("dir/a b+c.txt").send().await.unwrap();
    running.stop().await;
}

#[tokio::test]
async fn with_verified_signatures_only_the_backends_key_pair_works() {
    let data = tempfile::tempdir().unwrap();
    let keys = ownstak_guard::credentials::load_or_create(data.path()).unwrap();
    let source = ownstak_guard::credentials::credentials_path(data.path()).display().to_string();
    let running = start(EndpointSecurity {
        keys: keys.clone(),
        keys_source: source.clone(),
        verify_signatures: true,
        allowed_origins: Vec::new(),
    })
    .await;
    let good = running.client(&keys).await;
    good.create_bucket().bucket(DEFAULT_BUCKET).send().await.unwrap();
    good.put_object()
        .bucket(DEFAULT_BUCKET)
        .key("ok.txt")
        .body(ByteStream::from_static(b"signed"))
        .send()
        .await
        .unwrap();
    let presign = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    let url = good.get_object().bucket(DEFAULT_BUCKET).key("ok.txt").presigned(presign.clone()).await.unwrap();
    let r = get_presigned(running.addr, &url).await;
    assert_eq!((r.status, r.text().as_str()), (200, "signed"), "{r:?}");

    let wrong_secret = running.client(&KeyPair::new(keys.access_key_id(), "not-the-secret")).await;
    let err = wrong_secret
        .put_object()
        .bucket(DEFAULT_BUCKET)
        .key("pwned.txt")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"), "{err:?}");
    let message = err.message().unwrap_or_default();
    assert!(message.contains("does not match") && message.contains(&source), "{message}");
    let url = wrong_secret.get_object().bucket(DEFAULT_BUCKET).key("ok.txt").presigned(presign).await.unwrap();
    assert_refusal(&get_presigned(running.addr, &url).await, "does not match");

    let other = running.client(&local_keys()).await;
    let err = other.list_objects_v2().bucket(DEFAULT_BUCKET).send().await.unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"), "{err:?}");
    let message = err.message().unwrap_or_default();
    assert!(message.contains(keys.access_key_id()) && message.contains(&source), "{message}");

    assert_eq!(keys_in_bucket(&good).await, ["ok.txt"], "nothing was written with the wrong keys");
    running.stop().await;
}

#[tokio::test]
async fn an_allowed_origin_gets_through_and_no_other() {
    let running = start(EndpointSecurity {
        allowed_origins: vec!["http://localhost:5173".parse().unwrap()],
        ..EndpointSecurity::default()
    })
    .await;
    let s3 = running.client(&local_keys()).await;
    s3.create_bucket().bucket(DEFAULT_BUCKET).send().await.unwrap();
    let with_origin = |origin: &'static str| {
        s3.list_objects_v2().bucket(DEFAULT_BUCKET).customize().mutate_request(move |req| {
            req.headers_mut().insert("origin", origin);
        })
    };
    with_origin("http://localhost:5173").send().await.expect("the allowed origin");
    let err = with_origin("http://localhost:5174").send().await.unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"), "{err:?}");

    let preflight = |origin: &str| {
        format!(
            "OPTIONS /{DEFAULT_BUCKET}/x.txt HTTP/1.1\nHost: 127.0.0.1:{}\nOrigin: {origin}\nAccess-Control-Request-Method: PUT",
            running.addr.port()
        )
    };
    let r = raw_http(running.addr, &preflight("http://localhost:5173"), b"").await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), Some("http://localhost:5173"));
    assert_refusal(&raw_http(running.addr, &preflight("http://evil.example"), b"").await, "http://evil.example");
    running.stop().await;
}

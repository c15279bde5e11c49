//! Streaming end to end: app → ownstak-runtime → local Lambda service →
//! LambdaProxy → client, as bytes are produced, with bounded memory.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_lambda::primitives::Blob;
use ownstak_testkit::{Backend, ServerProcess, proc_status_kib, tempdir, workspace_root};
use sha2::{Digest, Sha256};

/// The bytes the streaming example's `/big` route sends.
fn byte_at(i: u32) -> u8 {
    (i.wrapping_mul(0x9E37_79B1) >> 13) as u8
}

/// The streaming example app.
fn stream_app() -> PathBuf {
    workspace_root().join("examples/streaming")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn host(label: &str) -> String {
    format!("{label}.local.dev.localhost")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_bytes_arrive_before_the_app_finishes_and_crashes_abort() {
    let data = tempdir();
    let backend = Backend::start(data.path(), &[]);
    backend.deploy(&stream_app(), "stream", "prod", &[]);

    let mut resp = client()
        .get(format!("http://{}/slow", backend.proxy))
        .header("host", host("stream-prod"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = Vec::new();
    let (mut first_at, mut second_at) = (None, None);
    while let Some(chunk) = resp.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
        let text = String::from_utf8_lossy(&body);
        if first_at.is_none() && text.contains("first") {
            first_at = Some(Instant::now());
        }
        if second_at.is_none() && text.contains("second") {
            second_at = Some(Instant::now());
        }
    }
    assert_eq!(body, b"first\nsecond\n");
    let (first_at, second_at) = (first_at.unwrap(), second_at.unwrap());
    // The app waits 2 s between the two writes; half of that is a generous margin.
    assert!(
        second_at - first_at >= Duration::from_secs(1),
        "\"first\" must arrive well before \"second\" (gap {:?})",
        second_at - first_at
    );

    // An app that dies mid-body: the client sees an aborted response, never a clean end.
    let resp = client()
        .get(format!("http://{}/crash", backend.proxy))
        .header("host", host("stream-prod"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the head was already sent");
    let result = resp.bytes().await;
    assert!(
        result.is_err(),
        "a response cut off by a crash must not end cleanly (got {:?} bytes)",
        result.map(|b| b.len())
    );
    // The environment is replaced; the next request is served.
    let ok =
        client().get(format!("http://{}/", backend.proxy)).header("host", host("stream-prod")).send().await.unwrap();
    let text = ok.text().await.unwrap();
    let log = std::fs::read_to_string(data.path().join("logs/ownstak-stream-prod.log")).unwrap_or_default();
    assert_eq!(text, "ok\n", "function log:\n{log}");
    assert!(backend.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_stream_is_byte_exact_with_bounded_proxy_memory() {
    let data = tempdir();
    let backend = Backend::start(data.path(), &[]);
    backend.deploy(&stream_app(), "stream", "prod", &[]);
    // The proxy alone, in its own process, so that its memory can be read.
    let argv = ["proxy", "--json", "--proxy-addr", "127.0.0.1:0", "--lambda-endpoint", &backend.lambda];
    let args: Vec<&OsStr> = argv.iter().map(OsStr::new).collect();
    let proxy = ServerProcess::start(&args);
    let addr = proxy.addr("proxy");
    let warm = client().get(format!("http://{addr}/")).header("host", host("stream-prod")).send().await.unwrap();
    assert_eq!(warm.text().await.unwrap(), "ok\n");
    let idle_kib = proc_status_kib(proxy.pid(), "VmRSS");

    const TOTAL: u32 = 64 * 1024 * 1024;
    let mut resp = client()
        .get(format!("http://{addr}/big?bytes={TOTAL}"))
        .header("host", host("stream-prod"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut hash = Sha256::new();
    let mut got: u32 = 0;
    let mut next_pause = 0u32;
    while let Some(chunk) = resp.chunk().await.unwrap() {
        hash.update(&chunk);
        got += chunk.len() as u32;
        if got >= next_pause {
            // A slow reader: the proxy must hold back, not buffer.
            tokio::time::sleep(Duration::from_millis(15)).await;
            next_pause = got + 1024 * 1024;
        }
    }
    assert_eq!(got, TOTAL);
    let mut expected = Sha256::new();
    let all: Vec<u8> = (0..TOTAL).map(byte_at).collect();
    expected.update(&all);
    assert_eq!(hash.finalize(), expected.finalize(), "the stream must arrive byte for byte");
    let peak_kib = proc_status_kib(proxy.pid(), "VmHWM");
    let growth_mib = peak_kib.saturating_sub(idle_kib) as f64 / 1024.0;
    assert!(growth_mib < 64.0, "proxy peak RSS grew {growth_mib:.1} MiB over idle during a 64 MiB stream");
    eprintln!("proxy idle RSS {} KiB, peak {} KiB (+{growth_mib:.1} MiB)", idle_kib, peak_kib);
    assert!(proxy.stop().success());
    assert!(backend.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lambda_runtime_streaming_function_is_served_through_the_proxy() {
    let data = tempdir();
    let backend = Backend::start(data.path(), &[]);
    let lambda = ownstak_testkit::lambda_client(&backend.lambda);
    let function = "ownstak-rsstream-prod";
    ownstak_testkit::deploy_binary(&lambda, function, "fixture-lambda-rs-stream", "current").await;

    let resp = client()
        .get(format!("http://{}/anything", backend.proxy))
        .header("host", host("rsstream-prod"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-fixture"], "lambda_runtime-stream");
    assert_eq!(resp.text().await.unwrap(), "chunk-1\nchunk-2\nchunk-3\n");

    // The same stream read with the SDK's own event-stream client.
    let mut out = lambda
        .invoke_with_response_stream()
        .function_name(function)
        .qualifier("current")
        .payload(Blob::new("{}"))
        .send()
        .await
        .unwrap();
    let mut raw = Vec::new();
    let mut completed = false;
    while let Some(event) = out.event_stream.recv().await.unwrap() {
        match event {
            aws_sdk_lambda::types::InvokeWithResponseStreamResponseEvent::PayloadChunk(c) => {
                raw.extend_from_slice(c.payload().unwrap().as_ref())
            }
            aws_sdk_lambda::types::InvokeWithResponseStreamResponseEvent::InvokeComplete(done) => {
                assert_eq!(done.error_code(), None);
                completed = true;
            }
            _ => {}
        }
    }
    assert!(completed, "the stream ends with InvokeComplete");
    let split = raw.windows(8).position(|w| w == [0u8; 8]).expect("prelude delimiter");
    let prelude: serde_json::Value = serde_json::from_slice(&raw[..split]).unwrap();
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(&raw[split + 8..], b"chunk-1\nchunk-2\nchunk-3\n");
    assert!(backend.stop().success());
}

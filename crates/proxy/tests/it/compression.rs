//! Compression in the proxy: `br` and `gzip` round-trip, the cache keeps
//! one variant per negotiated encoding, and a streamed answer is
//! compressed chunk by chunk (each flushed while the function is still
//! writing). Runs the cache tests' fixture function.

use std::io::Write as _;

use crate::cache::{Fixture, HOST, small_entries};
use crate::common::SOON;

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut d = flate2::write::GzDecoder::new(Vec::new());
    d.write_all(bytes).unwrap();
    d.finish().unwrap()
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut std::io::Cursor::new(bytes), &mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_round_trips_is_cached_per_encoding_and_streams() {
    let f = Fixture::start(small_entries()).await;

    let page = "/page?type=text/html&size=5000&cc=s-maxage%3D600";
    let br = f.get(page, &[("accept-encoding", "gzip, deflate, br, zstd")]).await;
    assert_eq!((br.header("content-encoding"), br.cache_status()), ("br", "ownstak; fwd=miss; stored"));
    assert!(br.header("vary").contains("accept-encoding"), "{:?}", br.headers);
    assert!(br.bytes.len() < 1000, "5000 bytes of mostly `x` compress well: {}", br.bytes.len());
    let plain = unbrotli(&br.bytes);
    assert_eq!(plain.len(), 5000);
    assert!(plain.starts_with(b"n=1 label=v1 lang=- ae=gzip,"), "{}", String::from_utf8_lossy(&plain[..40]));

    let gz = f.get(page, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.header("content-encoding"), "gzip");
    let plain = gunzip(&gz.bytes);
    assert_eq!(plain.len(), 5000);
    assert!(plain.starts_with(b"n=2 "), "a variant of its own");

    // Another spelling of "br preferred" hits the stored br variant: no compression, no invocation.
    let again = f.get(page, &[("accept-encoding", "br;q=1.0, gzip;q=0.5")]).await;
    assert!(again.cache_status().starts_with("ownstak; hit"), "{}", again.cache_status());
    assert_eq!((again.header("content-encoding"), &again.bytes), ("br", &br.bytes));
    let identity = f.get(page, &[]).await;
    assert_eq!((identity.header("content-encoding"), identity.body.len()), ("", 5000));
    assert!(identity.header("vary").contains("accept-encoding"));
    assert_eq!(f.invocations(page), 3, "one per encoding");

    // Small bodies (known from the function's Content-Length; a streamed
    // answer without one is compressed), binary types and answers the function encoded itself are left alone.
    for (path, encoding, len) in [
        ("/small?type=text/html&size=100&cl=1", "", 100),
        ("/png?type=image/png&size=5000", "", 5000),
        ("/pre?type=text/html&size=5000&ce=gzip", "gzip", 5000),
        ("/no-transform?type=text/html&size=5000&cc=no-transform", "", 5000),
    ] {
        let a = f.get(path, &[("accept-encoding", "br, gzip")]).await;
        assert_eq!((a.header("content-encoding"), a.bytes.len()), (encoding, len), "{path}");
    }
    // A small answer of a compressible type still says it varies, so that
    // one page's answers agree on `Vary` however fast their bodies arrive.
    let small = f.get("/small?type=text/html&size=100&cl=1", &[("accept-encoding", "br")]).await;
    assert!(small.header("vary").contains("accept-encoding"), "{:?}", small.headers);

    // A streamed answer: the first chunk arrives, compressed and decodable, while the function waits.
    let gate = f.data.path().join("gate");
    std::fs::write(&gate, b"").unwrap();
    let path = format!(
        "/stream?type=text/html&size=20000&chunks=4&gate_after_first={}",
        gate.to_str().unwrap().replace('/', "%2F")
    );
    let mut resp = f
        .http
        .get(format!("http://{}{path}", f.proxy.addr))
        .header("host", HOST)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let mut decoder = flate2::write::GzDecoder::new(Vec::new());
    while decoder.get_ref().len() < 5000 {
        let chunk = tokio::time::timeout(SOON, resp.chunk()).await.expect("the first chunk is flushed").unwrap();
        decoder.write_all(&chunk.expect("more body")).unwrap();
        decoder.flush().unwrap();
    }
    assert_eq!(decoder.get_ref().len(), 5000, "exactly the first chunk, before the function goes on");
    std::fs::remove_file(&gate).unwrap();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        decoder.write_all(&chunk).unwrap();
    }
    let plain = decoder.finish().unwrap();
    assert_eq!(plain.len(), 20_000);
    assert!(plain.starts_with(b"n=1 ") && plain[100..].iter().all(|b| *b == b'x'));
}

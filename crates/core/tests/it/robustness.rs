//! Hostile input never panics the shared parsers: host routing, response
//! payloads, the streaming prelude decoder and event decoding. This is the
//! short, deterministic run of the fuzz targets in `fuzz/`, part of every
//! test run; `scripts/fuzz.sh` runs the coverage-guided fuzzer for longer.

use ownstak_core::{Decoded, PreludeDecoder};
use ownstak_core::{FunctionPrefix, HostSuffix};
use ownstak_core::{HttpEvent, HttpResponse};

const ITERATIONS: usize = 50_000;

fn random_host(rng: &mut fastrand::Rng) -> String {
    const PIECES: &[&str] = &[
        "a",
        "z",
        "0",
        "9",
        "-",
        ".",
        ":",
        "[",
        "]",
        "_",
        " ",
        "\u{e9}",
        "\0",
        "hello",
        "prod",
        "-1",
        "-01",
        "-0",
        "local",
        "dev",
        "localhost",
        ".local.dev.localhost",
        ":3000",
        "99999999999",
        "--",
        "..",
    ];
    let n = rng.usize(0..12);
    (0..n).map(|_| PIECES[rng.usize(0..PIECES.len())]).collect()
}

#[test]
fn host_routing_never_panics_and_accepts_only_well_formed_hosts() {
    let suffix = HostSuffix::new("local", "dev", "localhost").unwrap();
    let prefix = FunctionPrefix::default();
    let mut rng = fastrand::Rng::with_seed(7);
    let mut accepted = 0;
    for _ in 0..ITERATIONS {
        let host = random_host(&mut rng);
        if let Ok(route) = suffix.route(&host) {
            accepted += 1;
            let label = &route.label;
            assert!(label.contains('-'), "{host:?} → {label}");
            assert!(
                label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{host:?} → {label}"
            );
            assert!(!label.starts_with('-') && !label.ends_with('-') && !label.contains("--"), "{host:?} → {label}");
            assert!(route.function(&prefix).starts_with("ownstak-"));
            // Routing is stable: the canonical host routes to the same place.
            let again = suffix.route(&suffix.host(label)).unwrap();
            assert_eq!(again.label, *label);
        }
    }
    assert!(accepted > 0, "the generator must reach valid hosts too");
}

#[test]
fn payloads_and_streams_never_panic() {
    let mut rng = fastrand::Rng::with_seed(11);
    let seeds: [&[u8]; 5] = [
        br#"{"statusCode":200,"headers":{"a":"b"},"multiValueHeaders":{"c":["d","e"]},"cookies":["x=1"],"body":"aGk=","isBase64Encoded":true}"#,
        br#"{"statusCode":200,"cookies":[]}"#,
        b"\0\0\0\0\0\0\0\0body",
        br#"[1,2,3]"#,
        br#""text""#,
    ];
    for i in 0..ITERATIONS {
        let mut data = seeds[i % seeds.len()].to_vec();
        for _ in 0..rng.usize(0..6) {
            if data.is_empty() {
                break;
            }
            let at = rng.usize(0..data.len());
            match rng.u8(0..3) {
                0 => data[at] = rng.u8(..),
                1 => {
                    data.remove(at);
                }
                _ => data.insert(at, rng.u8(..)),
            }
        }
        if let Ok(r) = HttpResponse::from_payload(&data) {
            let _ = r.into_http();
        }
        let mut d = PreludeDecoder::new(1 << 16);
        let mut done = false;
        for chunk in data.chunks(rng.usize(1..8)) {
            match d.push(chunk) {
                Ok(Decoded::NeedMore) => {}
                _ => {
                    done = true;
                    break;
                }
            }
        }
        if !done {
            let _ = d.finish();
        }
        if let Ok(e) = serde_json::from_slice::<HttpEvent>(&data) {
            let _ = (e.method(), e.header_map(), e.body_bytes(), e.path_and_query());
        }
    }
}

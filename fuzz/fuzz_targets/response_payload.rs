#![no_main]
//! Buffered function responses of any shape.

use libfuzzer_sys::fuzz_target;
use ownstak_core::HttpResponse;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = HttpResponse::from_payload(data) {
        let _ = r.into_http();
    }
});

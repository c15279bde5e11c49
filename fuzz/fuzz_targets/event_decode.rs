#![no_main]
//! API Gateway v2 events as the runtime decodes them.

use libfuzzer_sys::fuzz_target;
use ownstak_core::HttpEvent;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = serde_json::from_slice::<HttpEvent>(data) {
        let _ = (e.method(), e.header_map(), e.body_bytes(), e.path_and_query());
    }
});

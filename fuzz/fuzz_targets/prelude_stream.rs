#![no_main]
//! Streamed responses split into chunks anywhere.

use libfuzzer_sys::fuzz_target;
use ownstak_core::{Decoded, PreludeDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let mut decoder = PreludeDecoder::new(1 << 16);
    for chunk in rest.chunks(usize::from(split).max(1)) {
        match decoder.push(chunk) {
            Ok(Decoded::NeedMore) => {}
            _ => return,
        }
    }
    let _ = decoder.finish();
});

#![no_main]
//! Host routing on arbitrary Host headers.

use libfuzzer_sys::fuzz_target;
use ownstak_core::HostSuffix;

fuzz_target!(|data: &[u8]| {
    let Ok(host) = std::str::from_utf8(data) else { return };
    // The suffix is valid by construction.
    let suffix = HostSuffix::new("local", "dev", "localhost").expect("valid suffix");
    if let Ok(route) = suffix.route(host) {
        assert!(route.label.contains('-'));
        assert_eq!(suffix.route(&suffix.host(&route.label)).map(|r| r.label), Ok(route.label));
    }
});

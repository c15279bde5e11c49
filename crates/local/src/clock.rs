//! Wall-clock formats used by the Lambda API.

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::macros::format_description;

/// The current time as Lambda's `LastModified`: `2026-11-27T23:19:15.123+0000`.
pub(crate) fn last_modified_now() -> String {
    let now = OffsetDateTime::now_utc();
    let fmt = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000");
    // Formatting a UTC timestamp with a fixed description cannot fail.
    now.format(&fmt).unwrap_or_default()
}

/// Milliseconds since the Unix epoch.
pub(crate) fn epoch_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Today's date as `2026/11/27`, used in log stream names.
pub(crate) fn log_stream_date() -> String {
    let now = OffsetDateTime::now_utc();
    format!("{:04}/{:02}/{:02}", now.year(), u8::from(now.month()), now.day())
}

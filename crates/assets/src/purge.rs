//! Cache purges and the purge log: one small JSON object in the asset
//! store's bucket ([`PURGE_LOG_KEY`]). `ownstak cache purge` appends a
//! record with a conditional write (so concurrent purges never lose one
//! another), and every proxy polls the object with a conditional GET, so
//! an unchanged log costs a 304 and a purge reaches every proxy within one
//! poll interval.
//!
//! The log keeps the newest [`KEPT_RECORDS`] records, numbered in order. A
//! proxy that finds a gap between the last record it applied and the
//! oldest one kept (it was cut off longer than the log reaches back, or
//! the log was deleted and started again) cannot know what it missed and
//! empties its whole cache ([`PurgeNews::Missed`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::client::StoreConfig;
use crate::document::{Document, Read};
use crate::error::AssetError;
use crate::keys::check_function;
use crate::store::AssetStore;

/// The key of the purge log in the asset store's bucket.
pub const PURGE_LOG_KEY: &str = "purge/log.json";
/// How many records the log keeps.
pub const KEPT_RECORDS: usize = 256;
/// Most paths, prefixes and tags in one purge.
pub const MAX_SELECTORS: usize = 100;
/// Longest path or prefix accepted (bytes).
const MAX_PATH: usize = 1024;
/// Longest tag accepted (bytes).
const MAX_TAG: usize = 256;
/// How far back a new feed applies records, for clocks that disagree a little.
const CLOCK_MARGIN: Duration = Duration::from_secs(60);

/// Why a purge was refused before anything was written.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PurgeError {
    /// Neither `--all` nor any path, prefix or tag.
    #[error("say what to purge: --path, --prefix, --tag or --all")]
    Nothing,
    /// `--all` together with paths, prefixes or tags.
    #[error("--all purges everything; leave out --path, --prefix and --tag with it")]
    AllWithSelectors,
    /// Over [`MAX_SELECTORS`] paths, prefixes and tags.
    #[error("at most {MAX_SELECTORS} paths, prefixes and tags per purge; split it, or use --prefix or --all")]
    TooMany,
    /// A path or prefix that is not an absolute URL path.
    #[error(
        "{what} {value:?} is not a URL path: start it with `/`, at most {MAX_PATH} bytes, without spaces or control characters"
    )]
    InvalidPath {
        /// `path` or `prefix`.
        what: &'static str,
        /// The value.
        value: String,
    },
    /// A tag with characters a `Cache-Tag` list cannot carry.
    #[error("tag {0:?} is not a cache tag: 1 to {MAX_TAG} visible characters, without commas or spaces")]
    InvalidTag(String),
    /// The function name is not one of a deployment's.
    #[error("invalid function name {0:?}")]
    InvalidFunction(String),
}

/// What one purge removes from the caches of one function (every version
/// of it, on every host that serves it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purge {
    function: String,
    #[serde(flatten)]
    scope: PurgeScope,
}

/// Which of a function's cached answers a purge removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PurgeScope {
    /// Every answer.
    All {
        /// Always `true` (how the log spells this scope).
        all: bool,
    },
    /// The answers selected by any of these (at least one is given).
    Selected {
        /// Exact paths: without a query, the path with any query; with
        /// one, exactly that path and query.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        paths: Vec<String>,
        /// Paths starting with any of these.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        prefixes: Vec<String>,
        /// Answers whose `Cache-Tag` names any of these.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
    },
}

impl Purge {
    /// A purge of every cached answer of `function`.
    pub fn all(function: &str) -> Result<Self, PurgeError> {
        let purge = Self { function: function.to_owned(), scope: PurgeScope::All { all: true } };
        purge.check()?;
        Ok(purge)
    }

    /// A purge of the answers of `function` that any of the paths, prefixes
    /// or tags select.
    pub fn selected(
        function: &str,
        paths: Vec<String>,
        prefixes: Vec<String>,
        tags: Vec<String>,
    ) -> Result<Self, PurgeError> {
        let purge = Self { function: function.to_owned(), scope: PurgeScope::Selected { paths, prefixes, tags } };
        purge.check()?;
        Ok(purge)
    }

    /// The function whose answers are purged.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// Which answers are purged.
    pub fn scope(&self) -> &PurgeScope {
        &self.scope
    }

    /// Checks every part; a record read from the log is checked again, so a
    /// hand-edited log cannot make a proxy match what no command could ask.
    fn check(&self) -> Result<(), PurgeError> {
        check_function(&self.function).map_err(|_| PurgeError::InvalidFunction(self.function.clone()))?;
        let (paths, prefixes, tags) = match &self.scope {
            PurgeScope::All { all: true } => return Ok(()),
            PurgeScope::All { all: false } => return Err(PurgeError::Nothing),
            PurgeScope::Selected { paths, prefixes, tags } => (paths, prefixes, tags),
        };
        let count = paths.len() + prefixes.len() + tags.len();
        if count == 0 {
            return Err(PurgeError::Nothing);
        }
        if count > MAX_SELECTORS {
            return Err(PurgeError::TooMany);
        }
        let path_ok = |p: &String| {
            p.starts_with('/') && p.len() <= MAX_PATH && p.bytes().all(|b| b.is_ascii_graphic() || b >= 0x80)
        };
        for (what, list) in [("path", paths), ("prefix", prefixes)] {
            if let Some(bad) = list.iter().find(|p| !path_ok(p)) {
                return Err(PurgeError::InvalidPath { what, value: bad.clone() });
            }
        }
        let tag_ok =
            |t: &String| !t.is_empty() && t.len() <= MAX_TAG && t.bytes().all(|b| b.is_ascii_graphic() && b != b',');
        if let Some(bad) = tags.iter().find(|t| !tag_ok(t)) {
            return Err(PurgeError::InvalidTag(bad.clone()));
        }
        Ok(())
    }

    /// Whether an answer of `function` to `path_and_query` whose
    /// `Cache-Tag` lists `tags` is purged.
    pub fn matches<'a>(&self, function: &str, path_and_query: &str, tags: impl IntoIterator<Item = &'a str>) -> bool {
        if function != self.function {
            return false;
        }
        let (paths, prefixes, wanted) = match &self.scope {
            PurgeScope::All { .. } => return true,
            PurgeScope::Selected { paths, prefixes, tags } => (paths, prefixes, tags),
        };
        let path = path_and_query.split_once('?').map_or(path_and_query, |(p, _)| p);
        paths.iter().any(|p| if p.contains('?') { p == path_and_query } else { p == path })
            || prefixes.iter().any(|p| path_and_query.starts_with(p.as_str()))
            || (!wanted.is_empty() && tags.into_iter().any(|t| wanted.iter().any(|w| w == t)))
    }
}

/// A purge as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeRecord {
    /// Its number: one more than the record before it.
    pub seq: u64,
    /// When it was written, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What it purges.
    #[serde(flatten)]
    pub purge: Purge,
}

/// The log object.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PurgeLog {
    /// The newest records, oldest first.
    records: Vec<PurgeRecord>,
}

impl PurgeLog {
    fn last_seq(&self) -> u64 {
        self.records.last().map_or(0, |r| r.seq)
    }
}

/// The purge log as a document of the store.
const PURGE_LOG: Document = Document {
    key: PURGE_LOG_KEY,
    what: "the purge log",
    unreadable_hint: "delete the object to start a new log (every proxy then empties its cache)",
};

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl AssetStore {
    /// Appends a purge to the log and returns its record; every proxy that
    /// polls the store applies it within its poll interval.
    pub async fn purge(&self, purge: Purge) -> Result<PurgeRecord, AssetError> {
        PURGE_LOG
            .update(self.client(), self.config(), |log: &mut PurgeLog| {
                let record = PurgeRecord { seq: log.last_seq() + 1, at_ms: now_ms(), purge: purge.clone() };
                log.records.push(record.clone());
                let excess = log.records.len().saturating_sub(KEPT_RECORDS);
                log.records.drain(..excess);
                Ok::<_, AssetError>(record)
            })
            .await
    }
}

/// What a poll of the log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeNews {
    /// No new record.
    Nothing,
    /// New records, oldest first.
    Purges(Vec<Purge>),
    /// Records were missed: everything cached may be stale.
    Missed,
}

/// Where a feed is in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// Nothing read yet: records written since this time (ms) apply.
    Since(u64),
    /// Records after this number apply.
    After(u64),
}

/// A proxy's reader of the purge log.
#[derive(Debug)]
pub struct PurgeFeed {
    client: aws_sdk_s3::Client,
    config: StoreConfig,
    etag: Option<String>,
    position: Position,
}

impl PurgeFeed {
    /// A feed of the log in `config`'s bucket, applying the purges written
    /// from now on (less a margin for clocks that disagree).
    pub async fn new(config: StoreConfig) -> Self {
        let since = now_ms().saturating_sub(CLOCK_MARGIN.as_millis() as u64);
        Self { client: config.client().await, config, etag: None, position: Position::Since(since) }
    }

    /// Reads the log if it changed since the last poll.
    pub async fn poll(&mut self) -> Result<PurgeNews, AssetError> {
        let log = match PURGE_LOG.read(&self.client, &self.config, self.etag.as_deref()).await? {
            Read::Changed(log, etag) => {
                self.etag = etag;
                log
            }
            Read::Unchanged => return Ok(PurgeNews::Nothing),
            Read::Missing => {
                self.etag = None;
                PurgeLog::default()
            }
        };
        Ok(self.read(log))
    }

    /// The news in a log just read, moving the feed past it.
    fn read(&mut self, log: PurgeLog) -> PurgeNews {
        let last = log.last_seq();
        let checked = |records: Vec<PurgeRecord>| {
            records
                .into_iter()
                .filter_map(|r| match r.purge.check() {
                    Ok(()) => Some(r.purge),
                    Err(e) => {
                        tracing::warn!(seq = r.seq, error = %e, "ignoring an invalid record of the purge log");
                        None
                    }
                })
                .collect::<Vec<_>>()
        };
        let news = match self.position {
            Position::Since(since) => {
                PurgeNews::Purges(checked(log.records.into_iter().filter(|r| r.at_ms >= since).collect()))
            }
            Position::After(seen) if last < seen => PurgeNews::Missed,
            Position::After(seen) if last == seen => PurgeNews::Nothing,
            Position::After(seen) => {
                if log.records.first().is_some_and(|r| r.seq > seen + 1) {
                    PurgeNews::Missed
                } else {
                    PurgeNews::Purges(checked(log.records.into_iter().filter(|r| r.seq > seen).collect()))
                }
            }
        };
        self.position = Position::After(last);
        match news {
            PurgeNews::Purges(p) if p.is_empty() => PurgeNews::Nothing,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, at_ms: u64, path: &str) -> PurgeRecord {
        let purge = Purge::selected("ownstak-a-b", vec![path.to_owned()], vec![], vec![]).unwrap();
        PurgeRecord { seq, at_ms, purge }
    }

    #[test]
    fn purges_are_checked() {
        assert_eq!(Purge::selected("f", vec![], vec![], vec![]), Err(PurgeError::Nothing));
        assert!(matches!(
            Purge::selected("f", vec!["no-slash".into()], vec![], vec![]),
            Err(PurgeError::InvalidPath { what: "path", .. })
        ));
        assert!(matches!(
            Purge::selected("f", vec![], vec!["/a b".into()], vec![]),
            Err(PurgeError::InvalidPath { what: "prefix", .. })
        ));
        assert_eq!(Purge::selected("f", vec![], vec![], vec!["a,b".into()]), Err(PurgeError::InvalidTag("a,b".into())));
        assert_eq!(
            Purge::selected("F!", vec!["/".into()], vec![], vec![]),
            Err(PurgeError::InvalidFunction("F!".into()))
        );
        let many = (0..=MAX_SELECTORS).map(|i| format!("t{i}")).collect();
        assert_eq!(Purge::selected("f", vec![], vec![], many), Err(PurgeError::TooMany));
        // A log record cannot say `all: false`.
        let forged: Purge = serde_json::from_str(r#"{"function":"f","all":false}"#).unwrap();
        assert_eq!(forged.check(), Err(PurgeError::Nothing));
    }

    #[test]
    fn selectors_match_as_documented() {
        let p =
            Purge::selected("f", vec!["/a".into(), "/q?x=1".into()], vec!["/blog/".into()], vec!["product-7".into()])
                .unwrap();
        assert!(p.matches("f", "/a", []));
        assert!(p.matches("f", "/a?page=2", []), "a path without a query matches any query");
        assert!(!p.matches("f", "/ab", []));
        assert!(p.matches("f", "/q?x=1", []));
        assert!(!p.matches("f", "/q?x=2", []), "a path with a query matches only that query");
        assert!(p.matches("f", "/blog/post", []));
        assert!(p.matches("f", "/other", ["x", "product-7"]));
        assert!(!p.matches("f", "/other", ["product-70"]));
        assert!(!p.matches("g", "/a", []), "other functions are untouched");
        assert!(Purge::all("f").unwrap().matches("f", "/anything", []));
        assert!(!Purge::all("f").unwrap().matches("g", "/anything", []));
    }

    #[test]
    fn the_log_round_trips_in_its_documented_shape() {
        let log = PurgeLog {
            records: vec![record(1, 5, "/a"), PurgeRecord { seq: 2, at_ms: 6, purge: Purge::all("f").unwrap() }],
        };
        let text = serde_json::to_string(&log).unwrap();
        assert_eq!(
            text,
            r#"{"records":[{"seq":1,"at_ms":5,"function":"ownstak-a-b","paths":["/a"]},{"seq":2,"at_ms":6,"function":"f","all":true}]}"#
        );
        assert_eq!(PURGE_LOG.parse::<PurgeLog>(text.as_bytes()).unwrap().records, log.records);
    }

    #[test]
    fn a_feed_applies_new_records_once_and_notices_gaps() {
        let feed_at = |position| PurgeFeed {
            client: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::Config::builder().behavior_version(aws_sdk_s3::config::BehaviorVersion::latest()).build(),
            ),
            config: StoreConfig::local("http://127.0.0.1:1", "b"),
            etag: None,
            position,
        };
        let log = |records: Vec<PurgeRecord>| PurgeLog { records };
        // A new feed applies what was written since it started, then only what follows.
        let mut feed = feed_at(Position::Since(100));
        let news = feed.read(log(vec![record(1, 50, "/old"), record(2, 150, "/new")]));
        assert_eq!(news, PurgeNews::Purges(vec![record(2, 0, "/new").purge]));
        assert_eq!(feed.read(log(vec![record(1, 50, "/old"), record(2, 150, "/new")])), PurgeNews::Nothing);
        let news = feed.read(log(vec![record(2, 150, "/new"), record(3, 160, "/next")]));
        assert_eq!(news, PurgeNews::Purges(vec![record(3, 0, "/next").purge]));
        // A gap (records trimmed before they were read), or a log that started over, is a miss.
        assert_eq!(feed.read(log(vec![record(5, 170, "/x")])), PurgeNews::Missed);
        assert_eq!(feed.read(log(vec![record(1, 180, "/y")])), PurgeNews::Missed);
        assert_eq!(
            feed.read(log(vec![record(1, 180, "/y"), record(2, 190, "/z")])),
            PurgeNews::Purges(vec![record(2, 0, "/z").purge])
        );
        // An empty log at start is no news.
        assert_eq!(feed_at(Position::Since(0)).read(log(vec![])), PurgeNews::Nothing);
    }
}

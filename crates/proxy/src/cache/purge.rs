//! Following the backend's purge log (see `ownstak_assets::PurgeFeed`):
//! the log is polled every [`CacheConfig::purge_poll_interval`] with a
//! conditional GET, and each new purge is applied to this proxy's cache.
//! Missed records empty the whole cache. A failing poll is logged once per
//! outage (and counted); the cache keeps serving meanwhile.
//!
//! [`CacheConfig::purge_poll_interval`]: super::CacheConfig::purge_poll_interval

use std::sync::Weak;

use ownstak_assets::{Poller, PurgeFeed, PurgeNews, PurgeScope, StoreConfig};

use super::ResponseCache;

/// Applies the purges of the log in `store` to `cache` for as long as the
/// cache exists.
pub(crate) async fn follow_purges(cache: Weak<ResponseCache>, store: StoreConfig) {
    let Some(interval) = cache.upgrade().map(|c| c.config.purge_poll_interval) else { return };
    let mut feed = PurgeFeed::new(store).await;
    let mut poller = Poller::new(interval, "the purge log");
    loop {
        poller.tick().await;
        let news = feed.poll().await;
        let Some(cache) = cache.upgrade() else { return };
        poller.outcome(news.as_ref().map(|_| ()));
        match news {
            Ok(news) => apply(&cache, news),
            Err(_) => cache.metrics.purge_poll_failed(),
        }
    }
}

/// Applies what a poll found.
fn apply(cache: &ResponseCache, news: PurgeNews) {
    match news {
        PurgeNews::Nothing => {}
        PurgeNews::Purges(purges) => {
            for purge in &purges {
                let scope = match purge.scope() {
                    PurgeScope::All { .. } => "all".to_owned(),
                    PurgeScope::Selected { paths, prefixes, tags } => {
                        format!("{} paths, {} prefixes, {} tags", paths.len(), prefixes.len(), tags.len())
                    }
                };
                tracing::info!(function = purge.function(), %scope, "purging the response cache");
                cache.purge(purge);
                cache.metrics.purged();
            }
        }
        PurgeNews::Missed => {
            tracing::warn!("purges were missed (the log moved on or started over); emptying the response cache");
            cache.clear();
            cache.metrics.purged();
        }
    }
}

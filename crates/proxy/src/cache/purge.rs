//! Following the backend's purge log (see `ownstak_assets::PurgeFeed`):
//! the log is polled every [`CacheConfig::purge_poll_interval`] with a
//! conditional GET, and each new purge is applied to this proxy's cache.
//! Missed records empty the whole cache. A failing poll is logged once per
//! outage (and counted); the cache keeps serving meanwhile.
//!
//! [`CacheConfig::purge_poll_interval`]: super::CacheConfig::purge_poll_interval

use std::sync::Weak;

use ownstak_assets::{PurgeFeed, PurgeNews, PurgeScope, StoreConfig};

use super::ResponseCache;

/// Applies the purges of the log in `store` to `cache` for as long as the
/// cache exists.
pub(crate) async fn follow_purges(cache: Weak<ResponseCache>, store: StoreConfig) {
    let Some(interval) = cache.upgrade().map(|c| c.config.purge_poll_interval) else { return };
    let mut feed = PurgeFeed::new(store).await;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticks.tick().await;
        let news = feed.poll().await;
        let Some(cache) = cache.upgrade() else { return };
        match news {
            Ok(news) => {
                if failing {
                    tracing::info!("the purge log is readable again");
                    failing = false;
                }
                apply(&cache, news);
            }
            Err(e) => {
                cache.metrics.purge_poll_failed();
                if !failing {
                    tracing::warn!(error = %e, "cannot read the purge log; purges reach this proxy once it can");
                    failing = true;
                }
            }
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

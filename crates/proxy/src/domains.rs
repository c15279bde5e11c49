//! Custom domains: hosts outside the backend's suffix that `ownstak
//! domains add` mapped to an environment, routed to its live deployment
//! (`current`, so skew protection applies as on the environment host).
//!
//! The table lives in memory and is only consulted for hosts outside the
//! suffix; a task beside the listeners ([`follow`]) polls the backend's
//! domain map (`ownstak_assets::DomainFeed`) with conditional GETs and
//! swaps the table when the map changed, so no request ever waits on the
//! store and a change reaches this proxy within one poll interval. While
//! the map cannot be read, the last table read keeps serving.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use ownstak_assets::{DomainFeed, DomainMap, DomainStatus, Poller, StoreConfig};
use ownstak_core::{FunctionPrefix, Qualifier, Route};

/// How often the domain map is polled.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Where one custom domain goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DomainRoute {
    /// `<project>-<env>`, always with the `current` qualifier.
    pub(crate) route: Route,
    /// The function.
    pub(crate) function: String,
}

/// The custom domains this proxy routes.
#[derive(Debug)]
pub(crate) struct Domains {
    prefix: FunctionPrefix,
    table: RwLock<Arc<HashMap<String, DomainRoute>>>,
}

impl Domains {
    /// No custom domains yet, for functions named with `prefix`.
    pub(crate) fn new(prefix: FunctionPrefix) -> Self {
        Self { prefix, table: RwLock::new(Arc::new(HashMap::new())) }
    }

    /// Where `host` (lower case, without port or trailing dot) goes, if it
    /// is a custom domain.
    pub(crate) fn route(&self, host: &str) -> Option<DomainRoute> {
        self.table.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(host).cloned()
    }

    /// Replaces the table with the active domains of `map` whose function
    /// is this proxy's `<prefix>-<project>-<env>` (a hand-edited entry that
    /// names any other function is ignored).
    pub(crate) fn replace(&self, map: &DomainMap) {
        let mut table = HashMap::new();
        for (domain, entry) in &map.domains {
            if entry.status != DomainStatus::Active {
                continue;
            }
            let label = format!("{}-{}", entry.project, entry.env);
            let function = self.prefix.function_for_label(&label);
            if function != entry.function {
                tracing::warn!(%domain, function = %entry.function, expected = %function, "ignoring a domain map entry of another backend's function");
                continue;
            }
            table.insert(
                domain.clone(),
                DomainRoute { route: Route { label, qualifier: Qualifier::Current }, function },
            );
        }
        tracing::info!(domains = table.len(), "custom domains updated");
        *self.table.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(table);
    }
}

/// Keeps `domains` up to date with the domain map in `store` for as long
/// as it exists.
pub(crate) async fn follow(domains: Weak<Domains>, store: StoreConfig, interval: Duration) {
    let mut feed = DomainFeed::new(store).await;
    let mut poller = Poller::new(interval, "the domain map");
    loop {
        poller.tick().await;
        let news = feed.poll().await;
        let Some(domains) = domains.upgrade() else { return };
        poller.outcome(news.as_ref().map(|_| ()));
        if let Ok(Some(map)) = news {
            domains.replace(&map);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ownstak_assets::DomainEntry;

    #[test]
    fn only_active_entries_of_this_prefix_route() {
        let domains = Domains::new(FunctionPrefix::default());
        let mut map = DomainMap::default();
        let entry = |function: &str, status| DomainEntry::new(function, "shop", "prod", status);
        map.domains.insert("shop.localhost".into(), entry("ownstak-shop-prod", DomainStatus::Active));
        map.domains.insert("soon.localhost".into(), entry("ownstak-shop-prod", DomainStatus::Pending));
        map.domains.insert("evil.localhost".into(), entry("other-function", DomainStatus::Active));
        domains.replace(&map);
        let r = domains.route("shop.localhost").unwrap();
        assert_eq!((r.function.as_str(), r.route.label.as_str()), ("ownstak-shop-prod", "shop-prod"));
        assert_eq!(r.route.qualifier, Qualifier::Current);
        assert_eq!(domains.route("soon.localhost"), None, "pending domains are not routed");
        assert_eq!(domains.route("evil.localhost"), None);
        domains.replace(&DomainMap::default());
        assert_eq!(domains.route("shop.localhost"), None, "removed");
    }
}

//! Which published version an alias points at, asked of Lambda
//! (`GetAlias`) and remembered: `deployment-<N>` aliases never move, so
//! they are kept for good; `current` moves on promote and rollback, so it
//! is trusted for at most [`CURRENT_TTL`], or not remembered at all when
//! asking is free (the embedded backend's in-process Lambda), so that a
//! promotion there is seen by the very next request. A missing alias or a
//! failed lookup is remembered as long as `current`, so that requests for a
//! function that does not exist, or a failing Lambda API, cost one lookup a
//! second rather than one per request. Asset serving and the response
//! cache both key their data by version, through one [`Versions`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ownstak_core::CURRENT_ALIAS;

use crate::invoker::Lambda;

/// Longest time a resolved `current` alias is trusted.
pub(crate) const CURRENT_TTL: Duration = Duration::from_secs(1);
/// Most remembered alias resolutions; the map starts over when full.
const MAX_CACHED_ALIASES: usize = 4096;

/// A resolved alias and when it was resolved.
type Resolved = (Option<String>, Instant);

/// Remembered alias resolutions, shared by every request.
#[derive(Default)]
pub(crate) struct Versions {
    aliases: Mutex<HashMap<(String, String), Resolved>>,
}

impl Versions {
    /// The version behind `qualifier`, remembered; `None` when it does not
    /// exist or Lambda cannot say.
    pub(crate) async fn resolve(&self, lambda: &dyn Lambda, function: &str, qualifier: &str) -> Option<String> {
        let id = (function.to_owned(), qualifier.to_owned());
        let free = lambda.alias_lookups_are_free();
        // A numbered alias never moves. `current`, and a missing alias or a
        // failed lookup, are asked again after a second (every time when
        // asking is free), so that neither a promotion nor a new deployment
        // waits long, and a missing function or a failing API is not asked
        // on every request.
        let fresh = |version: &Option<String>, at: Instant| {
            (version.is_some() && qualifier != CURRENT_ALIAS) || (!free && at.elapsed() < CURRENT_TTL)
        };
        if let Some((version, at)) = self.map().get(&id).cloned()
            && fresh(&version, at)
        {
            return version;
        }
        let version = match lambda.alias_version(function, qualifier).await {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = ?e, %function, %qualifier, "cannot resolve the alias");
                None
            }
        };
        if version.is_some() || !free {
            let mut map = self.map();
            if map.len() >= MAX_CACHED_ALIASES {
                map.clear();
            }
            map.insert(id, (version.clone(), Instant::now()));
        }
        version
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Resolved>> {
        // Entries are replaced whole; a panic elsewhere cannot leave one half-written.
        self.aliases.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

//! Skew protection: a client that loaded a page of one deployment keeps
//! talking to that deployment after another one went live, so its
//! scripts, assets and server actions still match.
//!
//! Only environment hosts (`current`) are pinned; numbered hosts name
//! their deployment already. A request names the deployment id it belongs
//! to by, in this order, the `x-deployment-id` header (Next.js client
//! navigations and server actions), the `?dpl=` query parameter (Next.js
//! asset URLs) or the `__ownstak_dpl` cookie, which this module sets on the
//! HTML answers of environment hosts (ignored on page navigations, so a
//! reload gets the live deployment). The id is looked up in the function's
//! deployment notes (`ownstak_core::DeploymentNote` in the descriptions of
//! its `deployment-<N>` aliases, written by `ownstak deploy`, promote and
//! rollback): a deployment that is live, or stopped being live less than
//! the configured window ago, gets the request through its own alias.
//! Anything else (a malformed or unknown id, an expired deployment, a
//! failed lookup) leaves the request on `current`; a pin never leaves the
//! request's function.
//!
//! The notes are cached per function for [`REFRESH`]; an unknown id reloads
//! them at most once per [`RELOAD_UNKNOWN`] (a promote that just happened).
//! A slightly stale cache is harmless: pins go to `deployment-<N>`, which
//! never moves, and a deployment that just stopped being live is inside
//! its window anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Response, Uri};
use ownstak_core::{
    CURRENT_ALIAS, DEPLOYMENT_COOKIE, DEPLOYMENT_ID_HEADER, DEPLOYMENT_ID_QUERY, DEPLOYMENT_ID_RESPONSE_HEADER,
    DeploymentNote, DeploymentNumber, Qualifier, valid_deployment_id,
};

use crate::body::ProxyBody;
use crate::invoker::Lambda;
use crate::routing::Target;

/// How long a function's deployment notes are trusted.
const REFRESH: Duration = Duration::from_secs(5);
/// How soon an unknown id may reload a function's notes.
const RELOAD_UNKNOWN: Duration = Duration::from_secs(1);
/// Most functions whose notes are cached; the cache starts over when full.
const MAX_CACHED_FUNCTIONS: usize = 4096;

/// One function's deployments by id, as read at one moment.
#[derive(Debug, Default)]
struct Notes {
    read_at: Option<Instant>,
    /// The live deployment, when `current` records it.
    live: Option<u32>,
    /// For each id, its deployments and when each stopped being live.
    by_id: HashMap<String, Vec<(u32, Option<u64>)>>,
}

impl Notes {
    fn age(&self) -> Option<Duration> {
        self.read_at.map(|at| at.elapsed())
    }

    /// The deployment to pin `id` to at `now` (Unix seconds): the live one
    /// if it has the id, else the one of them that stopped being live last,
    /// if that was less than `window` ago (so a zero window pins to the
    /// live deployment only).
    fn pin(&self, id: &str, now: u64, window: Duration) -> Option<u32> {
        let deployments = self.by_id.get(id)?;
        if let Some(&(n, _)) = deployments.iter().find(|(n, _)| Some(*n) == self.live) {
            return Some(n);
        }
        let (n, retired) = deployments.iter().filter_map(|&(n, r)| Some((n, r?))).max_by_key(|&(_, r)| r)?;
        (now.saturating_sub(retired) < window.as_secs()).then_some(n)
    }
}

/// The proxy's skew protection state.
pub(crate) struct Skew {
    window: Duration,
    notes: Mutex<HashMap<String, Arc<Notes>>>,
    /// Held while notes are read from Lambda, so a burst reads them once.
    reading: tokio::sync::Mutex<()>,
}

impl Skew {
    /// Pins for `window` after a deployment stopped being live.
    pub(crate) fn new(window: Duration) -> Self {
        Self { window, notes: Mutex::new(HashMap::new()), reading: tokio::sync::Mutex::new(()) }
    }

    /// Points `target` at the deployment the request is pinned to, if any.
    pub(crate) async fn pin(&self, lambda: &dyn Lambda, target: &mut Target, uri: &Uri, headers: &HeaderMap) {
        if target.route.qualifier != Qualifier::Current {
            return;
        }
        let Some(id) = requested_id(uri, headers) else { return };
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut notes = self.notes(lambda, &target.function, false).await;
        if !notes.by_id.contains_key(id) && notes.age().is_none_or(|age| age >= RELOAD_UNKNOWN) {
            notes = self.notes(lambda, &target.function, true).await;
        }
        let Some(n) = notes.pin(id, now, self.window).and_then(DeploymentNumber::new) else {
            tracing::debug!(function = %target.function, id, "unknown or expired deployment id; the live deployment answers");
            return;
        };
        target.qualifier = n.alias();
    }

    /// Sets the deployment cookie on an HTML answer of an environment host
    /// and removes the runtime's deployment header from every answer.
    pub(crate) fn stamp(target: &Target, resp: &mut Response<ProxyBody>) {
        let Some(id) = resp.headers_mut().remove(DEPLOYMENT_ID_RESPONSE_HEADER) else { return };
        if target.route.qualifier != Qualifier::Current || !is_html(resp.headers()) {
            return;
        }
        let Some(id) = id.to_str().ok().filter(|id| valid_deployment_id(id)) else { return };
        let cookie = format!("{DEPLOYMENT_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().append(SET_COOKIE, v);
        }
    }

    /// A function's notes: the cached ones while fresh (and `reload` is
    /// false), else read from Lambda.
    async fn notes(&self, lambda: &dyn Lambda, function: &str, reload: bool) -> Arc<Notes> {
        let fresh = |n: &Arc<Notes>, reload: bool| {
            let max = if reload { RELOAD_UNKNOWN } else { REFRESH };
            n.age().is_some_and(|age| age < max)
        };
        if let Some(n) = self.cached(function).filter(|n| fresh(n, reload)) {
            return n;
        }
        let _reading = self.reading.lock().await;
        // Another request may have read them while this one waited.
        if let Some(n) = self.cached(function).filter(|n| fresh(n, reload)) {
            return n;
        }
        let notes = Arc::new(read_notes(lambda, function).await);
        let mut cache = self.notes.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= MAX_CACHED_FUNCTIONS && !cache.contains_key(function) {
            cache.clear();
        }
        cache.insert(function.to_owned(), notes.clone());
        notes
    }

    fn cached(&self, function: &str) -> Option<Arc<Notes>> {
        self.notes.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(function).cloned()
    }
}

/// Reads a function's deployment notes; none when Lambda cannot say.
async fn read_notes(lambda: &dyn Lambda, function: &str) -> Notes {
    let aliases = match lambda.list_aliases(function).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = ?e, %function, "cannot read the deployments for skew protection; the live deployment answers");
            return Notes { read_at: Some(Instant::now()), ..Notes::default() };
        }
    };
    let mut notes = Notes { read_at: Some(Instant::now()), ..Notes::default() };
    let mut versions: HashMap<&str, u32> = HashMap::new();
    for alias in &aliases {
        let Some(n) = DeploymentNumber::from_alias(&alias.name) else { continue };
        versions.insert(&alias.version, n.get());
        let Some(note) = DeploymentNote::parse(&alias.description) else { continue };
        if let Some(id) = note.deployment_id {
            notes.by_id.entry(id).or_default().push((n.get(), note.retired_at));
        }
    }
    if let Some(current) = aliases.iter().find(|a| a.name == CURRENT_ALIAS) {
        notes.live = serde_json::from_str::<serde_json::Value>(&current.description)
            .ok()
            .and_then(|d| d.get("deployment")?.as_u64())
            .and_then(|d| u32::try_from(d).ok())
            .or_else(|| versions.get(current.version.as_str()).copied());
    }
    notes
}

/// The deployment id a request names, by header, query or cookie (see
/// the module docs); malformed ids are ignored.
fn requested_id<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    let valid = |id: &&str| valid_deployment_id(id);
    if let Some(id) = headers.get(DEPLOYMENT_ID_HEADER).and_then(|v| v.to_str().ok()).filter(valid) {
        return Some(id);
    }
    let query = uri.query().unwrap_or_default().split('&');
    if let Some(id) = query.filter_map(|p| p.strip_prefix(DEPLOYMENT_ID_QUERY)?.strip_prefix('=')).find(valid) {
        return Some(id);
    }
    if is_navigation(headers) {
        return None;
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(DEPLOYMENT_COOKIE)?.strip_prefix('='))
        .find(valid)
}

/// Whether the browser is loading a page (`Sec-Fetch-Mode: navigate`):
/// the cookie does not pin those, so a reload shows the live deployment.
fn is_navigation(headers: &HeaderMap) -> bool {
    headers.get("sec-fetch-mode").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"navigate"))
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("text/html")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn finds_the_id_by_header_then_query_then_cookie() {
        let uri: Uri = "/a?x=1&dpl=q_1".parse().unwrap();
        let plain: Uri = "/a".parse().unwrap();
        let h = headers(&[("x-deployment-id", "h-1"), ("cookie", "a=b; __ownstak_dpl=c1")]);
        assert_eq!(requested_id(&uri, &h), Some("h-1"));
        assert_eq!(requested_id(&uri, &headers(&[("cookie", "__ownstak_dpl=c1")])), Some("q_1"));
        assert_eq!(requested_id(&plain, &headers(&[("cookie", "a=b; __ownstak_dpl=c1")])), Some("c1"));
        // Navigations are not pinned by the cookie.
        let nav = headers(&[("cookie", "__ownstak_dpl=c1"), ("sec-fetch-mode", "navigate")]);
        assert_eq!(requested_id(&plain, &nav), None);
        // Malformed ids are skipped, never errors.
        let bad = headers(&[("x-deployment-id", "a b;c"), ("cookie", "__ownstak_dpl=x/y; __ownstak_dplx=z")]);
        assert_eq!(requested_id(&"/?dpl=&dpl=%00".parse().unwrap(), &bad), None);
        assert_eq!(requested_id(&"/?dpl=a%2Fb&dplx=c&dpl=ok".parse().unwrap(), &HeaderMap::new()), Some("ok"));
    }

    #[test]
    fn pins_live_and_recent_deployments_only() {
        let window = Duration::from_secs(100);
        let mut notes = Notes { live: Some(3), ..Notes::default() };
        notes.by_id.insert("a".into(), vec![(1, Some(1_000))]);
        notes.by_id.insert("b".into(), vec![(2, Some(900)), (4, Some(950))]);
        notes.by_id.insert("c".into(), vec![(3, Some(500))]);
        notes.by_id.insert("never".into(), vec![(5, None)]);
        assert_eq!(notes.pin("a", 1_099, window), Some(1));
        assert_eq!(notes.pin("a", 1_100, window), None, "expired");
        assert_eq!(notes.pin("a", 1_000, Duration::ZERO), None, "a zero window pins to the live one only");
        assert_eq!(notes.pin("a", 0, window), Some(1), "a clock behind the note's");
        assert_eq!(notes.pin("b", 1_000, window), Some(4), "the one live last");
        assert_eq!(notes.pin("c", 9_999, window), Some(3), "live: no expiry");
        assert_eq!(notes.pin("never", 0, window), None, "never live");
        assert_eq!(notes.pin("unknown", 0, window), None);
    }

    #[test]
    fn html_answers_of_environment_hosts_get_the_cookie() {
        let route = |q| ownstak_core::Route { label: "a-b".into(), qualifier: q };
        let target = |q| Target {
            route: route(q),
            function: "ownstak-a-b".into(),
            qualifier: CURRENT_ALIAS.into(),
            domain: "a-b.local.dev.localhost".into(),
        };
        let answer = |ct: &str, id: &str| {
            let mut r = Response::new(ProxyBody::empty());
            r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            r.headers_mut().insert(DEPLOYMENT_ID_RESPONSE_HEADER, HeaderValue::from_str(id).unwrap());
            r
        };
        let mut html = answer("text/html; charset=utf-8", "dpl_1");
        Skew::stamp(&target(Qualifier::Current), &mut html);
        assert_eq!(html.headers()[SET_COOKIE], "__ownstak_dpl=dpl_1; Path=/; HttpOnly; SameSite=Lax");
        assert!(html.headers().get(DEPLOYMENT_ID_RESPONSE_HEADER).is_none());
        for (q, ct, id) in [
            (Qualifier::Current, "application/json", "dpl_1"),
            (Qualifier::Deployment(DeploymentNumber::FIRST), "text/html", "dpl_1"),
            (Qualifier::Current, "text/html", "bad id"),
        ] {
            let mut r = answer(ct, id);
            Skew::stamp(&target(q), &mut r);
            assert!(r.headers().get(SET_COOKIE).is_none(), "{ct} {id}");
            assert!(r.headers().get(DEPLOYMENT_ID_RESPONSE_HEADER).is_none());
        }
    }
}

//! The gateway's list cache. A server's `tools/list`, `prompts/list`,
//! `resources/list` and `resources/templates/list` pages are kept for the
//! `ttlMs` its reply gives (MCP 2026-07-28), or, when the reply has none (a
//! 2025-era server), for `general_settings.list_cache_ttl` (`--list-cache-ttl`).
//! Every list route (`/mcp/{server}`, the aggregated `/mcp`, REST, one-shot)
//! reads through it, so repeated lists cost the server one request per
//! freshness period.
//!
//! A page is dropped when its server says a list changed
//! (`notifications/{tools,prompts,resources}/list_changed`), wherever the
//! gateway sees that: a reply stream, a GET stream, a `subscriptions/listen`
//! stream, or the shared stream of a `stdio` or `sse` server ([`Lists::notice`]);
//! and when a 2026-07-28 server refuses a call's `Mcp-Param-*` headers
//! (-32020), which shows its tools changed without a word
//! ([`ToolHeaders::tools_changed`]).
//!
//! A page is served only in the authorization context it was fetched in: the
//! server's configured credential, or one client's own credential
//! (`x-mcp-{server}-{header}`, `extra_headers`), told apart by a digest of the
//! headers sent. So a list fetched with one user's credential is never served to
//! another user, whatever its `cacheScope`. A result with `ttlMs: 0`, an
//! interim `input_required` result, or a request that carries anything besides
//! a `cursor` (the retry of a multi round-trip request) is never kept.
//!
//! A miss is fetched once however many requests for the same page (the same
//! [`Key`]) arrive while it is on its way ([single flight](super::flights)):
//! the first goes to the server, the others wait for its result. A follower
//! whose leader gets no result to share (an error, a timeout, its client gone,
//! an `input_required` result, or a `list_changed` on the way) fetches the
//! page itself rather than share a failure that may have been the leader's
//! own, and rather than wait for a second leader.
//!
//! A page is kept in no era's shape ([`Page`]): what the server listed, and
//! what it said of the page's freshness (`ttlMs`) and scope (`cacheScope`).
//! Each client gets it in the shape of its own era, whichever era's request
//! fetched it: a 2026-07-28 client with `resultType`, `cacheScope` and the
//! freshness left (`ttlMs`, 0 when the server gave none), a 2025 client
//! without them.
//!
//! What is learnt from a `tools/list` (the `x-mcp-header` annotations, and
//! whether a whole list was read) is kept per authorization context too, so a
//! list read with one user's credential never changes what another user's
//! call sends or whether it lists first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ::http::{HeaderName, HeaderValue};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::flights::{Flights, Landing, Turn};
use crate::protocol::era::{Era, ToolHeaders};

/// The list methods whose results are kept.
pub(super) const METHODS: [&str; 4] = [
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
];

/// The most pages kept at once, across servers and credentials; past it a
/// new page is served but not kept until older ones expire.
const MAX_ENTRIES: usize = 10_000;

/// The most clients' own credentials per server whose learnt tools are kept;
/// past it they are all forgotten (and learnt again as needed), so that
/// rotating tokens cannot grow the map without end.
const MAX_CONTEXTS: usize = 1_000;

/// An authorization context: `None` for the server's configured credential,
/// otherwise a digest of the headers of a client's own.
pub(super) type Context = Option<[u8; 32]>;

/// The context of a request sent with `own_headers` (`None`: the configured
/// credential's).
pub(super) fn context_of(own_headers: Option<&HashMap<HeaderName, HeaderValue>>) -> Context {
    own_headers.map(context_digest)
}

/// What the gateway knows of one server's lists, shared by every request to
/// it: how many times the server said a list changed, and the `x-mcp-header`
/// annotations learnt from its tools, per authorization context.
///
/// ```
/// use mcp_sigv4::gateway::Lists;
/// use serde_json::json;
///
/// let lists = Lists::default();
/// assert!(!lists.notice(&json!({"jsonrpc": "2.0", "method": "notifications/progress"})));
/// assert!(lists.notice(&json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})));
/// ```
pub struct Lists {
    // Shared with every `ToolHeaders` below, which bump it when the server
    // refuses headers built from its list (-32020).
    generation: Arc<AtomicU64>,
    // What the configured credential's lists taught.
    tool_headers: Arc<ToolHeaders>,
    // What each client's own credential's lists taught, by the digest of its
    // headers (never shown).
    own_tool_headers: Mutex<HashMap<[u8; 32], Arc<ToolHeaders>>>,
}

impl Default for Lists {
    fn default() -> Self {
        let generation = Arc::new(AtomicU64::new(0));
        Self {
            tool_headers: Arc::new(ToolHeaders::with_list_generation(generation.clone())),
            generation,
            own_tool_headers: Mutex::default(),
        }
    }
}

impl std::fmt::Debug for Lists {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lists")
            .field("generation", &self.generation())
            .field("own_credentials", &self.lock_own().len())
            .finish_non_exhaustive()
    }
}

impl Lists {
    /// Take in a message from the server: a `list_changed` notification makes
    /// every kept page of it stale. Whether it was one.
    pub fn notice(&self, message: &Value) -> bool {
        let changed = matches!(
            message.get("method").and_then(Value::as_str),
            Some(
                "notifications/tools/list_changed"
                    | "notifications/prompts/list_changed"
                    | "notifications/resources/list_changed"
            )
        ) && message.get("id").is_none();
        if changed {
            self.generation.fetch_add(1, Ordering::SeqCst);
            self.tool_headers.forget_listing();
            for known in self.lock_own().values() {
                known.forget_listing();
            }
        }
        changed
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The `x-mcp-header` annotations learnt from the server's tools in
    /// `context`, shared by every upstream session of it in that context on
    /// this replica.
    pub(super) fn tool_headers(&self, context: Context) -> Arc<ToolHeaders> {
        let Some(digest) = context else {
            return self.tool_headers.clone();
        };
        let mut own = self.lock_own();
        if own.len() >= MAX_CONTEXTS && !own.contains_key(&digest) {
            own.clear();
        }
        own.entry(digest)
            .or_insert_with(|| Arc::new(ToolHeaders::with_list_generation(self.generation.clone())))
            .clone()
    }

    fn lock_own(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<ToolHeaders>>> {
        self.own_tool_headers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// What a kept page is found by: the server, the method, the cursor, and the
/// authorization context (`None` for the configured credential).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Key {
    server: String,
    method: String,
    cursor: String,
    context: Context,
}

impl Key {
    /// The key of a list request sent in `context`, or `None` when it is not
    /// one whose result may be kept.
    pub(super) fn of(server: &str, message: &Value, context: Context) -> Option<Self> {
        let method = message.get("method").and_then(Value::as_str)?;
        if !METHODS.contains(&method) {
            return None;
        }
        let mut cursor = String::new();
        if let Some(params) = message.get("params").filter(|p| !p.is_null()) {
            let params = params.as_object()?;
            for (name, value) in params {
                match name.as_str() {
                    "cursor" => cursor = value.to_string(),
                    "_meta" => {}
                    _ => return None,
                }
            }
        }
        Some(Self {
            server: server.to_owned(),
            method: method.to_owned(),
            cursor,
            context,
        })
    }
}

/// A digest of the headers a request is sent with: two requests share kept
/// pages only if they carry the same credentials. Never logged.
fn context_digest(headers: &HashMap<HeaderName, HeaderValue>) -> [u8; 32] {
    let mut sorted: Vec<_> = headers.iter().collect();
    sorted.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let mut digest = Sha256::new();
    for (name, value) in sorted {
        digest.update(name.as_str().as_bytes());
        digest.update([0]);
        digest.update(value.as_bytes());
        digest.update([0]);
    }
    digest.finalize().into()
}

/// A kept list page, in no era's shape.
#[derive(Clone, Debug)]
pub(super) struct Page {
    /// The result without the fields whose presence depends on the era.
    content: Value,
    /// The server's `ttlMs`, if it gave one, and when the page was fetched.
    ttl: Option<Duration>,
    fetched: Instant,
    /// The server's `cacheScope`, if it gave one.
    scope: Option<Value>,
}

impl Page {
    /// The page a server's list result holds.
    pub(super) fn of(result: &Value) -> Self {
        // The 2025 shape is the era-neutral one: it has none of the fields
        // whose presence depends on the era.
        let mut content = result.clone();
        Era::Legacy.shape_result("", &mut content);
        Self {
            content,
            ttl: result
                .get("ttlMs")
                .and_then(Value::as_u64)
                .map(Duration::from_millis),
            fetched: Instant::now(),
            scope: result.get("cacheScope").cloned(),
        }
    }

    /// The page as the result of a `method` request for a client of `era`:
    /// the freshness left of the server's `ttlMs`, its `cacheScope`, and what
    /// else the era asks for ([`Era::shape_result`]).
    pub(super) fn result(&self, method: &str, era: Era) -> Value {
        let mut result = self.content.clone();
        if let Some(ttl) = self.ttl {
            let left = ttl.saturating_sub(self.fetched.elapsed()).as_millis();
            result["ttlMs"] = u64::try_from(left).unwrap_or(u64::MAX).into();
        }
        if let Some(scope) = &self.scope {
            result["cacheScope"] = scope.clone();
        }
        era.shape_result(method, &mut result);
        result
    }
}

#[derive(Debug)]
struct Entry {
    page: Page,
    generation: u64,
    expires: Instant,
}

/// The kept pages of every server, and the fetches of missing ones in flight.
#[derive(Debug)]
pub(super) struct ListCache {
    entries: Mutex<HashMap<Key, Entry>>,
    flights: Flights<Key, Page>,
    default_ttl: Duration,
}

impl ListCache {
    /// A cache that keeps a page without `ttlMs` for `default_ttl`.
    pub(super) fn new(default_ttl: Duration) -> Self {
        Self {
            entries: Mutex::default(),
            flights: Flights::default(),
            default_ttl,
        }
    }

    /// The kept result for `key` (see [`get`](Self::get)), or else the fetch
    /// of it to lead or to follow.
    pub(super) fn lookup(&self, key: &Key, generation: u64) -> Turn<Key, Page> {
        self.flights.join(key, || self.get(key, generation))
    }

    /// The kept page for `key`, if still fresh and its server has not said
    /// its list changed since (`generation`).
    pub(super) fn get(&self, key: &Key, generation: u64) -> Option<Page> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(key)?;
        if entry.generation == generation && entry.expires > Instant::now() {
            return Some(entry.page.clone());
        }
        entries.remove(key);
        None
    }

    /// Keep the page of `result`, fetched when the server's list generation
    /// was `generation`, unless the list changed meanwhile or the result may
    /// not be kept.
    pub(super) fn put(&self, key: Key, generation: u64, lists: &Lists, result: &Value) {
        let Some(ttl) = self.ttl_of(result) else {
            return;
        };
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if lists.generation() != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.retain(|_, entry| entry.expires > now);
            if entries.len() >= MAX_ENTRIES {
                return;
            }
        }
        entries.insert(
            key,
            Entry {
                page: Page::of(result),
                generation,
                expires: now + ttl,
            },
        );
    }

    /// How long `result` stays fresh: its `ttlMs`, or the configured time when
    /// it has none; `None` when it is not to be kept at all.
    fn ttl_of(&self, result: &Value) -> Option<Duration> {
        if result.get("resultType").and_then(Value::as_str) == Some("input_required") {
            return None;
        }
        let ttl = match result.get("ttlMs") {
            // A malformed ttlMs (negative, fractional, text) reads as 0.
            Some(ttl) => Duration::from_millis(ttl.as_u64().unwrap_or(0)),
            None => self.default_ttl,
        };
        (!ttl.is_zero()).then_some(ttl)
    }
}

/// A list reply on its way to the client: what is learnt from it, where it
/// is kept, and who waits for it. Dropped without a reply, it lets its
/// followers go.
pub(super) struct Fill {
    pub(super) lists: Arc<Lists>,
    pub(super) keep: Option<Keep>,
    /// Where a `tools/list` reply's annotations are learnt (its context's).
    pub(super) learn: Option<Arc<ToolHeaders>>,
}

/// Where a list reply is kept: under `key`, if the server's lists are still
/// at `generation`; and the flight it ends, if it led one.
pub(super) struct Keep {
    pub(super) cache: Arc<ListCache>,
    pub(super) key: Key,
    pub(super) generation: u64,
    pub(super) landing: Option<Landing<Key, Page>>,
}

impl Fill {
    /// Take in the server's reply to the list request.
    pub(super) fn reply(self, reply: &Value) {
        let Some(result) = reply.get("result") else {
            return;
        };
        if let Some(known) = &self.learn {
            known.learn(reply);
        }
        let Some(keep) = self.keep else {
            return;
        };
        keep.cache
            .put(keep.key, keep.generation, &self.lists, result);
        // Shared with the requests that arrived while it was fetched, as long
        // as it is still the current list and a final result.
        if let Some(landing) = keep.landing
            && self.lists.generation() == keep.generation
            && result.get("resultType").and_then(Value::as_str) != Some("input_required")
        {
            landing.land(Page::of(result));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(message: &Value) -> Option<Key> {
        Key::of("s", message, None)
    }

    fn headers(authorization: &'static str) -> HashMap<HeaderName, HeaderValue> {
        HashMap::from([(
            HeaderName::from_static("authorization"),
            HeaderValue::from_static(authorization),
        )])
    }

    #[test]
    fn only_plain_list_requests_have_a_key() {
        assert!(key(&json!({"method": "tools/list"})).is_some());
        assert!(key(&json!({"method": "tools/list", "params": {"_meta": {}}})).is_some());
        assert_ne!(
            key(&json!({"method": "tools/list", "params": {"cursor": "a"}})),
            key(&json!({"method": "tools/list"}))
        );
        assert!(key(&json!({"method": "tools/call"})).is_none());
        assert!(key(&json!({"method": "tools/list", "params": {"requestState": "x"}})).is_none());
    }

    #[test]
    fn own_credentials_are_another_context() {
        let (alice, bob) = (headers("Bearer alice"), headers("Bearer bob"));
        let message = json!({"method": "tools/list"});
        let configured = Key::of("s", &message, None);
        let alice = Key::of("s", &message, context_of(Some(&alice)));
        let bob = Key::of("s", &message, context_of(Some(&bob)));
        assert_ne!(configured, alice);
        assert_ne!(alice, bob);
    }

    #[test]
    fn a_whole_list_read_in_one_context_is_that_contexts_only() {
        let lists = Lists::default();
        let alice = context_of(Some(&headers("Bearer alice")));
        let whole = json!({"result": {"tools": [{"name": "a"}]}});
        lists.tool_headers(alice).learn(&whole);
        assert!(!lists.tool_headers(alice).worth_listing_for("b"));
        assert!(lists.tool_headers(None).worth_listing_for("b"));
        assert!(
            lists
                .tool_headers(context_of(Some(&headers("Bearer bob"))))
                .worth_listing_for("b")
        );
        assert!(lists.notice(&json!({"method": "notifications/tools/list_changed"})));
        assert!(lists.tool_headers(alice).worth_listing_for("b"));

        // Past MAX_CONTEXTS credentials, what their lists taught is forgotten.
        lists.tool_headers(alice).learn(&whole);
        for n in 0..MAX_CONTEXTS as u64 {
            let mut digest = [0xff; 32];
            digest[..8].copy_from_slice(&n.to_le_bytes());
            lists.tool_headers(Some(digest));
        }
        assert!(lists.tool_headers(alice).worth_listing_for("b"));
        assert!(!format!("{lists:?}").contains("255"), "{lists:?}");
    }

    #[test]
    fn pages_expire_change_and_honour_ttl_ms() {
        let cache = ListCache::new(Duration::from_secs(60));
        let lists = Lists::default();
        let k = key(&json!({"method": "tools/list"})).unwrap();
        cache.put(k.clone(), 0, &lists, &json!({"tools": []}));
        let kept = cache.get(&k, 0).unwrap();
        assert_eq!(kept.result("tools/list", Era::Legacy), json!({"tools": []}));
        assert!(lists.notice(&json!({"method": "notifications/tools/list_changed"})));
        assert!(cache.get(&k, lists.generation()).is_none());

        // Fetched before a change that arrived meanwhile: not kept.
        cache.put(k.clone(), 0, &lists, &json!({"tools": []}));
        assert!(cache.get(&k, lists.generation()).is_none());

        for never in [
            json!({"tools": [], "ttlMs": 0, "cacheScope": "public"}),
            json!({"tools": [], "ttlMs": -5}),
            json!({"resultType": "input_required"}),
        ] {
            cache.put(k.clone(), lists.generation(), &lists, &never);
            assert!(cache.get(&k, lists.generation()).is_none(), "{never}");
        }
        let off = ListCache::new(Duration::ZERO);
        off.put(k.clone(), 1, &lists, &json!({"tools": []}));
        assert!(off.get(&k, 1).is_none());
        off.put(k.clone(), 1, &lists, &json!({"tools": [], "ttlMs": 60000}));
        assert!(off.get(&k, 1).is_some());
    }

    #[test]
    fn a_page_is_kept_in_no_eras_shape_and_served_in_each() {
        let modern = json!({"tools": [{"name": "a"}], "nextCursor": "n", "resultType": "complete",
            "ttlMs": 60000, "cacheScope": "public", "_meta": {"x/y": 1}});
        let page = Page::of(&modern);
        assert_eq!(
            page.result("tools/list", Era::Legacy),
            json!({"tools": [{"name": "a"}], "nextCursor": "n", "_meta": {"x/y": 1}})
        );
        let again = page.result("tools/list", Era::Modern);
        assert_eq!(again["resultType"], "complete");
        assert_eq!(again["cacheScope"], "public");
        let left = again["ttlMs"].as_u64().unwrap();
        assert!(left <= 60000 && left > 0, "{again}");

        // A 2025 server's page: no freshness it vouched for, so stale at once
        // for a 2026-07-28 client, and private.
        let legacy = Page::of(&json!({"tools": []}));
        assert_eq!(
            legacy.result("tools/list", Era::Modern),
            json!({"tools": [], "resultType": "complete", "ttlMs": 0, "cacheScope": "private"})
        );
    }
}

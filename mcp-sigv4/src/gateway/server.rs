//! The gateway's shared state: the servers, the options, and what every
//! request needs of them (an upstream session, the unsealed client session).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ::http::{HeaderMap, HeaderName, HeaderValue};
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use sha2::{Digest, Sha256};
use tower_sigv4::rmcp::HttpClientError;

use super::caller;
use super::flights::Flights;
use super::hosts::AllowedHosts;
use super::http::{self, Body, Refused, SESSION_HEADER};
use super::lists::{self, ListCache, Lists};
use super::oauth::ResourceServer;
use super::rate::RateLimits;
use super::session::{self, Sealer, Session, Tombstones, Unsealed};
use crate::config::{AccessRule, NamedKey, ToolFilter};
use crate::protocol::era::Envelope;
use crate::relay::SigningContext;
use crate::upstream::{Events, SessionState, Upstream};
use ::http::{Response, StatusCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

/// One MCP server behind the gateway.
pub struct Server<C> {
    /// The name clients address it by (`/mcp/{name}`, the tool prefix).
    pub name: String,
    /// Its streamable HTTP endpoint.
    pub url: Arc<str>,
    /// The signed (or authenticated) HTTP client for it.
    pub client: C,
    /// Headers sent on every request to it.
    pub headers: HashMap<HeaderName, HeaderValue>,
    /// What requests to it are signed with, to explain refusals.
    pub signing: SigningContext,
    /// Its `transport`, for the server list.
    pub transport: &'static str,
    /// Its `auth_type`, for hints and the server list.
    pub auth_type: &'static str,
    /// Its `description`, if any.
    pub description: Option<String>,
    /// `allowed_tools` and `disallowed_tools`.
    pub tools: ToolFilter,
    /// `extra_headers`: the client headers forwarded to it.
    pub extra_headers: Vec<HeaderName>,
    /// Its list changes and what was learnt from its lists; give its `stdio`
    /// or `sse` transport [`Lists::notice`] as its notification hook.
    pub lists: Arc<Lists>,
}

impl<C> std::fmt::Debug for Server<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("name", &self.name)
            .field("url", &tower_sigv4::unstable::redact_query(&self.url))
            .finish_non_exhaustive()
    }
}

tokio::task_local! {
    /// The headers of the client request being answered. Per-request credentials
    /// (`x-mcp-{server}-{header}`, `extra_headers`) are read from here where an
    /// upstream is made, however deep in the fan-out, without threading the
    /// client's headers through every route.
    pub(super) static CLIENT_HEADERS: HeaderMap;
}

/// Headers a client may not set on an upstream request: the transport owns them.
const RESERVED: [&str; 7] = [
    "host",
    "content-length",
    "content-type",
    "accept",
    "mcp-session-id",
    "last-event-id",
    "mcp-protocol-version",
];

/// How the gateway behaves.
pub struct Options {
    /// With a master key, every MCP endpoint requires `Authorization: Bearer KEY`.
    pub master_key: Option<String>,
    /// Between a server's name and a tool's when aggregating (`-`, as LiteLLM).
    pub separator: String,
    /// Largest request body, in bytes; larger ones get 413.
    pub max_body_size: usize,
    /// How long one request may wait for its reply.
    pub request_timeout: Duration,
    /// How often a broken SSE stream is resumed before giving up.
    pub resume_attempts: u32,
    /// The most messages in one JSON-RPC batch; longer batches get 400.
    pub max_batch_len: usize,
    /// How long a session lasts from its `initialize`.
    pub session_ttl: Duration,
    /// How long reading a request body may take; slower ones get 408.
    pub body_read_timeout: Duration,
    /// The `Host` and `Origin` names requests may carry.
    pub allowed_hosts: AllowedHosts,
    /// How long a list without `ttlMs` (from a 2025-era server) is kept; zero
    /// keeps none.
    pub list_cache_ttl: Duration,
    /// `general_settings.keys`: named keys and what each may use.
    pub keys: Vec<NamedKey>,
    /// `general_settings.access`: what OAuth identities may use, by claim.
    pub access: Vec<AccessRule>,
    /// `general_settings.oauth`: bearer access tokens accepted beside the
    /// master key.
    pub oauth: Option<Arc<ResourceServer>>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "<redacted>"),
            )
            .field("separator", &self.separator)
            .field("max_body_size", &self.max_body_size)
            .field("request_timeout", &self.request_timeout)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("list_cache_ttl", &self.list_cache_ttl)
            .field("keys", &self.keys)
            .field("access", &self.access)
            .field("oauth", &self.oauth)
            .finish_non_exhaustive()
    }
}

/// Which servers a request addresses.
pub(super) enum Target<C> {
    One(Arc<Server<C>>),
    All(Vec<Arc<Server<C>>>),
}

/// The gateway. Cheap to clone.
pub struct Gateway<C> {
    pub(super) inner: Arc<Inner<C>>,
}

impl<C> Clone for Gateway<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<C> std::fmt::Debug for Gateway<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("servers", &self.inner.servers)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// The gateway's own requests to its 2025 clients, by id, each waiting for
/// the client's answer (see `inputs`).
pub(super) type Asked =
    std::sync::Mutex<HashMap<String, tokio::sync::oneshot::Sender<serde_json::Value>>>;

pub(super) struct Inner<C> {
    pub(super) servers: Vec<Arc<Server<C>>>,
    pub(super) sealer: Sealer,
    pub(super) options: Options,
    pub(super) master_key_digest: Option<[u8; 32]>,
    pub(super) tombstones: Tombstones,
    pub(super) rates: RateLimits,
    // One upstream per server for 2026-07-28 clients, shared by all of them on
    // this replica: its era probed once, and for a legacy server the one
    // session opened for them.
    pub(super) modern: Mutex<HashMap<String, Arc<Upstream<C>>>>,
    pub(super) list_cache: Arc<ListCache>,
    // The sessions whose GET is opening its upstream event streams on this
    // replica, by session nonce: their POSTs wait for it (see `dispatch`).
    pub(super) openings: Flights<String, ()>,
    // Upstream event streams opened at a session's `notifications/initialized`,
    // by session nonce and server, until the client's GET takes them.
    pub(super) parked: Arc<Mutex<HashMap<(String, String), Events>>>,
    // Whether each server's last probe found it up, to log changes only.
    pub(super) probed_up: Mutex<HashMap<String, bool>>,
    // The gateway's input requests to 2025 clients, waiting for their answers.
    pub(super) asked: Asked,
}

impl<C> Gateway<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// A gateway in front of `servers`, sealing sessions with `sealer`.
    pub fn new(servers: Vec<Server<C>>, sealer: Sealer, options: Options) -> Self {
        let master_key_digest = options.master_key.as_deref().map(digest);
        Self {
            inner: Arc::new(Inner {
                modern: Mutex::default(),
                list_cache: Arc::new(ListCache::new(options.list_cache_ttl)),
                openings: Flights::default(),
                parked: Arc::default(),
                probed_up: Mutex::default(),
                asked: Mutex::default(),
                servers: servers.into_iter().map(Arc::new).collect(),
                sealer,
                options,
                master_key_digest,
                tombstones: Tombstones::default(),
                rates: RateLimits::default(),
            }),
        }
    }

    pub(super) fn upstream(
        &self,
        server: &Server<C>,
        session: Option<&Session>,
    ) -> Arc<Upstream<C>> {
        let state = session
            .map(|s| s.state_for(&server.name))
            .unwrap_or_default();
        let own = self.request_headers(server);
        let known = server.lists.tool_headers(lists::context_of(own.as_ref()));
        let headers = own.unwrap_or_else(|| server.headers.clone());
        Arc::new(
            Upstream::with_state(server.client.clone(), server.url.clone(), headers, state)
                .with_tool_headers(known),
        )
    }

    /// `server`'s headers for the request being answered, when its client sent
    /// its own: `x-mcp-{server}-{header}` replaces (or adds) `header`, and each
    /// of the server's `extra_headers` is passed on. `None` when the client sent
    /// none of them.
    pub(super) fn request_headers(
        &self,
        server: &Server<C>,
    ) -> Option<HashMap<HeaderName, HeaderValue>> {
        CLIENT_HEADERS
            .try_with(|client| {
                let prefix = format!("x-mcp-{}-", server.name.to_ascii_lowercase());
                let mut headers = server.headers.clone();
                let mut changed = false;
                for (name, value) in client.iter() {
                    let own = name
                        .as_str()
                        .strip_prefix(&prefix)
                        .and_then(|header| HeaderName::from_bytes(header.as_bytes()).ok());
                    let passed =
                        own.or_else(|| server.extra_headers.contains(name).then(|| name.clone()));
                    if let Some(header) = passed.filter(|h| !RESERVED.contains(&h.as_str())) {
                        let mut value = value.clone();
                        value.set_sensitive(true);
                        headers.insert(header, value);
                        changed = true;
                    }
                }
                changed.then_some(headers)
            })
            .ok()
            .flatten()
    }

    pub(super) fn session(&self, headers: &HeaderMap) -> Result<Session, Refused> {
        let token = headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Refused(
                    StatusCode::BAD_REQUEST,
                    "missing Mcp-Session-Id: send initialize first".into(),
                )
            })?;
        let gone = |message: &str| Refused(StatusCode::NOT_FOUND, message.into());
        let session = self
            .inner
            .sealer
            .unseal(token, session::now())
            .map_err(|e| match e {
                Unsealed::Expired => gone(
                    "the Mcp-Session-Id has expired (--session-ttl): initialize a new session",
                ),
                _ => gone(
                    "unknown or altered Mcp-Session-Id (or sealed with another session key): initialize a new session",
                ),
            })?;
        // Sessions are not authentication: one opened by another identity is
        // answered as one never opened.
        if caller::current_digest().as_deref() != Some(session.caller.as_str()) {
            tracing::info!("refused a session opened by another identity");
            return Err(gone(
                "unknown or altered Mcp-Session-Id (or sealed with another session key): initialize a new session",
            ));
        }
        if self.inner.tombstones.is_buried(&session.nonce) {
            return Err(gone(
                "this session was ended (DELETE): initialize a new session",
            ));
        }
        let url_of = |name: &str| {
            self.inner
                .servers
                .iter()
                .find(|s| s.name == name)
                .map(|s| &*s.url)
        };
        if let Some(server) = session.moved_upstream(url_of) {
            tracing::info!(server = %server, "refused a session begun before the server's URL changed");
            return Err(gone(
                "the gateway's servers changed since this session began: initialize a new session",
            ));
        }
        Ok(session)
    }

    /// `response` with the session id resealed when an upstream's session
    /// changed on the way.
    pub(super) fn with_resealed(
        &self,
        response: Response<Body>,
        live: &LiveSession,
    ) -> Response<Body> {
        match live.changed() {
            Some(session) => {
                let token = self.inner.sealer.seal(&session);
                http::with_session(response, Some(&token))
            }
            None => response,
        }
    }
}

/// The session of one client request while it runs: every upstream whose
/// session was replaced on the way records its new state here, so that the
/// request answers with one resealed id however many servers it reached.
#[derive(Debug)]
pub(super) struct LiveSession {
    session: Mutex<Session>,
    changed: AtomicBool,
}

impl LiveSession {
    pub(super) fn new(session: Session) -> Self {
        Self {
            session: Mutex::new(session),
            changed: AtomicBool::new(false),
        }
    }

    pub(super) fn snapshot(&self) -> Session {
        self.lock().clone()
    }

    /// Record `server`'s state if its session was replaced (a new generation).
    pub(super) fn record(&self, server: &str, url: &str, state: &SessionState) {
        if state.generation == 0 {
            return;
        }
        self.lock().record(server, url, state);
        self.changed.store(true, Ordering::SeqCst);
    }

    /// The session, if an upstream changed it.
    pub(super) fn changed(&self) -> Option<Session> {
        self.changed.load(Ordering::SeqCst).then(|| self.snapshot())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How a request reaches its upstreams: in a client's sealed legacy session, or
/// stateless for a 2026-07-28 client with its envelope.
#[derive(Clone, Copy, Debug)]
pub(super) enum Via<'a> {
    Legacy(&'a LiveSession),
    Modern(&'a Envelope),
}

pub(super) fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

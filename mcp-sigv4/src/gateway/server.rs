//! The gateway's shared state: the servers, the options, and what every
//! request needs of them (an upstream session, the unsealed client session).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ::http::{HeaderMap, HeaderName, HeaderValue};
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use sha2::{Digest, Sha256};
use tower_sigv4::rmcp::HttpClientError;

use super::guard::AllowedHosts;
use super::http::{Refused, SESSION_HEADER};
use super::session::{Sealer, Session};
use crate::relay::{SigningContext, Upstream};
use ::http::StatusCode;

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
}

impl<C> std::fmt::Debug for Server<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("name", &self.name)
            .field("url", &tower_sigv4::endpoint::redact_query(&self.url))
            .finish_non_exhaustive()
    }
}

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
    /// How long reading a request body may take; slower ones get 408.
    pub body_read_timeout: Duration,
    /// The `Host` and `Origin` names requests may carry.
    pub allowed_hosts: AllowedHosts,
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

pub(super) struct Inner<C> {
    pub(super) servers: Vec<Arc<Server<C>>>,
    pub(super) sealer: Sealer,
    pub(super) options: Options,
    pub(super) master_key_digest: Option<[u8; 32]>,
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
                servers: servers.into_iter().map(Arc::new).collect(),
                sealer,
                options,
                master_key_digest,
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
        Arc::new(Upstream::with_state(
            server.client.clone(),
            server.url.clone(),
            server.headers.clone(),
            state,
        ))
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
        self.inner.sealer.unseal(token).map_err(|_| {
            Refused(
                StatusCode::NOT_FOUND,
                "unknown or altered Mcp-Session-Id (or sealed with another session key): initialize a new session".into(),
            )
        })
    }
}

pub(super) fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

//! How one MCP server is reached: everything between a [`ServerConfig`] and the
//! server's endpoint, in one room.
//!
//! - The transports, one file each, behind one client type
//!   ([`TowerHttpClient`]`<`[`SignedHttpService`]`>`, which rmcp and [`Upstream`]
//!   drive as streamable HTTP):
//!   - `streamable_http`: [`ServerConfig::transport`],
//!     [`ServerConfig::http_client_with`] and the other builders: the
//!     streamable-HTTP client, signed or with its headers, and the choice of
//!     transport;
//!   - `sse`: a bridge to a 2024-11-05 HTTP+SSE server;
//!   - `stdio`: a bridge to a child process speaking MCP on its standard input
//!     and output;
//!   - `answer`: the response type of every server's service, and the reply
//!     the two bridges make.
//! - `from_url`: one server given by its URL alone
//!   ([`ServerConfig::signed_for_url`]), service and region inferred from the
//!   host.
//! - The authentication of a request to a server: `credentials` (where the
//!   SigV4 credentials come from: the default chain, a profile, static keys, a
//!   role assumed with STS), `oauth2` (a client-credentials token on every
//!   request), and `headers` (the auth header of the other auth types and
//!   `static_headers`: [`ServerConfig::headers`]).
//! - The session with one server, `session`: [`Upstream`] holds its session id,
//!   the negotiated protocol era, the host's `initialize` (replayed when the
//!   server forgets the session) and the resumption of its SSE streams.
//! - `calls`: requests of the program's own through an [`Upstream`] (a request
//!   and its reply, every page of `tools/list`, a cancellation), which the
//!   probe, the Lambda and `agent-schema` make.
//!
//! This room imports [`protocol`](crate::protocol), [`config`](crate::config)'s
//! typed values and [`telemetry`](crate::telemetry); the relay, the gateway,
//! `ask`, the probe and the Lambda import it, and it imports none of them.
//!
//! [`ServerConfig`]: crate::config::ServerConfig
//! [`ServerConfig::transport`]: crate::config::ServerConfig::transport
//! [`ServerConfig::http_client_with`]: crate::config::ServerConfig::http_client_with
//! [`ServerConfig::headers`]: crate::config::ServerConfig::headers
//! [`ServerConfig::signed_for_url`]: crate::config::ServerConfig::signed_for_url
//! [`TowerHttpClient`]: tower_sigv4::rmcp::TowerHttpClient
//! [`SignedHttpService`]: tower_sigv4::rmcp::SignedHttpService

mod answer;
mod calls;
mod credentials;
mod from_url;
mod headers;
mod oauth2;
mod session;
mod sse;
mod stdio;
mod streamable_http;

/// Called with each notification a `stdio` or `sse` server sends on the stream
/// it shares among clients (`notifications/tools/list_changed`, say), which no
/// client's request would otherwise carry. See
/// [`ServerConfig::http_client_notifying`](crate::config::ServerConfig::http_client_notifying).
pub type OnNotification = std::sync::Arc<dyn Fn(&serde_json::Value) + Send + Sync>;

pub use calls::{MAX_PAGES, own_request};
pub use from_url::NotInferred;
pub use session::{
    Events, MAX_RETRY, Reconnect, Reply, SessionState, StreamEnded, Upstream, UpstreamError,
    is_session_gone,
};

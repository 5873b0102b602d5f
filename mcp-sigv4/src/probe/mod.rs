//! Watching an MCP server on its own, apart from any model or tool: one probe
//! round against one [`Upstream`], signed like any request.
//!
//! A round learns the server's era with [`Upstream::probe`]: `server/discover`
//! for a 2026-07-28 server; for a 2025 one the specification's fallback,
//! `initialize` (and `notifications/initialized`), then a `ping`. It then
//! counts the server's tools (`tools/list`, every page) and ends a legacy
//! session it opened. A failure is named by its [`Cause`], so that a server
//! that cannot be reached, refuses the credentials or speaks no MCP is told
//! apart from a tool that answers `isError`.
//!
//! `mcp-sigv4 probe` runs one round against every configured server, and the
//! gateway runs one per server on an interval (`--probe-interval`), exporting
//! each server's state on `/metrics` and `/health/readiness`.
//!
//! This room imports [`upstream`](crate::upstream) and
//! [`protocol`](crate::protocol); the gateway imports it.

use std::time::{Duration, Instant};

use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError,
};
use serde_json::json;

use tower_sigv4::rmcp::HttpClientError;
use tower_sigv4::unstable::ErrorChain;

use crate::protocol::era::{Envelope, Era};
use crate::upstream::{Upstream, UpstreamError, own_request};

/// Why a round failed: a bounded label for metrics and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// No HTTP reply: the server cannot be reached (connection refused, DNS,
    /// TLS, reset).
    Transport,
    /// The server refused the credentials (401, 403), or the request could not
    /// be signed.
    Auth,
    /// Another HTTP error status (404, 429, 5xx).
    Http,
    /// An HTTP reply that is not the MCP answer expected: a JSON-RPC error to
    /// `server/discover`, `initialize` or `ping`, or a body that is no MCP.
    Protocol,
    /// No answer within the round's time limit.
    Timeout,
}

impl Cause {
    /// The label: `transport`, `auth`, `http`, `protocol` or `timeout`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transport => "transport",
            Self::Auth => "auth",
            Self::Http => "http",
            Self::Protocol => "protocol",
            Self::Timeout => "timeout",
        }
    }

    /// The cause of a failed exchange with a server.
    pub fn of(error: &UpstreamError) -> Self {
        match error {
            StreamableHttpError::Client(e) if e.signing_error().is_some() => Self::Auth,
            StreamableHttpError::Client(e) => match e.status_error() {
                Some(status) if matches!(status.reply.status.as_u16(), 401 | 403) => Self::Auth,
                Some(_) => Self::Http,
                None if matches!(e, HttpClientError::Transport(_)) => Self::Transport,
                None => Self::Protocol,
            },
            // The connection was cut while the reply was read.
            StreamableHttpError::Sse(SseError::Body(_))
            | StreamableHttpError::Io(_)
            | StreamableHttpError::UnexpectedEndOfStream => Self::Transport,
            StreamableHttpError::HttpStatus(_) => Self::Http,
            _ => Self::Protocol,
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a round saw of a server that answered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Up {
    /// The era it speaks.
    pub era: Era,
    /// How many tools it lists; `None` when its `tools/list` failed (the
    /// server is up, its tools are not known).
    pub tools: Option<usize>,
}

/// Why a round against a server failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Down {
    /// The bounded cause.
    pub cause: Cause,
    /// What happened, for a person (the error chain; never a secret).
    pub detail: String,
}

/// One round's result and how long it took (from the first request to the
/// last reply, `tools/list` included).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Round {
    /// Up, or down with its cause.
    pub state: Result<Up, Down>,
    /// The round's duration.
    pub latency: Duration,
}

impl Round {
    /// Whether the server answered as an MCP server.
    pub fn is_up(&self) -> bool {
        self.state.is_ok()
    }
}

/// One probe round against `upstream` (a fresh upstream with no session:
/// the round opens its own and ends it), cut short after `timeout`. A failed
/// exchange is told with `describe` (the relay's `describe`, say, which adds
/// what to check), or its error chain when `None`.
pub async fn round<C>(
    upstream: &Upstream<C>,
    timeout: Duration,
    describe: Option<&(dyn Fn(&UpstreamError) -> String + Sync)>,
) -> Round
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    let started = Instant::now();
    let down = |error: UpstreamError| Down {
        cause: Cause::of(&error),
        detail: describe.map_or_else(|| ErrorChain(&error).to_string(), |d| d(&error)),
    };
    let state = match tokio::time::timeout(timeout, exchange(upstream, &down)).await {
        Ok(state) => state,
        Err(_) => Err(Down {
            cause: Cause::Timeout,
            detail: format!(
                "no answer within {} s; raise the probe's timeout if the server is slow",
                timeout.as_secs_f64()
            ),
        }),
    };
    let latency = started.elapsed();
    if upstream.era() == Some(Era::Legacy) && upstream.state().session_id.is_some() {
        // Best effort: the server forgets an abandoned session by itself.
        let _ = tokio::time::timeout(timeout, upstream.end()).await;
    }
    Round { state, latency }
}

/// The envelope of the probe's requests: no capability, the prober named.
fn envelope() -> Envelope {
    Envelope {
        capabilities: json!({}),
        client_info: Some(json!({"name": "mcp-sigv4 probe", "version": env!("CARGO_PKG_VERSION")})),
    }
}

async fn exchange<C>(
    upstream: &Upstream<C>,
    down: &(dyn Fn(UpstreamError) -> Down + Sync),
) -> Result<Up, Down>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    let envelope = envelope();
    let era = upstream.probe(&envelope).await.map_err(down)?;
    if era == Era::Legacy {
        let ping = own_request("probe", &envelope, "ping", json!({}));
        let reply = upstream.call(&ping).await.map_err(down)?;
        if let Some(error) = reply.get("error") {
            return Err(Down {
                cause: Cause::Protocol,
                detail: format!("the server refused ping: {error}"),
            });
        }
    }
    let tools = match upstream.list_tools("probe", &envelope).await {
        Ok(tools) => Some(tools.len()),
        Err(e) => {
            tracing::debug!("tools/list failed during a probe: {}", ErrorChain(&e));
            None
        }
    };
    Ok(Up { era, tools })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_have_bounded_labels() {
        let transport: UpstreamError = StreamableHttpError::Client(HttpClientError::Transport(
            std::sync::Arc::new(std::io::Error::other("refused")),
        ));
        assert_eq!(Cause::of(&transport), Cause::Transport);
        let cut: UpstreamError = StreamableHttpError::Sse(SseError::Body("unexpected EOF".into()));
        assert_eq!(Cause::of(&cut), Cause::Transport);
        let no_mcp: UpstreamError = StreamableHttpError::UnexpectedServerResponse("not MCP".into());
        assert_eq!(Cause::of(&no_mcp), Cause::Protocol);
        assert_eq!(Cause::Timeout.to_string(), "timeout");
    }
}

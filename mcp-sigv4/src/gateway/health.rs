//! Health: `/health` says the process answers (liveness) and names nothing;
//! `/health/readiness`, behind the master key, starts a session with each
//! upstream and reports each as ready or failing, with the cause.

use std::time::Duration;

use ::http::{Response, StatusCode};
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use serde_json::{Map, Value, json};
use tower_sigv4::rmcp::HttpClientError;

use super::forward::for_client;
use super::http::{self, Body};
use super::server::Gateway;

/// The longest a readiness probe waits for one upstream.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

impl<C> Gateway<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// Liveness: no server names, no upstream touched.
    pub(super) fn health(&self) -> Response<Body> {
        http::json(StatusCode::OK, &json!({"status": "ok"}))
    }

    /// Readiness: 200 when every upstream completes `initialize`, else 503; each
    /// server's state and cause either way.
    pub(super) async fn readiness(&self) -> Response<Body> {
        let timeout = self.inner.options.request_timeout.min(PROBE_TIMEOUT);
        let probes = self.inner.servers.iter().map(|server| async move {
            let upstream = self.upstream(server, None);
            let initialize = json!({"jsonrpc": "2.0", "id": super::aggregate::internal_id("ready"), "method": "initialize", "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "mcp-sigv4 gateway readiness", "version": env!("CARGO_PKG_VERSION")},
            }});
            let state = match tokio::time::timeout(timeout, upstream.initialize(initialize)).await {
                Ok(Ok(reply)) if reply.get("result").is_some() => {
                    if let Err(e) = upstream.end().await {
                        tracing::debug!(server = %server.name, "ending the readiness session failed: {}", tower_sigv4::unstable::ErrorChain(&e));
                    }
                    json!({"ready": true})
                }
                Ok(Ok(reply)) => {
                    let cause = format!("refused initialize: {}", reply["error"]["message"]);
                    tracing::warn!(server = %server.name, "not ready: {cause}");
                    json!({"ready": false, "cause": cause})
                }
                Ok(Err(e)) => json!({"ready": false, "cause": for_client(server, &e).0}),
                Err(_) => {
                    let cause = format!("no answer to initialize within {} s", timeout.as_secs_f64());
                    tracing::warn!(server = %server.name, "not ready: {cause}");
                    json!({"ready": false, "cause": cause})
                }
            };
            (server.name.clone(), state)
        });
        let states: Map<String, Value> = futures_util::future::join_all(probes)
            .await
            .into_iter()
            .collect();
        let ready = states.values().all(|s| s["ready"] == true);
        let (status, word) = if ready {
            (StatusCode::OK, "ready")
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, "failing")
        };
        http::json(status, &json!({"status": word, "servers": states}))
    }
}

//! Requests of the program's own to one server, outside any host's session:
//! one request and its reply (read from JSON or from the stream), every page
//! of `tools/list`, and the cancellation of a request. The
//! probe, the Lambda and `agent-schema` reach servers with these.
//!
//! Each request carries the 2026-07-28 envelope it is built with
//! ([`own_request`]); [`Upstream::send`] strips it for a legacy session.

use rmcp::transport::streamable_http_client::{StreamableHttpClient, StreamableHttpError};
use serde_json::{Value, json};
use tower_sigv4::rmcp::HttpClientError;

use super::session::{Reply, Upstream, UpstreamError};
use crate::protocol::era::Envelope;
use crate::protocol::jsonrpc;

/// The most `tools/list` pages read from one server.
pub const MAX_PAGES: usize = 100;

/// A request of the program's own, with an id no host uses
/// (`mcp-sigv4-{purpose}-{uuid}`) and `envelope` stamped in its `_meta`.
pub fn own_request(purpose: &str, envelope: &Envelope, method: &str, params: Value) -> Value {
    let id = format!("mcp-sigv4-{purpose}-{}", uuid::Uuid::new_v4());
    let mut request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    envelope.stamp(&mut request);
    request
}

impl<C> Upstream<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// Send `request` and read its reply, from JSON or from the stream (other
    /// messages on the stream are passed over). A JSON-RPC error is a reply.
    pub async fn call(&self, request: &Value) -> Result<Value, UpstreamError> {
        let id = &request["id"];
        match self.send(request).await? {
            Reply::Json(reply) => Ok(reply),
            Reply::Stream(mut events) => {
                while let Some(message) = events.next().await? {
                    if jsonrpc::is_response_to(&message, id) {
                        return Ok(message);
                    }
                }
                Err(StreamableHttpError::UnexpectedEndOfStream)
            }
            Reply::Accepted => Err(StreamableHttpError::UnexpectedServerResponse(
                "the server accepted a request without answering it".into(),
            )),
        }
    }

    /// The server's tools, every page (at most [`MAX_PAGES`]), as it lists
    /// them. A JSON-RPC error to `tools/list` is an
    /// [`UnexpectedServerResponse`](StreamableHttpError::UnexpectedServerResponse).
    pub async fn list_tools(
        &self,
        purpose: &str,
        envelope: &Envelope,
    ) -> Result<Vec<Value>, UpstreamError> {
        let mut tools = Vec::new();
        let mut cursor: Option<Value> = None;
        for _page in 0..MAX_PAGES {
            let mut params = json!({});
            if let Some(cursor) = cursor.take() {
                params["cursor"] = cursor;
            }
            let reply = self
                .call(&own_request(purpose, envelope, "tools/list", params))
                .await?;
            let Some(result) = reply.get("result") else {
                return Err(StreamableHttpError::UnexpectedServerResponse(
                    format!(
                        "the server refused tools/list: {}",
                        reply.get("error").unwrap_or(&reply)
                    )
                    .into(),
                ));
            };
            tools.extend(
                result
                    .get("tools")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            match result.get("nextCursor") {
                Some(next) if !next.is_null() => cursor = Some(next.clone()),
                _ => break,
            }
        }
        Ok(tools)
    }

    /// Tell the server that the request `id` is no longer wanted
    /// (`notifications/cancelled`, with `reason`).
    pub async fn cancel(&self, id: &Value, reason: &str) -> Result<Reply, UpstreamError> {
        let note = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": id, "reason": reason}});
        self.send(&note).await
    }
}

//! One message to one server, its reply streamed back.

use std::sync::Arc;
use std::time::Duration;

use ::http::{Response, StatusCode};
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use serde_json::{Value, json};
use tower_sigv4::rmcp::HttpClientError;

use super::http::{self, Body};
use super::server::{Gateway, LiveSession, Server};
use crate::relay::jsonrpc::{self, Kind};
use crate::relay::{self, Reply, describe};

impl<C> Gateway<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// Send one message to one server and answer with what it answers, streamed.
    pub(super) async fn forward(
        &self,
        server: &Arc<Server<C>>,
        message: Value,
        live: &LiveSession,
        tag: bool,
    ) -> Response<Body> {
        let upstream = self.upstream(server, Some(&live.snapshot()));
        let id = message.get("id").cloned();
        let is_request = jsonrpc::kind(&message) == Kind::Request;
        let timeout = self.inner.options.request_timeout;
        let started = tokio::time::Instant::now();
        let sent = tokio::time::timeout(timeout, upstream.send(&message)).await;
        live.record(&server.name, &server.url, &upstream.state());
        match sent {
            Err(_) => self.timeout_error(server, id.as_ref(), timeout),
            Ok(Err(e)) => self.upstream_error(server, id.as_ref(), &e),
            Ok(Ok(Reply::Accepted)) => http::empty(StatusCode::ACCEPTED),
            Ok(Ok(Reply::Json(reply))) => http::json(StatusCode::OK, &reply),
            Ok(Ok(Reply::Stream(events))) => {
                let (sender, response) = http::sse();
                let name = server.name.clone();
                let separator = self.inner.options.separator.clone();
                let attempts = self.inner.options.resume_attempts;
                let remaining = timeout.saturating_sub(started.elapsed());
                tokio::spawn(async move {
                    let pass = |message: Value| {
                        let sender = sender.clone();
                        let message = if tag {
                            tag_request(&name, &separator, message)
                        } else {
                            message
                        };
                        async move {
                            let _ = sender.send(message).await;
                        }
                    };
                    let Some(id) = id.filter(|_| is_request) else {
                        let mut events = events;
                        while let Ok(Some(message)) = events.next().await {
                            pass(message).await;
                        }
                        return;
                    };
                    let followed = tokio::time::timeout(
                        remaining,
                        upstream.follow(events, &id, attempts, pass),
                    )
                    .await;
                    let last = match followed {
                        Ok(Ok(reply)) => reply,
                        Ok(Err(ended)) => jsonrpc::error(
                            &id,
                            jsonrpc::UPSTREAM_ERROR,
                            &format!("server `{name}`: {ended}"),
                            Some(json!({"source": "upstream", "server": name})),
                        ),
                        Err(_) => jsonrpc::error(
                            &id,
                            jsonrpc::TIMEOUT_ERROR,
                            &format!(
                                "server `{name}` did not answer within {} s",
                                timeout.as_secs_f64()
                            ),
                            Some(json!({"source": "gateway", "server": name})),
                        ),
                    };
                    let _ = sender.send(last).await;
                });
                response
            }
        }
    }

    pub(super) fn upstream_error(
        &self,
        server: &Server<C>,
        id: Option<&Value>,
        error: &relay::UpstreamError,
    ) -> Response<Body> {
        let (message, data) = for_client(server, error);
        match id {
            Some(id) => http::json(
                StatusCode::OK,
                &jsonrpc::error(id, jsonrpc::UPSTREAM_ERROR, &message, Some(data)),
            ),
            None => http::json(
                StatusCode::BAD_GATEWAY,
                &json!({"error": {"message": message, "data": data}}),
            ),
        }
    }

    pub(super) fn timeout_error(
        &self,
        server: &Server<C>,
        id: Option<&Value>,
        timeout: Duration,
    ) -> Response<Body> {
        let message = format!(
            "server `{}` did not answer within {} s",
            server.name,
            timeout.as_secs_f64()
        );
        match id {
            Some(id) => http::json(
                StatusCode::OK,
                &jsonrpc::error(
                    id,
                    jsonrpc::TIMEOUT_ERROR,
                    &message,
                    Some(json!({"source": "gateway", "server": server.name})),
                ),
            ),
            None => http::error(StatusCode::GATEWAY_TIMEOUT, &message),
        }
    }
}

/// A server's request to the client gets an id that names the server, so that
/// the client's reply finds its way back: `{server}{separator}{original id as JSON}`.
pub(super) fn tag_request(server: &str, separator: &str, mut message: Value) -> Value {
    if message.get("method").is_some()
        && let Some(id) = message.get("id").cloned()
    {
        message["id"] = Value::String(format!("{server}{separator}{id}"));
    }
    message
}

/// What a gateway client is told of an upstream failure. The full explanation
/// (access key id, role, profile, region) goes to the gateway's log only: the
/// client is not the operator. A refused signature gets a generic cause; other
/// failures keep their message, without the credential fields.
pub(super) fn for_client<C>(server: &Server<C>, error: &relay::UpstreamError) -> (String, Value) {
    let (detail, data) = describe(error, &server.signing);
    tracing::warn!(server = %server.name, "server `{}`: {detail}", server.name);
    let status = data.get("status").and_then(Value::as_u64);
    let signing_failed =
        matches!(error, relay::UpstreamError::Client(e) if e.signing_error().is_some());
    let message = match status {
        Some(status @ (401 | 403)) => format!(
            "upstream `{}` refused the signature ({status}); see the gateway log",
            server.name
        ),
        _ if signing_failed => format!(
            "upstream `{}`: the gateway could not sign the request; see the gateway log",
            server.name
        ),
        _ => format!("server `{}`: {detail}", server.name),
    };
    let mut shown = json!({"source": data.get("source").cloned().unwrap_or(Value::Null), "server": server.name});
    if let Some(status) = status {
        shown["status"] = json!(status);
    }
    (message, shown)
}

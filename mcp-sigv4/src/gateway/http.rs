//! HTTP shapes the gateway answers with: JSON, JSON-RPC errors, SSE streams.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The body of every gateway response.
pub type Body = BoxBody<Bytes, Infallible>;

/// Where a streamed response's messages go.
pub type EventSender = mpsc::Sender<Value>;

/// The header that carries the gateway's session.
pub const SESSION_HEADER: &str = "mcp-session-id";

/// A body of these bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A JSON response.
pub fn json(status: StatusCode, value: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(value.to_string()))
        .unwrap_or_else(|_| Response::new(full("")))
}

/// A plain JSON error (not JSON-RPC) for HTTP-level refusals.
pub fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(
        status,
        &json!({"error": {"message": message, "code": status.as_u16()}}),
    )
}

/// An empty response.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(full(""));
    *response.status_mut() = status;
    response
}

/// An SSE response fed by the returned sender; each message is one event. The
/// body ends when every sender is dropped.
pub fn sse() -> (EventSender, Response<Body>) {
    let (sender, mut receiver) = mpsc::channel::<Value>(64);
    let events = futures_util::stream::poll_fn(move |cx| {
        receiver.poll_recv(cx).map(|message| {
            message.map(|m| Ok::<_, Infallible>(Frame::data(Bytes::from(format!("data: {m}\n\n")))))
        })
    });
    let response = Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(BodyExt::boxed(StreamBody::new(events)))
        .unwrap_or_else(|_| Response::new(full("")));
    (sender, response)
}

/// Attach the session header.
pub fn with_session(mut response: Response<Body>, token: Option<&str>) -> Response<Body> {
    if let Some(value) = token.and_then(|t| HeaderValue::from_str(t).ok()) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    response
}

/// The most bytes one client request may buffer from upstream replies (a batch,
/// an aggregated list, `resources/read` across servers), all replies together.
pub const MAX_COLLECTED_BYTES: usize = 64 * 1024 * 1024;

/// What a client request may still buffer from upstream replies.
#[derive(Debug)]
pub(crate) struct Budget(AtomicUsize);

impl Budget {
    pub(crate) fn new() -> Self {
        Self::of(MAX_COLLECTED_BYTES)
    }

    fn of(bytes: usize) -> Self {
        Self(AtomicUsize::new(bytes))
    }

    /// Take `bytes` from the budget, or fail without taking any.
    fn take(&self, bytes: usize) -> Result<(), OverBudget> {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(bytes)
            })
            .map(drop)
            .map_err(|_| OverBudget)
    }
}

/// Buffering a reply would pass [`MAX_COLLECTED_BYTES`] for the request.
#[derive(Debug)]
pub(crate) struct OverBudget;

impl std::fmt::Display for OverBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the replies to this request exceed the gateway's {} MiB per request; ask for less at a time (fewer messages per batch, or one server)",
            MAX_COLLECTED_BYTES / (1024 * 1024)
        )
    }
}

/// The reply a response carries (JSON, or the last message of an SSE stream),
/// buffered within `budget`.
pub(crate) async fn collect_reply(
    response: Response<Body>,
    budget: &Budget,
) -> Result<Option<Value>, OverBudget> {
    let is_sse = response
        .headers()
        .get("content-type")
        .is_some_and(|ct| ct.as_bytes().starts_with(b"text/event-stream"));
    let left = budget.0.load(Ordering::SeqCst);
    let Ok(collected) = Limited::new(response.into_body(), left).collect().await else {
        return Err(OverBudget);
    };
    let bytes = collected.to_bytes();
    budget.take(bytes.len())?;
    if !is_sse {
        return Ok(serde_json::from_slice(&bytes).ok());
    }
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .rfind(|message| message.get("method").is_none()))
}

/// The address of the client a request came from, put in the request's
/// extensions where the connection is accepted.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddress(pub std::net::IpAddr);

/// An HTTP-level refusal (not a JSON-RPC error): the status and a message for
/// the client.
#[derive(Debug)]
pub struct Refused(pub StatusCode, pub String);

impl Refused {
    /// The refusal as a JSON error response.
    pub fn response(self) -> Response<Body> {
        error(self.0, &self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replies_are_buffered_within_one_budget_for_the_request() {
        let budget = Budget::of(40);
        let reply = json!({"jsonrpc": "2.0", "id": 1, "result": {}});
        let first = collect_reply(json(StatusCode::OK, &reply), &budget).await;
        assert_eq!(first.unwrap(), Some(reply.clone()));
        // 36 bytes taken: the next reply does not fit in what is left.
        assert!(
            collect_reply(json(StatusCode::OK, &reply), &budget)
                .await
                .is_err()
        );
    }
}

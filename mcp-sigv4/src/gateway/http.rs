//! HTTP shapes the gateway answers with: JSON, JSON-RPC errors, SSE streams.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
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

/// The reply a response carries (JSON, or the last message of an SSE stream).
pub(crate) async fn collect_reply(response: Response<Body>) -> Option<Value> {
    let is_sse = response
        .headers()
        .get("content-type")
        .is_some_and(|ct| ct.as_bytes().starts_with(b"text/event-stream"));
    let bytes = response.into_body().collect().await.ok()?.to_bytes();
    if !is_sse {
        return serde_json::from_slice(&bytes).ok();
    }
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .rfind(|message| message.get("method").is_none())
}

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

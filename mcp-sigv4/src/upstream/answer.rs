//! The response every server's HTTP service answers with, and the one the
//! `stdio` and `sse` bridges make from a JSON-RPC reply of their own.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower_sigv4::BoxError;

/// A server's HTTP response, its body boxed.
pub(super) type Answer = Response<BoxBody<Bytes, BoxError>>;

/// `status`, with `body` as JSON when there is one.
pub(super) fn respond(status: StatusCode, body: Option<&Value>) -> Answer {
    let mut response = Response::builder().status(status);
    if body.is_some() {
        response = response.header(http::header::CONTENT_TYPE, "application/json");
    }
    let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    response
        .body(Full::new(bytes).map_err(|never| match never {}).boxed())
        .unwrap_or_default()
}

//! The shapes of JSON-RPC 2.0 messages, as the relay needs to tell them apart.

use serde_json::{Value, json};

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist or is not served here.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// The upstream endpoint failed, or the relay could not get an answer from it.
pub const UPSTREAM_ERROR: i64 = -32000;
/// The request ran past the relay's per-request timeout.
pub const TIMEOUT_ERROR: i64 = -32001;
/// A tool call refused by the relay's tool policy.
pub const TOOL_REFUSED: i64 = -32003;
/// The caller is over its rate limit; `data.retryAfter` says in how many seconds
/// to try again.
pub const RATE_LIMITED: i64 = -32029;

/// What a message from the host is.
#[derive(Debug, PartialEq)]
pub enum Kind {
    /// Has a `method` and an `id`: wants exactly one reply.
    Request,
    /// Has a `method` and no `id`.
    Notification,
    /// Has an `id` and a `result` or `error`: answers a server's request.
    Response,
    /// None of the above.
    Invalid,
}

/// Classify one message.
pub fn kind(message: &Value) -> Kind {
    let Some(object) = message.as_object() else {
        return Kind::Invalid;
    };
    let has_id = object.get("id").is_some_and(valid_id);
    match (object.get("method").and_then(Value::as_str), has_id) {
        (Some(_), true) => Kind::Request,
        (Some(_), false) if !object.contains_key("id") => Kind::Notification,
        (None, true) if object.contains_key("result") || object.contains_key("error") => {
            Kind::Response
        }
        _ => Kind::Invalid,
    }
}

/// JSON-RPC ids are strings or numbers (null is allowed only in error replies).
fn valid_id(id: &Value) -> bool {
    id.is_string() || id.is_number()
}

/// The reply to a message that is no JSON-RPC 2.0 request, notification or
/// response: -32600, with its id when it has a usable one.
pub fn invalid(message: &Value) -> Value {
    let id = message
        .get("id")
        .filter(|id| valid_id(id))
        .cloned()
        .unwrap_or(Value::Null);
    error(
        &id,
        INVALID_REQUEST,
        "not a JSON-RPC 2.0 request, notification or response: a request needs a `method` and a string or number `id`",
        None,
    )
}

/// The method of a request or notification.
pub fn method(message: &Value) -> Option<&str> {
    message.get("method").and_then(Value::as_str)
}

/// Whether `message` is the reply (result or error) to the request `id`.
pub fn is_response_to(message: &Value, id: &Value) -> bool {
    message.get("method").is_none()
        && message.get("id") == Some(id)
        && (message.get("result").is_some() || message.get("error").is_some())
}

/// A key for a request id in maps (`1` and `"1"` are different ids).
pub fn id_key(id: &Value) -> String {
    id.to_string()
}

/// An error reply.
pub fn error(id: &Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            kind(&json!({"jsonrpc":"2.0","id":1,"method":"ping"})),
            Kind::Request
        );
        assert_eq!(
            kind(&json!({"jsonrpc":"2.0","id":"a","method":"ping"})),
            Kind::Request
        );
        assert_eq!(
            kind(&json!({"jsonrpc":"2.0","method":"notifications/initialized"})),
            Kind::Notification
        );
        assert_eq!(
            kind(&json!({"jsonrpc":"2.0","id":1,"result":{}})),
            Kind::Response
        );
        assert_eq!(
            kind(&json!({"jsonrpc":"2.0","id":1,"error":{"code":1}})),
            Kind::Response
        );
        for invalid in [
            json!(1),
            json!({"jsonrpc":"2.0","id":null,"method":"ping"}),
            json!({"jsonrpc":"2.0","id":{},"method":"ping"}),
            json!({"jsonrpc":"2.0","id":1}),
            json!({"jsonrpc":"2.0","method":7}),
        ] {
            assert_eq!(kind(&invalid), Kind::Invalid, "{invalid}");
        }
    }

    #[test]
    fn responses_match_by_id_and_type() {
        let reply = json!({"jsonrpc":"2.0","id":1,"result":{}});
        assert!(is_response_to(&reply, &json!(1)));
        assert!(!is_response_to(&reply, &json!("1")));
        assert_ne!(id_key(&json!(1)), id_key(&json!("1")));
    }
}

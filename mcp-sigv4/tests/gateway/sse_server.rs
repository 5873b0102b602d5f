//! A 2024-11-05 HTTP+SSE MCP server on 127.0.0.1 behind an `x-api-key` check:
//! `GET /sse` opens the event stream, whose first event names
//! `/messages?session_id=N`; replies to those POSTs come on the stream. One
//! tool, `shout`; a call of `change` (unlisted) sends
//! `notifications/tools/list_changed` on the stream before its reply. It
//! counts GETs, POSTs, `tools/list` requests and refusals.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub const KEY: &str = "sse-key-EXAMPLE";

#[derive(Default)]
pub struct Counts {
    pub streams: AtomicUsize,
    pub posts: AtomicUsize,
    pub lists: AtomicUsize,
    pub refused: AtomicUsize,
}

pub struct SseServer {
    pub url: String,
    pub counts: Arc<Counts>,
    // The accept loop, ended when this is dropped.
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

type Sessions = Arc<Mutex<HashMap<String, mpsc::Sender<String>>>>;
type Answer = Response<BoxBody<Bytes, Infallible>>;

fn plain(status: StatusCode) -> Answer {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()).boxed())
        .unwrap()
}

fn reply_to(message: &Value) -> Option<Value> {
    let id = message.get("id")?.clone();
    let method = message.get("method")?.as_str()?;
    let result = match method {
        "initialize" => json!({"protocolVersion": "2024-11-05", "capabilities": {"tools": {}},
            "serverInfo": {"name": "sse-test", "version": "1"}}),
        "tools/list" => json!({"tools": [{"name": "shout", "description": "Upper-case the text",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}}]}),
        "tools/call" => {
            let text = message
                .pointer("/params/arguments/text")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_uppercase();
            json!({"content": [{"type": "text", "text": text}], "isError": false})
        }
        "ping" => json!({}),
        _ => {
            return Some(json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": format!("no method {method}")}}));
        }
    };
    Some(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

async fn serve(request: Request<Incoming>, sessions: Sessions, counts: Arc<Counts>) -> Answer {
    if request.headers().get("x-api-key").map(|v| v.as_bytes()) != Some(KEY.as_bytes()) {
        counts.refused.fetch_add(1, Ordering::SeqCst);
        return plain(StatusCode::UNAUTHORIZED);
    }
    match (request.method().as_str(), request.uri().path()) {
        ("GET", "/sse") => {
            counts.streams.fetch_add(1, Ordering::SeqCst);
            let session = counts.streams.load(Ordering::SeqCst).to_string();
            let (events, mut queue) = mpsc::channel::<String>(64);
            events
                .try_send(format!(
                    "event: endpoint\ndata: /messages?session_id={session}\n\n"
                ))
                .unwrap();
            sessions.lock().unwrap().insert(session, events);
            let stream = futures_util::stream::poll_fn(move |cx| {
                queue
                    .poll_recv(cx)
                    .map(|event| event.map(|e| Ok::<_, Infallible>(Frame::data(Bytes::from(e)))))
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(StreamBody::new(stream).boxed())
                .unwrap()
        }
        ("POST", "/messages") => {
            counts.posts.fetch_add(1, Ordering::SeqCst);
            let session = request
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("session_id="))
                .unwrap_or_default()
                .to_owned();
            let events = sessions.lock().unwrap().get(&session).cloned();
            let Some(events) = events else {
                return plain(StatusCode::NOT_FOUND);
            };
            let body = request.into_body().collect().await.unwrap().to_bytes();
            let Ok(message) = serde_json::from_slice::<Value>(&body) else {
                return plain(StatusCode::BAD_REQUEST);
            };
            if message.get("method") == Some(&json!("tools/list")) {
                counts.lists.fetch_add(1, Ordering::SeqCst);
            }
            if message.pointer("/params/name") == Some(&json!("change")) {
                let note = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"});
                let _ = events
                    .send(format!("event: message\ndata: {note}\n\n"))
                    .await;
            }
            if let Some(reply) = reply_to(&message) {
                let _ = events
                    .send(format!("event: message\ndata: {reply}\n\n"))
                    .await;
            }
            plain(StatusCode::ACCEPTED)
        }
        _ => plain(StatusCode::NOT_FOUND),
    }
}

pub async fn start() -> SseServer {
    let counts = Arc::new(Counts::default());
    let sessions: Sessions = Arc::default();
    let shared = counts.clone();
    let (addr, task) =
        crate::serve::answer(move |request| serve(request, sessions.clone(), shared.clone())).await;
    SseServer {
        url: format!("http://{addr}/sse"),
        counts,
        _task: tokio_util::task::AbortOnDropHandle::new(task),
    }
}

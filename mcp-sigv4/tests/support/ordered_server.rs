//! A streamable HTTP MCP server (2025-06-18, no authentication) on 127.0.0.1
//! that behaves like the reference "everything" server's sampling tool: a
//! `tools/call` sends `sampling/createMessage` on the session's GET stream, not
//! on the call's own response, and waits for the client's answer. Where the
//! reference server drops the request when no GET stream is open yet (and the
//! call hangs), this one answers the call with an error at once, so that a
//! test sees the lost order instead of waiting for a timeout.
//!
//! Per session it records what arrived in order: `open` when it answered a GET
//! (its 200 and SSE headers go out as the handler returns), `call` when a
//! `tools/call` arrived. [`start_gated`] makes each GET wait, once it has
//! arrived, until the test lets it be answered.
//!
//! A call of `resume_after_retry` is answered instead with a stream that
//! carries only a priming event (`id: e1`, `retry:` [`RETRY_MS`]) and ends; the
//! reply comes on the GET that resumes it with `Last-Event-ID: e1`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

/// How long a call waits for the client's answer to its sampling request.
const ANSWER_WITHIN: Duration = Duration::from_secs(20);

#[derive(Default)]
struct Session {
    stream: Option<mpsc::Sender<Value>>,
    waiting: HashMap<String, oneshot::Sender<Value>>,
    arrivals: Vec<&'static str>,
    // The reply a resumption with `Last-Event-ID: e1` gets.
    held_back: Option<Value>,
}

/// The `retry:` of `resume_after_retry`'s priming event, in milliseconds.
pub const RETRY_MS: u64 = 300;

/// A GET that has arrived: send on it to let it be answered.
pub type HeldGet = oneshot::Sender<()>;

#[derive(Default)]
struct State {
    sessions: Mutex<HashMap<String, Session>>,
    next: AtomicUsize,
    gate: Option<mpsc::Sender<HeldGet>>,
}

/// The running server.
pub struct OrderedServer {
    addr: std::net::SocketAddr,
    state: Arc<State>,
    // The accept loop, ended when this is dropped.
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl OrderedServer {
    /// Its MCP endpoint.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// What arrived in each session, in order (`open`, `call`), by session.
    pub fn arrivals(&self) -> Vec<(String, Vec<&'static str>)> {
        let sessions = self.state.sessions.lock().unwrap();
        let mut all: Vec<_> = sessions
            .iter()
            .map(|(id, session)| (id.clone(), session.arrivals.clone()))
            .collect();
        all.sort();
        all
    }
}

type Answer = Response<BoxBody<Bytes, Infallible>>;

fn json_response(message: &Value, session: Option<&str>) -> Answer {
    let mut response = Response::builder().header("content-type", "application/json");
    if let Some(session) = session {
        response = response.header("mcp-session-id", session);
    }
    response
        .body(Full::new(Bytes::from(message.to_string())).boxed())
        .unwrap()
}

/// An SSE response of `events`, ended after them.
fn sse(events: String) -> Answer {
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Full::new(Bytes::from(events)).boxed())
        .unwrap()
}

fn plain(status: StatusCode) -> Answer {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()).boxed())
        .unwrap()
}

async fn serve(request: Request<Incoming>, state: Arc<State>) -> Answer {
    let session = request
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match *request.method() {
        Method::GET if request.headers().get("last-event-id").is_some() => {
            let held = session.and_then(|s| {
                state
                    .sessions
                    .lock()
                    .unwrap()
                    .get_mut(&s)
                    .and_then(|entry| entry.held_back.take())
            });
            match held {
                Some(reply) if request.headers()["last-event-id"] == "e1" => {
                    sse(format!("id: e2\ndata: {reply}\n\n"))
                }
                _ => plain(StatusCode::NOT_FOUND),
            }
        }
        Method::GET => {
            if let Some(gate) = &state.gate {
                let (release, released) = oneshot::channel();
                if gate.send(release).await.is_ok() {
                    let _ = tokio::time::timeout(ANSWER_WITHIN, released).await;
                }
            }
            open_stream(&state, session.as_deref())
        }
        Method::POST => {
            let body = request.into_body().collect().await.unwrap().to_bytes();
            let Ok(message) = serde_json::from_slice::<Value>(&body) else {
                return plain(StatusCode::BAD_REQUEST);
            };
            post(&state, session.as_deref(), message).await
        }
        // The session is kept, for its record of arrivals.
        Method::DELETE => plain(StatusCode::OK),
        _ => plain(StatusCode::METHOD_NOT_ALLOWED),
    }
}

fn open_stream(state: &State, session: Option<&str>) -> Answer {
    let mut sessions = state.sessions.lock().unwrap();
    let Some(entry) = session.and_then(|s| sessions.get_mut(s)) else {
        return plain(StatusCode::NOT_FOUND);
    };
    if entry.stream.as_ref().is_some_and(|s| !s.is_closed()) {
        return plain(StatusCode::CONFLICT);
    }
    let (sender, mut queue) = mpsc::channel::<Value>(16);
    entry.stream = Some(sender);
    entry.arrivals.push("open");
    let events = futures_util::stream::poll_fn(move |cx| {
        queue.poll_recv(cx).map(|message| {
            message.map(|m| Ok::<_, Infallible>(Frame::data(Bytes::from(format!("data: {m}\n\n")))))
        })
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(StreamBody::new(events).boxed())
        .unwrap()
}

async fn post(state: &State, session: Option<&str>, message: Value) -> Answer {
    let id = message.get("id").cloned();
    let method = message.get("method").and_then(Value::as_str);
    match (method, id) {
        (Some("initialize"), Some(id)) => {
            let session = format!("session-{}", state.next.fetch_add(1, Ordering::SeqCst));
            state
                .sessions
                .lock()
                .unwrap()
                .insert(session.clone(), Session::default());
            let reply = json!({"jsonrpc": "2.0", "id": id, "result": {
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "ordered", "version": "1"}}});
            json_response(&reply, Some(&session))
        }
        (Some("tools/call"), Some(id))
            if message.pointer("/params/name") == Some(&json!("resume_after_retry")) =>
        {
            let mut sessions = state.sessions.lock().unwrap();
            let Some(entry) = session.and_then(|s| sessions.get_mut(s)) else {
                return plain(StatusCode::NOT_FOUND);
            };
            entry.held_back = Some(json!({"jsonrpc": "2.0", "id": id, "result": {
                "content": [{"type": "text", "text": "resumed"}], "isError": false}}));
            sse(format!("id: e1\nretry: {RETRY_MS}\ndata: \n\n"))
        }
        (Some("tools/call"), Some(id)) => call(state, session, id).await,
        (Some(method), Some(id)) => json_response(
            &json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": format!("no method {method}")}}),
            None,
        ),
        // A notification.
        (Some(_), None) => plain(StatusCode::ACCEPTED),
        // The client's answer to a sampling request.
        (None, Some(id)) => {
            let key = id.to_string();
            let waiter = session.and_then(|s| {
                state
                    .sessions
                    .lock()
                    .unwrap()
                    .get_mut(s)
                    .and_then(|entry| entry.waiting.remove(&key))
            });
            match waiter {
                Some(waiter) => {
                    let _ = waiter.send(message);
                    plain(StatusCode::ACCEPTED)
                }
                None => plain(StatusCode::BAD_REQUEST),
            }
        }
        (None, None) => plain(StatusCode::BAD_REQUEST),
    }
}

/// A `tools/call`: sample on the GET stream, answer with what the client said.
async fn call(state: &State, session: Option<&str>, id: Value) -> Answer {
    let asked = {
        let mut sessions = state.sessions.lock().unwrap();
        let Some(entry) = session.and_then(|s| sessions.get_mut(s)) else {
            return plain(StatusCode::NOT_FOUND);
        };
        entry.arrivals.push("call");
        match entry.stream.clone().filter(|s| !s.is_closed()) {
            None => None,
            Some(stream) => {
                let sample = format!("sample-{}", state.next.fetch_add(1, Ordering::SeqCst));
                let (waiter, answer) = oneshot::channel();
                entry.waiting.insert(json!(sample).to_string(), waiter);
                Some((stream, sample, answer))
            }
        }
    };
    let Some((stream, sample, answer)) = asked else {
        return json_response(
            &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000,
                "message": "no GET stream is open: the sampling request would be lost"}}),
            None,
        );
    };
    let request = json!({"jsonrpc": "2.0", "id": sample, "method": "sampling/createMessage",
        "params": {"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
            "maxTokens": 10}});
    if stream.send(request).await.is_err() {
        return json_response(
            &json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000,
                "message": "the GET stream closed"}}),
            None,
        );
    }
    let text = match tokio::time::timeout(ANSWER_WITHIN, answer).await {
        Ok(Ok(answer)) => answer
            .pointer("/result/content/text")
            .and_then(Value::as_str)
            .unwrap_or("no text")
            .to_owned(),
        _ => "no answer".to_owned(),
    };
    json_response(
        &json!({"jsonrpc": "2.0", "id": id, "result": {
            "content": [{"type": "text", "text": format!("sampled: {text}")}], "isError": false}}),
        None,
    )
}

/// Start it on a free port.
pub async fn start() -> OrderedServer {
    serve_state(State::default()).await
}

/// Start it on a free port, each GET held until the test sends on the
/// [`HeldGet`] it receives here once the GET has arrived.
pub async fn start_gated() -> (OrderedServer, mpsc::Receiver<HeldGet>) {
    let (gate, held) = mpsc::channel(1);
    let state = State {
        gate: Some(gate),
        ..State::default()
    };
    (serve_state(state).await, held)
}

async fn serve_state(state: State) -> OrderedServer {
    let state = Arc::new(state);
    let shared = state.clone();
    let (addr, task) = crate::serve::answer(move |request| serve(request, shared.clone())).await;
    OrderedServer {
        addr,
        state,
        _task: tokio_util::task::AbortOnDropHandle::new(task),
    }
}

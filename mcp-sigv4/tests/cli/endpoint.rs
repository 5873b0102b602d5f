//! A scripted MCP endpoint on 127.0.0.1 behind `VerifySigV4Layer`, built to behave
//! the way real servers do: JSON or SSE replies, sessions it can forget (a
//! restart), a GET stream it may refuse (405), reply streams that break after
//! their headers, and a tool that answers only once N calls are in flight.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tower::{Layer, Service};
use tower_sigv4::verify::{VerifySigV4Layer, VerifyingKey};

use crate::server::{ACCESS_KEY, REGION, SECRET_KEY, SERVICE, SESSION_TOKEN};

type Body = BoxBody<Bytes, std::io::Error>;
type FrameResult = Result<Frame<Bytes>, std::io::Error>;

/// The `retry:` the `flaky_retry` tool's stream carries, in milliseconds.
pub const RETRY_MS: u64 = 300;

/// How the endpoint answers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Behaviour {
    /// Answer POSTs with SSE streams instead of JSON.
    pub sse: bool,
    /// Answer GET with 405 (no server-initiated stream).
    pub no_get_stream: bool,
    /// `tools/call` of `wait_for_peers` answers once this many are in flight.
    pub peers: usize,
}

/// What the endpoint saw.
#[derive(Default)]
pub struct Seen {
    pub initializes: AtomicUsize,
    pub gets: AtomicUsize,
    pub get_405s: AtomicUsize,
    pub resumptions: AtomicUsize,
    pub deletes: AtomicUsize,
    pub not_found: AtomicUsize,
    /// Responses the client sent to the server's requests.
    pub client_responses: AtomicUsize,
    pub calls_in_flight: AtomicUsize,
    pub most_calls_in_flight: AtomicUsize,
    /// `mcp-protocol-version` of every request after initialize (None when absent).
    pub protocol_versions: Mutex<Vec<Option<String>>>,
    /// `x-amzn-bedrock-agentcore-runtime-session-id` values seen.
    pub runtime_sessions: Mutex<HashSet<String>>,
    /// Each `traceparent` header, and whether the signature covered it.
    pub traceparents: Mutex<Vec<(String, bool)>>,
}

struct State {
    behaviour: Behaviour,
    sessions: Mutex<HashSet<String>>,
    next_session: AtomicUsize,
    seen: Arc<Seen>,
    peers_arrived: Notify,
    // GET streams open now, to push server-initiated messages.
    streams: Mutex<Vec<mpsc::Sender<FrameResult>>>,
    // The reply held back by a broken stream, served on resumption.
    held_back: Mutex<Option<(String, Value)>>,
}

/// A running endpoint.
pub struct Endpoint {
    pub addr: SocketAddr,
    scheme: &'static str,
    pub seen: Arc<Seen>,
    state: Arc<State>,
    // The accept loop, ended when this is dropped.
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl Endpoint {
    /// The AgentCore-shaped invocation URL.
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}?qualifier=DEFAULT",
            self.scheme,
            self.addr,
            crate::server::invocation_path()
        )
    }

    /// Forget every session, as a restarted server does.
    pub fn restart(&self) {
        self.state.sessions.lock().unwrap().clear();
    }

    /// End every open GET stream, as a server or a proxy that drops idle streams does.
    pub fn close_streams(&self) {
        self.state.streams.lock().unwrap().clear();
    }

    /// Send a message on every open GET stream; how many streams got it.
    pub async fn push(&self, message: Value) -> usize {
        let event = Bytes::from(format!("data: {message}\n\n"));
        let streams: Vec<_> = self.state.streams.lock().unwrap().clone();
        let mut sent = 0;
        for stream in streams {
            if stream.send(Ok(Frame::data(event.clone()))).await.is_ok() {
                sent += 1;
            }
        }
        sent
    }
}

pub async fn start(behaviour: Behaviour) -> Endpoint {
    start_on(behaviour, None).await
}

/// [`start`], over TLS with `tls`: `https://127.0.0.1:PORT/...`.
pub async fn start_tls(
    behaviour: Behaviour,
    tls: Arc<tokio_rustls::rustls::ServerConfig>,
) -> Endpoint {
    start_on(behaviour, Some(tokio_rustls::TlsAcceptor::from(tls))).await
}

async fn start_on(behaviour: Behaviour, tls: Option<tokio_rustls::TlsAcceptor>) -> Endpoint {
    let seen = Arc::new(Seen::default());
    let state = Arc::new(State {
        behaviour,
        sessions: Mutex::default(),
        next_session: AtomicUsize::new(1),
        seen: seen.clone(),
        peers_arrived: Notify::new(),
        streams: Mutex::default(),
        held_back: Mutex::default(),
    });
    let verify = VerifySigV4Layer::with_keys(
        REGION,
        SERVICE,
        [(
            ACCESS_KEY,
            VerifyingKey::new(SECRET_KEY).with_session_token(SESSION_TOKEN),
        )],
    );
    let handler = {
        let state = state.clone();
        tower::service_fn(move |request: Request<Full<Bytes>>| {
            let state = state.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                Ok::<_, Infallible>(handle(state, Request::from_parts(parts, body)).await)
            }
        })
    };
    let service = verify.layer(handler);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls_used = tls.is_some();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let service = service.clone();
            let tls = tls.clone();
            let hyper_service =
                TowerToHyperService::new(tower::service_fn(move |request: Request<Incoming>| {
                    let mut service = service.clone();
                    async move {
                        let response = service.call(request).await?;
                        Ok::<_, Infallible>(
                            response.map(|b| b.map_err(std::io::Error::other).boxed()),
                        )
                    }
                }));
            tokio::spawn(async move {
                let builder = auto::Builder::new(TokioExecutor::new());
                match tls {
                    Some(tls) => {
                        if let Ok(stream) = tls.accept(stream).await {
                            let _ = builder
                                .serve_connection(TokioIo::new(stream), hyper_service)
                                .await;
                        }
                    }
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), hyper_service)
                            .await;
                    }
                }
            });
        }
    });
    Endpoint {
        addr,
        scheme: if tls_used { "https" } else { "http" },
        seen,
        state,
        _task: tokio_util::task::AbortOnDropHandle::new(task),
    }
}

fn header(request: &Request<Bytes>, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn handle(state: Arc<State>, request: Request<Bytes>) -> Response<Body> {
    let seen = &state.seen;
    if let Some(id) = header(&request, "x-amzn-bedrock-agentcore-runtime-session-id") {
        seen.runtime_sessions.lock().unwrap().insert(id);
    }
    if let Some(traceparent) = header(&request, "traceparent") {
        let signed = header(&request, "authorization").is_some_and(|a| {
            a.split("SignedHeaders=")
                .nth(1)
                .and_then(|rest| rest.split(',').next())
                .is_some_and(|names| names.split(';').any(|n| n == "traceparent"))
        });
        seen.traceparents
            .lock()
            .unwrap()
            .push((traceparent, signed));
    }
    let session = header(&request, "mcp-session-id");
    let known = session
        .as_ref()
        .is_some_and(|s| state.sessions.lock().unwrap().contains(s));
    match *request.method() {
        Method::DELETE => {
            seen.deletes.fetch_add(1, Ordering::SeqCst);
            return empty(StatusCode::OK);
        }
        Method::GET => {
            seen.gets.fetch_add(1, Ordering::SeqCst);
            if state.behaviour.no_get_stream {
                seen.get_405s.fetch_add(1, Ordering::SeqCst);
                return empty(StatusCode::METHOD_NOT_ALLOWED);
            }
            if let Some(last) = header(&request, "last-event-id") {
                // Resumption of a broken reply stream: replay what followed `last`.
                let held = state.held_back.lock().unwrap().take();
                if let Some((after, reply)) = held.filter(|(after, _)| *after == last) {
                    seen.resumptions.fetch_add(1, Ordering::SeqCst);
                    let _ = after;
                    return sse(vec![("e2".into(), reply)], None);
                }
            }
            if session.is_some() && !known {
                seen.not_found.fetch_add(1, Ordering::SeqCst);
                return empty(StatusCode::NOT_FOUND);
            }
            let (sender, receiver) = mpsc::channel(16);
            state.streams.lock().unwrap().push(sender);
            let body = StreamBody::new(tokio_stream_from(receiver));
            return Response::builder()
                .header("content-type", "text/event-stream")
                .body(BodyExt::boxed(body))
                .unwrap();
        }
        _ => {}
    }
    let message: Value = match serde_json::from_slice(request.body()) {
        Ok(message) => message,
        Err(_) => return empty(StatusCode::BAD_REQUEST),
    };
    let method = message["method"].as_str().unwrap_or_default().to_owned();
    if method == "initialize" {
        seen.initializes.fetch_add(1, Ordering::SeqCst);
        let session = format!(
            "session-{}",
            state.next_session.fetch_add(1, Ordering::SeqCst)
        );
        state.sessions.lock().unwrap().insert(session.clone());
        // 2025-03-26 when asked for (the revision with batches), else 2025-06-18.
        let version = match message["params"]["protocolVersion"].as_str() {
            Some("2025-03-26") => "2025-03-26",
            _ => "2025-06-18",
        };
        let reply = json!({"jsonrpc":"2.0","id":message["id"],"result":{
            "protocolVersion":version,
            "capabilities":{"tools":{}},
            "serverInfo":{"name":"scripted","version":"1"}}});
        let mut response = reply_with(&state, reply);
        response
            .headers_mut()
            .insert("mcp-session-id", session.parse().unwrap());
        return response;
    }
    seen.protocol_versions
        .lock()
        .unwrap()
        .push(header(&request, "mcp-protocol-version"));
    if !known {
        seen.not_found.fetch_add(1, Ordering::SeqCst);
        return empty(StatusCode::NOT_FOUND);
    }
    if message.get("method").is_none() {
        seen.client_responses.fetch_add(1, Ordering::SeqCst);
        return empty(StatusCode::ACCEPTED);
    }
    let Some(id) = message.get("id").cloned() else {
        return empty(StatusCode::ACCEPTED);
    };
    let result = match method.as_str() {
        "ping" => json!({}),
        "tools/list" => json!({"tools":[
            {"name":"wait_for_peers","inputSchema":{"type":"object"}},
            {"name":"slow","inputSchema":{"type":"object"}},
            {"name":"flaky","inputSchema":{"type":"object"}},
            {"name":"read_docs","inputSchema":{"type":"object"},"annotations":{"readOnlyHint":true}}
        ]}),
        "tools/call" => match message.pointer("/params/name").and_then(Value::as_str) {
            Some("wait_for_peers") => {
                let now = seen.calls_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                seen.most_calls_in_flight.fetch_max(now, Ordering::SeqCst);
                if now >= state.behaviour.peers {
                    state.peers_arrived.notify_waiters();
                } else {
                    // Bounded: a test that never reaches N fails instead of hanging.
                    let arrived = state.peers_arrived.notified();
                    let _ = tokio::time::timeout(Duration::from_secs(20), arrived).await;
                }
                seen.calls_in_flight.fetch_sub(1, Ordering::SeqCst);
                text(&format!(
                    "{} calls were in flight together",
                    state.behaviour.peers
                ))
            }
            Some("slow") => {
                let ms = message
                    .pointer("/params/arguments/ms")
                    .and_then(Value::as_u64)
                    .unwrap_or(1000);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                text("slow done")
            }
            Some("flaky") => {
                // Progress with an event id, then the connection breaks; the reply
                // waits for the client to resume with Last-Event-ID.
                let reply =
                    json!({"jsonrpc":"2.0","id":id,"result":text("survived a broken stream")});
                *state.held_back.lock().unwrap() = Some(("e1".into(), reply));
                let progress = json!({"jsonrpc":"2.0","method":"notifications/progress",
                    "params":{"progressToken":"flaky","progress":1}});
                return sse(
                    vec![("e1".into(), progress)],
                    Some(std::io::Error::other("connection reset")),
                );
            }
            Some("flaky_retry") => {
                // As `flaky`, with the server's reconnection time on the event.
                let reply =
                    json!({"jsonrpc":"2.0","id":id,"result":text("survived a broken stream")});
                *state.held_back.lock().unwrap() = Some(("e1".into(), reply));
                let progress = json!({"jsonrpc":"2.0","method":"notifications/progress",
                    "params":{"progressToken":"flaky","progress":1}});
                return sse_frames(vec![
                    Ok(Frame::data(Bytes::from(format!(
                        "id: e1\nretry: {RETRY_MS}\ndata: {progress}\n\n"
                    )))),
                    Err(std::io::Error::other("connection reset")),
                ]);
            }
            Some("flaky_unnumbered") => {
                return sse_unnumbered_then_break();
            }
            other => {
                return reply_with(
                    &state,
                    json!({"jsonrpc":"2.0","id":id,
                "error":{"code":-32602,"message":format!("no tool {other:?}")}}),
                );
            }
        },
        other => {
            return reply_with(
                &state,
                json!({"jsonrpc":"2.0","id":id,
                "error":{"code":-32601,"message":format!("no method {other}")}}),
            );
        }
    };
    reply_with(&state, json!({"jsonrpc":"2.0","id":id,"result":result}))
}

fn text(text: &str) -> Value {
    json!({"content":[{"type":"text","text":text}],"isError":false})
}

fn reply_with(state: &State, message: Value) -> Response<Body> {
    if state.behaviour.sse {
        return sse(vec![(String::new(), message)], None);
    }
    Response::builder()
        .header("content-type", "application/json")
        .body(full(message.to_string()))
        .unwrap()
}

/// An SSE body with these events, then either its end or a broken connection.
fn sse(events: Vec<(String, Value)>, then_fail: Option<std::io::Error>) -> Response<Body> {
    let mut frames: Vec<FrameResult> = events
        .into_iter()
        .map(|(id, message)| {
            let id = if id.is_empty() {
                String::new()
            } else {
                format!("id: {id}\n")
            };
            Ok(Frame::data(Bytes::from(format!("{id}data: {message}\n\n"))))
        })
        .collect();
    if let Some(error) = then_fail {
        frames.push(Err(error));
    }
    sse_frames(frames)
}

/// Headers and a comment go out, then the connection breaks.
fn sse_unnumbered_then_break() -> Response<Body> {
    sse_frames(vec![
        Ok(Frame::data(Bytes::from_static(b": open\n\n"))),
        Err(std::io::Error::other("connection reset")),
    ])
}

/// An SSE response whose frames are written one by one with a pause between
/// them, so that what precedes a failure reaches the client before the break.
fn sse_frames(frames: Vec<FrameResult>) -> Response<Body> {
    let paced = futures_util::stream::unfold(frames.into_iter(), |mut frames| async move {
        let frame = frames.next()?;
        if frame.is_err() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some((frame, frames))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(BodyExt::boxed(StreamBody::new(paced)))
        .unwrap()
}

fn tokio_stream_from(
    mut receiver: mpsc::Receiver<FrameResult>,
) -> impl futures_util::Stream<Item = FrameResult> {
    futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

fn full(text: String) -> Body {
    Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed()
}

fn empty(status: StatusCode) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(full(String::new()))
        .unwrap()
}

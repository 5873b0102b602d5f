//! A 2026-07-28 MCP server on 127.0.0.1 that checks the `Mcp-Param-*` header
//! of its one annotated tool, for the tests of the client's answer to -32020
//! (`HeaderMismatch`) through the proxy and the gateway. It speaks plain JSON
//! (no SigV4 check, no rmcp) and counts what it was asked.
//!
//! Its tool `lookup` mirrors its `region` argument as a header:
//! - [`Mode::Renamed`]: the first `tools/list` annotates `region` with
//!   `x-mcp-header: Region`; from then on the server wants `Mcp-Param-Zone`,
//!   and every later list says so. A call with the old header gets 400 /
//!   -32020.
//! - [`Mode::AlwaysRefuses`]: every `tools/call` gets 400 / -32020.
//! - [`Mode::RenamedAndRefuses`]: lists as `Renamed` does, refuses as
//!   `AlwaysRefuses` does.
//!
//! The first `hold` calls are answered only once `hold` of them have arrived,
//! so that they are all refused before any of them can list the tools again.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::{Value, json};
use tokio::sync::watch;

/// How the server's tool annotation behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `Region` in the first list, `Zone` ever after.
    Renamed,
    /// Every call refused with -32020; every list says `Region`.
    AlwaysRefuses,
    /// `Region` in the first list, `Zone` ever after, and every call refused
    /// with -32020 all the same.
    RenamedAndRefuses,
}

/// The longest a held call waits for the others.
const HOLD_FOR: Duration = Duration::from_secs(20);

struct State {
    mode: Mode,
    lists: AtomicUsize,
    calls: Mutex<Vec<HeaderMap>>,
    hold: usize,
    arrived: AtomicUsize,
    all_here: watch::Sender<bool>,
}

/// The running server; it stops when dropped.
pub struct HeaderStandIn {
    pub addr: SocketAddr,
    state: Arc<State>,
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl HeaderStandIn {
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// How many `tools/list` requests arrived.
    pub fn lists(&self) -> usize {
        self.state.lists.load(Ordering::SeqCst)
    }

    /// How many `tools/call` requests arrived.
    pub fn calls(&self) -> usize {
        self.state.calls.lock().unwrap().len()
    }

    /// The `Mcp-Param-*` headers of each `tools/call`, in arrival order, as
    /// `name=value` (lower-case names).
    pub fn call_params(&self) -> Vec<Vec<String>> {
        self.state
            .calls
            .lock()
            .unwrap()
            .iter()
            .map(|headers| {
                headers
                    .iter()
                    .filter(|(name, _)| name.as_str().starts_with("mcp-param-"))
                    .map(|(name, value)| format!("{name}={}", value.to_str().unwrap_or("?")))
                    .collect()
            })
            .collect()
    }
}

/// Start a server in `mode` whose first `hold` calls wait for one another.
pub async fn start(mode: Mode, hold: usize) -> HeaderStandIn {
    let state = Arc::new(State {
        mode,
        lists: AtomicUsize::new(0),
        calls: Mutex::default(),
        hold,
        arrived: AtomicUsize::new(0),
        all_here: watch::channel(hold == 0).0,
    });
    let serving = state.clone();
    let (addr, task) = crate::serve::answer(move |request| answer(serving.clone(), request)).await;
    HeaderStandIn {
        addr,
        state,
        _task: tokio_util::task::AbortOnDropHandle::new(task),
    }
}

async fn answer(state: Arc<State>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let result = |result: Value| json!({"jsonrpc": "2.0", "id": id, "result": result});
    match message.get("method").and_then(Value::as_str) {
        _ if message.get("id").is_none() => empty(StatusCode::ACCEPTED),
        Some("server/discover") => json_reply(
            StatusCode::OK,
            result(json!({
                "resultType": "complete",
                "supportedVersions": ["2026-07-28"],
                "capabilities": {"tools": {}},
                "ttlMs": 0,
                "cacheScope": "private",
                "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "header-stand-in", "version": "1"}},
            })),
        ),
        Some("initialize") => json_reply(
            StatusCode::BAD_REQUEST,
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32022,
                "message": "Unsupported protocol version", "data": {"supported": ["2026-07-28"]}}}),
        ),
        Some("tools/list") => {
            let nth = state.lists.fetch_add(1, Ordering::SeqCst);
            let header = if nth == 0 || state.mode == Mode::AlwaysRefuses {
                "Region"
            } else {
                "Zone"
            };
            json_reply(StatusCode::OK, result(tools(header)))
        }
        Some("tools/call") => {
            let nth = {
                let mut calls = state.calls.lock().unwrap();
                calls.push(parts.headers.clone());
                calls.len() - 1
            };
            if nth < state.hold {
                if state.arrived.fetch_add(1, Ordering::SeqCst) + 1 == state.hold {
                    state.all_here.send_replace(true);
                }
                let mut all_here = state.all_here.subscribe();
                let _ = tokio::time::timeout(HOLD_FOR, all_here.wait_for(|here| *here)).await;
            }
            let region = message
                .pointer("/params/arguments/region")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let wanted = (state.mode == Mode::Renamed)
                .then(|| parts.headers.get("mcp-param-zone"))
                .flatten();
            if wanted.is_some_and(|sent| sent == region) {
                let key = message
                    .pointer("/params/arguments/key")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                json_reply(
                    StatusCode::OK,
                    result(json!({"resultType": "complete",
                        "content": [{"type": "text", "text": format!("{key}@{region}")}]})),
                )
            } else {
                json_reply(
                    StatusCode::BAD_REQUEST,
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32020,
                        "message": "Header mismatch: the Mcp-Param-Zone header does not match the argument `region`"}}),
                )
            }
        }
        Some(method) => json_reply(
            StatusCode::NOT_FOUND,
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601,
                "message": format!("Method not found: {method}")}}),
        ),
        None => empty(StatusCode::BAD_REQUEST),
    }
}

/// The tool list, with `region` annotated as `header`.
fn tools(header: &str) -> Value {
    json!({
        "resultType": "complete",
        // Fresh for a minute: a gateway keeps it.
        "ttlMs": 60_000,
        "cacheScope": "private",
        "tools": [{
            "name": "lookup",
            "description": "Look a key up in a region (the region travels as a header)",
            "inputSchema": {"type": "object", "properties": {
                "region": {"type": "string", "x-mcp-header": header},
                "key": {"type": "string"},
            }, "required": ["region", "key"]},
        }],
    })
}

fn json_reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

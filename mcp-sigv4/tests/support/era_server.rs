//! MCP servers of each protocol era on 127.0.0.1, for the tests that drive hosts
//! of either era through the proxy and the gateway. Each is an rmcp 3.11 server
//! behind `VerifySigV4Layer` (the demo stand-in's credentials), at
//! `http://127.0.0.1:PORT/mcp`, and records what every request carried.
//!
//! - [`Kind::Dual`]: rmcp as shipped, legacy sessions and stateless 2026-07-28
//!   requests both.
//! - [`Kind::LegacyOnly`]: refuses `server/discover` and any request that carries
//!   the 2026-07-28 envelope or header, as a 2025 server does.
//! - [`Kind::ModernOnly`]: `legacy_session_mode(false)`, and `initialize`
//!   refused with HTTP 400 / `-32022`.
//!
//! Each also answers MCP tasks itself, before rmcp (see [`Tasks`]): a
//! `tools/call` of `start_task` creates one, in the shape of the caller's era.

#![allow(dead_code)]
// Sampling is deprecated by SEP-2577, but legacy servers in the field still send
// it, and it is the server-to-client request the relay must carry across eras.
#![allow(deprecated)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::InputResponses;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResponse, CallToolResult, ContentBlock, CreateMessageRequestParams,
    InputRequiredResult, ProgressNotificationParam, RequestMetaObject, Role, SamplingMessage,
    ServerCapabilities, ServerConfig,
};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde_json::{Value, json};
use tower::{BoxError, Layer, Service};
use tower_sigv4::verify::{VerifySigV4, VerifySigV4Layer, VerifyingKey};

use crate::server::{ACCESS_KEY, REGION, SECRET_KEY, SERVICE, SESSION_TOKEN};

/// The session id a modern-only server sets, to pin later requests.
pub const PIN: &str = "pinned-instance-1";

/// Which protocol eras a server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dual,
    LegacyOnly,
    ModernOnly,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct EchoRequest {
    pub text: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct LookupRequest {
    /// Mirrored as the `Mcp-Param-Region` header by 2026-07-28 clients.
    #[schemars(extend("x-mcp-header" = "Region"))]
    pub region: String,
    pub key: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct CountRequest {
    pub steps: u32,
}

#[derive(Debug, Clone)]
pub struct EraServer {
    #[allow(dead_code)] // read by the `tool_handler` macro
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl EraServer {
    #[tool(description = "Send the text back")]
    fn echo(&self, Parameters(EchoRequest { text }): Parameters<EchoRequest>) -> String {
        text
    }

    #[tool(name = "wetter-ä", description = "A tool whose name is not ASCII")]
    fn wetter(&self) -> String {
        "sonnig".to_owned()
    }

    #[tool(description = "Look a key up in a region (the region travels as a header)")]
    fn lookup(
        &self,
        Parameters(LookupRequest { region, key }): Parameters<LookupRequest>,
    ) -> String {
        format!("{key}@{region}")
    }

    #[tool(description = "Send progress notifications, then finish")]
    async fn count(
        &self,
        Parameters(CountRequest { steps }): Parameters<CountRequest>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
    ) -> Result<String, ErrorData> {
        for step in 1..=steps.min(20) {
            if let Some(token) = meta.get_progress_token() {
                peer.notify_progress(
                    ProgressNotificationParam::new(token, f64::from(step))
                        .with_total(f64::from(steps)),
                )
                .await
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            }
        }
        Ok(format!("counted to {steps}"))
    }

    #[tool(description = "Ask the client's model a question (a legacy sampling request)")]
    async fn ask_model(&self, peer: Peer<RoleServer>) -> Result<String, ErrorData> {
        let params = CreateMessageRequestParams::new(
            vec![SamplingMessage::new(Role::User, "What is the answer?")],
            16,
        );
        let reply = peer
            .create_message(params)
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let reply = serde_json::to_value(&reply).unwrap_or_default();
        Ok(format!(
            "the model said {}",
            reply["content"]["text"].as_str().unwrap_or("?")
        ))
    }

    #[tool(description = "Ask the user to confirm (an elicitation, as a multi-round-trip result)")]
    fn confirm(&self, InputResponses(responses): InputResponses) -> CallToolResponse {
        match responses.and_then(|r| r.get("confirm").cloned()) {
            Some(answer) => CallToolResult::success(vec![ContentBlock::text(format!(
                "the user answered {}",
                answer["content"]["ok"]
            ))])
            .into(),
            None => {
                let requests = serde_json::from_value(json!({"confirm": {
                    "method": "elicitation/create",
                    "params": {
                        "mode": "form",
                        "message": "Proceed?",
                        // A task of the server's one identity, which may be
                        // any caller's: no client is shown it.
                        "_meta": {"io.modelcontextprotocol/related-task": {"taskId": "task-1"}},
                        "requestedSchema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}
                    }
                }}))
                .expect("a valid elicitation request");
                InputRequiredResult::new(Some(requests), Some("state-1".to_owned())).into()
            }
        }
    }
}

#[tool_handler]
impl ServerHandler for EraServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// What one request carried.
#[derive(Clone, Debug)]
pub struct Seen {
    pub http_method: Method,
    /// The JSON-RPC method, if the body had one.
    pub method: Option<String>,
    pub body: Value,
    pub headers: HeaderMap,
    /// The lower-case names in `SignedHeaders`.
    pub signed: Vec<String>,
    pub status: StatusCode,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn is_signed(&self, name: &str) -> bool {
        self.signed.iter().any(|s| s == name)
    }
}

pub struct EraStandIn {
    pub addr: SocketAddr,
    pub kind: Kind,
    seen: Arc<Mutex<Vec<Seen>>>,
    tasks: Arc<Mutex<Tasks>>,
    listens: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    // The accept loop, ended when this is dropped.
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl EraStandIn {
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// How many `subscriptions/listen` streams were closed by the client.
    pub fn listens_closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    /// How many `subscriptions/listen` requests arrived.
    pub fn listens(&self) -> usize {
        self.listens.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The ids of the tasks created so far, in order (`task-1`, `task-2`, ...).
    pub fn task_ids(&self) -> Vec<String> {
        self.tasks.lock().unwrap().ids()
    }

    /// The requests with this JSON-RPC method.
    pub fn seen_method(&self, method: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method.as_deref() == Some(method))
            .collect()
    }
}

type ResBody = BoxBody<Bytes, BoxError>;

/// rmcp's streamable-HTTP service (no SSE keep-alive) of a `handler` per
/// session, with legacy sessions when `legacy_sessions` (rmcp's
/// `legacy_session_mode`), behind `VerifySigV4Layer` with the demo stand-in's
/// keys.
pub fn verified_service<H>(
    handler: impl Fn() -> H + Send + Sync + 'static,
    legacy_sessions: bool,
) -> VerifySigV4<StreamableHttpService<H, LocalSessionManager>>
where
    H: ServerHandler,
{
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(legacy_sessions)
        .with_sse_keep_alive(None);
    let mcp = StreamableHttpService::new(move || Ok(handler()), Default::default(), config);
    VerifySigV4Layer::with_keys(
        REGION,
        SERVICE,
        [(
            ACCESS_KEY,
            VerifyingKey::new(SECRET_KEY).with_session_token(SESSION_TOKEN),
        )],
    )
    .layer(mcp)
}

pub async fn start(kind: Kind) -> EraStandIn {
    let verified = verified_service(
        || EraServer {
            tool_router: EraServer::tool_router(),
        },
        kind != Kind::ModernOnly,
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tasks = Arc::new(Mutex::new(Tasks::default()));
    let listens = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let front = {
        let seen = seen.clone();
        let tasks = tasks.clone();
        let listens = (listens.clone(), closed.clone());
        tower::service_fn(move |request: Request<Incoming>| {
            let verified = verified.clone();
            let seen = seen.clone();
            let tasks = tasks.clone();
            let listens = listens.clone();
            async move {
                Ok::<_, Infallible>(front(kind, verified, seen, tasks, listens, request).await)
            }
        })
    };
    let (addr, task) = crate::serve::bind(front).await;
    EraStandIn {
        addr,
        kind,
        seen,
        tasks,
        listens,
        closed,
        _task: tokio_util::task::AbortOnDropHandle::new(task),
    }
}

/// Refuse what this kind of server does not speak, verify and serve the rest,
/// and record the request (before the response head leaves).
async fn front<S, B>(
    kind: Kind,
    mut verified: S,
    seen: Arc<Mutex<Vec<Seen>>>,
    tasks: Arc<Mutex<Tasks>>,
    (listens, closed): (Arc<AtomicUsize>, Arc<AtomicUsize>),
    request: Request<Incoming>,
) -> Response<ResBody>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let method = message
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let modern_signal = message
        .pointer("/params/_meta/io.modelcontextprotocol~1protocolVersion")
        .is_some()
        || parts
            .headers
            .get("mcp-protocol-version")
            .is_some_and(|v| v == "2026-07-28");
    let refusal = match (kind, method.as_deref()) {
        (Kind::LegacyOnly, Some("server/discover")) => Some((
            StatusCode::BAD_REQUEST,
            json!({"code": -32601, "message": "Method not found: server/discover"}),
        )),
        (Kind::LegacyOnly, Some(_)) if modern_signal => Some((
            StatusCode::BAD_REQUEST,
            json!({"code": -32600, "message": "Bad Request: Missing session ID"}),
        )),
        (Kind::ModernOnly, Some("initialize")) => Some((
            StatusCode::BAD_REQUEST,
            json!({"code": -32022, "message": "Unsupported protocol version",
                   "data": {"supported": ["2026-07-28"]}}),
        )),
        _ => None,
    };
    let listen = method.as_deref() == Some("subscriptions/listen") && kind != Kind::LegacyOnly;
    let raw = method.as_deref() == Some("tools/call") && message["params"]["name"] == RAW_TOOL;
    let tasked = match refusal {
        None if !raw => tasks.lock().unwrap().answer(&message, modern_signal),
        _ => None,
    };
    let mut response = match (refusal, tasked) {
        (None, Some(tasked)) => tasked,
        (None, None) if raw => raw_reply(&message),
        (None, None) if listen => listen_stream(
            &message,
            listens.fetch_add(1, Ordering::SeqCst),
            Closed(closed.clone()),
            &tasks.lock().unwrap().ids(),
        ),
        (Some((status, error)), _) => json_response(
            status,
            json!({"jsonrpc": "2.0", "id": message.get("id").cloned().unwrap_or(Value::Null), "error": error}),
        ),
        (None, None) => {
            let request = Request::from_parts(parts.clone(), Full::new(body));
            match verified.call(request).await {
                Ok(response) => response.map(|b| b.map_err(Into::into).boxed()),
                Err(e) => json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": format!("{e:?}")}),
                ),
            }
        }
    };
    // A modern-only server pins its instance as AgentCore Runtime does: a
    // session id on every answer, which clients should send back.
    if kind == Kind::ModernOnly && response.status().is_success() {
        response
            .headers_mut()
            .insert("mcp-session-id", http::HeaderValue::from_static(PIN));
    }
    seen.lock().unwrap().push(Seen {
        http_method: parts.method.clone(),
        method,
        body: message,
        signed: signed_headers(&parts.headers),
        headers: parts.headers,
        status: response.status(),
    });
    response
}

/// A tool the front answers itself (it is not listed): its reply carries fields
/// no rmcp type knows, in JSON or, with `"arguments": {"shape": "sse"}`, on an
/// event stream after a notification that carries such fields too.
pub const RAW_TOOL: &str = "raw";

/// The result of a call to [`RAW_TOOL`], fields unknown to rmcp among them;
/// with the `resultType` every 2026-07-28 result carries when `modern`.
pub fn raw_result(modern: bool) -> Value {
    let mut result = json!({
        "content": [{"type": "text", "text": "raw", "x_ext": {"kept": true}}],
        "x_ext": {"nested": [1, {"two": 2}], "empty": {}},
        "_meta": {"io.example/trace": "t-1", "io.example/n": 7},
    });
    if modern {
        result["resultType"] = json!("complete");
    }
    result
}

/// The notification a call to [`RAW_TOOL`] sends before its result on a stream.
pub fn raw_notification() -> Value {
    json!({
        "jsonrpc": "2.0",
        "method": "notifications/message",
        "params": {"level": "info", "data": "raw", "x_ext": {"n": 1},
                   "_meta": {"io.example/trace": "t-2"}},
    })
}

fn raw_reply(request: &Value) -> Response<ResBody> {
    let modern = request
        .pointer("/params/_meta/io.modelcontextprotocol~1protocolVersion")
        .is_some();
    let reply = json!({"jsonrpc": "2.0", "id": request["id"], "result": raw_result(modern)});
    if request["params"]["arguments"]["shape"] != "sse" {
        return json_response(StatusCode::OK, reply);
    }
    let body = format!("data: {}\n\ndata: {reply}\n\n", raw_notification());
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap()
}

/// Counts a listen stream as closed when its body is dropped (the client went).
struct Closed(Arc<AtomicUsize>);

impl Drop for Closed {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A `subscriptions/listen` stream, answered by the front: one
/// `notifications/tools/list_changed` event, then with `"hold": true` nothing
/// more (it stays open), on the first listen a broken stream, and on later ones
/// the subscription's end. With `"tasks": true`, the status of every task it
/// holds, whoever asked (a server that broadcasts), then the end.
fn listen_stream(
    request: &Value,
    nth: usize,
    closed: Closed,
    tasks: &[String],
) -> Response<ResBody> {
    if request["params"]["tasks"] == true {
        return task_listen_stream(request, tasks);
    }
    let hold = request["params"]["hold"] == true;
    let event = json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed", "params": {"nth": nth}});
    let mut frames: Vec<Result<Frame<Bytes>, BoxError>> =
        vec![Ok(Frame::data(Bytes::from(format!("data: {event}\n\n"))))];
    if hold {
    } else if nth == 0 {
        frames.push(Err("the stream broke".into()));
    } else {
        let end =
            json!({"jsonrpc": "2.0", "id": request["id"], "result": {"resultType": "complete"}});
        frames.push(Ok(Frame::data(Bytes::from(format!("data: {end}\n\n")))));
    }
    // The break comes after the event is on the wire, as a dropped connection does.
    let frames = futures_util::stream::unfold(
        (frames.into_iter(), closed),
        move |(mut frames, closed)| async move {
            let Some(frame) = frames.next() else {
                if hold {
                    std::future::pending::<()>().await;
                }
                return None;
            };
            if frame.is_err() {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Some((frame, (frames, closed)))
        },
    );
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .unwrap()
}

/// A `subscriptions/listen` answered with a `notifications/tasks` for each
/// of `tasks`, then the subscription's end.
fn task_listen_stream(request: &Value, tasks: &[String]) -> Response<ResBody> {
    let mut messages: Vec<Value> = tasks
        .iter()
        .map(|id| Tasks::status(id, "working", true))
        .collect();
    messages
        .push(json!({"jsonrpc": "2.0", "id": request["id"], "result": {"resultType": "complete"}}));
    sse_response(&messages)
}

fn signed_headers(headers: &HeaderMap) -> Vec<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("SignedHeaders=").nth(1))
        .map(|rest| {
            rest.split([',', ' '])
                .next()
                .unwrap_or_default()
                .split(';')
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn json_response(status: StatusCode, body: Value) -> Response<ResBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from(body.to_string()))
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap()
}

/// The tasks a stand-in holds, answered before rmcp sees the request: a
/// `tools/call` of `start_task` creates `task-N` (its ids are guessable, as
/// nothing but the gateway's binding keeps them apart) and answers on an SSE
/// stream with a task status notification, then the `CreateTaskResult`;
/// `start_task_loudly` does the same with every task's status and a log
/// line naming each task (a server that tells any stream of any task);
/// `reflect_task` puts its `taskId` argument where a `CreateTaskResult`'s
/// and a related-task `_meta`'s task ids go (a tool whose output the caller
/// chooses);
/// `tasks/get` answers on an SSE stream too, every task's status first;
/// `tasks/get`, `tasks/result`, `tasks/cancel`, `tasks/update` and
/// `tasks/list` answer for them, in the shape of the request's era
/// (2025-11-25, or the 2026-07-28 tasks extension).
#[derive(Debug, Default)]
pub struct Tasks {
    /// Each task's id and status, in order of creation.
    tasks: Vec<(String, &'static str)>,
}

impl Tasks {
    fn ids(&self) -> Vec<String> {
        self.tasks.iter().map(|(id, _)| id.clone()).collect()
    }

    fn task(id: &str, status: &str, modern: bool) -> Value {
        let mut task = json!({"taskId": id, "status": status,
            "createdAt": "2026-01-01T00:00:00Z", "lastUpdatedAt": "2026-01-01T00:00:00Z"});
        if modern {
            task["ttlMs"] = json!(60000);
            task["pollIntervalMs"] = json!(100);
        } else {
            task["ttl"] = json!(60000);
            task["pollInterval"] = json!(100);
        }
        task
    }

    /// A task status notification of `modern`'s era or 2025-11-25's.
    fn status(id: &str, status: &str, modern: bool) -> Value {
        let method = if modern {
            "notifications/tasks"
        } else {
            "notifications/tasks/status"
        };
        json!({"jsonrpc": "2.0", "method": method, "params": Self::task(id, status, modern)})
    }

    /// The answer to a task request, or `None` for anything else.
    fn answer(&mut self, message: &Value, modern: bool) -> Option<Response<ResBody>> {
        let method = message.get("method")?.as_str()?;
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        let reply = |result: Value| json!({"jsonrpc": "2.0", "id": id, "result": result});
        let complete = |mut result: Value| {
            if modern {
                result["resultType"] = json!("complete");
            }
            result
        };
        let tool = message.pointer("/params/name").and_then(Value::as_str);
        if method == "tools/call" && tool == Some("reflect_task") {
            // A tool whose output the caller chooses, put where task ids go.
            let chosen = message.pointer("/params/arguments/taskId").cloned();
            let chosen = chosen.unwrap_or(Value::Null);
            let mut result = json!({"content": [], "task": {"taskId": chosen},
                "_meta": {"io.modelcontextprotocol/related-task": {"taskId": chosen}}});
            if modern {
                result["resultType"] = json!("task");
                result["taskId"] = chosen;
            }
            return Some(json_response(StatusCode::OK, reply(result)));
        }
        let loudly = tool == Some("start_task_loudly");
        if method == "tools/call" && (tool == Some("start_task") || loudly) {
            let task_id = format!("task-{}", self.tasks.len() + 1);
            self.tasks.push((task_id.clone(), "working"));
            let task = Self::task(&task_id, "working", modern);
            let result = if modern {
                let mut result = task;
                result["resultType"] = json!("task");
                result
            } else {
                json!({"task": task})
            };
            let mut messages = vec![Self::status(&task_id, "working", modern)];
            if loudly {
                // Every task's status and a log line of each, whoever asked.
                messages = self
                    .tasks
                    .iter()
                    .flat_map(|(id, status)| {
                        let log = json!({"jsonrpc": "2.0", "method": "notifications/message",
                            "params": {"level": "info", "data": format!("working on {id}"),
                                "_meta": {"io.modelcontextprotocol/related-task": {"taskId": id}}}});
                        [Self::status(id, status, modern), log]
                    })
                    .collect();
            }
            messages.push(reply(result));
            return Some(sse_response(&messages));
        }
        if method == "tasks/list" {
            let all: Vec<Value> = self
                .tasks
                .iter()
                .map(|(id, status)| Self::task(id, status, modern))
                .collect();
            return Some(json_response(StatusCode::OK, reply(json!({"tasks": all}))));
        }
        if !method.starts_with("tasks/") {
            return None;
        }
        let task_id = message.pointer("/params/taskId").and_then(Value::as_str);
        let Some(task) = self
            .tasks
            .iter_mut()
            .find(|(id, _)| Some(id.as_str()) == task_id)
        else {
            let error = json!({"jsonrpc": "2.0", "id": id, "error": {
                "code": -32602, "message": "Failed to retrieve task: Task not found"}});
            return Some(json_response(StatusCode::OK, error));
        };
        let result = match method {
            "tasks/get" => {
                // Every task's status first, whoever asked: a server that
                // broadcasts them on any stream.
                let result = complete(Self::task(&task.0, task.1, modern));
                let mut messages: Vec<Value> = self
                    .tasks
                    .iter()
                    .map(|(id, status)| Self::status(id, status, modern))
                    .collect();
                messages.push(reply(result));
                return Some(sse_response(&messages));
            }
            "tasks/result" => {
                task.1 = "completed";
                json!({"content": [{"type": "text", "text": format!("done {}", task.0)}],
                    "isError": false,
                    "_meta": {"io.modelcontextprotocol/related-task": {"taskId": task.0}}})
            }
            "tasks/cancel" => {
                task.1 = "cancelled";
                if modern {
                    complete(json!({}))
                } else {
                    Self::task(&task.0, "cancelled", false)
                }
            }
            "tasks/update" => complete(json!({})),
            _ => return None,
        };
        Some(json_response(StatusCode::OK, reply(result)))
    }
}

fn sse_response(messages: &[Value]) -> Response<ResBody> {
    let body: String = messages.iter().map(|m| format!("data: {m}\n\n")).collect();
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap()
}

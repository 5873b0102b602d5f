//! The gateway: one HTTP endpoint in front of many MCP servers, each reached
//! through its own signed (or otherwise authenticated) upstream session.
//!
//! - `POST|GET|DELETE /mcp/{server}`: one server, its tools, prompts and resources
//!   under their own names.
//! - `/mcp`: the server named by the `x-litellm-mcp-server` header or `?server=`,
//!   the only server when there is one, and otherwise all of them at once: tools,
//!   prompts and resources listed as `{server}{separator}{name}` and calls routed
//!   by that prefix.
//! - `GET /health`: liveness and readiness.
//!
//! A replica keeps no session table. The gateway's `Mcp-Session-Id` is a
//! [sealed](session::Sealer) [`Session`]: the upstream session
//! ids, their protocol versions, and the client's `initialize` for replay. Any
//! replica that shares the HMAC key continues any session, so replicas run behind
//! a plain load balancer without sticky sessions.
//!
//! Responses are never buffered whole: an upstream's SSE stream passes through
//! event by event.

pub mod http;
mod modern;
mod serve;
pub mod session;

pub use serve::serve;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use rmcp::transport::streamable_http_client::{StreamableHttpClient, StreamableHttpError};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower_sigv4::rmcp::HttpClientError;

use self::http::{Body, SESSION_HEADER};
use self::modern::{Cache, Via};
use self::session::{Sealer, Session};
use crate::relay::era::{self, Era, ToolHeaders};
use crate::relay::jsonrpc::{self, Kind};
use crate::relay::{self, Reply, SigningContext, Upstream, describe};

/// One MCP server behind the gateway.
pub struct Server<C> {
    /// The name clients address it by (`/mcp/{name}`, the tool prefix).
    pub name: String,
    /// Its streamable HTTP endpoint.
    pub url: Arc<str>,
    /// The signed (or authenticated) HTTP client for it.
    pub client: C,
    /// Headers sent on every request to it.
    pub headers: HashMap<HeaderName, HeaderValue>,
    /// What requests to it are signed with, to explain refusals.
    pub signing: SigningContext,
}

impl<C> std::fmt::Debug for Server<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("name", &self.name)
            .field("url", &tower_sigv4::endpoint::redact_query(&self.url))
            .finish_non_exhaustive()
    }
}

/// How the gateway behaves.
pub struct Options {
    /// With a master key, every MCP endpoint requires `Authorization: Bearer KEY`.
    pub master_key: Option<String>,
    /// Between a server's name and a tool's when aggregating (`-`, as LiteLLM).
    pub separator: String,
    /// Largest request body, in bytes; larger ones get 413.
    pub max_body_size: usize,
    /// How long one request may wait for its reply.
    pub request_timeout: Duration,
    /// How often a broken SSE stream is resumed before giving up.
    pub resume_attempts: u32,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field(
                "master_key",
                &self.master_key.as_ref().map(|_| "<redacted>"),
            )
            .field("separator", &self.separator)
            .field("max_body_size", &self.max_body_size)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

/// An HTTP-level refusal (not a JSON-RPC error).
struct Refused(StatusCode, String);

impl Refused {
    fn response(self) -> Response<Body> {
        http::error(self.0, &self.1)
    }
}

/// Which servers a request addresses.
enum Target<C> {
    One(Arc<Server<C>>),
    All(Vec<Arc<Server<C>>>),
}

/// The gateway. Cheap to clone.
pub struct Gateway<C> {
    inner: Arc<Inner<C>>,
}

impl<C> Clone for Gateway<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<C> std::fmt::Debug for Gateway<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("servers", &self.inner.servers)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

struct Inner<C> {
    servers: Vec<Arc<Server<C>>>,
    sealer: Sealer,
    options: Options,
    master_key_digest: Option<[u8; 32]>,
    // One upstream per server for 2026-07-28 clients, shared by all of them on
    // this replica: its era probed once, and for a legacy server the one
    // session opened for them.
    modern: Mutex<HashMap<String, Arc<Upstream<C>>>>,
    // What each server's `tools/list` said about `x-mcp-header` arguments.
    tool_headers: HashMap<String, Arc<ToolHeaders>>,
}

impl<C> Gateway<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// A gateway in front of `servers`, sealing sessions with `sealer`.
    pub fn new(servers: Vec<Server<C>>, sealer: Sealer, options: Options) -> Self {
        let master_key_digest = options.master_key.as_deref().map(digest);
        let tool_headers = servers
            .iter()
            .map(|s| (s.name.clone(), Arc::default()))
            .collect();
        Self {
            inner: Arc::new(Inner {
                tool_headers,
                servers: servers.into_iter().map(Arc::new).collect(),
                sealer,
                options,
                master_key_digest,
                modern: Mutex::default(),
            }),
        }
    }

    /// Answer one HTTP request.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let path = request.uri().path().trim_end_matches('/').to_owned();
        if path == "/health" {
            return self.health();
        }
        if path != "/mcp" && !path.starts_with("/mcp/") {
            return http::error(
                StatusCode::NOT_FOUND,
                "not found; MCP is served at /mcp and /mcp/{server}",
            );
        }
        if let Some(refusal) = self.authorize(request.headers()) {
            return refusal;
        }
        let target = match self.target(&path, request.headers(), request.uri().query()) {
            Ok(target) => target,
            Err(refused) => return refused.response(),
        };
        match *request.method() {
            Method::POST => self.post(target, request).await,
            Method::GET => self.get(target, request.headers()).await,
            Method::DELETE => self.delete(target, request.headers()).await,
            _ => http::error(StatusCode::METHOD_NOT_ALLOWED, "use POST, GET or DELETE"),
        }
    }

    fn health(&self) -> Response<Body> {
        let names: Vec<&str> = self.inner.servers.iter().map(|s| s.name.as_str()).collect();
        http::json(StatusCode::OK, &json!({"status": "ok", "servers": names}))
    }

    /// 401 unless the request carries the master key (compared in constant time).
    fn authorize(&self, headers: &HeaderMap) -> Option<Response<Body>> {
        let expected = self.inner.master_key_digest?;
        let presented = headers
            .get(::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .or_else(|| {
                headers
                    .get("x-litellm-api-key")
                    .and_then(|v| v.to_str().ok())
            });
        let accepted = presented.is_some_and(|key| bool::from(digest(key.trim()).ct_eq(&expected)));
        if accepted {
            return None;
        }
        tracing::info!("refused a request without the master key");
        Some(http::error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong master key: send `Authorization: Bearer <master_key>`",
        ))
    }

    fn target(
        &self,
        path: &str,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Target<C>, Refused> {
        let servers = &self.inner.servers;
        let named = path
            .strip_prefix("/mcp/")
            .map(str::to_owned)
            .or_else(|| {
                headers
                    .get("x-litellm-mcp-server")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .or_else(|| {
                query.and_then(|q| {
                    q.split('&')
                        .find_map(|pair| pair.strip_prefix("server="))
                        .map(|v| {
                            percent_encoding::percent_decode_str(v)
                                .decode_utf8_lossy()
                                .into_owned()
                        })
                })
            });
        let Some(named) = named else {
            return Ok(match servers.as_slice() {
                [only] => Target::One(only.clone()),
                all => Target::All(all.to_vec()),
            });
        };
        let mut chosen = Vec::new();
        for name in named.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match servers.iter().find(|s| s.name == name) {
                Some(server) => chosen.push(server.clone()),
                None => {
                    let known: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
                    return Err(Refused(
                        StatusCode::NOT_FOUND,
                        format!(
                            "no MCP server named `{name}`; known servers: {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(match chosen.len() {
            1 => Target::One(chosen.remove(0)),
            _ => Target::All(chosen),
        })
    }

    fn upstream(&self, server: &Server<C>, session: Option<&Session>) -> Arc<Upstream<C>> {
        let state = session
            .map(|s| s.state_for(&server.name))
            .unwrap_or_default();
        Arc::new(
            Upstream::with_state(
                server.client.clone(),
                server.url.clone(),
                server.headers.clone(),
                state,
            )
            .with_tool_headers(self.tool_headers_of(server)),
        )
    }

    fn tool_headers_of(&self, server: &Server<C>) -> Arc<ToolHeaders> {
        self.inner
            .tool_headers
            .get(&server.name)
            .cloned()
            .unwrap_or_default()
    }

    fn session(&self, headers: &HeaderMap) -> Result<Session, Refused> {
        let token = headers
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Refused(
                    StatusCode::BAD_REQUEST,
                    "missing Mcp-Session-Id: send initialize first".into(),
                )
            })?;
        self.inner.sealer.unseal(token).map_err(|_| {
            Refused(
                StatusCode::NOT_FOUND,
                "unknown or altered Mcp-Session-Id (or sealed with another session key): initialize a new session".into(),
            )
        })
    }

    async fn post<B>(&self, target: Target<C>, request: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let limit = self.inner.options.max_body_size;
        let (parts, body) = request.into_parts();
        let declared = parts
            .headers
            .get(::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let too_large = || {
            http::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("request body over the gateway's limit of {limit} bytes"),
            )
        };
        if declared.is_some_and(|length| length > limit as u64) {
            return too_large();
        }
        let bytes = match Limited::new(body, limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
            Err(_) => {
                return http::error(
                    StatusCode::BAD_REQUEST,
                    "the request body could not be read",
                );
            }
        };
        let message: Value = match serde_json::from_slice(&bytes) {
            Ok(message) => message,
            Err(e) => {
                return http::json(
                    StatusCode::BAD_REQUEST,
                    &jsonrpc::error(
                        &Value::Null,
                        jsonrpc::PARSE_ERROR,
                        &format!("parse error: {e}"),
                        None,
                    ),
                );
            }
        };
        if let Value::Array(batch) = message {
            return self.batch(&target, batch, &parts.headers).await;
        }
        self.message(&target, message, &parts.headers).await
    }

    async fn batch(
        &self,
        target: &Target<C>,
        batch: Vec<Value>,
        headers: &HeaderMap,
    ) -> Response<Body> {
        if batch.is_empty() {
            let error = jsonrpc::error(
                &Value::Null,
                jsonrpc::INVALID_REQUEST,
                "an empty batch is not a valid request",
                None,
            );
            return http::json(StatusCode::BAD_REQUEST, &error);
        }
        let mut replies = Vec::new();
        let mut token = None;
        for message in batch {
            let response = self.message(target, message, headers).await;
            token = response.headers().get(SESSION_HEADER).cloned().or(token);
            if let Some(reply) = collect_reply(response).await {
                replies.push(reply);
            }
        }
        let mut response = if replies.is_empty() {
            http::empty(StatusCode::ACCEPTED)
        } else {
            http::json(StatusCode::OK, &Value::Array(replies))
        };
        if let Some(token) = token {
            response.headers_mut().insert(SESSION_HEADER, token);
        }
        response
    }

    async fn message(
        &self,
        target: &Target<C>,
        message: Value,
        headers: &HeaderMap,
    ) -> Response<Body> {
        let kind = jsonrpc::kind(&message);
        if kind == Kind::Invalid {
            return http::json(StatusCode::BAD_REQUEST, &jsonrpc::invalid(&message));
        }
        if jsonrpc::method(&message) == Some("initialize") {
            return self.initialize(target, message).await;
        }
        let modern_client = Era::of_message(&message) == Some(Era::Modern)
            || (headers.get(SESSION_HEADER).is_none()
                && headers.contains_key(era::PROTOCOL_VERSION)
                && headers
                    .get(era::PROTOCOL_VERSION)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| Era::of_version(v) == Era::Modern));
        if modern_client {
            return self.modern(target, message, headers).await;
        }
        let session = match self.session(headers) {
            Ok(session) => session,
            Err(refused) => return refused.response(),
        };
        let via = Via::Legacy(session);
        match target {
            Target::One(server) => self.forward(server, message, via, false).await,
            Target::All(servers) => self.aggregate(servers, message, via).await,
        }
    }

    async fn initialize(&self, target: &Target<C>, request: Value) -> Response<Body> {
        let id = request["id"].clone();
        let servers = match target {
            Target::One(server) => vec![server.clone()],
            Target::All(servers) => servers.clone(),
        };
        let timeout = self.inner.options.request_timeout;
        let attempts = servers.iter().map(|server| {
            let upstream = self.upstream(server, None);
            let request = request.clone();
            async move {
                let reply = tokio::time::timeout(timeout, upstream.initialize(request)).await;
                (server.clone(), upstream, reply)
            }
        });
        let results = futures_util::future::join_all(attempts).await;
        let mut session = Session {
            initialize: request.clone(),
            ..Session::default()
        };
        let mut replies = Vec::new();
        let mut failures = Vec::new();
        for (server, upstream, reply) in results {
            match reply {
                Ok(Ok(reply)) if reply.get("result").is_some() => {
                    session.record(&server.name, &upstream.state());
                    replies.push((server, reply));
                }
                Ok(Ok(reply)) => failures.push(format!(
                    "server `{}` refused initialize: {}",
                    server.name, reply["error"]
                )),
                Ok(Err(e)) => failures.push(format!(
                    "server `{}`: {}",
                    server.name,
                    describe(&e, &server.signing).0
                )),
                Err(_) => failures.push(format!(
                    "server `{}` did not answer initialize within {} s",
                    server.name,
                    timeout.as_secs_f64()
                )),
            }
        }
        for failure in &failures {
            tracing::warn!("{failure}");
        }
        let reply = match (target, replies.as_slice()) {
            (_, []) => {
                let message = failures.join("; ");
                return http::json(
                    StatusCode::OK,
                    &jsonrpc::error(
                        &id,
                        jsonrpc::UPSTREAM_ERROR,
                        &message,
                        Some(json!({"source": "upstream"})),
                    ),
                );
            }
            (Target::One(_), [(_, reply)]) => reply.clone(),
            _ => self.merged_initialize(&id, &replies),
        };
        let token = self.inner.sealer.seal(&session);
        http::with_session(http::json(StatusCode::OK, &reply), Some(&token))
    }

    /// One `initialize` result for several servers.
    fn merged_initialize(&self, id: &Value, replies: &[(Arc<Server<C>>, Value)]) -> Value {
        let capabilities = merged_capabilities(
            replies
                .iter()
                .filter_map(|(_, reply)| reply.pointer("/result/capabilities")),
        );
        let version = replies[0]
            .1
            .pointer("/result/protocolVersion")
            .cloned()
            .unwrap_or(Value::Null);
        let names: Vec<&str> = replies.iter().map(|(s, _)| s.name.as_str()).collect();
        let separator = &self.inner.options.separator;
        json!({"jsonrpc": "2.0", "id": id, "result": {
            "protocolVersion": version,
            "capabilities": capabilities,
            "serverInfo": {"name": "mcp-sigv4 gateway", "version": env!("CARGO_PKG_VERSION")},
            "instructions": format!(
                "Tools, prompts and resources of the MCP servers {} are named {{server}}{separator}{{name}}.",
                names.join(", ")
            ),
        }})
    }

    /// A new session id when an upstream started a new session on the way.
    fn resealed(&self, session: &Session, server: &str, upstream: &Upstream<C>) -> Option<String> {
        let state = upstream.state();
        if state.generation == 0 {
            return None;
        }
        let mut session = session.clone();
        session.record(server, &state);
        Some(self.inner.sealer.seal(&session))
    }

    /// Send one message to one server and answer with what it answers, streamed.
    async fn forward(
        &self,
        server: &Arc<Server<C>>,
        mut message: Value,
        via: Via,
        tag: bool,
    ) -> Response<Body> {
        let upstream = match &via {
            Via::Legacy(session) => self.upstream(server, Some(session)),
            Via::Modern(envelope) => {
                if jsonrpc::kind(&message) == Kind::Request
                    && era::envelope_version(&message).is_none()
                {
                    envelope.stamp(&mut message);
                }
                match self.modern_upstream(server, envelope).await {
                    Ok(upstream) => upstream,
                    Err(e) => return self.upstream_error(server, message.get("id"), &e),
                }
            }
        };
        let id = message.get("id").cloned();
        let is_request = jsonrpc::kind(&message) == Kind::Request;
        let timeout = self.inner.options.request_timeout;
        let started = tokio::time::Instant::now();
        let sent = tokio::time::timeout(timeout, upstream.send(&message)).await;
        let token = match &via {
            Via::Legacy(session) => self.resealed(session, &server.name, &upstream),
            Via::Modern(_) => None,
        };
        let response = match sent {
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
        };
        http::with_session(response, token.as_deref())
    }

    fn upstream_error(
        &self,
        server: &Server<C>,
        id: Option<&Value>,
        error: &relay::UpstreamError,
    ) -> Response<Body> {
        let (message, mut data) = describe(error, &server.signing);
        data["server"] = json!(server.name);
        let message = format!("server `{}`: {message}", server.name);
        tracing::warn!(server = %server.name, "{message}");
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

    fn timeout_error(
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

    /// Several servers behind one endpoint.
    async fn aggregate(
        &self,
        servers: &[Arc<Server<C>>],
        mut message: Value,
        via: Via,
    ) -> Response<Body> {
        let separator = self.inner.options.separator.clone();
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        match jsonrpc::kind(&message) {
            Kind::Request => {}
            Kind::Response => {
                // A reply to a server's request: its id says which server asked.
                let Some((server, original)) = untag_id(servers, &separator, &id) else {
                    return http::error(
                        StatusCode::BAD_REQUEST,
                        "a response whose id names no server of this gateway",
                    );
                };
                message["id"] = original;
                return self.forward(&server, message, via, true).await;
            }
            _ => {
                for server in servers {
                    let response = self
                        .forward(server, message.clone(), via.clone(), true)
                        .await;
                    drop(response);
                }
                return http::empty(StatusCode::ACCEPTED);
            }
        }
        let method = jsonrpc::method(&message).unwrap_or_default().to_owned();
        match method.as_str() {
            "ping" => http::json(
                StatusCode::OK,
                &json!({"jsonrpc": "2.0", "id": id, "result": {}}),
            ),
            "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
                self.fan_out_list(servers, &method, &id, &via).await
            }
            "tools/call" | "prompts/get" => {
                let name = message
                    .pointer("/params/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let Some((server, inner)) = split_prefixed(servers, &separator, name) else {
                    let error = jsonrpc::error(
                        &id,
                        jsonrpc::INVALID_PARAMS,
                        &format!(
                            "`{name}` names no server of this gateway; names are {{server}}{separator}{{name}} with a server among {}",
                            servers
                                .iter()
                                .map(|s| s.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        None,
                    );
                    return http::json(StatusCode::OK, &error);
                };
                message["params"]["name"] = Value::String(inner);
                self.forward(&server, message, via, true).await
            }
            "resources/read" => {
                for server in servers {
                    let response = self
                        .forward(server, message.clone(), via.clone(), true)
                        .await;
                    let token = response.headers().get(SESSION_HEADER).cloned();
                    if let Some(reply) = collect_reply(response).await
                        && reply.get("result").is_some()
                    {
                        let mut response = http::json(StatusCode::OK, &reply);
                        if let Some(token) = token {
                            response.headers_mut().insert(SESSION_HEADER, token);
                        }
                        return response;
                    }
                }
                http::json(
                    StatusCode::OK,
                    &jsonrpc::error(
                        &id,
                        jsonrpc::INVALID_PARAMS,
                        "no server of this gateway has that resource",
                        None,
                    ),
                )
            }
            other => http::json(
                StatusCode::OK,
                &jsonrpc::error(
                    &id,
                    jsonrpc::METHOD_NOT_FOUND,
                    &format!(
                        "`{other}` is not served when several servers are aggregated; address one server at /mcp/{{server}}"
                    ),
                    None,
                ),
            ),
        }
    }

    /// List from every server, names prefixed with the server's.
    async fn fan_out_list(
        &self,
        servers: &[Arc<Server<C>>],
        method: &str,
        id: &Value,
        via: &Via,
    ) -> Response<Body> {
        let key = match method {
            "tools/list" => "tools",
            "prompts/list" => "prompts",
            "resources/list" => "resources",
            _ => "resourceTemplates",
        };
        let separator = &self.inner.options.separator;
        let lists = servers.iter().map(|server| async move {
            let mut items = Vec::new();
            let mut cache = Cache::default();
            let mut cursor: Option<Value> = None;
            for _page in 0..100 {
                // A fresh id for each page: ids are never reused within a session.
                let id = format!("gateway-list-{}", uuid::Uuid::new_v4());
                let mut request = json!({"jsonrpc": "2.0", "id": id, "method": method});
                if let Some(cursor) = &cursor {
                    request["params"] = json!({"cursor": cursor});
                }
                let response = self.forward(server, request, via.clone(), true).await;
                let reply = collect_reply(response).await.unwrap_or(Value::Null);
                let Some(result) = reply.get("result") else {
                    return Err(format!(
                        "server `{}`: {}",
                        server.name,
                        reply.get("error").unwrap_or(&reply)
                    ));
                };
                cache.merge(result);
                for mut item in result
                    .get(key)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    if let Some(name) = item.get("name").and_then(Value::as_str) {
                        item["name"] = Value::String(format!("{}{separator}{name}", server.name));
                    }
                    items.push(item);
                }
                cursor = result.get("nextCursor").filter(|c| !c.is_null()).cloned();
                if cursor.is_none() {
                    break;
                }
            }
            Ok((items, cache))
        });
        let mut merged = Vec::new();
        let mut failures = Vec::new();
        let mut cache = Cache::default();
        for list in futures_util::future::join_all(lists).await {
            match list {
                Ok((items, part)) => {
                    merged.extend(items);
                    cache.combine(&part);
                }
                Err(failure) => failures.push(failure),
            }
        }
        for failure in &failures {
            tracing::warn!("listing failed: {failure}");
        }
        if merged.is_empty() && !failures.is_empty() {
            return http::json(
                StatusCode::OK,
                &jsonrpc::error(id, jsonrpc::UPSTREAM_ERROR, &failures.join("; "), None),
            );
        }
        let mut result = json!({key: merged});
        cache.apply(&mut result);
        http::json(
            StatusCode::OK,
            &json!({"jsonrpc": "2.0", "id": id, "result": result}),
        )
    }

    /// The servers' GET event streams, merged into one.
    async fn get(&self, target: Target<C>, headers: &HeaderMap) -> Response<Body> {
        if let Some(refusal) = modern::no_session(headers) {
            return refusal;
        }
        let session = match self.session(headers) {
            Ok(session) => session,
            Err(refused) => return refused.response(),
        };
        let (servers, tag) = match target {
            Target::One(server) => (vec![server], false),
            Target::All(servers) => (servers, true),
        };
        let mut opened = Vec::new();
        for server in &servers {
            let upstream = self.upstream(server, Some(&session));
            match upstream.open_events(None).await {
                Ok(events) => opened.push((server.name.clone(), events)),
                Err(StreamableHttpError::ServerDoesNotSupportSse) => {}
                Err(e) => {
                    tracing::warn!(server = %server.name, "opening the event stream failed: {}", tower_sigv4::ErrorChain(&e))
                }
            }
        }
        if opened.is_empty() {
            return http::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "no server offers an event stream",
            );
        }
        let (sender, response) = http::sse();
        let separator = self.inner.options.separator.clone();
        for (name, mut events) in opened {
            let sender = sender.clone();
            let separator = separator.clone();
            tokio::spawn(async move {
                while let Ok(Some(message)) = events.next().await {
                    let message = if tag {
                        tag_request(&name, &separator, message)
                    } else {
                        message
                    };
                    if sender.send(message).await.is_err() {
                        return;
                    }
                }
            });
        }
        response
    }

    async fn delete(&self, target: Target<C>, headers: &HeaderMap) -> Response<Body> {
        if let Some(refusal) = modern::no_session(headers) {
            return refusal;
        }
        let session = match self.session(headers) {
            Ok(session) => session,
            Err(refused) => return refused.response(),
        };
        let servers = match target {
            Target::One(server) => vec![server],
            Target::All(servers) => servers,
        };
        let ends = servers.iter().filter(|s| session.upstreams.contains_key(&s.name)).map(|server| {
            let upstream = self.upstream(server, Some(&session));
            async move {
                if let Err(e) = upstream.end().await {
                    tracing::warn!(server = %server.name, "ending the session failed: {}", tower_sigv4::ErrorChain(&e));
                }
            }
        });
        futures_util::future::join_all(ends).await;
        http::empty(StatusCode::OK)
    }
}

/// The capabilities of several servers as one: what any of them offers.
fn merged_capabilities<'a>(all: impl Iterator<Item = &'a Value>) -> Map<String, Value> {
    let mut capabilities = Map::new();
    for caps in all.filter_map(Value::as_object) {
        for key in ["tools", "prompts", "resources", "logging", "completions"] {
            if caps.contains_key(key) {
                let value = if key == "logging" || key == "completions" {
                    json!({})
                } else {
                    json!({"listChanged": true})
                };
                capabilities.insert(key.to_owned(), value);
            }
        }
    }
    capabilities
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The reply a response carries (JSON, or the last message of an SSE stream).
async fn collect_reply(response: Response<Body>) -> Option<Value> {
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

/// A server's request to the client gets an id that names the server, so that
/// the client's reply finds its way back: `{server}{separator}{original id as JSON}`.
fn tag_request(server: &str, separator: &str, mut message: Value) -> Value {
    if message.get("method").is_some()
        && let Some(id) = message.get("id").cloned()
    {
        message["id"] = Value::String(format!("{server}{separator}{id}"));
    }
    message
}

fn untag_id<C>(
    servers: &[Arc<Server<C>>],
    separator: &str,
    id: &Value,
) -> Option<(Arc<Server<C>>, Value)> {
    let (server, rest) = split_prefixed(servers, separator, id.as_str()?)?;
    Some((server, serde_json::from_str(&rest).ok()?))
}

/// `{server}{separator}{rest}` → the server and `rest`; the longest server name
/// wins, since names may contain the separator.
fn split_prefixed<C>(
    servers: &[Arc<Server<C>>],
    separator: &str,
    name: &str,
) -> Option<(Arc<Server<C>>, String)> {
    servers
        .iter()
        .filter_map(|server| {
            let rest = name
                .strip_prefix(server.name.as_str())?
                .strip_prefix(separator)?;
            Some((server.clone(), rest.to_owned()))
        })
        .max_by_key(|(server, _)| server.name.len())
}

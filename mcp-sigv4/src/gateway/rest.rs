//! LiteLLM's REST API beside MCP, and one-shot JSON-RPC for curl users:
//!
//! - `GET /mcp-rest/tools/list[?server_id=]`: `{"tools": [{name, description,
//!   inputSchema, mcp_info}], "error", "message"}`, each tool under its own name;
//! - `POST /mcp-rest/tools/call` with `{server_id, name, arguments}` (or a
//!   prefixed `name` and no `server_id`): the `CallToolResult`;
//! - `GET /v1/mcp/server`: the servers, without secrets;
//! - a POST of `{"method": "tools/list"}` without a session, `jsonrpc` or `id`.
//!
//! None of them needs a client session: they go through this replica's pooled
//! upstream of each server (the one its 2026-07-28 clients share), so no call
//! costs an upstream handshake once the pool is warm.

use std::sync::Arc;

use ::http::{HeaderMap, Method, Request, Response, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use serde_json::{Value, json};
use tower_sigv4::rmcp::HttpClientError;

use super::aggregate::{internal_id, split_prefixed};
use super::caller;
use super::http::{self, Body, Budget, SESSION_HEADER, collect_reply};
use super::server::{Gateway, Server, Target, Via};
use crate::protocol::era::{self, Envelope, Era};
use crate::protocol::jsonrpc;
use crate::telemetry::audit;

/// Pages read from one server for one REST tool list.
const MAX_LIST_PAGES: usize = 100;

/// A REST route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    ToolsList,
    ToolsCall,
    Servers,
}

impl Route {
    pub(super) fn of(path: &str) -> Option<Self> {
        match path {
            "/mcp-rest/tools/list" => Some(Route::ToolsList),
            "/mcp-rest/tools/call" => Some(Route::ToolsCall),
            "/v1/mcp/server" => Some(Route::Servers),
            _ => None,
        }
    }

    fn method(self) -> Method {
        match self {
            Route::ToolsCall => Method::POST,
            _ => Method::GET,
        }
    }
}

/// Whether a message is a one-shot call: a request without a session that
/// leaves out `jsonrpc` or `id`, as `curl -d '{"method":"tools/list"}'` does.
pub(super) fn is_one_shot(message: &Value, headers: &HeaderMap) -> bool {
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        return false;
    };
    !headers.contains_key(SESSION_HEADER)
        && (message.get("jsonrpc").is_none() || message.get("id").is_none())
        && method != "initialize"
        && !method.starts_with("notifications/")
}

/// The envelope of the gateway's own requests for REST and one-shot callers.
fn envelope() -> Envelope {
    Envelope {
        capabilities: json!({}),
        client_info: Some(
            json!({"name": "mcp-sigv4 gateway", "version": env!("CARGO_PKG_VERSION")}),
        ),
    }
}

/// A REST error in FastAPI's shape, as LiteLLM answers.
fn detail(status: StatusCode, error: &str, message: &str) -> Response<Body> {
    http::json(
        status,
        &json!({"detail": {"error": error, "message": message}}),
    )
}

impl<C> Gateway<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// A one-shot JSON-RPC call, answered with one JSON reply in the shape of
    /// the revision its `MCP-Protocol-Version` names, 2025-03-26 when it names
    /// none (as the 2025 transports read a request without the header; it
    /// came with no `initialize` and no envelope to say otherwise).
    pub(super) async fn one_shot(
        &self,
        target: &Target<C>,
        mut message: Value,
        headers: &HeaderMap,
    ) -> Response<Body> {
        let caller = Era::of_version(
            headers
                .get(era::PROTOCOL_VERSION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or(era::UNSTATED_VERSION),
        );
        message["jsonrpc"] = json!("2.0");
        if message.get("id").is_none_or(Value::is_null) {
            message["id"] = json!(1);
        }
        let envelope = envelope();
        let method = jsonrpc::method(&message).unwrap_or_default().to_owned();
        let response = match target {
            Target::One(server) => {
                self.forward(server, message, Via::Modern(&envelope), false)
                    .await
            }
            Target::All(servers) => {
                self.aggregate(servers, message, Via::Modern(&envelope))
                    .await
            }
        };
        match collect_reply(response, &Budget::new()).await {
            Ok(Some(mut reply)) => {
                caller.shape_reply(&method, &mut reply);
                http::json(StatusCode::OK, &reply)
            }
            Ok(None) => http::empty(StatusCode::ACCEPTED),
            Err(over) => http::error(StatusCode::BAD_GATEWAY, &over.to_string()),
        }
    }

    pub(super) async fn rest<B>(&self, route: Route, request: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        if request.method() != route.method() {
            let mut refusal = http::error(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("use {} here", route.method()),
            );
            if let Ok(allow) = ::http::HeaderValue::from_str(route.method().as_str()) {
                refusal.headers_mut().insert(::http::header::ALLOW, allow);
            }
            return refusal;
        }
        match route {
            Route::Servers => self.rest_servers(),
            Route::ToolsList => {
                let server_id = request.uri().query().and_then(|q| {
                    q.split('&').find_map(|pair| {
                        pair.strip_prefix("server_id=").map(|v| {
                            percent_encoding::percent_decode_str(v)
                                .decode_utf8_lossy()
                                .into_owned()
                        })
                    })
                });
                self.rest_tools_list(server_id.as_deref()).await
            }
            Route::ToolsCall => {
                if let Err(refused) =
                    super::guard::check_method_and_content_type(request.method(), request.headers())
                {
                    return refused.response();
                }
                match self.read_json(request.into_body()).await {
                    Ok(body) => self.rest_tools_call(body).await,
                    Err(refusal) => refusal,
                }
            }
        }
    }

    async fn read_json<B>(&self, body: B) -> Result<Value, Response<Body>>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let limit = self.inner.options.max_body_size;
        let deadline = self.inner.options.body_read_timeout;
        let read = tokio::time::timeout(deadline, Limited::new(body, limit).collect()).await;
        let bytes = match read {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(_)) => {
                return Err(detail(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    &format!("the request body could not be read, or is over {limit} bytes"),
                ));
            }
            Err(_) => {
                return Err(detail(
                    StatusCode::REQUEST_TIMEOUT,
                    "timeout",
                    "the request body did not arrive in time (--body-read-timeout)",
                ));
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| {
            detail(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                &format!(
                    "the body is not valid JSON ({e}); send {{\"server_id\", \"name\", \"arguments\"}}"
                ),
            )
        })
    }

    fn server_by_id(&self, id: &str) -> Option<Arc<Server<C>>> {
        self.inner
            .servers
            .iter()
            .find(|s| s.name == id || s.name.eq_ignore_ascii_case(id))
            .cloned()
    }

    /// 403 for a server the caller may not use (for its `tool`, if any),
    /// written to the audit trail.
    fn refuse_server(&self, server: &Server<C>, tool: Option<&str>) -> Option<Response<Body>> {
        if caller::current_grants().allows_server(&server.name) {
            return None;
        }
        tracing::info!(server = %server.name, "refused a REST request for a server this identity may not use");
        audit::refused(
            audit::Outcome::Refused,
            Some(&server.name),
            tool,
            "server not allowed (the caller's grants)",
        );
        Some(detail(
            StatusCode::FORBIDDEN,
            "server_not_allowed",
            &format!(
                "this identity may not use server `{}`; GET /v1/mcp/server lists the servers it may use",
                server.name
            ),
        ))
    }

    /// The servers the caller may use.
    fn granted_servers(&self) -> Vec<Arc<Server<C>>> {
        let grants = caller::current_grants();
        self.inner
            .servers
            .iter()
            .filter(|s| grants.allows_server(&s.name))
            .cloned()
            .collect()
    }

    /// `GET /v1/mcp/server`: each server as LiteLLM lists it, without its
    /// credentials, headers or URL query.
    fn rest_servers(&self) -> Response<Body> {
        let servers: Vec<Value> = self
            .granted_servers()
            .iter()
            .map(|server| {
                json!({
                    "server_id": server.name,
                    "server_name": server.name,
                    "alias": server.name,
                    "description": server.description,
                    "url": tower_sigv4::unstable::redact_query(&server.url),
                    "transport": server.transport,
                    "auth_type": server.auth_type,
                    "allowed_tools": server.tools.allowed,
                    "disallowed_tools": server.tools.disallowed,
                    "mcp_info": mcp_info(server),
                })
            })
            .collect();
        http::json(StatusCode::OK, &Value::Array(servers))
    }

    /// `GET /mcp-rest/tools/list`: every server's tools at once, under their
    /// own names, each with the server it belongs to.
    async fn rest_tools_list(&self, server_id: Option<&str>) -> Response<Body> {
        let servers = match server_id {
            Some(id) => match self.server_by_id(id) {
                Some(server) => {
                    if let Some(refusal) = self.refuse_server(&server, None) {
                        return refusal;
                    }
                    vec![server]
                }
                None => {
                    return http::json(
                        StatusCode::OK,
                        &json!({"tools": [], "error": "server_not_found",
                            "message": format!("Server with id {id} not found")}),
                    );
                }
            },
            None => self.granted_servers(),
        };
        let envelope = envelope();
        let lists = servers.iter().map(|server| {
            let envelope = &envelope;
            async move {
                let mut tools = Vec::new();
                let mut cursor: Option<Value> = None;
                for _page in 0..MAX_LIST_PAGES {
                    let mut request =
                        json!({"jsonrpc": "2.0", "id": internal_id("rest"), "method": "tools/list", "params": {}});
                    if let Some(cursor) = &cursor {
                        request["params"] = json!({"cursor": cursor});
                    }
                    let response = self
                        .forward(server, request, Via::Modern(envelope), false)
                        .await;
                    let reply = collect_reply(response, &Budget::new())
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or(Value::Null);
                    let Some(result) = reply.get("result") else {
                        let cause = reply
                            .pointer("/error/message")
                            .and_then(Value::as_str)
                            .map_or_else(|| format!("no list in its reply: {reply}"), str::to_owned);
                        return Err(format!("{}: {cause}", server.name));
                    };
                    for tool in result
                        .get("tools")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        tools.push(json!({
                            "name": tool.get("name"),
                            "description": tool.get("description"),
                            "inputSchema": tool.get("inputSchema"),
                            "mcp_info": mcp_info(server),
                        }));
                    }
                    cursor = result.get("nextCursor").filter(|c| !c.is_null()).cloned();
                    if cursor.is_none() {
                        break;
                    }
                }
                Ok(tools)
            }
        });
        let mut tools = Vec::new();
        let mut errors = Vec::new();
        for list in futures_util::future::join_all(lists).await {
            match list {
                Ok(part) => tools.extend(part),
                Err(error) => errors.push(error),
            }
        }
        for error in &errors {
            tracing::warn!("REST tools/list: {error}");
        }
        let (error, message) = match (server_id, errors.as_slice()) {
            (_, []) => (Value::Null, "Successfully retrieved tools".to_owned()),
            (Some(_), [one]) => (
                json!("server_error"),
                format!("Failed to get tools from server {one}"),
            ),
            _ => (
                json!("partial_failure"),
                format!("Failed to get tools from servers: {}", errors.join("; ")),
            ),
        };
        http::json(
            StatusCode::OK,
            &json!({"tools": tools, "error": error, "message": message}),
        )
    }

    /// `POST /mcp-rest/tools/call`: `{server_id, name, arguments}`; without
    /// `server_id`, the server is the prefix of `name`.
    async fn rest_tools_call(&self, body: Value) -> Response<Body> {
        let Some(name) = body.get("name").and_then(Value::as_str) else {
            return detail(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body needs `name`, the tool to call (and `server_id`, or a prefixed name)",
            );
        };
        let separator = &self.inner.options.separator;
        let (server, tool) = match body.get("server_id").and_then(Value::as_str) {
            Some(id) => match self.server_by_id(id) {
                Some(server) => (server, name.to_owned()),
                None => {
                    audit::refused(
                        audit::Outcome::Refused,
                        Some(id),
                        Some(name),
                        "no such server",
                    );
                    return detail(
                        StatusCode::NOT_FOUND,
                        "server_not_found",
                        &format!("no MCP server `{id}`; GET /v1/mcp/server lists them"),
                    );
                }
            },
            None => match split_prefixed(&self.inner.servers, separator, name) {
                Some(found) => found,
                None => {
                    audit::refused(audit::Outcome::Refused, None, Some(name), "names no server");
                    return detail(
                        StatusCode::BAD_REQUEST,
                        "server_not_found",
                        &format!(
                            "`{name}` names no server; send `server_id`, or name the tool as {{server}}{separator}{{tool}}"
                        ),
                    );
                }
            },
        };
        if let Some(refusal) = self.refuse_server(&server, Some(&tool)) {
            return refusal;
        }
        let arguments = body.get("arguments").cloned().unwrap_or_else(|| json!({}));
        let request = json!({"jsonrpc": "2.0", "id": internal_id("rest"), "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}});
        let envelope = envelope();
        let response = self
            .forward(&server, request, Via::Modern(&envelope), false)
            .await;
        let reply = collect_reply(response, &Budget::new())
            .await
            .ok()
            .flatten()
            .unwrap_or(Value::Null);
        if let Some(result) = reply.get("result") {
            return http::json(StatusCode::OK, result);
        }
        let message = reply
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("the server sent no reply");
        let from_gateway =
            reply.pointer("/error/data/source").and_then(Value::as_str) == Some("gateway");
        match reply.pointer("/error/code").and_then(Value::as_i64) {
            Some(jsonrpc::INVALID_PARAMS) if from_gateway => {
                detail(StatusCode::FORBIDDEN, "tool_not_allowed", message)
            }
            Some(jsonrpc::INVALID_PARAMS | jsonrpc::METHOD_NOT_FOUND) => {
                detail(StatusCode::BAD_REQUEST, "invalid_request", message)
            }
            Some(jsonrpc::TIMEOUT_ERROR) => detail(StatusCode::GATEWAY_TIMEOUT, "timeout", message),
            _ => detail(StatusCode::BAD_GATEWAY, "upstream_error", message),
        }
    }
}

/// LiteLLM's `mcp_info` of a server.
fn mcp_info<C>(server: &Server<C>) -> Value {
    json!({"server_name": server.name, "description": server.description, "logo_url": null})
}

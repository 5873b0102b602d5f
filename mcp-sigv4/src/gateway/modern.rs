//! The gateway's 2026-07-28 clients: no session and no handshake. Each request is
//! checked as a modern server must check it (its headers against its body, its
//! version), then sent to each upstream in the era that upstream speaks, probed
//! once per replica. A modern client needs no sealed session, so any replica
//! answers any of its requests.

use std::sync::{Arc, PoisonError};

use ::http::{HeaderMap, Response, StatusCode};
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use serde_json::{Map, Value, json};
use tower_sigv4::rmcp::HttpClientError;

use super::http::{self, Body, SESSION_HEADER};
use super::server::{Gateway, Server, Target, Via};
use super::tasks::{Binding, Owned, TaskServer};
use crate::protocol::era::{self, Envelope, Era};
use crate::protocol::jsonrpc;
use crate::upstream::{Reply, Upstream, UpstreamError};

impl Via<'_> {
    /// The era of the client the request came from: what its replies are
    /// shaped for ([`Era::shape_reply`]).
    pub(super) fn era(&self) -> Era {
        match self {
            Self::Legacy(_) => Era::Legacy,
            Self::Modern(_) => Era::Modern,
        }
    }
}

/// Whether a message comes from a 2026-07-28 client: it carries the envelope
/// (an `initialize` too: 2026-07-28 removed it, and the client is answered
/// so) or is `server/discover`, or it carries a modern `MCP-Protocol-Version`
/// and no legacy session (a notification, say, or a request whose envelope is
/// missing). An `initialize` without the envelope is a 2025 client's
/// handshake, whatever its headers say.
pub(super) fn is_modern_client(message: &Value, headers: &HeaderMap) -> bool {
    if era::envelope_version(message).is_some() {
        return true;
    }
    match jsonrpc::method(message) {
        Some("server/discover") => true,
        Some("initialize") => false,
        _ => {
            !headers.contains_key(SESSION_HEADER)
                && headers
                    .get(era::PROTOCOL_VERSION)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| Era::of_version(v) == Era::Modern)
        }
    }
}

/// GET and DELETE without a legacy session: 2026-07-28 has neither (405).
pub(super) fn no_session(headers: &HeaderMap) -> Option<Response<Body>> {
    if headers.contains_key(SESSION_HEADER) {
        return None;
    }
    let mut refusal = http::error(
        StatusCode::METHOD_NOT_ALLOWED,
        "GET and DELETE need a session (Mcp-Session-Id from initialize); MCP 2026-07-28 clients use POST only, and subscriptions/listen for server events",
    );
    refusal.headers_mut().insert(
        ::http::header::ALLOW,
        ::http::HeaderValue::from_static("POST"),
    );
    Some(refusal)
}

/// A 400 with a JSON-RPC error, as a modern server refuses a request.
fn refuse(id: &Value, code: i64, message: &str, data: Option<Value>) -> Response<Body> {
    http::json(
        StatusCode::BAD_REQUEST,
        &jsonrpc::error(id, code, message, data),
    )
}

impl<C> Gateway<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// One request of a 2026-07-28 client.
    pub(super) async fn modern(
        &self,
        target: &Target<C>,
        message: Value,
        headers: &HeaderMap,
    ) -> Response<Body> {
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        // The headers first: a version in `_meta` that the header does not
        // carry is a mismatch (-32020), not an unsupported version.
        if let Err(why) = era::check_headers(headers, &message) {
            tracing::info!("refused a 2026-07-28 request: {why}");
            return refuse(&id, era::HEADER_MISMATCH, &why, None);
        }
        if let Some(version) = era::envelope_version(&message)
            && version != era::MODERN_VERSION
        {
            return refuse(
                &id,
                era::UNSUPPORTED_VERSION,
                &format!(
                    "protocol version `{version}` is not supported; use one of the supported versions"
                ),
                Some(json!({"supported": era::SUPPORTED_VERSIONS, "requested": version})),
            );
        }
        if let Some(method) = jsonrpc::method(&message)
            .filter(|method| era::REMOVED_METHODS.contains(method))
            .filter(|_| message.get("id").is_some())
        {
            return http::json(
                StatusCode::NOT_FOUND,
                &jsonrpc::error(
                    &id,
                    jsonrpc::METHOD_NOT_FOUND,
                    &format!(
                        "`{method}` does not exist in MCP 2026-07-28; a 2025 client starts a session with initialize and no `_meta` envelope"
                    ),
                    None,
                ),
            );
        }
        if let Err(why) = era::check_envelope(&message) {
            tracing::info!("refused a 2026-07-28 request: {why}");
            return refuse(&id, jsonrpc::INVALID_PARAMS, &why, None);
        }
        let envelope = Envelope::from_request(&message).unwrap_or_else(Envelope::empty);
        let is_discover = jsonrpc::method(&message) == Some("server/discover");
        if jsonrpc::method(&message) == Some("subscriptions/listen") {
            let servers = match target {
                Target::One(server) => vec![server.clone()],
                Target::All(servers) => servers.clone(),
            };
            return self.listen(&servers, message, &envelope).await;
        }
        match target {
            Target::All(servers) if is_discover => self.discover_all(servers, &id, &envelope).await,
            Target::One(server) if is_discover => {
                match self.modern_upstream(server, &envelope).await {
                    Ok(upstream) if upstream.era() == Some(Era::Legacy) => {
                        let result = upstream
                            .legacy_discover_result()
                            .unwrap_or_else(|| era::discover_from_initialize(&Value::Null));
                        http::json(
                            StatusCode::OK,
                            &Era::Modern.reply("server/discover", &id, result),
                        )
                    }
                    Ok(_) => {
                        self.forward(server, message, Via::Modern(&envelope), false)
                            .await
                    }
                    Err(e) => self.upstream_error(server, Some(&id), &e),
                }
            }
            Target::One(server) => {
                self.forward(server, message, Via::Modern(&envelope), false)
                    .await
            }
            Target::All(servers) => {
                self.aggregate(servers, message, Via::Modern(&envelope))
                    .await
            }
        }
    }

    /// `subscriptions/listen` to every addressed server, their events merged into
    /// one stream for the client. A subscription has no per-request timeout; it
    /// ends when every upstream stream has ended (then the client gets the
    /// result) or when the client goes away (then every upstream stream is
    /// closed). A server that cannot subscribe is logged and left out.
    async fn listen(
        &self,
        servers: &[Arc<Server<C>>],
        message: Value,
        envelope: &Envelope,
    ) -> Response<Body> {
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        let (sender, response) = http::sse();
        let mut streams = Vec::new();
        let binding = Binding::current(&self.inner.sealer);
        for server in servers {
            let upstream = match self.modern_upstream(server, envelope).await {
                Ok(upstream) => upstream,
                Err(e) => {
                    tracing::warn!(server = %server.name, "subscriptions/listen: {}", tower_sigv4::unstable::ErrorChain(&e));
                    continue;
                }
            };
            if upstream.era() == Some(Era::Legacy) {
                tracing::info!(server = %server.name, "subscriptions/listen: a legacy server has no subscriptions; left out");
                continue;
            }
            // Each server is asked for the caller's own tasks of it only.
            let mut request = message.clone();
            let task_server = TaskServer::new(&server.name, &server.url);
            let _ = binding.open_incoming(&task_server, &mut request);
            let owned = Owned::of_request(&request);
            let mut events = match upstream.send(&request).await {
                Ok(Reply::Stream(events)) => events,
                Ok(other) => {
                    tracing::warn!(server = %server.name, "subscriptions/listen answered without a stream: {other:?}");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(server = %server.name, "subscriptions/listen: {}", tower_sigv4::unstable::ErrorChain(&e));
                    continue;
                }
            };
            let sender = sender.clone();
            let id = id.clone();
            let lists = server.lists.clone();
            let binding = binding.clone();
            streams.push(tokio::spawn(async move {
                loop {
                    // The client leaving drops `events`, closing the upstream stream.
                    let next = tokio::select! {
                        () = sender.closed() => return,
                        next = events.next() => next,
                    };
                    match next {
                        Ok(Some(event)) if jsonrpc::is_response_to(&event, &id) => return,
                        Ok(Some(mut event)) => {
                            lists.notice(&event);
                            if !binding.seal_outgoing(&task_server, &mut event, &owned) {
                                continue;
                            }
                            if sender.send(event).await.is_err() {
                                return;
                            }
                        }
                        _ => return,
                    }
                }
            }));
        }
        if streams.is_empty() {
            return http::json(
                StatusCode::OK,
                &jsonrpc::error(
                    &id,
                    jsonrpc::UPSTREAM_ERROR,
                    "no addressed server accepted subscriptions/listen; see the gateway log",
                    None,
                ),
            );
        }
        // The result goes last, once every upstream stream has ended.
        tokio::spawn(async move {
            futures_util::future::join_all(streams).await;
            let end = Era::Modern.reply("subscriptions/listen", &id, json!({}));
            let _ = sender.send(end).await;
        });
        response
    }

    /// This replica's upstream for `server`'s 2026-07-28 clients, its era known.
    pub(super) async fn modern_upstream(
        &self,
        server: &Server<C>,
        envelope: &Envelope,
    ) -> Result<Arc<Upstream<C>>, UpstreamError> {
        let upstream = self
            .inner
            .modern
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(server.name.clone())
            .or_insert_with(|| {
                Arc::new(
                    Upstream::new(
                        server.client.clone(),
                        server.url.clone(),
                        server.headers.clone(),
                    )
                    .with_tool_headers(server.lists.tool_headers(None)),
                )
            })
            .clone();
        upstream.probe(envelope).await?;
        Ok(upstream)
    }

    /// `server/discover` on the aggregated endpoint, answered by the gateway: the
    /// versions every upstream can be reached with (the gateway bridges eras),
    /// what any upstream offers, and the gateway's own `serverInfo`.
    async fn discover_all(
        &self,
        servers: &[Arc<Server<C>>],
        id: &Value,
        envelope: &Envelope,
    ) -> Response<Body> {
        let timeout = self.inner.options.request_timeout;
        let attempts = self.inner.options.resume_attempts;
        let probes = servers.iter().map(|server| async move {
            let upstream =
                tokio::time::timeout(timeout, self.modern_upstream(server, envelope)).await;
            let capabilities = match upstream {
                Ok(Ok(upstream)) if upstream.era() == Some(Era::Legacy) => upstream
                    .legacy_discover_result()
                    .and_then(|r| r.get("capabilities").cloned()),
                Ok(Ok(upstream)) => {
                    let id = json!(format!("gateway-discover-{}", uuid::Uuid::new_v4()));
                    let mut request = json!({"jsonrpc": "2.0", "id": id,
                        "method": "server/discover", "params": {}});
                    envelope.stamp(&mut request);
                    // The reply comes as JSON or on an SSE stream, as to any request.
                    let reply = tokio::time::timeout(timeout, async {
                        match upstream.send(&request).await.ok()? {
                            Reply::Json(reply) => Some(reply),
                            Reply::Stream(events) => upstream
                                .follow(events, &id, attempts, |_| async {})
                                .await
                                .ok(),
                            Reply::Accepted => None,
                        }
                    })
                    .await;
                    reply
                        .ok()
                        .flatten()
                        .and_then(|reply| reply.pointer("/result/capabilities").cloned())
                }
                _ => None,
            };
            (server.name.clone(), capabilities)
        });
        let results = futures_util::future::join_all(probes).await;
        let failed: Vec<&str> = results
            .iter()
            .filter(|(_, caps)| caps.is_none())
            .map(|(name, _)| name.as_str())
            .collect();
        for name in &failed {
            tracing::warn!(server = %name, "server/discover: the server could not be reached");
        }
        let capabilities = merged_capabilities(results.iter().filter_map(|(_, c)| c.as_ref()));
        let mut meta = json!({"io.modelcontextprotocol/serverInfo": {
            "name": "mcp-sigv4 gateway", "version": env!("CARGO_PKG_VERSION")
        }});
        if !failed.is_empty() {
            meta["mcp-sigv4/unreachable"] = json!(failed);
        }
        let result = json!({
            "supportedVersions": era::SUPPORTED_VERSIONS,
            "capabilities": capabilities,
            "_meta": meta,
        });
        http::json(
            StatusCode::OK,
            &Era::Modern.reply("server/discover", id, result),
        )
    }
}

/// The capabilities of several servers as one: what any of them offers.
pub(super) fn merged_capabilities<'a>(all: impl Iterator<Item = &'a Value>) -> Map<String, Value> {
    let mut capabilities = Map::new();
    for caps in all.filter_map(Value::as_object) {
        // Task methods are routed by the server their task id names.
        if let Some(tasks) = caps.get("tasks").and_then(Value::as_object) {
            let merged = capabilities.entry("tasks").or_insert_with(|| json!({}));
            for (key, value) in tasks.iter().filter(|(key, _)| *key != "list") {
                merged[key] = value.clone();
            }
        }
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

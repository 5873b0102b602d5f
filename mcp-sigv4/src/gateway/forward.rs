//! One message to one server, its reply streamed back.

use std::sync::Arc;
use std::time::Duration;

use ::http::{Response, StatusCode};
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use serde_json::{Value, json};
use tower_sigv4::rmcp::HttpClientError;

use super::caller;
use super::flights::Turn;
use super::http::{self, Body, Budget, collect_reply};
use super::lists::{self, Fill, Keep, Key, Page};
use super::server::{CLIENT_HEADERS, Gateway, Server, Via};
use super::tasks::{self, Binding, TaskServer};
use crate::protocol::era::{self, Era};
use crate::protocol::jsonrpc::{self, Kind};
use crate::relay::describe;
use crate::telemetry::{self, ListCacheOutcome, Outcome, audit};
use crate::upstream::{self, Reply, Upstream};
use tracing::Instrument;

impl<C> Gateway<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// Send one message to one server and answer with what it answers, streamed.
    ///
    /// A request the client stops waiting for is cancelled upstream with
    /// `notifications/cancelled` (a dropped connection alone is no cancellation
    /// to an MCP server), and its upstream stream is closed: when the client
    /// leaves the reply stream, when this future is dropped (the client's
    /// connection closed while the reply was pending), and at the timeout.
    pub(super) async fn forward(
        &self,
        server: &Arc<Server<C>>,
        message: Value,
        via: Via<'_>,
        tag: bool,
    ) -> Response<Body> {
        let span = telemetry::traces::upstream_span(&server.name, &message);
        self.forward_in_span(server, message, via, tag)
            .instrument(span)
            .await
    }

    async fn forward_in_span(
        &self,
        server: &Arc<Server<C>>,
        mut message: Value,
        via: Via<'_>,
        tag: bool,
    ) -> Response<Body> {
        let method = jsonrpc::method(&message).unwrap_or_default().to_owned();
        if let Some(refusal) = refuse_unnamed(&message) {
            return refusal;
        }
        if method == "tasks/list" {
            return tasks::list_refused(&message, via.era());
        }
        // A task id reaches the server only when it is this caller's task of it.
        if Binding::current(&self.inner.sealer)
            .open_incoming(&TaskServer::new(&server.name, &server.url), &mut message)
            .is_err()
        {
            return tasks::unknown_task(&message, Some(&server.name), via.era());
        }
        if matches!(method.as_str(), "tools/call" | "prompts/get") && !tag {
            // On a server's own route its tools answer to the plain name and to
            // the prefixed name it has on the aggregated route, as in LiteLLM.
            let prefix = format!("{}{}", server.name, self.inner.options.separator);
            if let Some(plain) = message
                .pointer("/params/name")
                .and_then(Value::as_str)
                .and_then(|name| name.strip_prefix(&prefix))
                .filter(|plain| !plain.is_empty())
                .map(str::to_owned)
            {
                message["params"]["name"] = Value::String(plain);
            }
        }
        if method == "tools/call"
            && let Some(refusal) = self.refuse_filtered(server, &message)
        {
            return refusal;
        }
        if lists::METHODS.contains(&method.as_str()) {
            return self.list(server, message, via, tag).await;
        }
        self.forward_unfiltered(server, message, via, tag, None)
            .await
    }

    /// A list request, answered from the [list cache](super::lists) while a
    /// fresh page is kept, or with the result of the same fetch in flight,
    /// otherwise sent on (its reply kept on the way), with the tools
    /// `allowed_tools` and `disallowed_tools` keep from clients left out.
    async fn list(
        &self,
        server: &Arc<Server<C>>,
        message: Value,
        via: Via<'_>,
        tag: bool,
    ) -> Response<Body> {
        let method = jsonrpc::method(&message).unwrap_or_default().to_owned();
        let metrics = telemetry::metrics();
        let is_tools = method == "tools/list";
        let context = lists::context_of(self.request_headers(server).as_ref());
        let mut fill = Fill {
            lists: server.lists.clone(),
            keep: None,
            learn: is_tools.then(|| server.lists.tool_headers(context)),
        };
        let Some(key) = Key::of(&server.name, &message, context) else {
            metrics.list_cache(&server.name, &method, ListCacheOutcome::bypass);
            return self.list_upstream(server, message, via, tag, fill).await;
        };
        let cache = &self.inner.list_cache;
        // A follower whose leader landed nothing looks once more (the page
        // may be kept by now, or nobody leads), then fetches rather than wait
        // for a second leader.
        let mut followed = false;
        let (generation, landing) = loop {
            let generation = server.lists.generation();
            match cache.lookup(&key, generation) {
                Turn::Ready(page) => {
                    metrics.list_cache(&server.name, &method, ListCacheOutcome::hit);
                    return self.list_reply(server, &message, &page, via);
                }
                Turn::Lead(landing) => break (generation, Some(landing)),
                Turn::Follow(_) if followed => break (generation, None),
                Turn::Follow(follower) => {
                    followed = true;
                    let timeout = self.inner.options.request_timeout;
                    match tokio::time::timeout(timeout, follower.landed()).await {
                        Ok(Some(page)) => {
                            metrics.list_cache(&server.name, &method, ListCacheOutcome::shared);
                            return self.list_reply(server, &message, &page, via);
                        }
                        Ok(None) => {}
                        Err(_) => return self.timeout_error(server, message.get("id"), timeout),
                    }
                }
            }
        };
        metrics.list_cache(&server.name, &method, ListCacheOutcome::miss);
        fill.keep = Some(Keep {
            cache: cache.clone(),
            key,
            generation,
            landing,
        });
        self.list_upstream(server, message, via, tag, fill).await
    }

    /// A list page from the cache or another request's fetch, as the reply
    /// to `message`, in the era of the client it came from.
    fn list_reply(
        &self,
        server: &Server<C>,
        message: &Value,
        page: &Page,
        via: Via<'_>,
    ) -> Response<Body> {
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        let method = jsonrpc::method(message).unwrap_or_default();
        let result = page.result(method, via.era());
        let mut reply = json!({"jsonrpc": "2.0", "id": id, "result": result});
        if method == "tools/list" {
            self.filter_tools(server, &mut reply);
        }
        http::json(StatusCode::OK, &reply)
    }

    /// A list request sent to the server, `fill` taking in its reply.
    async fn list_upstream(
        &self,
        server: &Arc<Server<C>>,
        message: Value,
        via: Via<'_>,
        tag: bool,
        fill: Fill,
    ) -> Response<Body> {
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        let filtered = jsonrpc::method(&message) == Some("tools/list")
            && !(server.tools.is_open() && caller::current_grants().is_all());
        let response =
            Box::pin(self.forward_unfiltered(server, message, via, tag, Some(fill))).await;
        if !filtered {
            return response;
        }
        let reply = match collect_reply(response, &Budget::new()).await {
            Ok(reply) => reply,
            Err(over) => {
                return http::json(
                    StatusCode::OK,
                    &jsonrpc::error(&id, jsonrpc::UPSTREAM_ERROR, &over.to_string(), None),
                );
            }
        };
        let Some(mut reply) = reply else {
            return http::json(
                StatusCode::OK,
                &jsonrpc::error(
                    &id,
                    jsonrpc::UPSTREAM_ERROR,
                    &format!("server `{}` sent no reply to tools/list", server.name),
                    Some(json!({"source": "upstream", "server": server.name})),
                ),
            );
        };
        self.filter_tools(server, &mut reply);
        http::json(StatusCode::OK, &reply)
    }

    /// A 2026-07-28 client's `tools/call` whose `Mcp-Param-*` headers do not
    /// carry the arguments the tool annotates with `x-mcp-header`, refused as
    /// a 2026-07-28 server must (400, -32020). A 2026-07-28 server's tools are
    /// listed first when no list named the tool yet; other servers' are checked
    /// as far as the lists the gateway passed on told it.
    async fn check_param_headers(
        &self,
        upstream: &Upstream<C>,
        message: &Value,
    ) -> Result<(), Response<Body>> {
        if jsonrpc::method(message) != Some("tools/call") {
            return Ok(());
        }
        upstream.learn_tool_headers(message).await;
        let checked = CLIENT_HEADERS.try_with(|headers| {
            era::check_param_headers(headers, message, upstream.tool_headers())
        });
        let Ok(Err(why)) = checked else {
            return Ok(());
        };
        tracing::info!("refused a 2026-07-28 request: {why}");
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        Err(http::json(
            StatusCode::BAD_REQUEST,
            &jsonrpc::error(
                &id,
                era::HEADER_MISMATCH,
                &format!(
                    "Header mismatch: {why}; send each x-mcp-header argument of the tool as its Mcp-Param header"
                ),
                None,
            ),
        ))
    }

    /// A `tools/call` of a tool that `allowed_tools` or `disallowed_tools`
    /// keeps from clients, or that the caller is not granted, answered here:
    /// it never reaches the server. Both refusals read alike, so a caller
    /// learns no more of the tools it may not use.
    fn refuse_filtered(&self, server: &Server<C>, message: &Value) -> Option<Response<Body>> {
        let name = message.pointer("/params/name").and_then(Value::as_str)?;
        if self.allows_tool(server, name) {
            return None;
        }
        tracing::info!(server = %server.name, tool = %name, "refused a call of a filtered tool");
        audit::refused(
            audit::Outcome::Refused,
            Some(&server.name),
            Some(name),
            "tool not allowed (the server's allowed_tools / disallowed_tools, or the caller's grants)",
        );
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        Some(http::json(
            StatusCode::OK,
            &jsonrpc::error(
                &id,
                jsonrpc::INVALID_PARAMS,
                &format!(
                    "tool `{name}` of server `{}` is not available through this gateway (allowed_tools / disallowed_tools, or this identity's grants)",
                    server.name
                ),
                Some(json!({"source": "gateway", "server": server.name})),
            ),
        ))
    }

    /// Whether the caller may list and call `tool` of `server`: the server's
    /// `allowed_tools` / `disallowed_tools`, and the caller's grants.
    fn allows_tool(&self, server: &Server<C>, tool: &str) -> bool {
        server.tools.allows(tool)
            && caller::current_grants().allows_tool(
                &server.name,
                &self.inner.options.separator,
                tool,
            )
    }

    /// Leave out of a `tools/list` reply the tools the caller may not call.
    fn filter_tools(&self, server: &Server<C>, reply: &mut Value) {
        let grants = caller::current_grants();
        if server.tools.is_open() && grants.is_all() {
            return;
        }
        let separator = &self.inner.options.separator;
        if let Some(tools) = reply
            .pointer_mut("/result/tools")
            .and_then(Value::as_array_mut)
        {
            tools.retain(|tool| {
                tool.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|name| {
                        server.tools.allows(name)
                            && grants.allows_tool(&server.name, separator, name)
                    })
            });
        }
    }

    /// `fill` takes in the reply to a list request.
    async fn forward_unfiltered(
        &self,
        server: &Arc<Server<C>>,
        mut message: Value,
        via: Via<'_>,
        tag: bool,
        fill: Option<Fill>,
    ) -> Response<Body> {
        // A request's own upstream session (per-request credentials) is ended
        // when the request is done with it.
        let mut ended: Option<EndOnDrop<C>> = None;
        // Taken now: the caller is out of scope in the tasks that relay streams.
        let binding = Binding::current(&self.inner.sealer);
        let owned = tasks::Owned::of_request(&message);
        let task_server = TaskServer::new(&server.name, &server.url);
        let metrics = telemetry::metrics();
        let observed = metrics.observe(&server.name, &message, matches!(via, Via::Modern(_)));
        let upstream = match via {
            Via::Legacy(live) => self.upstream(server, Some(&live.snapshot())),
            Via::Modern(envelope) => {
                // A 2026-07-28 client's own request carries its envelope; the
                // gateway's (REST, one-shot) get one here.
                let clients_own = era::envelope_version(&message).is_some();
                if jsonrpc::kind(&message) == Kind::Request && !clients_own {
                    envelope.stamp(&mut message);
                }
                // A request with its own credentials gets an upstream session of
                // its own: the pooled one was opened with the configured
                // credentials, and one user's session never serves another.
                let upstream = match self.request_headers(server) {
                    Some(headers) => {
                        let known = server.lists.tool_headers(lists::context_of(Some(&headers)));
                        let own = Arc::new(
                            Upstream::new(server.client.clone(), server.url.clone(), headers)
                                .with_tool_headers(known),
                        );
                        ended = Some(EndOnDrop(own.clone(), server.name.clone()));
                        own.probe(envelope).await.map(|_| own)
                    }
                    None => self.modern_upstream(server, envelope).await,
                };
                let upstream = match upstream {
                    Ok(upstream) => upstream,
                    Err(e) => {
                        observed.finish(Outcome::upstream_error);
                        return self.upstream_error(server, message.get("id"), &e);
                    }
                };
                if clients_own
                    && let Err(refusal) = self.check_param_headers(&upstream, &message).await
                {
                    observed.refused("Mcp-Param header mismatch");
                    return refusal;
                }
                upstream
            }
        };
        let id = message
            .get("id")
            .cloned()
            .filter(|_| jsonrpc::kind(&message) == Kind::Request);
        // The reply to a request goes back in the shape of the client's era,
        // whichever era the server answered in.
        let method = jsonrpc::method(&message).unwrap_or_default().to_owned();
        let era = via.era();
        let timeout = self.inner.options.request_timeout;
        let started = tokio::time::Instant::now();
        let mut pending = Pending::new(&upstream, &server.name, id.as_ref());
        let sent = tokio::time::timeout(timeout, upstream.send(&message)).await;
        if let Via::Legacy(live) = via {
            live.record(&server.name, &server.url, &upstream.state());
        }
        let (id, reply) = match sent {
            Err(_) => {
                pending
                    .cancel("the request timed out (--tool-timeout)")
                    .await;
                observed.finish(Outcome::timeout);
                return self.timeout_error(server, id.as_ref(), timeout);
            }
            Ok(Err(e)) => {
                pending.disarm();
                observed.finish(Outcome::upstream_error);
                return self.upstream_error(server, id.as_ref(), &e);
            }
            Ok(Ok(reply)) => (id, reply),
        };
        let accepted = matches!(reply, Reply::Accepted);
        metrics.upstream_status(&server.name, Some(if accepted { 202 } else { 200 }));
        let reply = match reply {
            Reply::Accepted => {
                pending.disarm();
                observed.finish(Outcome::ok);
                return http::empty(StatusCode::ACCEPTED);
            }
            Reply::Json(reply) => Err(reply),
            Reply::Stream(events) => Ok(events),
        };
        // A 2026-07-28 client learns a refusal from the HTTP status (404 for a
        // method the server lacks): a reply stream that begins with the reply
        // is answered as JSON, with the reply's status. A stream that begins
        // with anything else is streamed, that message first.
        let mut first = None;
        let reply = match (reply, &id) {
            (Ok(mut events), Some(id)) if era == Era::Modern => {
                let left = timeout.saturating_sub(started.elapsed());
                match tokio::time::timeout(left, events.next()).await {
                    Ok(Ok(Some(reply))) if jsonrpc::is_response_to(&reply, id) => Err(reply),
                    Ok(Ok(Some(message))) => {
                        first = Some(message);
                        Ok(events)
                    }
                    // Ended or broken: followed (and resumed) as any stream.
                    Ok(_) => Ok(events),
                    Err(_) => {
                        pending
                            .cancel("the request timed out (--tool-timeout)")
                            .await;
                        observed.finish(Outcome::timeout);
                        return self.timeout_error(server, Some(id), timeout);
                    }
                }
            }
            (reply, _) => reply,
        };
        pending.disarm();
        // A 2025 client is asked what a 2026-07-28 server's input requests ask.
        let bridge = (era == Era::Legacy && upstream.era() == Some(Era::Modern))
            .then(|| message.clone())
            .filter(|_| id.is_some());
        let events = match reply {
            Err(reply) if bridge.is_some() && era::input_required(&reply).is_some() => {
                let remaining = timeout.saturating_sub(started.elapsed());
                let request = bridge.unwrap_or_default();
                let (sender, response) = http::sse();
                let gateway = self.clone();
                let name = server.name.clone();
                let lists = server.lists.clone();
                let asking = async move {
                    let _ended = ended;
                    let _open = metrics.stream();
                    let pass = |mut message: Value| {
                        lists.notice(&message);
                        let passes = binding.seal_outgoing(&task_server, &mut message, &owned);
                        let sender = sender.clone();
                        async move {
                            if passes {
                                let _ = sender.send(message).await;
                            }
                        }
                    };
                    let fulfilled = tokio::select! {
                        () = sender.closed() => Err("the client went away".to_owned()),
                        fulfilled = tokio::time::timeout(
                            remaining,
                            gateway.fulfil_inputs(&upstream, &request, reply, &sender, pass),
                        ) => fulfilled.unwrap_or_else(|_| Err(timed_out(&name, timeout))),
                    };
                    let id = request.get("id").cloned().unwrap_or(Value::Null);
                    let mut last = gateway.final_reply(&name, &id, fulfilled, observed);
                    binding.seal_outgoing(&task_server, &mut last, &owned);
                    era.shape_reply(&method, &mut last);
                    let _ = sender.send(last).await;
                };
                tokio::spawn(asking.in_current_span());
                return response;
            }
            Err(mut reply) => {
                observed.reply(&reply);
                if method == "tools/list" && upstream.era() == Some(Era::Modern) {
                    era::drop_invalid_header_tools(&mut reply);
                }
                if let Some(fill) = fill {
                    fill.reply(&reply);
                }
                binding.seal_outgoing(&task_server, &mut reply, &owned);
                if id.is_none() {
                    return http::json(StatusCode::OK, &reply);
                }
                era.shape_reply(&method, &mut reply);
                return http::json(era.status_of(&reply), &reply);
            }
            Ok(events) => events,
        };
        let (sender, response) = http::sse();
        let name = server.name.clone();
        let separator = self.inner.options.separator.clone();
        let attempts = self.inner.options.resume_attempts;
        let remaining = timeout.saturating_sub(started.elapsed());
        let lists = server.lists.clone();
        let gateway = self.clone();
        let relay = async move {
            let _ended = ended;
            let _open = metrics.stream();
            let pass = |mut message: Value| {
                lists.notice(&message);
                let passes = binding.seal_outgoing(&task_server, &mut message, &owned);
                let sender = sender.clone();
                let message = if tag {
                    tag_request(&name, &separator, message)
                } else {
                    message
                };
                async move {
                    if passes {
                        let _ = sender.send(message).await;
                    }
                }
            };
            let Some(id) = id else {
                let mut events = events;
                loop {
                    let next = tokio::select! {
                        () = sender.closed() => return,
                        next = events.next() => next,
                    };
                    match next {
                        Ok(Some(message)) => pass(message).await,
                        _ => return observed.finish(Outcome::ok),
                    }
                }
            };
            if let Some(first) = first {
                pass(first).await;
            }
            let followed = tokio::select! {
                // Dropping `follow` closes the upstream stream.
                () = sender.closed() => {
                    cancel(&upstream, &name, &id, "the client went away").await;
                    return observed.finish(Outcome::cancelled);
                }
                followed = tokio::time::timeout(remaining, async {
                    let reply: Value = upstream.follow(events, &id, attempts, &pass).await?;
                    match &bridge {
                        Some(request) if era::input_required(&reply).is_some() => {
                            Ok(gateway.fulfil_inputs(&upstream, request, reply, &sender, &pass).await)
                        }
                        _ => Ok::<_, upstream::StreamEnded>(Ok(reply)),
                    }
                }) => followed,
            };
            let last = match followed {
                Ok(Ok(Err(why))) => gateway.final_reply(&name, &id, Err(why), observed),
                Ok(Ok(Ok(mut reply))) => {
                    observed.reply(&reply);
                    if method == "tools/list" && upstream.era() == Some(Era::Modern) {
                        era::drop_invalid_header_tools(&mut reply);
                    }
                    if let Some(fill) = fill {
                        fill.reply(&reply);
                    }
                    binding.seal_outgoing(&task_server, &mut reply, &owned);
                    era.shape_reply(&method, &mut reply);
                    reply
                }
                Ok(Err(ended)) => {
                    observed.finish(Outcome::upstream_error);
                    jsonrpc::error(
                        &id,
                        jsonrpc::UPSTREAM_ERROR,
                        &format!("server `{name}`: {ended}"),
                        Some(json!({"source": "upstream", "server": name})),
                    )
                }
                Err(_) => {
                    observed.finish(Outcome::timeout);
                    cancel(
                        &upstream,
                        &name,
                        &id,
                        "the request timed out (--tool-timeout)",
                    )
                    .await;
                    jsonrpc::error(
                        &id,
                        jsonrpc::TIMEOUT_ERROR,
                        &timed_out(&name, timeout),
                        Some(json!({"source": "gateway", "server": name})),
                    )
                }
            };
            let _ = sender.send(last).await;
        };
        // The upstream span lasts as long as its reply stream.
        tokio::spawn(relay.in_current_span());
        response
    }

    /// The last message of a bridged request's reply stream: the server's
    /// final result, or an error that says why it did not come.
    fn final_reply(
        &self,
        server: &str,
        id: &Value,
        fulfilled: Result<Value, String>,
        observed: crate::telemetry::metrics::Observation,
    ) -> Value {
        match fulfilled {
            Ok(reply) => {
                observed.reply(&reply);
                reply
            }
            Err(why) => {
                observed.finish(Outcome::upstream_error);
                jsonrpc::error(
                    id,
                    jsonrpc::UPSTREAM_ERROR,
                    &format!(
                        "server `{server}` asked the client for input, and that failed: {why}"
                    ),
                    Some(json!({"source": "gateway", "server": server})),
                )
            }
        }
    }

    pub(super) fn upstream_error(
        &self,
        server: &Server<C>,
        id: Option<&Value>,
        error: &upstream::UpstreamError,
    ) -> Response<Body> {
        let (message, data) = for_client(server, error);
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

    pub(super) fn timeout_error(
        &self,
        server: &Server<C>,
        id: Option<&Value>,
        timeout: Duration,
    ) -> Response<Body> {
        let message = timed_out(&server.name, timeout);
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
}

/// An upstream session opened for one request, ended (DELETE, for a legacy
/// server) from a task of its own once the request is done with it.
struct EndOnDrop<C>(Arc<Upstream<C>>, String)
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync;

impl<C> Drop for EndOnDrop<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    fn drop(&mut self) {
        let upstream = self.0.clone();
        let server = std::mem::take(&mut self.1);
        tokio::spawn(async move {
            if let Err(e) = tokio::time::timeout(CANCEL_TIMEOUT, upstream.end())
                .await
                .unwrap_or(Ok(()))
            {
                tracing::debug!(server = %server, "ending a per-request session failed: {}", tower_sigv4::unstable::ErrorChain(&e));
            }
        });
    }
}

/// A `tools/call` or `prompts/get` whose `params.name` is missing or not a
/// string, answered here with invalid params: a name the gateway cannot read
/// is no name it can check against the caller's grants, so it never reaches
/// a server (fail closed).
pub(super) fn refuse_unnamed(message: &Value) -> Option<Response<Body>> {
    let method = jsonrpc::method(message)?;
    if !matches!(method, "tools/call" | "prompts/get")
        || message
            .pointer("/params/name")
            .is_some_and(Value::is_string)
    {
        return None;
    }
    tracing::info!(
        method,
        "refused a request whose params.name is not a string"
    );
    audit::refused(
        audit::Outcome::Refused,
        None,
        None,
        "params.name is not a string",
    );
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    Some(http::json(
        StatusCode::OK,
        &jsonrpc::error(
            &id,
            jsonrpc::INVALID_PARAMS,
            &format!("`{method}` needs `params.name`, a string: the name of the tool or prompt"),
            Some(json!({"source": "gateway"})),
        ),
    ))
}

/// The longest the gateway waits for an upstream to accept a cancellation.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

fn timed_out(server: &str, timeout: Duration) -> String {
    format!(
        "timeout: server `{server}` did not answer within {} s (--tool-timeout); the request was cancelled upstream",
        timeout.as_secs_f64()
    )
}

/// Tell the upstream that the request `id` is no longer wanted.
async fn cancel<C>(upstream: &Upstream<C>, server: &str, id: &Value, reason: &str)
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    match tokio::time::timeout(CANCEL_TIMEOUT, upstream.cancel(id, reason)).await {
        Ok(Ok(_)) => tracing::info!(server = %server, "cancelled request {id} upstream: {reason}"),
        Ok(Err(e)) => {
            tracing::warn!(server = %server, "cancelling request {id} upstream failed: {}", tower_sigv4::unstable::ErrorChain(&e))
        }
        Err(_) => {
            tracing::warn!(server = %server, "cancelling request {id} upstream got no answer")
        }
    }
}

/// A request sent upstream and not yet answered. Dropped while armed (the
/// client's connection closed and hyper dropped the request's future), it
/// cancels the request upstream from a task of its own.
struct Pending<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    armed: Option<(Arc<Upstream<C>>, String, Value)>,
}

impl<C> Pending<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    fn new(upstream: &Arc<Upstream<C>>, server: &str, id: Option<&Value>) -> Self {
        Self {
            armed: id.map(|id| (upstream.clone(), server.to_owned(), id.clone())),
        }
    }

    fn disarm(&mut self) {
        self.armed = None;
    }

    async fn cancel(&mut self, reason: &str) {
        if let Some((upstream, server, id)) = self.armed.take() {
            cancel(&upstream, &server, &id, reason).await;
        }
    }
}

impl<C> Drop for Pending<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    fn drop(&mut self) {
        if let Some((upstream, server, id)) = self.armed.take() {
            tokio::spawn(async move {
                cancel(&upstream, &server, &id, "the client went away").await;
            });
        }
    }
}

/// What to do about an upstream's 401 or 403, for the server's `auth_type`.
fn refused_hint<C>(server: &Server<C>, status: u64) -> String {
    let name = &server.name;
    match server.auth_type {
        "aws_sigv4" => {
            format!("upstream `{name}` refused the signature ({status}); see the gateway log")
        }
        "none" => format!(
            "upstream `{name}` answered {status}: it wants credentials and its auth_type is none; set auth_type and auth_value for it, or send one per request as x-mcp-{name}-authorization"
        ),
        "api_key" => format!(
            "upstream `{name}` refused the configured API key ({status}); check its auth_value, or send one per request as x-mcp-{name}-x-api-key"
        ),
        other => format!(
            "upstream `{name}` refused the configured {other} credential ({status}); check its auth_value, or send one per request as x-mcp-{name}-authorization"
        ),
    }
}

/// A server's request to the client gets an id that names the server, so that
/// the client's reply finds its way back: `{server}{separator}{original id as JSON}`.
pub(super) fn tag_request(server: &str, separator: &str, mut message: Value) -> Value {
    if message.get("method").is_some()
        && let Some(id) = message.get("id").cloned()
    {
        message["id"] = Value::String(format!("{server}{separator}{id}"));
    }
    message
}

/// What a gateway client is told of an upstream failure. The full explanation
/// (access key id, role, profile, region) goes to the gateway's log only: the
/// client is not the operator. A refused signature gets a generic cause; other
/// failures keep their message, without the credential fields.
pub(super) fn for_client<C>(
    server: &Server<C>,
    error: &upstream::UpstreamError,
) -> (String, Value) {
    let (detail, data) = describe(error, &server.signing);
    tracing::warn!(server = %server.name, "server `{}`: {detail}", server.name);
    let status = data.get("status").and_then(Value::as_u64);
    let signing_failed =
        matches!(error, upstream::UpstreamError::Client(e) if e.signing_error().is_some());
    telemetry::metrics().upstream_failed(&server.name, &data, signing_failed);
    let message = match status {
        Some(status @ (401 | 403)) => refused_hint(server, status),
        _ if signing_failed => format!(
            "upstream `{}`: the gateway could not sign the request; see the gateway log",
            server.name
        ),
        _ => format!("server `{}`: {detail}", server.name),
    };
    let mut shown = json!({"source": data.get("source").cloned().unwrap_or(Value::Null), "server": server.name});
    if let Some(status) = status {
        shown["status"] = json!(status);
    }
    (message, shown)
}

//! Requests by HTTP method: POST carries JSON-RPC messages (one or a batch),
//! GET opens the servers' event streams, DELETE ends the session.
//!
//! The client's order of GET and POST is kept upstream: while a session's GET
//! opens its upstream event streams, the session's POSTs that reach this
//! replica wait (at most [`STREAM_OPEN_HOLD`]) until the servers have answered
//! the GET. A server that sends a request on its GET stream in answer to a
//! `tools/call` (sampling, elicitation), and drops it when no stream is open,
//! then finds the stream the client opened first. Replicas share no state, so
//! the order is kept only when the GET and the POST reach the same replica.
//!
//! A client may also send its GET and its first call together, and they may
//! arrive in either order. Where every request of a session reaches this
//! process (no shared session secret), the session's upstream event streams
//! are opened at its `notifications/initialized` and parked for the client's
//! GET (at most [`PARKED_FOR`]), so they are open before any later request.

use std::sync::PoisonError;
use std::time::Duration;

use ::http::{HeaderMap, Method, Request, Response, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use rmcp::transport::streamable_http_client::{StreamableHttpClient, StreamableHttpError};
use serde_json::{Value, json};
use tower_sigv4::rmcp::HttpClientError;

use super::caller::{self, CALLER, Caller};
use super::flights::Turn;
use super::forward::{for_client, tag_request};
use super::guard;
use super::http::{self, Body, Budget, ClientAddress, collect_reply};
use super::modern;
use super::rate;
use super::rest;
use super::server::{CLIENT_HEADERS, Gateway, LiveSession, Target, Via};
use super::session::{self, Session};
use super::tasks::{self, Binding, TaskServer};
use crate::protocol::{era, jsonrpc};
use crate::telemetry::{self, Outcome, Route, audit, traces};
use tracing::Instrument;

/// The route of `path` as the audit trail names it: a template, never a
/// client's own path.
fn audited_route(path: &str) -> &'static str {
    match path {
        "/mcp" => "/mcp",
        "/mcp-rest/tools/call" => "/mcp-rest/tools/call",
        "/mcp-rest/tools/list" => "/mcp-rest/tools/list",
        "/v1/mcp/server" => "/v1/mcp/server",
        "/health/readiness" => "/health/readiness",
        "/metrics" => "/metrics",
        p if p.starts_with("/mcp/") => "/mcp/{server}",
        _ => "other",
    }
}

/// The longest a session's POST waits for the session's GET to open its
/// upstream event streams; past it the POST goes on regardless.
pub(super) const STREAM_OPEN_HOLD: Duration = Duration::from_secs(10);

/// The longest an upstream event stream opened at `notifications/initialized`
/// waits for the client's GET; past it the stream is closed.
pub(super) const PARKED_FOR: Duration = Duration::from_secs(10);

/// The revision of a client that sent a batch, when that revision has no
/// batches: what its `MCP-Protocol-Version` says (2025-03-26 when it says
/// nothing, as the 2025 transports read it), or 2026-07-28 when a message
/// carries the envelope.
fn batchless_client<'a>(batch: &'a [Value], headers: &'a HeaderMap) -> Option<&'a str> {
    let version = batch
        .iter()
        .find_map(era::envelope_version)
        .or_else(|| {
            headers
                .get(era::PROTOCOL_VERSION)
                .and_then(|v| v.to_str().ok())
        })
        .unwrap_or(era::UNSTATED_VERSION);
    (!era::allows_batches(version)).then_some(version)
}

impl<C> Gateway<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// Answer one HTTP request.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let metrics = telemetry::metrics();
        let (route, _in_flight) = (Route::of(request.uri().path()), metrics.in_flight());
        let span = traces::client_span(request.method(), route.template(), request.headers());
        // The client's headers, for per-request credentials, while it is served.
        let headers = request.headers().clone();
        let response = CLIENT_HEADERS
            .scope(headers, self.route(request))
            .instrument(span.clone())
            .await;
        span.record("http.response.status_code", response.status().as_u16());
        metrics.http_request(route, response.status());
        response
    }

    async fn route<B>(&self, request: Request<B>) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let mut path = request.uri().path().trim_end_matches('/').to_owned();
        if path == "/health" {
            return self.health();
        }
        if let Some(oauth) = &self.inner.options.oauth {
            let servers: Vec<&str> = self.inner.servers.iter().map(|s| s.name.as_str()).collect();
            if let Some(document) = oauth.metadata(&path, &servers) {
                return document;
            }
        }
        let original_path = path.clone();
        let mut audited = audited_route(&path);
        // LiteLLM's `/{server}/mcp` is `/mcp/{server}`.
        if let Some(server) = path
            .strip_suffix("/mcp")
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|server| !server.is_empty() && !server.contains('/'))
        {
            path = format!("/mcp/{server}");
            audited = "/{server}/mcp";
        }
        let readiness = path == "/health/readiness";
        let rest = rest::Route::of(&path);
        let scrape = path == "/metrics" && {
            let metrics = telemetry::metrics();
            metrics.on() && !metrics.served_apart()
        };
        if path != "/mcp" && !path.starts_with("/mcp/") && !readiness && rest.is_none() && !scrape {
            return http::error(
                StatusCode::NOT_FOUND,
                "not found; MCP is served at /mcp and /mcp/{server} (or /{server}/mcp), the REST API at /mcp-rest/tools/list, /mcp-rest/tools/call and /v1/mcp/server, health at /health and /health/readiness",
            );
        }
        let client = request
            .extensions()
            .get::<ClientAddress>()
            .map(|address| address.0);
        // Cheapest first; nothing below reads the body or reaches an upstream.
        if let Err(refused) = guard::check_host_and_origin(
            request.headers(),
            request.uri().authority().map(|a| a.as_str()),
            &self.inner.options.allowed_hosts,
        ) {
            tracing::info!("refused a request: {}", refused.1);
            audit::unidentified(client, audited, "host or origin not allowed");
            return refused.response();
        }
        let caller = match self.authorize(request.headers(), &original_path).await {
            Ok(caller) => caller,
            Err(refusal) => {
                let reason = if refusal.status() == StatusCode::UNAUTHORIZED {
                    "missing or wrong key"
                } else {
                    "the identity is granted no server"
                };
                audit::unidentified(client, audited, reason);
                return refusal;
            }
        };
        let scope = audit::Scope {
            identity: caller.identity.clone(),
            rule: caller.rule.clone(),
            route: audited,
            client,
        };
        audit::within(
            scope,
            self.authorized(caller, &path, readiness, scrape, rest, request),
        )
        .await
    }

    /// A request past the guard's checks of its head and its key, by route
    /// and method.
    async fn authorized<B>(
        &self,
        caller: Caller,
        path: &str,
        readiness: bool,
        scrape: bool,
        rest: Option<rest::Route>,
        request: Request<B>,
    ) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        if (readiness || scrape) && !caller.grants.is_all() {
            // They name every server and identity: the administrator's.
            audit::refused(
                audit::Outcome::Refused,
                None,
                None,
                "readiness and metrics are for the master key",
            );
            return http::error(
                StatusCode::FORBIDDEN,
                "readiness and metrics are for the master key; a named key or an OAuth identity may not read them",
            );
        }
        if readiness {
            return self.readiness().await;
        }
        if scrape {
            return telemetry::metrics().response().map(BodyExt::boxed);
        }
        // Every MCP request and REST call counts; health and metrics do not.
        if let Err(wait) = self.take_turn(&caller) {
            return rate::too_many(wait);
        }
        CALLER
            .scope(caller.clone(), self.serve_as(&caller, path, rest, request))
            .await
    }

    /// One request of `caller`, within its rate limit.
    async fn serve_as<B>(
        &self,
        caller: &Caller,
        path: &str,
        rest: Option<rest::Route>,
        request: Request<B>,
    ) -> Response<Body>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        if let Some(route) = rest {
            return self.rest(route, request).await;
        }
        if let Err(refused) =
            guard::check_method_and_content_type(request.method(), request.headers())
        {
            return refused.response();
        }
        let target = match self.target(caller, path, request.headers(), request.uri().query()) {
            Ok(target) => target,
            Err(refused) => {
                tracing::info!(identity = %caller.label(), "refused: {}", refused.1);
                if refused.0 == StatusCode::FORBIDDEN {
                    audit::refused(
                        audit::Outcome::Refused,
                        None,
                        None,
                        "a server outside the caller's grants",
                    );
                }
                return refused.response();
            }
        };
        match *request.method() {
            Method::POST => self.post(target, request).await,
            Method::GET => self.get(target, request.headers()).await,
            _ => self.delete(target, request.headers()).await,
        }
    }

    /// Take one request from `caller`'s rate limit, counted by identity:
    /// how long until the next one is allowed when it is spent.
    fn take_turn(&self, caller: &Caller) -> Result<(), Duration> {
        let taken = self.inner.rates.take(caller);
        telemetry::metrics().identity_request(caller.label(), taken.is_ok());
        if taken.is_err() {
            tracing::info!(identity = %caller.label(), "refused a request over its rate limit");
            audit::refused(
                audit::Outcome::RateLimited,
                None,
                None,
                "over the identity's requests_per_minute",
            );
        }
        taken
    }

    pub(super) async fn post<B>(&self, target: Target<C>, request: Request<B>) -> Response<Body>
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
        let deadline = self.inner.options.body_read_timeout;
        let read = tokio::time::timeout(deadline, Limited::new(body, limit).collect()).await;
        let bytes = match read {
            Err(_) => {
                return http::error(
                    StatusCode::REQUEST_TIMEOUT,
                    &format!(
                        "the request body did not arrive within {} s (--body-read-timeout)",
                        deadline.as_secs_f64()
                    ),
                );
            }
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
            Ok(Err(_)) => {
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
                        &format!(
                            "the request body is not valid JSON ({e}); send one JSON-RPC message or a batch"
                        ),
                        None,
                    ),
                );
            }
        };
        if let Value::Array(batch) = message {
            if let Some(version) = batchless_client(&batch, &parts.headers) {
                tracing::info!("refused a JSON-RPC batch from an MCP {version} client");
                return http::json(StatusCode::BAD_REQUEST, &era::batch_refusal(version));
            }
            return self.batch(&target, batch, &parts.headers).await;
        }
        self.message(&target, message, &parts.headers).await
    }

    pub(super) async fn batch(
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
        let cap = self.inner.options.max_batch_len;
        if batch.len() > cap {
            let error = jsonrpc::error(
                &Value::Null,
                jsonrpc::INVALID_REQUEST,
                &format!(
                    "a batch of {} messages is over the gateway's limit of {cap} (--max-batch); send fewer per request",
                    batch.len()
                ),
                None,
            );
            return http::json(StatusCode::BAD_REQUEST, &error);
        }
        if let Some(refusal) = era::initialize_batch_refusal(&batch) {
            tracing::info!("refused a JSON-RPC batch that holds initialize");
            return http::json(StatusCode::BAD_REQUEST, &refusal);
        }
        // One deadline for the whole batch; what is unanswered by then gets a
        // timeout error.
        let timeout = self.inner.options.request_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let budget = Budget::new();
        let mut replies = Vec::new();
        let mut live: Option<LiveSession> = None;
        let caller = CALLER.try_with(Caller::clone).ok();
        for (i, message) in batch.into_iter().enumerate() {
            let id = message.get("id").cloned();
            if let Err(error) = guard::check_message(&message) {
                replies.push(error);
                continue;
            }
            // The HTTP request took the first message's turn; each further
            // message takes its own, and one over the limit is answered so.
            if i > 0
                && let Some(caller) = &caller
                && let Err(wait) = self.take_turn(caller)
            {
                replies.extend(id.map(|id| rate::too_many_error(&id, wait)));
                continue;
            }
            let live = match &live {
                Some(live) => live,
                None => match self.session(headers) {
                    Ok(session) => {
                        self.after_streams_open(&session).await;
                        live.insert(LiveSession::new(session))
                    }
                    Err(refused) => return refused.response(),
                },
            };
            let answered = tokio::time::timeout_at(deadline, async {
                let response = self.in_session(target, message, live).await;
                collect_reply(response, &budget).await
            })
            .await;
            match answered {
                Ok(Ok(reply)) => replies.extend(reply),
                Ok(Err(over)) => replies.extend(id.map(|id| {
                    jsonrpc::error(&id, jsonrpc::UPSTREAM_ERROR, &over.to_string(), None)
                })),
                Err(_) => replies.extend(id.map(|id| {
                    jsonrpc::error(
                        &id,
                        jsonrpc::TIMEOUT_ERROR,
                        &format!(
                            "the batch did not finish within {} s (--tool-timeout); this message was not answered",
                            timeout.as_secs_f64()
                        ),
                        Some(json!({"source": "gateway"})),
                    )
                })),
            }
        }
        let response = if replies.is_empty() {
            http::empty(StatusCode::ACCEPTED)
        } else {
            http::json(StatusCode::OK, &Value::Array(replies))
        };
        // Every server's new state, from any message of the batch, in one id.
        match &live {
            Some(live) => self.with_resealed(response, live),
            None => response,
        }
    }

    /// One message: `initialize` starts a session; anything else continues the
    /// one its `Mcp-Session-Id` names.
    pub(super) async fn message(
        &self,
        target: &Target<C>,
        message: Value,
        headers: &HeaderMap,
    ) -> Response<Body> {
        if rest::is_one_shot(&message, headers) {
            return self.one_shot(target, message, headers).await;
        }
        if let Err(error) = guard::check_message(&message) {
            return http::json(StatusCode::BAD_REQUEST, &error);
        }
        // Before `initialize`: a 2026-07-28 client's `initialize` is refused.
        if modern::is_modern_client(&message, headers) {
            return self.modern(target, message, headers).await;
        }
        if jsonrpc::method(&message) == Some("initialize") {
            return self.initialize(target, message).await;
        }
        let live = match self.session(headers) {
            Ok(session) => session,
            Err(refused) => return refused.response(),
        };
        self.after_streams_open(&live).await;
        let initialized = jsonrpc::method(&message) == Some("notifications/initialized");
        let live = LiveSession::new(live);
        let response = self.in_session(target, message, &live).await;
        if initialized && response.status().is_success() && self.inner.sealer.is_process_local() {
            self.park_streams(target, &live.snapshot()).await;
        }
        self.with_resealed(response, &live)
    }

    /// Open the session's upstream event streams now, at its
    /// `notifications/initialized`, for the client's GET to take (at most
    /// [`PARKED_FOR`]): what a server sends on them before the GET arrives
    /// waits unread, so a request the client sends before (or with) its GET
    /// finds the server's stream open. Only when every request of the session
    /// reaches this process (no shared session secret): a stream parked on one
    /// replica would keep a server that allows one stream per session from
    /// giving another replica the client's.
    async fn park_streams(&self, target: &Target<C>, session: &Session) {
        let servers = match target {
            Target::One(server) => std::slice::from_ref(server),
            Target::All(servers) => servers.as_slice(),
        };
        for server in servers {
            if !session.upstreams.contains_key(&server.name) {
                continue;
            }
            let span = traces::stream_span(&server.name);
            let upstream = span.in_scope(|| self.upstream(server, Some(session)));
            let opened = tokio::time::timeout(STREAM_OPEN_HOLD, upstream.open_events(None))
                .instrument(span)
                .await;
            let Ok(Ok(events)) = opened else {
                continue;
            };
            let key = (session.nonce.clone(), server.name.clone());
            let parked = self.inner.parked.clone();
            parked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.clone(), events);
            // Not taken in time: closed, and the server's stream with it.
            tokio::spawn(async move {
                tokio::time::sleep(PARKED_FOR).await;
                parked
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&key);
            });
        }
    }

    /// Wait while a GET of `session` opens its upstream event streams on this
    /// replica, at most [`STREAM_OPEN_HOLD`].
    async fn after_streams_open(&self, session: &Session) {
        let Some(opening) = self.inner.openings.follow(&session.nonce) else {
            return;
        };
        tracing::debug!("holding a request until the session's event streams open");
        if tokio::time::timeout(STREAM_OPEN_HOLD, opening.landed())
            .await
            .is_err()
        {
            tracing::warn!(
                "the session's event streams did not open within {} s; sending its request anyway",
                STREAM_OPEN_HOLD.as_secs_f64()
            );
        }
    }

    /// A message in a session, to its one server or to the aggregate.
    async fn in_session(
        &self,
        target: &Target<C>,
        message: Value,
        live: &LiveSession,
    ) -> Response<Body> {
        if self.answer_input(&message) {
            return http::empty(StatusCode::ACCEPTED);
        }
        let via = Via::Legacy(live);
        match target {
            Target::One(server) => self.forward(server, message, via, false).await,
            Target::All(servers) => self.aggregate(servers, message, via).await,
        }
    }

    pub(super) async fn initialize(&self, target: &Target<C>, request: Value) -> Response<Body> {
        let id = request["id"].clone();
        let servers = match target {
            Target::One(server) => vec![server.clone()],
            Target::All(servers) => servers.clone(),
        };
        let timeout = self.inner.options.request_timeout;
        let attempts = servers.iter().map(|server| {
            let request = request.clone();
            let observed = telemetry::metrics().observe(&server.name, &request, false);
            let span = traces::upstream_span(&server.name, &request);
            let upstream = span.in_scope(|| self.upstream(server, None));
            async move {
                let reply = tokio::time::timeout(timeout, upstream.initialize(request)).await;
                match &reply {
                    Ok(Ok(reply)) => observed.reply(reply),
                    Ok(Err(_)) => observed.finish(Outcome::upstream_error),
                    Err(_) => observed.finish(Outcome::timeout),
                }
                (server.clone(), upstream, reply)
            }
            .instrument(span)
        });
        let results = futures_util::future::join_all(attempts).await;
        let mut session = Session::new(request.clone(), self.inner.options.session_ttl);
        // Bound to who opened it: another identity presenting it gets 404.
        session.caller = caller::current_digest().unwrap_or_default();
        let mut replies = Vec::new();
        let mut failures = Vec::new();
        for (server, upstream, reply) in results {
            match reply {
                Ok(Ok(mut reply)) if reply.get("result").is_some() => {
                    if let Some(capabilities) = reply.pointer_mut("/result/capabilities") {
                        tasks::without_list(capabilities);
                    }
                    telemetry::metrics().upstream_status(&server.name, Some(200));
                    session.record(&server.name, &server.url, &upstream.state());
                    replies.push((server, reply));
                }
                Ok(Ok(reply)) => failures.push(format!(
                    "server `{}` refused initialize: {}",
                    server.name, reply["error"]
                )),
                Ok(Err(e)) => failures.push(for_client(&server, &e).0),
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
        telemetry::metrics().session_started();
        http::with_session(http::json(StatusCode::OK, &reply), Some(&token))
    }

    /// The servers' GET event streams, merged into one.
    pub(super) async fn get(&self, target: Target<C>, headers: &HeaderMap) -> Response<Body> {
        if let Some(refusal) = modern::no_session(headers) {
            return refusal;
        }
        let session = match self.session(headers) {
            Ok(session) => session,
            Err(refused) => return refused.response(),
        };
        // The session's POSTs from now on wait for the streams to open (the
        // landing dropped, however this ends); a second GET at once does not.
        let opening = match self.inner.openings.join(&session.nonce, || None) {
            Turn::Lead(landing) => Some(landing),
            Turn::Follow(_) | Turn::Ready(()) => None,
        };
        let (servers, tag) = match target {
            Target::One(server) => (vec![server], false),
            Target::All(servers) => (servers, true),
        };
        let mut opened = Vec::new();
        for server in &servers {
            let parked = self
                .inner
                .parked
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&(session.nonce.clone(), server.name.clone()));
            if let Some(events) = parked {
                opened.push((
                    server.name.clone(),
                    TaskServer::new(&server.name, &server.url),
                    server.lists.clone(),
                    events,
                ));
                continue;
            }
            let span = traces::stream_span(&server.name);
            let upstream = span.in_scope(|| self.upstream(server, Some(&session)));
            match upstream.open_events(None).instrument(span).await {
                Ok(events) => opened.push((
                    server.name.clone(),
                    TaskServer::new(&server.name, &server.url),
                    server.lists.clone(),
                    events,
                )),
                Err(StreamableHttpError::ServerDoesNotSupportSse) => {}
                Err(e) => {
                    tracing::warn!(server = %server.name, "opening the event stream failed: {}", tower_sigv4::unstable::ErrorChain(&e))
                }
            }
        }
        drop(opening);
        if opened.is_empty() {
            return http::error(
                StatusCode::METHOD_NOT_ALLOWED,
                "no server offers an event stream",
            );
        }
        let (sender, response) = http::sse();
        let separator = self.inner.options.separator.clone();
        let binding = Binding::current(&self.inner.sealer);
        for (name, task_server, lists, mut events) in opened {
            let sender = sender.clone();
            let separator = separator.clone();
            let binding = binding.clone();
            tokio::spawn(async move {
                let _open = telemetry::metrics().stream();
                loop {
                    // A client that leaves closes the upstream stream (dropped
                    // with `events`), even when the server sends nothing.
                    let next = tokio::select! {
                        () = sender.closed() => return,
                        next = events.next() => next,
                    };
                    let Ok(Some(mut message)) = next else { return };
                    lists.notice(&message);
                    // A GET stream is the session's, not any task's.
                    if !binding.seal_outgoing(&task_server, &mut message, &tasks::Owned::none()) {
                        continue;
                    }
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

    pub(super) async fn delete(&self, target: Target<C>, headers: &HeaderMap) -> Response<Body> {
        if let Some(refusal) = modern::no_session(headers) {
            return refusal;
        }
        let session = match self.session(headers) {
            Ok(session) => session,
            Err(refused) => return refused.response(),
        };
        // This replica refuses the id from now on, whatever the upstreams answer.
        self.inner
            .tombstones
            .bury(&session.nonce, session.expires, session::now());
        let servers = match target {
            Target::One(server) => vec![server],
            Target::All(servers) => servers,
        };
        let ends = servers.iter().filter(|s| session.upstreams.contains_key(&s.name)).map(|server| {
            let upstream = self.upstream(server, Some(&session));
            async move {
                if let Err(e) = upstream.end().await {
                    tracing::warn!(server = %server.name, "ending the session failed: {}", tower_sigv4::unstable::ErrorChain(&e));
                }
            }
        });
        futures_util::future::join_all(ends).await;
        telemetry::metrics().session_ended();
        http::empty(StatusCode::OK)
    }
}

//! The relay engine: a host's JSON-RPC messages in, the upstream MCP session's
//! messages out, with exactly one reply for every request the host sends.
//!
//! Front-ends (stdio now, HTTP next) turn bytes into JSON-RPC messages and hand
//! them to [`Relay::handle`]; the relay sends them through one [`Upstream`]
//! session and writes everything the host should see to the channel it was given.
//!
//! - Every request runs in its own task, whether the endpoint answers with JSON or
//!   SSE, so a slow `tools/call` never holds back a `ping`, a second call, or a
//!   `notifications/cancelled`. Notifications and responses to the server's
//!   requests are sent in the order the host wrote them.
//! - Every request id gets exactly one reply: the server's, or a JSON-RPC error
//!   that says what happened (unreachable endpoint, refused signature, a stream
//!   that broke and could not be resumed, the per-request timeout). A request the
//!   host cancelled gets none, as the MCP specification asks.
//! - A POST's SSE stream that breaks before its reply is resumed with a GET that
//!   carries `Last-Event-ID`, as the specification describes.
//! - The server's GET event stream opens after `notifications/initialized`, is
//!   skipped quietly when the server answers 405, and reconnects after the
//!   server's `retry:` (at most a minute) or with backoff, resuming with
//!   `Last-Event-ID`. The host's messages after
//!   `notifications/initialized` wait (at most 10 s) until the server has
//!   answered that first GET, so that a request the server sends on the stream
//!   in answer to the host's first call finds it open.
//! - A 404 on a request that carries the session id means the server forgot the
//!   session: [`Upstream`] replays the host's `initialize` and
//!   `notifications/initialized` and sends the request again.
//! - JSON-RPC batches (protocol 2025-03-26) are relayed element by element and
//!   answered with one array. A host whose revision has none (2025-06-18 and
//!   later) gets -32600 for a batch, and so does a batch that holds
//!   `initialize` (which 2025-03-26 forbids): nothing of it is sent.
//!
//! The relay imports [`upstream`](crate::upstream) (the session with the
//! server), [`protocol`](crate::protocol) and [`telemetry`](crate::telemetry);
//! the stdio front-end and the `proxy` command import it, and the gateway uses
//! its [`describe`] of a failure.

mod asks;
mod describe;
mod policy;

pub use describe::{Settings, SigningContext, describe};
pub use policy::Policy;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tracing::Instrument;

use rmcp::transport::streamable_http_client::{StreamableHttpClient, StreamableHttpError};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_sigv4::rmcp::HttpClientError;

use crate::protocol::era;
use crate::protocol::jsonrpc::{self, INVALID_REQUEST, Kind, PARSE_ERROR};
use crate::upstream::{
    Events, Reconnect, Reply, StreamEnded, Upstream, UpstreamError, is_session_gone,
};

/// How the relay treats requests.
#[derive(Debug)]
pub struct Options {
    /// How long one request may wait for its reply before the host gets a
    /// timeout error (and the server a `notifications/cancelled`).
    pub request_timeout: Duration,
    /// How many times a broken SSE stream is resumed before giving up.
    pub resume_attempts: u32,
    /// Tool filtering and `_meta` injection.
    pub policy: Policy,
    /// What requests are signed with, to explain refusals.
    pub signing: SigningContext,
}

/// The engine between one host and one upstream session. Cheap to clone.
pub struct Relay<C> {
    shared: Arc<Shared<C>>,
}

impl<C> std::fmt::Debug for Relay<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("upstream", &self.shared.upstream)
            .field("in_flight", &lock(&self.shared.pending).len())
            .finish_non_exhaustive()
    }
}

impl<C> Clone for Relay<C> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<C> {
    upstream: Upstream<C>,
    out: mpsc::Sender<Value>,
    // Requests waiting for a reply that may arrive on another stream.
    pending: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    // The requests in flight, each with the token the host's cancellation
    // triggers: a cancelled request gets no reply, and its upstream work stops.
    cancels: Mutex<HashMap<String, CancellationToken>>,
    // The relay's own requests to the host (a modern server's input requests
    // bridged to a legacy host), waiting for the host's answer.
    asked: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    // Whether the host has shown itself modern (2026-07-28).
    host_modern: AtomicBool,
    // The revision the host's `initialize` settled on, once answered.
    host_version: Mutex<Option<String>>,
    // A modern host's requests to a legacy server that wait for the host's
    // answers to the server's requests, by the `requestState` it was given.
    parked: Mutex<HashMap<String, asks::Parked>>,
    options: Options,
    tasks: TaskTracker,
    events_started: AtomicBool,
    stop_events: CancellationToken,
}

/// Why a request got no reply from the server.
enum Failure {
    Upstream(UpstreamError),
    StreamEnded(StreamEnded),
}

impl<C> Relay<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// A relay that sends through `upstream` and writes what the host should see
    /// to `out`.
    pub fn new(upstream: Upstream<C>, options: Options, out: mpsc::Sender<Value>) -> Self {
        Self {
            shared: Arc::new(Shared {
                upstream,
                out,
                pending: Mutex::default(),
                cancels: Mutex::default(),
                asked: Mutex::default(),
                host_modern: AtomicBool::new(false),
                host_version: Mutex::default(),
                parked: Mutex::default(),
                options,
                tasks: TaskTracker::new(),
                events_started: AtomicBool::new(false),
                stop_events: CancellationToken::new(),
            }),
        }
    }

    /// The upstream session.
    pub fn upstream(&self) -> &Upstream<C> {
        &self.shared.upstream
    }

    /// Take one message (or batch) from the host. Returns once it is sent on its
    /// way: requests run in their own tasks; `initialize`, notifications and
    /// responses are sent before the next message is read.
    pub async fn handle(&self, message: Value) {
        if let Value::Array(batch) = message {
            return self.handle_batch(batch);
        }
        let is_initialize = jsonrpc::method(&message) == Some("initialize");
        if jsonrpc::kind(&message) == Kind::Request && !is_initialize {
            let relay = self.clone();
            self.shared.tasks.spawn(async move {
                if let Some(reply) = relay.process(message).await {
                    relay.emit(reply).await;
                }
            });
            return;
        }
        if let Some(reply) = self.process(message).await {
            self.emit(reply).await;
        }
    }

    fn handle_batch(&self, batch: Vec<Value>) {
        let relay = self.clone();
        self.shared.tasks.spawn(async move {
            if let Some(version) = relay.batchless_host(&batch) {
                tracing::info!("refused a JSON-RPC batch from an MCP {version} host");
                return relay.emit(era::batch_refusal(&version)).await;
            }
            if batch.is_empty() {
                let error = jsonrpc::error(
                    &Value::Null,
                    INVALID_REQUEST,
                    "an empty batch is not a valid request",
                    None,
                );
                return relay.emit(error).await;
            }
            if let Some(refusal) = era::initialize_batch_refusal(&batch) {
                tracing::info!("refused a JSON-RPC batch that holds initialize");
                return relay.emit(refusal).await;
            }
            let replies =
                futures_util::future::join_all(batch.into_iter().map(|m| relay.process(m))).await;
            let replies: Vec<Value> = replies.into_iter().flatten().collect();
            if !replies.is_empty() {
                relay.emit(Value::Array(replies)).await;
            }
        });
    }

    /// The revision of a host that sent a batch, when that revision has no
    /// batches: 2026-07-28 when the host has shown itself modern (or a message
    /// of the batch does), else the revision its `initialize` settled on
    /// (2025-03-26 before any).
    fn batchless_host(&self, batch: &[Value]) -> Option<String> {
        let version = match batch.iter().find_map(era::envelope_version) {
            Some(version) => version.to_owned(),
            None if self.shared.host_modern.load(Ordering::SeqCst) => era::MODERN_VERSION.into(),
            None => lock(&self.shared.host_version)
                .clone()
                .unwrap_or_else(|| era::UNSTATED_VERSION.into()),
        };
        (!era::allows_batches(&version)).then_some(version)
    }

    /// Relay one message; the reply to write back, if it wants one.
    async fn process(&self, message: Value) -> Option<Value> {
        match jsonrpc::kind(&message) {
            Kind::Request => {
                let span = crate::telemetry::traces::host_span(&message);
                self.request(message).instrument(span).await
            }
            Kind::Notification => {
                self.notify(message).await;
                None
            }
            Kind::Response => {
                let key = jsonrpc::id_key(&message["id"]);
                let waiter = lock(&self.shared.asked).remove(&key);
                match waiter {
                    Some(waiter) => {
                        let _ = waiter.send(message);
                    }
                    None => {
                        self.forward(message, "the reply to the server's request")
                            .await
                    }
                }
                None
            }
            Kind::Invalid => Some(jsonrpc::invalid(&message)),
        }
    }

    async fn request(&self, mut message: Value) -> Option<Value> {
        let shared = &self.shared;
        let id = message["id"].clone();
        let key = jsonrpc::id_key(&id);
        let method = jsonrpc::method(&message).unwrap_or_default().to_owned();
        let timeout = shared.options.request_timeout;
        if method == "initialize" {
            let reply = tokio::time::timeout(timeout, shared.upstream.initialize(message)).await;
            return Some(match reply {
                Ok(Ok(reply)) => {
                    if let Some(version) = reply
                        .pointer("/result/protocolVersion")
                        .and_then(Value::as_str)
                    {
                        *lock(&shared.host_version) = Some(version.to_owned());
                    }
                    reply
                }
                Ok(Err(e)) => self.error_reply(&id, &Failure::Upstream(e)),
                Err(_) => self.timeout_reply(&id, timeout),
            });
        }
        let host_era = era::Era::of_message(&message);
        if host_era == Some(era::Era::Modern) {
            shared.host_modern.store(true, Ordering::SeqCst);
            let envelope =
                era::Envelope::from_request(&message).unwrap_or_else(era::Envelope::empty);
            match tokio::time::timeout(timeout, shared.upstream.probe(&envelope)).await {
                Ok(Ok(era::Era::Legacy)) if method == "server/discover" => {
                    let result = shared
                        .upstream
                        .legacy_discover_result()
                        .unwrap_or_else(|| era::discover_from_initialize(&Value::Null));
                    return Some(era::Era::Modern.reply(&method, &id, result));
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Some(self.error_reply(&id, &Failure::Upstream(e))),
                Err(_) => return Some(self.timeout_reply(&id, timeout)),
            }
        }
        if method == "ping" && host_era.is_none() && shared.upstream.era() == Some(era::Era::Modern)
        {
            // 2026-07-28 has no ping; a bridged legacy host is answered here.
            return Some(json!({"jsonrpc": "2.0", "id": id, "result": {}}));
        }
        if method == "tools/call"
            && let Some(refusal) = self.refuse_call(&message).await
        {
            return Some(refusal);
        }
        shared.options.policy.inject_metadata(&mut message);

        let (sender, mut receiver) = oneshot::channel();
        if lock(&shared.pending).insert(key.clone(), sender).is_some() {
            return Some(jsonrpc::error(
                &id,
                INVALID_REQUEST,
                "a request with this id is already in flight; use a new id for each request",
                None,
            ));
        }
        let bridge_inputs =
            host_era != Some(era::Era::Modern) && shared.upstream.era() == Some(era::Era::Modern);
        // A subscription lasts until the host cancels it: no per-request timeout,
        // and a stream that breaks is re-sent (2026-07-28 streams don't resume).
        let listen = method == "subscriptions/listen";
        let cancel = CancellationToken::new();
        lock(&shared.cancels).insert(key.clone(), cancel.clone());
        let modern_to_legacy =
            host_era == Some(era::Era::Modern) && shared.upstream.era() == Some(era::Era::Legacy);
        let parked = modern_to_legacy.then(|| self.unpark(&message)).flatten();
        let asking = modern_to_legacy
            && era::Envelope::from_request(&message).is_some_and(|e| {
                ["sampling", "elicitation", "roots"]
                    .iter()
                    .any(|c| e.declares(c))
            });
        let work = async {
            if let Some(parked) = parked {
                return self.resume(parked, &message, &id).await;
            }
            if asking {
                return self.exchange_asking(&message, &id).await;
            }
            let mut resent = 0;
            let reply = loop {
                match self.exchange(&message, &id, &mut receiver, None).await {
                    Err(Failure::StreamEnded(ended))
                        if listen && resent < shared.options.resume_attempts =>
                    {
                        resent += 1;
                        tracing::info!(
                            attempt = resent,
                            "the subscription stream broke ({ended}); sending subscriptions/listen again"
                        );
                    }
                    other => break other?,
                }
            };
            if bridge_inputs {
                return self
                    .fulfil_inputs(&message, &id, reply, &mut receiver)
                    .await;
            }
            Ok(reply)
        };
        let outcome = tokio::select! {
            // The host cancelled: its upstream request (and stream) is dropped
            // here, after the cancellation went upstream.
            () = cancel.cancelled() => None,
            outcome = async {
                if listen {
                    Ok(work.await)
                } else {
                    tokio::time::timeout(timeout, work).await
                }
            } => Some(outcome),
        };
        lock(&shared.pending).remove(&key);
        lock(&shared.cancels).remove(&key);
        let Some(outcome) = outcome.filter(|_| !cancel.is_cancelled()) else {
            tracing::debug!(id = %key, "the host cancelled the request; its reply is dropped");
            return None;
        };
        let reply = match outcome {
            Ok(Ok(mut reply)) => {
                if method == "tools/list" {
                    if shared.upstream.era() == Some(era::Era::Modern) {
                        era::drop_invalid_header_tools(&mut reply);
                    }
                    shared.upstream.tool_headers().learn(&reply);
                    shared.options.policy.filter_tool_list(&mut reply);
                }
                // In the host's era, whichever era the server answered in.
                host_era
                    .unwrap_or(era::Era::Legacy)
                    .shape_reply(&method, &mut reply);
                reply
            }
            Ok(Err(failure)) => self.error_reply(&id, &failure),
            Err(_) => {
                self.cancel_upstream(&id, "the relay's per-request timeout passed");
                self.timeout_reply(&id, timeout)
            }
        };
        Some(reply)
    }

    /// Send one request and wait for its reply, on its own stream or another one.
    ///
    /// With `asks`, the server's requests on the request's own stream go there
    /// (to become a modern host's input requests) instead of to the host.
    async fn exchange(
        &self,
        message: &Value,
        id: &Value,
        receiver: &mut oneshot::Receiver<Value>,
        asks: Option<&mpsc::Sender<Value>>,
    ) -> Result<Value, Failure> {
        match self
            .shared
            .upstream
            .send(message)
            .await
            .map_err(Failure::Upstream)?
        {
            Reply::Json(reply) if jsonrpc::is_response_to(&reply, id) => return Ok(reply),
            Reply::Json(other) => self.route(other).await,
            Reply::Accepted => {}
            Reply::Stream(events) => {
                return tokio::select! {
                    biased;
                    Ok(reply) = &mut *receiver => Ok(reply),
                    reply = self.drive(events, id, asks) => reply,
                };
            }
        }
        // The reply comes on the GET stream (or not at all, until the timeout).
        receiver.await.map_err(|_| {
            Failure::StreamEnded(StreamEnded {
                resumed: 0,
                cause: None,
            })
        })
    }

    /// A modern server's `InputRequiredResult` for a legacy host: each input
    /// request goes to the host as the server-to-client request it was in the
    /// legacy protocol (elicitation, sampling, roots), and the host's answers go
    /// back as the re-sent request's `inputResponses`, with the `requestState`.
    async fn fulfil_inputs(
        &self,
        request: &Value,
        id: &Value,
        mut reply: Value,
        receiver: &mut oneshot::Receiver<Value>,
    ) -> Result<Value, Failure> {
        for _round in 0..era::INPUT_ROUNDS {
            let Some(inputs) = era::input_required(&reply) else {
                return Ok(reply);
            };
            let mut answers = serde_json::Map::new();
            for (key, input) in inputs.requests {
                answers.insert(key, self.ask_host(input).await);
            }
            let retry = era::with_input_responses(request, answers, inputs.request_state);
            reply = self.exchange(&retry, id, receiver, None).await?;
        }
        Ok(jsonrpc::error(
            id,
            jsonrpc::UPSTREAM_ERROR,
            "the MCP server asked for input more than 10 times for one request; giving up",
            Some(json!({"source": "relay"})),
        ))
    }

    /// Send the host one request of the relay's own and wait for its answer: the
    /// result, or the error object when the host refused.
    async fn ask_host(&self, input: Value) -> Value {
        let id = format!("mcp-sigv4-input-{}", uuid::Uuid::new_v4());
        let (sender, receiver) = oneshot::channel();
        lock(&self.shared.asked).insert(jsonrpc::id_key(&json!(id)), sender);
        self.emit(era::input_request_message(&json!(id), &input))
            .await;
        match receiver.await {
            Ok(answer) => era::input_answer(&answer),
            Err(_) => Value::Null,
        }
    }

    /// Read a POST's stream until the reply to `id`, forwarding everything else
    /// (the server's requests to `asks`, when given).
    async fn drive(
        &self,
        events: Events,
        id: &Value,
        asks: Option<&mpsc::Sender<Value>>,
    ) -> Result<Value, Failure> {
        self.shared
            .upstream
            .follow(
                events,
                id,
                self.shared.options.resume_attempts,
                |message| async move {
                    match asks {
                        Some(asks) if jsonrpc::kind(&message) == Kind::Request => {
                            let _ = asks.send(message).await;
                        }
                        _ => self.route(message).await,
                    }
                },
            )
            .await
            .map_err(Failure::StreamEnded)
    }

    /// A message from the server that is not the reply a task is reading for.
    async fn route(&self, message: Value) {
        let shared = &self.shared;
        if jsonrpc::method(&message).is_none() {
            let key = message.get("id").map(jsonrpc::id_key).unwrap_or_default();
            match lock(&shared.pending).remove(&key) {
                Some(waiter) => {
                    let _ = waiter.send(message);
                }
                None => tracing::debug!(id = %key, "dropping a reply to no request in flight"),
            }
            return;
        }
        if jsonrpc::method(&message) == Some("notifications/tools/list_changed") {
            shared.options.policy.forget_tools();
            shared.upstream.tool_headers().forget_listing();
        }
        if shared.host_modern.load(Ordering::SeqCst) && jsonrpc::kind(&message) == Kind::Request {
            return self.refuse_server_request(&message);
        }
        self.emit(message).await;
    }

    /// A legacy server's request to a modern host that cannot take it as an
    /// input request (it declared no capability for it, or the request came
    /// outside any of the host's requests): the server gets an error saying so.
    fn refuse_server_request(&self, message: &Value) {
        let method = jsonrpc::method(message).unwrap_or_default();
        tracing::warn!(
            method,
            "the legacy server sent a request the 2026-07-28 host cannot receive; refused"
        );
        let refusal = jsonrpc::error(
            &message["id"],
            jsonrpc::METHOD_NOT_FOUND,
            &format!(
                "`{method}` cannot reach the client: it speaks MCP {}, which has no server-to-client requests, and it declared no sampling, elicitation or roots capability to answer them as input requests",
                era::MODERN_VERSION
            ),
            None,
        );
        let relay = self.clone();
        self.shared.tasks.spawn(async move {
            relay
                .forward(refusal, "the refusal of the server's request")
                .await;
        });
    }

    async fn notify(&self, message: Value) {
        match jsonrpc::method(&message) {
            Some("notifications/cancelled") => {
                if let Some(id) = message.pointer("/params/requestId") {
                    // Only a request still in flight can be cancelled: a late or
                    // unknown id is not remembered, so nothing grows and a reused
                    // id still gets its reply. The server hears of it first.
                    let cancel = lock(&self.shared.cancels)
                        .get(&jsonrpc::id_key(id))
                        .cloned();
                    self.forward(message, "a notification").await;
                    if let Some(cancel) = cancel {
                        cancel.cancel();
                    }
                    return;
                }
            }
            Some("notifications/initialized")
                if self.shared.upstream.era() == Some(era::Era::Modern) =>
            {
                // A bridged legacy host: a modern server has no handshake to finish.
                return;
            }
            Some("notifications/initialized") => {
                self.forward(message, "notifications/initialized").await;
                // The host's next messages wait until the server has answered
                // the GET: a server that sends its requests (sampling,
                // elicitation) on that stream, and drops them when none is
                // open, finds it open for the host's first call.
                let Some(opened) = self.start_events() else {
                    return;
                };
                tracing::debug!(
                    "holding the host's messages until the server's event stream opens"
                );
                if tokio::time::timeout(EVENTS_OPEN_HOLD, opened)
                    .await
                    .is_err()
                {
                    tracing::warn!(
                        "the server's event stream did not open within {} s; relaying the host's requests anyway",
                        EVENTS_OPEN_HOLD.as_secs_f64()
                    );
                }
                return;
            }
            _ => {}
        }
        self.forward(message, "a notification").await;
    }

    /// Send a message that wants no reply; what the server answers anyway is routed.
    async fn forward(&self, message: Value, what: &str) {
        match self.shared.upstream.send(&message).await {
            Ok(Reply::Accepted) => {}
            Ok(Reply::Json(reply)) => self.route(reply).await,
            Ok(Reply::Stream(mut events)) => {
                while let Ok(Some(message)) = events.next().await {
                    self.route(message).await;
                }
            }
            Err(e) => tracing::warn!(
                "sending {what} upstream failed: {}",
                tower_sigv4::unstable::ErrorChain(&e)
            ),
        }
    }

    /// Tell the server to stop working on a request the host will get an error for.
    fn cancel_upstream(&self, id: &Value, reason: &str) {
        let relay = self.clone();
        let notification = json!({
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": id, "reason": reason},
        });
        self.shared.tasks.spawn(async move {
            relay.forward(notification, "notifications/cancelled").await;
        });
    }

    /// A refusal for a `tools/call` the policy does not allow.
    async fn refuse_call(&self, message: &Value) -> Option<Value> {
        let policy = &self.shared.options.policy;
        if !policy.filters_tools() {
            return None;
        }
        let id = &message["id"];
        let name = message
            .pointer("/params/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut verdict = policy.check_call(name);
        if verdict.is_none() {
            // --read-only and the host has not listed tools: learn their annotations.
            self.learn_tools().await;
            verdict = policy.check_call(name);
        }
        let why = match verdict {
            Some(Ok(())) => return None,
            Some(Err(policy::Refusal::NotAllowed)) => {
                format!("tool `{name}` is not allowed by --allow-tools/--deny-tools")
            }
            Some(Err(policy::Refusal::NotReadOnly)) | None => format!(
                "tool `{name}` is not annotated readOnlyHint: true, and --read-only allows only read-only tools"
            ),
        };
        tracing::info!("refused a tools/call: {why}");
        Some(jsonrpc::error(
            id,
            jsonrpc::TOOL_REFUSED,
            &why,
            Some(json!({"source": "relay", "tool": name})),
        ))
    }

    /// List every tool once (all pages), so that the policy knows their annotations.
    async fn learn_tools(&self) {
        let mut cursor: Option<String> = None;
        for _page in 0..100 {
            // A fresh id each time: ids are never reused within a session.
            let id = json!(format!("mcp-sigv4-tools-{}", uuid::Uuid::new_v4()));
            let mut request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"});
            if let Some(cursor) = &cursor {
                request["params"] = json!({"cursor": cursor});
            }
            let (_, mut receiver) = oneshot::channel();
            let Ok(Ok(mut reply)) = tokio::time::timeout(
                self.shared.options.request_timeout,
                self.exchange(&request, &id, &mut receiver, None),
            )
            .await
            else {
                return;
            };
            self.shared.options.policy.filter_tool_list(&mut reply);
            cursor = reply
                .pointer("/result/nextCursor")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if cursor.is_none() {
                return;
            }
        }
    }

    /// Start the event stream's task, once; what it sends on once its first
    /// GET is answered (or has failed).
    fn start_events(&self) -> Option<oneshot::Receiver<()>> {
        if self.shared.events_started.swap(true, Ordering::SeqCst) {
            return None;
        }
        let relay = self.clone();
        let (opened, first) = oneshot::channel();
        tokio::spawn(async move { relay.events_loop(opened).await });
        Some(first)
    }

    /// Keep the server's GET event stream open until shutdown; send on
    /// `opened` once the first GET is answered or has failed.
    async fn events_loop(&self, opened: oneshot::Sender<()>) {
        let mut opened_signal = Some(opened);
        let shared = &self.shared;
        let stop = shared.stop_events.clone();
        let mut generations = shared.upstream.generations();
        let mut reconnect = Reconnect::default();
        let mut last_event_id: Option<String> = None;
        loop {
            let opened = tokio::select! {
                () = stop.cancelled() => return,
                opened = shared.upstream.open_events(last_event_id.clone()) => opened,
            };
            if let Some(first) = opened_signal.take() {
                let _ = first.send(());
            }
            let mut events = match opened {
                Ok(events) => events,
                Err(StreamableHttpError::ServerDoesNotSupportSse) => {
                    tracing::debug!("the server offers no GET event stream (405)");
                    return;
                }
                Err(e) if is_session_gone(&e) => {
                    tracing::debug!("the event stream's session is gone; waiting for a new one");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        changed = generations.changed() => if changed.is_err() { return },
                    }
                    last_event_id = None;
                    reconnect.reset();
                    continue;
                }
                Err(e) => {
                    tracing::warn!(
                        "opening the server's event stream failed: {}; retrying",
                        tower_sigv4::unstable::ErrorChain(&e)
                    );
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = reconnect.wait() => continue,
                    }
                }
            };
            let generation = *generations.borrow_and_update();
            reconnect.reset();
            loop {
                let next = tokio::select! {
                    () = stop.cancelled() => return,
                    next = events.next() => next,
                };
                match next {
                    Ok(Some(message)) => self.route(message).await,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("the server's event stream broke: {e}; reconnecting");
                        break;
                    }
                }
            }
            last_event_id = events.last_event_id().map(str::to_owned).or(last_event_id);
            reconnect.learn(&events);
            if *generations.borrow() != generation {
                last_event_id = None;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = reconnect.wait() => {}
            }
        }
    }

    /// Answer a line that is not JSON (JSON-RPC's parse error, id null).
    pub async fn parse_error(&self, error: &serde_json::Error) {
        tracing::warn!("the host sent a line that is not JSON: {error}");
        let reply = jsonrpc::error(
            &Value::Null,
            PARSE_ERROR,
            &format!("parse error: {error}"),
            None,
        );
        self.emit(reply).await;
    }

    async fn emit(&self, message: Value) {
        // A closed channel means the front-end is gone; nobody is left to tell.
        let _ = self.shared.out.send(message).await;
    }

    fn error_reply(&self, id: &Value, failure: &Failure) -> Value {
        let (message, data) = match failure {
            Failure::Upstream(e) => describe(e, &self.shared.options.signing),
            Failure::StreamEnded(ended) => (ended.to_string(), json!({"source": "upstream"})),
        };
        tracing::warn!(id = %id, "{message}");
        jsonrpc::error(id, jsonrpc::UPSTREAM_ERROR, &message, Some(data))
    }

    fn timeout_reply(&self, id: &Value, timeout: Duration) -> Value {
        let message = format!(
            "no reply from the MCP server within {} s; the request was cancelled on the server. Allow longer with --tool-timeout",
            timeout.as_secs_f64()
        );
        tracing::warn!(id = %id, "{message}");
        jsonrpc::error(
            id,
            jsonrpc::TIMEOUT_ERROR,
            &message,
            Some(json!({"source": "relay"})),
        )
    }

    /// Stop: no new requests; in-flight ones get `grace` to finish; the event
    /// stream closes; the session ends (DELETE).
    pub async fn shutdown(&self, grace: Duration) {
        let shared = &self.shared;
        shared.stop_events.cancel();
        shared.tasks.close();
        if tokio::time::timeout(grace, shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "requests still in flight after {} s; ending the session anyway",
                grace.as_secs_f64()
            );
        }
        match tokio::time::timeout(grace, shared.upstream.end()).await {
            Ok(Ok(())) => tracing::debug!("session ended"),
            Ok(Err(e)) => {
                tracing::warn!(
                    "ending the session failed: {}",
                    tower_sigv4::unstable::ErrorChain(&e)
                )
            }
            Err(_) => tracing::warn!(
                "ending the session took longer than {} s",
                grace.as_secs_f64()
            ),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The longest the host's messages after `notifications/initialized` wait for
/// the server to answer the GET of its event stream.
const EVENTS_OPEN_HOLD: Duration = Duration::from_secs(10);

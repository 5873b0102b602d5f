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
//!   skipped quietly when the server answers 405, and reconnects with backoff,
//!   resuming with `Last-Event-ID`.
//! - A 404 on a request that carries the session id means the server forgot the
//!   session: [`Upstream`] replays the host's `initialize` and
//!   `notifications/initialized` and sends the request again.
//! - JSON-RPC batches (protocol 2025-03-26) are relayed element by element and
//!   answered with one array.

mod describe;
pub mod jsonrpc;
mod policy;
mod upstream;

pub use describe::{Settings, SigningContext, describe};
pub use jsonrpc::{INVALID_REQUEST, PARSE_ERROR};
pub use policy::Policy;
pub use upstream::{
    Events, Reply, SessionState, StreamEnded, Upstream, UpstreamError, is_session_gone,
};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rmcp::transport::streamable_http_client::{StreamableHttpClient, StreamableHttpError};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::retry::backoff::{Backoff, ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use tower::util::rng::HasherRng;
use tower_sigv4::rmcp::HttpClientError;

use jsonrpc::Kind;

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
    // Requests the host cancelled: they get no reply.
    cancelled: Mutex<HashSet<String>>,
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
                cancelled: Mutex::default(),
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
            if batch.is_empty() {
                let error = jsonrpc::error(
                    &Value::Null,
                    INVALID_REQUEST,
                    "an empty batch is not a valid request",
                    None,
                );
                return relay.emit(error).await;
            }
            let replies =
                futures_util::future::join_all(batch.into_iter().map(|m| relay.process(m))).await;
            let replies: Vec<Value> = replies.into_iter().flatten().collect();
            if !replies.is_empty() {
                relay.emit(Value::Array(replies)).await;
            }
        });
    }

    /// Relay one message; the reply to write back, if it wants one.
    async fn process(&self, message: Value) -> Option<Value> {
        match jsonrpc::kind(&message) {
            Kind::Request => self.request(message).await,
            Kind::Notification => {
                self.notify(message).await;
                None
            }
            Kind::Response => {
                self.forward(message, "the reply to the server's request")
                    .await;
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
                Ok(Ok(reply)) => reply,
                Ok(Err(e)) => self.error_reply(&id, &Failure::Upstream(e)),
                Err(_) => self.timeout_reply(&id, timeout),
            });
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
        let outcome =
            tokio::time::timeout(timeout, self.exchange(&message, &id, &mut receiver)).await;
        lock(&shared.pending).remove(&key);
        let reply = match outcome {
            Ok(Ok(mut reply)) => {
                if method == "tools/list" {
                    shared.options.policy.filter_tool_list(&mut reply);
                }
                reply
            }
            Ok(Err(failure)) => self.error_reply(&id, &failure),
            Err(_) => {
                self.cancel_upstream(&id, "the relay's per-request timeout passed");
                self.timeout_reply(&id, timeout)
            }
        };
        if lock(&shared.cancelled).remove(&key) {
            tracing::debug!(id = %key, "the host cancelled the request; its reply is dropped");
            return None;
        }
        Some(reply)
    }

    /// Send one request and wait for its reply, on its own stream or another one.
    async fn exchange(
        &self,
        message: &Value,
        id: &Value,
        receiver: &mut oneshot::Receiver<Value>,
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
                    reply = self.drive(events, id) => reply,
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

    /// Read a POST's stream until the reply to `id`, forwarding everything else.
    async fn drive(&self, events: Events, id: &Value) -> Result<Value, Failure> {
        self.shared
            .upstream
            .follow(events, id, self.shared.options.resume_attempts, |message| {
                self.route(message)
            })
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
        }
        self.emit(message).await;
    }

    async fn notify(&self, message: Value) {
        match jsonrpc::method(&message) {
            Some("notifications/cancelled") => {
                if let Some(id) = message.pointer("/params/requestId") {
                    lock(&self.shared.cancelled).insert(jsonrpc::id_key(id));
                }
            }
            Some("notifications/initialized") => {
                self.forward(message, "notifications/initialized").await;
                self.start_events();
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
                tower_sigv4::ErrorChain(&e)
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
        for page in 0..100 {
            let id = json!(format!("mcp-sigv4-tools-{page}"));
            let mut request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"});
            if let Some(cursor) = &cursor {
                request["params"] = json!({"cursor": cursor});
            }
            let (_, mut receiver) = oneshot::channel();
            let Ok(Ok(mut reply)) = tokio::time::timeout(
                self.shared.options.request_timeout,
                self.exchange(&request, &id, &mut receiver),
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

    fn start_events(&self) {
        if self.shared.events_started.swap(true, Ordering::SeqCst) {
            return;
        }
        let relay = self.clone();
        tokio::spawn(async move { relay.events_loop().await });
    }

    /// Keep the server's GET event stream open until shutdown.
    async fn events_loop(&self) {
        let shared = &self.shared;
        let stop = shared.stop_events.clone();
        let mut generations = shared.upstream.generations();
        let mut backoff = backoff();
        let mut last_event_id: Option<String> = None;
        loop {
            let opened = tokio::select! {
                () = stop.cancelled() => return,
                opened = shared.upstream.open_events(last_event_id.clone()) => opened,
            };
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
                    backoff = self::backoff();
                    continue;
                }
                Err(e) => {
                    tracing::warn!(
                        "opening the server's event stream failed: {}; retrying",
                        tower_sigv4::ErrorChain(&e)
                    );
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = backoff.next_backoff() => continue,
                    }
                }
            };
            let generation = *generations.borrow_and_update();
            backoff = self::backoff();
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
            if *generations.borrow() != generation {
                last_event_id = None;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = backoff.next_backoff() => {}
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
                tracing::warn!("ending the session failed: {}", tower_sigv4::ErrorChain(&e))
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

/// Reconnection backoff: 100 ms doubling to 10 s, with jitter (tower's).
pub(crate) fn backoff() -> ExponentialBackoff {
    ExponentialBackoffMaker::new(
        Duration::from_millis(100),
        Duration::from_secs(10),
        0.5,
        HasherRng::default(),
    )
    .map(|mut maker| maker.make_backoff())
    .unwrap_or_else(|_| unreachable!("the bounds are valid constants"))
}

//! One upstream MCP session: the endpoint, its session id, the negotiated protocol
//! version, the host's `initialize` (replayed when the server forgets the session),
//! and the SSE streams with their resumption.
//!
//! A broken stream is resumed after the server's SSE `retry:` (its
//! reconnection time, kept for the later attempts as an `EventSource` does),
//! at most [`MAX_RETRY`] so that a server cannot park a request for hours; a
//! server that sent none gets tower's exponential backoff ([`Reconnect`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, ClientRequest, ClientResult, CustomNotification,
    CustomRequest, CustomResult, RequestId,
};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use serde_json::{Value, json};
use sse_stream::Sse;
use tokio::sync::watch;
use tower::retry::backoff::{Backoff, ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use tower::util::rng::HasherRng;
use tower_sigv4::rmcp::HttpClientError;

use crate::protocol::era::{self, Envelope, Era, PROTOCOL_VERSION, ToolHeaders};
use crate::protocol::jsonrpc;

/// What went wrong talking to the upstream endpoint.
pub type UpstreamError = StreamableHttpError<HttpClientError>;

/// The session as the server knows it.
///
/// `protocol_version` also says which era the server is spoken to in: a legacy
/// version means an `initialize`d session; [`era::MODERN_VERSION`] means
/// stateless requests (stamped with the envelope of `initialize` when a legacy
/// host is bridged to a modern server); `None` means not known yet.
#[derive(Clone, Debug, Default)]
pub struct SessionState {
    /// `Mcp-Session-Id`, once the server gave one (a modern server may set one
    /// too, to pin later requests to one instance; it is sent back).
    pub session_id: Option<Arc<str>>,
    /// The protocol version the server answered `initialize` with, or
    /// [`era::MODERN_VERSION`] for a modern server.
    pub protocol_version: Option<String>,
    /// The host's `initialize` request, replayed to start a new session (or the
    /// one the relay sent on a modern host's behalf).
    pub initialize: Option<Value>,
    /// Bumped each time a new session replaces a lost one.
    pub generation: u64,
}

/// A reply to one POST.
#[derive(Debug)]
pub enum Reply {
    /// 202: nothing to read (a notification or a response was accepted).
    Accepted,
    /// A JSON body with one message.
    Json(Value),
    /// An SSE stream of messages, the reply among them.
    Stream(Events),
}

/// The longest a server's SSE `retry:` makes a resumption wait (60 s, the
/// library's bound); a longer one is cut to this.
pub const MAX_RETRY: Duration = tower_sigv4::rmcp::MAX_SSE_RETRY;

/// An SSE stream of JSON-RPC messages that remembers the last event id and the
/// server's reconnection time, so that a broken stream can be resumed with
/// `Last-Event-ID` when the server asked.
pub struct Events {
    inner: BoxStream<'static, Result<Sse, SseError>>,
    last_event_id: Option<String>,
    retry: Option<Duration>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("last_event_id", &self.last_event_id)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Events {
    fn new(inner: BoxStream<'static, Result<Sse, SseError>>) -> Self {
        Self {
            // Fused: asked again after its end, it ends again.
            inner: inner.fuse().boxed(),
            last_event_id: None,
            retry: None,
        }
    }

    /// The next message, `Ok(None)` at the end of the stream, `Err` when it broke.
    /// Priming events and keep-alives (no data) are skipped; data that is not JSON
    /// is logged and skipped.
    pub async fn next(&mut self) -> Result<Option<Value>, SseError> {
        while let Some(event) = self.inner.next().await {
            let event = event?;
            if let Some(id) = event.id.filter(|id| !id.is_empty()) {
                self.last_event_id = Some(id);
            }
            if let Some(retry) = event.retry {
                self.retry = Some(Duration::from_millis(retry).min(MAX_RETRY));
            }
            let Some(data) = event.data else { continue };
            let data = data.trim();
            if data.is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(data) {
                Ok(message) => return Ok(Some(message)),
                Err(e) => tracing::warn!("dropping a server event that is not JSON: {e}"),
            }
        }
        Ok(None)
    }

    /// The id of the last event received, if the server numbers its events.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The reconnection time of the last `retry:` field received (at most
    /// [`MAX_RETRY`]), if the server sent one.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }
}

/// The wait before each attempt to resume or reopen a stream: the server's
/// `retry:` once one was received, else tower's exponential backoff.
#[derive(Debug)]
pub struct Reconnect {
    backoff: ExponentialBackoff,
    retry: Option<Duration>,
}

impl Default for Reconnect {
    fn default() -> Self {
        Self {
            backoff: backoff(),
            retry: None,
        }
    }
}

impl Reconnect {
    /// Take the reconnection time `events` carried, if any; it holds for the
    /// later attempts too, until the server sends another.
    pub fn learn(&mut self, events: &Events) {
        if let Some(retry) = events.retry() {
            self.retry = Some(retry);
        }
    }

    /// The server's reconnection time the next wait is, if it sent one (the
    /// backoff's next step otherwise).
    pub fn server_retry(&self) -> Option<Duration> {
        self.retry
    }

    /// Wait before the next attempt.
    pub async fn wait(&mut self) {
        match self.retry {
            Some(retry) => {
                tracing::info!(
                    retry_ms = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX),
                    "waiting the server's retry: before reconnecting"
                );
                tokio::time::sleep(retry).await;
            }
            None => self.backoff.next_backoff().await,
        }
    }

    /// Start the backoff over, after a stream that opened; the server's
    /// reconnection time is kept.
    pub fn reset(&mut self) {
        self.backoff = backoff();
    }
}

/// One MCP endpoint and the session with it, shared by every request of a host.
pub struct Upstream<C> {
    client: C,
    uri: Arc<str>,
    headers: HashMap<HeaderName, HeaderValue>,
    state: Mutex<SessionState>,
    // Held while a lost session is replaced, so concurrent 404s start one session.
    recovering: tokio::sync::Mutex<()>,
    generation: watch::Sender<u64>,
    // The `x-mcp-header` annotations of the tools the server listed (shared by
    // the gateway's upstreams of one server and credential).
    tool_headers: Arc<ToolHeaders>,
    // A legacy server's `InitializeResult`, when the relay opened the session for
    // a modern host: its `server/discover` is answered from it.
    legacy_result: Mutex<Option<Value>>,
}

impl<C> std::fmt::Debug for Upstream<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // The session id admits a client to the session: say only whether there is one.
        f.debug_struct("Upstream")
            .field("endpoint", &self.uri.split('?').next().unwrap_or_default())
            .field("has_session", &state.session_id.is_some())
            .field("protocol_version", &state.protocol_version)
            .field("generation", &state.generation)
            .finish_non_exhaustive()
    }
}

impl<C> Upstream<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// A session with `uri` that sends `headers` on every request.
    pub fn new(
        client: C,
        uri: impl Into<Arc<str>>,
        headers: HashMap<HeaderName, HeaderValue>,
    ) -> Self {
        Self::with_state(client, uri, headers, SessionState::default())
    }

    /// A session that continues from `state` (for front-ends that keep the session
    /// outside the process).
    pub fn with_state(
        client: C,
        uri: impl Into<Arc<str>>,
        headers: HashMap<HeaderName, HeaderValue>,
        state: SessionState,
    ) -> Self {
        let (generation, _) = watch::channel(state.generation);
        Self {
            client,
            uri: uri.into(),
            headers,
            state: Mutex::new(state),
            recovering: tokio::sync::Mutex::new(()),
            generation,
            tool_headers: Arc::default(),
            legacy_result: Mutex::new(None),
        }
    }

    /// Share `tool_headers` with other sessions of the same server (and the
    /// same credential), so that what one learnt from `tools/list` serves all.
    pub fn with_tool_headers(mut self, tool_headers: Arc<ToolHeaders>) -> Self {
        self.tool_headers = tool_headers;
        self
    }

    /// The era the server is spoken to in, once known.
    pub fn era(&self) -> Option<Era> {
        self.lock().protocol_version.as_deref().map(Era::of_version)
    }

    /// The `x-mcp-header` annotations learnt from the server's `tools/list`.
    pub fn tool_headers(&self) -> &ToolHeaders {
        &self.tool_headers
    }

    /// The session as it is now.
    pub fn state(&self) -> SessionState {
        self.lock().clone()
    }

    /// Notified each time a new session replaces a lost one.
    pub fn generations(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn headers_for(&self, state: &SessionState) -> HashMap<HeaderName, HeaderValue> {
        let mut headers = self.headers.clone();
        crate::telemetry::traces::inject(&mut headers);
        if let Some(version) = state
            .protocol_version
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.insert(PROTOCOL_VERSION, version);
        }
        headers
    }

    /// Send the host's `initialize` and return the server's reply, remembering the
    /// session id, the negotiated version, and the request for replay.
    ///
    /// A server that speaks 2026-07-28 only refuses `initialize` with
    /// `-32022`: the host is then bridged. Its `initialize` is answered from the
    /// server's `server/discover`, and every later request is sent stateless,
    /// stamped with the envelope the `initialize` implies.
    pub async fn initialize(&self, request: Value) -> Result<Value, UpstreamError> {
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let (reply, session_id) = self
            .exchange_once(&request, &id, self.headers.clone(), None)
            .await?;
        if era::initialize_shows_modern_only(&reply)
            && let Some(bridged) = self.bridge_legacy_host(&request, &id).await?
        {
            return Ok(bridged);
        }
        let mut state = self.lock();
        state.session_id = session_id.map(Arc::from);
        state.protocol_version = protocol_version_of(&reply);
        state.initialize = Some(request);
        Ok(reply)
    }

    /// Answer a legacy host's `initialize` from a modern server's `server/discover`;
    /// `None` when the server does not show itself modern after all.
    async fn bridge_legacy_host(
        &self,
        initialize: &Value,
        id: &Value,
    ) -> Result<Option<Value>, UpstreamError> {
        let envelope = Envelope::from_initialize(initialize);
        let (reply, session_id) = self.discover(&envelope).await?;
        let Some(result) = reply.get("result") else {
            return Ok(None);
        };
        let requested = initialize
            .pointer("/params/protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(era::LEGACY_VERSION);
        let answer = era::initialize_from_discover(result, requested);
        let mut state = self.lock();
        // No session; a pin the server set (AgentCore's microVM) goes back.
        state.session_id = session_id.map(Arc::from);
        state.protocol_version = Some(era::MODERN_VERSION.to_owned());
        state.initialize = Some(initialize.clone());
        tracing::info!(
            "the server speaks MCP {} only; bridging the host's {requested} session to it",
            era::MODERN_VERSION
        );
        Ok(Some(json!({"jsonrpc": "2.0", "id": id, "result": answer})))
    }

    /// Send `server/discover` with `envelope`, with an id of the relay's own;
    /// the reply, and the session id the server set on it, if any.
    async fn discover(
        &self,
        envelope: &Envelope,
    ) -> Result<(Value, Option<String>), UpstreamError> {
        let id = Value::String(format!("mcp-sigv4-discover-{}", uuid::Uuid::new_v4()));
        let mut request =
            json!({"jsonrpc": "2.0", "id": id, "method": "server/discover", "params": {}});
        envelope.stamp(&mut request);
        let mut headers = self.headers.clone();
        headers.extend(era::request_headers(&request, &self.tool_headers));
        self.exchange_once(&request, &id, headers, None).await
    }

    /// Learn the era of the server for a modern host whose envelope is
    /// `envelope`, once: `server/discover`, and when the server shows itself
    /// legacy (the specification's fallback rule), a legacy session opened on the
    /// host's behalf with the envelope's capabilities.
    pub async fn probe(&self, envelope: &Envelope) -> Result<Era, UpstreamError> {
        if let Some(era) = self.era() {
            return Ok(era);
        }
        let _one_at_a_time = self.recovering.lock().await;
        if let Some(era) = self.era() {
            return Ok(era);
        }
        let (reply, pin) = self.discover(envelope).await?;
        if era::discover_shows_modern(&reply) {
            let mut state = self.lock();
            state.protocol_version = Some(era::MODERN_VERSION.to_owned());
            state.session_id = pin.map(Arc::from);
            return Ok(Era::Modern);
        }
        let id = Value::String(format!("mcp-sigv4-initialize-{}", uuid::Uuid::new_v4()));
        let initialize = envelope.initialize(id.clone());
        let (reply, session_id) = self
            .exchange_once(&initialize, &id, self.headers.clone(), None)
            .await?;
        let Some(result) = reply.get("result").cloned() else {
            return Err(StreamableHttpError::UnexpectedServerResponse(
                format!(
                    "the server refused both server/discover and initialize: {}",
                    reply.get("error").unwrap_or(&reply)
                )
                .into(),
            ));
        };
        let state = SessionState {
            session_id: session_id.map(Arc::from),
            protocol_version: protocol_version_of(&reply)
                .or_else(|| Some(era::LEGACY_VERSION.to_owned())),
            initialize: Some(initialize),
            generation: self.lock().generation,
        };
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.post(&initialized, &state).await?;
        tracing::info!(
            version = state.protocol_version.as_deref().unwrap_or_default(),
            "the server speaks the legacy protocol only; opened a session for the 2026-07-28 host"
        );
        *self.lock() = state;
        *self
            .legacy_result
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(result);
        Ok(Era::Legacy)
    }

    /// The `server/discover` result of a legacy server the relay opened a session
    /// with, from its `InitializeResult`.
    pub fn legacy_discover_result(&self) -> Option<Value> {
        self.legacy_result
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(era::discover_from_initialize)
    }

    /// POST one request outside any session and read its reply from JSON or SSE.
    async fn exchange_once(
        &self,
        request: &Value,
        id: &Value,
        mut headers: HashMap<HeaderName, HeaderValue>,
        session_id: Option<Arc<str>>,
    ) -> Result<(Value, Option<String>), UpstreamError> {
        crate::telemetry::traces::inject(&mut headers);
        let message = to_client_message(request)?;
        let response = self
            .client
            .post_message(self.uri.clone(), message, session_id, None, headers)
            .await?;
        match response {
            StreamableHttpPostResponse::Json(reply, session_id) => {
                Ok((serde_json::to_value(reply)?, session_id))
            }
            StreamableHttpPostResponse::Sse(stream, session_id) => {
                let mut events = Events::new(stream);
                while let Some(message) = events.next().await? {
                    if jsonrpc::is_response_to(&message, id) {
                        return Ok((message, session_id));
                    }
                }
                Err(StreamableHttpError::UnexpectedEndOfStream)
            }
            _ => Err(StreamableHttpError::UnexpectedServerResponse(
                "the server accepted initialize without answering it".into(),
            )),
        }
    }

    /// POST one message in the current session. When the server answers 404 to a
    /// request that carried a session id, the session is gone: a new one is started
    /// by replaying the host's `initialize` and `notifications/initialized`, and the
    /// message is sent once more.
    ///
    /// To a modern server the message goes stateless, with the modern headers.
    /// To a legacy session a modern host's message goes without its envelope.
    pub async fn send(&self, message: &Value) -> Result<Reply, UpstreamError> {
        let state = self.state();
        if state.protocol_version.as_deref().map(Era::of_version) == Some(Era::Modern) {
            return self.send_modern(message, state).await;
        }
        let stripped;
        let message = if Era::of_message(message) == Some(Era::Modern) {
            let mut copy = message.clone();
            era::strip_envelope(&mut copy);
            stripped = copy;
            &stripped
        } else {
            message
        };
        match self.post(message, &state).await {
            Err(StreamableHttpError::SessionExpired) if state.session_id.is_some() => {
                self.recover(state.generation).await?;
                self.post(message, &self.state()).await
            }
            other => other,
        }
    }

    /// One stateless request. A bridged legacy host's requests get the envelope
    /// of its `initialize`. A session id the server set is sent back; when the
    /// server no longer knows it (404), the request goes once more without it.
    ///
    /// A `tools/call` the server refuses with -32020 (its `Mcp-Param-*`
    /// headers are not what the server expects: the tool's `x-mcp-header`
    /// annotations changed since they were listed) is sent once more, after
    /// the tools are listed again, as the specification asks, when they now
    /// ask for other headers; otherwise, or after a second -32020, the refusal
    /// is the reply. Requests refused at once share one listing, and a server
    /// is listed again for a -32020 at most once every [`era::RELIST_INTERVAL`].
    async fn send_modern(
        &self,
        message: &Value,
        state: SessionState,
    ) -> Result<Reply, UpstreamError> {
        let stamped;
        let message = match &state.initialize {
            Some(initialize)
                if jsonrpc::kind(message) == jsonrpc::Kind::Request
                    && era::envelope_version(message).is_none() =>
            {
                let mut copy = message.clone();
                Envelope::from_initialize(initialize).stamp(&mut copy);
                stamped = copy;
                &stamped
            }
            _ => message,
        };
        self.learn_tool_of(message, &state).await;
        let listings = self.tool_headers.listings();
        let sent = era::request_headers(message, &self.tool_headers);
        let reply = self.post_modern(message, state.session_id.clone()).await?;
        let Reply::Json(answer) = &reply else {
            return Ok(reply);
        };
        if !era::is_tool_header_mismatch(message, answer) {
            return Ok(reply);
        }
        self.relist_after_mismatch(message, &state, listings).await;
        if era::request_headers(message, &self.tool_headers) == sent {
            tracing::info!(
                "the server refused the Mcp-Param headers of a tools/call (-32020), and its tools as listed ask for the same ones: the refusal is the reply"
            );
            return Ok(reply);
        }
        self.tool_headers.tools_changed();
        tracing::info!(
            "the server refused the Mcp-Param headers of a tools/call (-32020); sent it once more with the headers of its tools as listed again"
        );
        let session_id = self.lock().session_id.clone();
        self.post_modern(message, session_id).await
    }

    /// After a -32020 to `call`, whose headers were built when
    /// [`ToolHeaders::listings`] was `listings`: list the tools again, unless
    /// another request did since (then its list is the fresh one) or one was
    /// listed again for a -32020 less than [`era::RELIST_INTERVAL`] ago.
    async fn relist_after_mismatch(&self, call: &Value, state: &SessionState, listings: u64) {
        let _turn = self.tool_headers.relist_turn().await;
        if self.tool_headers.listings() == listings && self.tool_headers.relist_due() {
            self.learn_tools(call, state).await;
        }
    }

    /// POST one stateless request with the modern headers, `session_id` (a pin
    /// the server set) sent back.
    async fn post_modern(
        &self,
        message: &Value,
        session_id: Option<Arc<str>>,
    ) -> Result<Reply, UpstreamError> {
        let mut headers = self.headers.clone();
        headers.extend(era::request_headers(message, &self.tool_headers));
        crate::telemetry::traces::inject(&mut headers);
        let client_message = to_client_message(message)?;
        let post = |session_id: Option<Arc<str>>| {
            self.client.post_message(
                self.uri.clone(),
                client_message.clone(),
                session_id,
                None,
                headers.clone(),
            )
        };
        let response = match post(session_id.clone()).await {
            Err(StreamableHttpError::SessionExpired) if session_id.is_some() => {
                self.lock().session_id = None;
                post(None).await?
            }
            other => other?,
        };
        let (reply, session_id) = into_reply(response)?;
        if let Some(session_id) = session_id {
            let mut current = self.lock();
            if current.session_id.as_deref() != Some(session_id.as_str()) {
                current.session_id = Some(session_id.into());
            }
        }
        Ok(reply)
    }

    /// Before a `tools/call` to a 2026-07-28 server, learn the `x-mcp-header`
    /// arguments of its tool when no list named it yet (and listing could tell).
    pub async fn learn_tool_headers(&self, call: &Value) {
        let state = self.state();
        if state.protocol_version.as_deref().map(Era::of_version) == Some(Era::Modern) {
            self.learn_tool_of(call, &state).await;
        }
    }

    async fn learn_tool_of(&self, call: &Value, state: &SessionState) {
        if let Some(tool) = jsonrpc::method(call)
            .filter(|m| *m == "tools/call")
            .and(call.pointer("/params/name"))
            .and_then(Value::as_str)
            && self.tool_headers.worth_listing_for(tool)
        {
            self.learn_tools(call, state).await;
        }
    }

    /// List the server's tools (every page) with the envelope of `call`, to learn
    /// which arguments a 2026-07-28 server wants mirrored as `Mcp-Param-*`.
    async fn learn_tools(&self, call: &Value, state: &SessionState) {
        let envelope = Envelope::from_request(call);
        let mut cursor: Option<Value> = None;
        for _page in 0..100 {
            let id = Value::String(format!("mcp-sigv4-tools-{}", uuid::Uuid::new_v4()));
            let mut request =
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": {}});
            if let Some(cursor) = cursor.take() {
                request["params"]["cursor"] = cursor;
            }
            if let Some(envelope) = &envelope {
                envelope.stamp(&mut request);
            }
            let mut headers = self.headers.clone();
            headers.extend(era::request_headers(&request, &self.tool_headers));
            let reply = match self
                .exchange_once(&request, &id, headers, state.session_id.clone())
                .await
            {
                Ok((reply, _)) => reply,
                Err(e) => {
                    tracing::warn!(
                        "listing tools to learn their x-mcp-header arguments failed: {}",
                        tower_sigv4::unstable::ErrorChain(&e)
                    );
                    return;
                }
            };
            self.tool_headers.learn(&reply);
            cursor = reply
                .pointer("/result/nextCursor")
                .filter(|c| !c.is_null())
                .cloned();
            if cursor.is_none() {
                return;
            }
        }
    }

    async fn post(&self, message: &Value, state: &SessionState) -> Result<Reply, UpstreamError> {
        let response = self
            .client
            .post_message(
                self.uri.clone(),
                to_client_message(message)?,
                state.session_id.clone(),
                None,
                self.headers_for(state),
            )
            .await?;
        Ok(into_reply(response)?.0)
    }

    /// Replace a lost session, once per lost generation however many requests saw
    /// the 404.
    async fn recover(&self, lost_generation: u64) -> Result<(), UpstreamError> {
        let _one_at_a_time = self.recovering.lock().await;
        let state = self.state();
        if state.generation != lost_generation {
            return Ok(());
        }
        let Some(initialize) = state.initialize.clone() else {
            return Err(StreamableHttpError::SessionExpired);
        };
        // An id of our own, so that the replayed reply never reaches the host.
        let id = Value::String(format!("mcp-sigv4-reinitialize-{}", lost_generation + 1));
        let mut replay = initialize.clone();
        replay["id"] = id.clone();
        let (reply, session_id) = self
            .exchange_once(&replay, &id, self.headers.clone(), None)
            .await?;
        if let Some(error) = reply.get("error") {
            return Err(StreamableHttpError::UnexpectedServerResponse(
                format!("the server refused the replayed initialize: {error}").into(),
            ));
        }
        let new_state = SessionState {
            session_id: session_id.map(Arc::from),
            protocol_version: protocol_version_of(&reply).or(state.protocol_version),
            initialize: Some(initialize),
            generation: lost_generation + 1,
        };
        let initialized =
            serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.post(&initialized, &new_state).await?;
        *self.lock() = new_state;
        self.generation.send_replace(lost_generation + 1);
        tracing::info!(
            "the server no longer knew the session (HTTP 404); started a new one by replaying initialize"
        );
        Ok(())
    }

    /// Open the server's event stream (GET), resuming after `last_event_id`.
    pub async fn open_events(
        &self,
        last_event_id: Option<String>,
    ) -> Result<Events, UpstreamError> {
        let state = self.state();
        let stream = self
            .client
            .get_stream(
                self.uri.clone(),
                state.session_id.clone(),
                last_event_id,
                None,
                self.headers_for(&state),
            )
            .await?;
        Ok(Events::new(stream))
    }

    /// End the session (DELETE), if there is one.
    /// A modern server has no session to end, whatever id it set.
    pub async fn end(&self) -> Result<(), UpstreamError> {
        let state = self.state();
        let Some(session_id) = state.session_id.clone() else {
            return Ok(());
        };
        if self.era() == Some(Era::Modern) {
            return Ok(());
        }
        match self
            .client
            .delete_session(self.uri.clone(), session_id, None, self.headers_for(&state))
            .await
        {
            Ok(()) | Err(StreamableHttpError::ServerDoesNotSupportDeleteSession) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Why [`Upstream::follow`] got no reply.
#[derive(Debug)]
pub struct StreamEnded {
    /// How many times the stream was resumed with `Last-Event-ID`.
    pub resumed: u32,
    /// What broke it, if it did not simply end.
    pub cause: Option<String>,
}

impl std::fmt::Display for StreamEnded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the server's reply stream ended before the reply")?;
        if let Some(cause) = &self.cause {
            write!(f, " ({cause})")?;
        }
        match self.resumed {
            0 => f.write_str("; the server numbered no events, so it could not be resumed")?,
            n => write!(f, "; resuming it with Last-Event-ID failed {n} times")?,
        }
        f.write_str(". The request may or may not have run on the server")
    }
}

impl<C> Upstream<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// Read a POST's stream until the reply to `id`, handing every other message
    /// to `other`; when the stream breaks or ends first, resume it with a GET that
    /// carries `Last-Event-ID`, up to `attempts` times, with tower's backoff.
    pub async fn follow<F, Fut>(
        &self,
        mut events: Events,
        id: &Value,
        attempts: u32,
        mut other: F,
    ) -> Result<Value, StreamEnded>
    where
        F: FnMut(Value) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut reconnect = Reconnect::default();
        let mut resumed = 0;
        loop {
            let cause = loop {
                match events.next().await {
                    Ok(Some(message)) if jsonrpc::is_response_to(&message, id) => {
                        return Ok(message);
                    }
                    Ok(Some(message)) => other(message).await,
                    Ok(None) => break None,
                    Err(e) => break Some(e.to_string()),
                }
            };
            reconnect.learn(&events);
            let Some(last_event_id) = events.last_event_id().map(str::to_owned) else {
                return Err(StreamEnded { resumed, cause });
            };
            loop {
                if resumed >= attempts {
                    return Err(StreamEnded { resumed, cause });
                }
                resumed += 1;
                reconnect.wait().await;
                tracing::info!(
                    attempt = resumed,
                    "the reply stream broke before the reply; resuming with Last-Event-ID"
                );
                match self.open_events(Some(last_event_id.clone())).await {
                    Ok(resumed_events) => {
                        events = resumed_events;
                        break;
                    }
                    Err(e) => tracing::warn!(
                        "resuming the reply stream failed: {}",
                        tower_sigv4::unstable::ErrorChain(&e)
                    ),
                }
            }
        }
    }
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

/// Whether `error` says the session is gone (404 with a session id).
pub fn is_session_gone(error: &UpstreamError) -> bool {
    match error {
        StreamableHttpError::SessionExpired => true,
        StreamableHttpError::Client(e) => e.status() == Some(http::StatusCode::NOT_FOUND),
        _ => false,
    }
}

fn protocol_version_of(reply: &Value) -> Option<String> {
    reply
        .pointer("/result/protocolVersion")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `message` as rmcp's transport takes it, every field kept as it came: a
/// request goes as rmcp's `CustomRequest`, a notification as its
/// `CustomNotification` and a result as its `CustomResult`, whatever the method.
/// rmcp's typed messages drop every field they do not know (a task-augmented
/// `tools/call`'s `params.task`, `subscriptions/listen`'s
/// `notifications.taskIds`, an extension's fields), and a proxy passes on what
/// it does not need to understand. The reply to a custom request comes back
/// untyped too (`tower_sigv4`'s client keeps it a `CustomResult`).
fn to_client_message(message: &Value) -> Result<ClientJsonRpcMessage, UpstreamError> {
    let id = || serde_json::from_value::<RequestId>(message.get("id").cloned().unwrap_or_default());
    // rmcp writes a custom message without params as `"params": null`, which
    // servers refuse (the TypeScript SDK's with -32700); one without params has
    // nothing to lose in rmcp's types.
    let params = message.get("params").filter(|p| !p.is_null()).cloned();
    Ok(
        match (jsonrpc::kind(message), jsonrpc::method(message), params) {
            (jsonrpc::Kind::Request, Some(method), Some(params)) => ClientJsonRpcMessage::request(
                ClientRequest::CustomRequest(CustomRequest::new(method, Some(params))),
                id()?,
            ),
            (jsonrpc::Kind::Notification, Some(method), Some(params)) => {
                ClientJsonRpcMessage::notification(ClientNotification::CustomNotification(
                    CustomNotification::new(method, Some(params)),
                ))
            }
            (jsonrpc::Kind::Response, _, _) if message.get("result").is_some() => {
                let result = message.get("result").cloned().unwrap_or_default();
                ClientJsonRpcMessage::response(
                    ClientResult::CustomResult(CustomResult(result)),
                    id()?,
                )
            }
            // An error reply (rmcp's `ErrorData` holds all a JSON-RPC error has), or
            // a request or notification without params.
            _ => serde_json::from_value(message.clone())?,
        },
    )
}

/// A POST's response as the relay reads it, with the session id the server set.
fn into_reply(
    response: StreamableHttpPostResponse,
) -> Result<(Reply, Option<String>), UpstreamError> {
    Ok(match response {
        StreamableHttpPostResponse::Json(reply, id) => {
            (Reply::Json(serde_json::to_value(reply)?), id)
        }
        StreamableHttpPostResponse::Sse(stream, id) => (Reply::Stream(Events::new(stream)), id),
        // 202, and shapes a newer rmcp may add.
        _ => (Reply::Accepted, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: Option<&str>, data: Option<&str>, retry: Option<u64>) -> Sse {
        Sse {
            event: None,
            data: data.map(str::to_owned),
            id: id.map(str::to_owned),
            retry,
        }
    }

    fn events(sse: Vec<Sse>) -> Events {
        Events::new(futures_util::stream::iter(sse.into_iter().map(Ok)).boxed())
    }

    async fn drain(events: &mut Events) {
        while events.next().await.unwrap().is_some() {}
    }

    #[tokio::test]
    async fn the_servers_retry_is_the_wait_before_resuming_and_is_bounded() {
        // A priming event with only `id` and `retry`, as the specification shows.
        let mut primed = events(vec![
            event(Some("e1"), None, Some(500)),
            event(Some("e2"), Some(r#"{"jsonrpc":"2.0","method":"x"}"#), None),
        ]);
        drain(&mut primed).await;
        assert_eq!(primed.retry(), Some(Duration::from_millis(500)));
        assert_eq!(primed.last_event_id(), Some("e2"));

        let mut reconnect = Reconnect::default();
        assert_eq!(reconnect.server_retry(), None, "the backoff until told");
        reconnect.learn(&primed);
        assert_eq!(reconnect.server_retry(), Some(Duration::from_millis(500)));

        // A resumed stream without `retry:` keeps the server's time, and a
        // reset of the backoff does not forget it.
        let mut resumed = events(vec![event(Some("e3"), Some("{}"), None)]);
        drain(&mut resumed).await;
        reconnect.learn(&resumed);
        reconnect.reset();
        assert_eq!(reconnect.server_retry(), Some(Duration::from_millis(500)));

        // A later `retry:` replaces it; one past the bound is cut to it.
        let mut parked = events(vec![event(None, None, Some(u64::MAX))]);
        drain(&mut parked).await;
        assert_eq!(parked.retry(), Some(MAX_RETRY));
        reconnect.learn(&parked);
        assert_eq!(reconnect.server_retry(), Some(MAX_RETRY));
    }
}

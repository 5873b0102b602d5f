//! An rmcp server behind a bearer-token check, with a tool that asks the client
//! for a sampling completion (a server-initiated request).
// Sampling is deprecated by SEP-2577, but servers in the field still send it, and
// it is the server-to-client request the gateway must carry both ways.
#![allow(deprecated)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{
    CreateMessageRequestParams, Role, SamplingMessage, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use tower::Service;

pub const TOKEN: &str = "tools-bearer-token-EXAMPLE";

#[derive(Debug, Clone)]
pub struct Tools {
    #[allow(dead_code)] // read by the `tool_handler` macro
    tool_router: ToolRouter<Self>,
    /// `wait` calls that saw their cancellation.
    cancelled: Arc<AtomicUsize>,
}

#[tool_router]
impl Tools {
    #[tool(description = "Say who answered")]
    fn whoami(&self) -> String {
        "the bearer-protected server".to_owned()
    }

    #[tool(description = "Send progress every 50 ms until cancelled (at most 30 s)")]
    async fn wait(&self, context: RequestContext<RoleServer>) -> String {
        for step in 1..=600u32 {
            tokio::select! {
                () = context.ct.cancelled() => {
                    self.cancelled.fetch_add(1, Ordering::SeqCst);
                    return "cancelled".to_owned();
                }
                () = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
            }
            if let Some(token) = context.meta.get_progress_token() {
                let _ = context
                    .peer
                    .notify_progress(rmcp::model::ProgressNotificationParam::new(
                        token,
                        f64::from(step),
                    ))
                    .await;
            }
        }
        "waited".to_owned()
    }

    #[tool(description = "Ask the client's model a question (sampling) and return its answer")]
    async fn ask_client(&self, peer: Peer<RoleServer>) -> Result<String, ErrorData> {
        let params = CreateMessageRequestParams::new(
            vec![SamplingMessage::new(Role::User, "What is the answer?")],
            16,
        );
        let reply = peer
            .create_message(params)
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let text = serde_json::to_value(&reply).unwrap_or_default();
        Ok(format!(
            "the client said: {}",
            text["content"]["text"].as_str().unwrap_or("?")
        ))
    }
}

#[tool_handler]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// A running server and how many requests it served (refused ones not counted).
pub struct Running {
    pub addr: SocketAddr,
    pub refused: Arc<AtomicUsize>,
    /// Every request that arrived, refused or not.
    pub seen: Arc<AtomicUsize>,
    /// POSTs without a session id: new sessions (initialize) and no more.
    pub started: Arc<AtomicUsize>,
    /// `notifications/cancelled` received.
    pub cancel_notes: Arc<AtomicUsize>,
    /// `initialize` requests received: upstream handshakes.
    pub initializes: Arc<AtomicUsize>,
    /// `wait` calls that saw their cancellation.
    pub cancelled: Arc<AtomicUsize>,
    /// GET event streams open now.
    pub open_streams: Arc<AtomicUsize>,
    /// The `traceparent` header of every request that carried one.
    pub traceparents: Arc<std::sync::Mutex<Vec<String>>>,
    /// The `Authorization` header of every request, as it arrived (the OAuth
    /// tests look for a client's token there).
    pub authorizations: Arc<std::sync::Mutex<Vec<String>>>,
    /// Answer this many of the next POSTs 503 (then serve again), as a
    /// briefly overloaded server does.
    pub unavailable: Arc<AtomicUsize>,
    /// POSTs answered 503 that way.
    pub answered_unavailable: Arc<AtomicUsize>,
    /// The session ids still honoured; the rest get 404, as after a restart.
    known: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    // The accept loop, ended when this is dropped.
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl Running {
    /// Answer 404 to every session started so far, as a restarted server does.
    pub fn forget_sessions(&self) {
        self.known.lock().unwrap().clear();
    }

    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }
}

pub async fn start() -> Running {
    let config = StreamableHttpServerConfig::default().with_sse_keep_alive(None);
    let cancelled = Arc::new(AtomicUsize::new(0));
    let cancel_notes = Arc::new(AtomicUsize::new(0));
    let open_streams = Arc::new(AtomicUsize::new(0));
    let tools_cancelled = cancelled.clone();
    let mcp: StreamableHttpService<Tools, LocalSessionManager> = StreamableHttpService::new(
        move || {
            Ok(Tools {
                tool_router: Tools::tool_router(),
                cancelled: tools_cancelled.clone(),
            })
        },
        Default::default(),
        config,
    );
    let refused = Arc::new(AtomicUsize::new(0));
    let initializes = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let known = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let traceparents = Arc::new(std::sync::Mutex::new(Vec::new()));
    let authorizations = Arc::new(std::sync::Mutex::new(Vec::new()));
    let unavailable = Arc::new(AtomicUsize::new(0));
    let answered_unavailable = Arc::new(AtomicUsize::new(0));
    let front = {
        let traceparents = traceparents.clone();
        let authorizations = authorizations.clone();
        let unavailable = unavailable.clone();
        let answered_unavailable = answered_unavailable.clone();
        let refused = refused.clone();
        let seen = seen.clone();
        let started = started.clone();
        let known = known.clone();
        let cancel_notes = cancel_notes.clone();
        let open_streams = open_streams.clone();
        let initializes = initializes.clone();
        tower::service_fn(move |request: Request<Incoming>| {
            let mut mcp = mcp.clone();
            let refused = refused.clone();
            let known = known.clone();
            let cancel_notes = cancel_notes.clone();
            let open_streams = open_streams.clone();
            let initializes = initializes.clone();
            seen.fetch_add(1, Ordering::SeqCst);
            if let Some(traceparent) = request.headers().get("traceparent") {
                let traceparent = traceparent.to_str().unwrap().to_owned();
                traceparents.lock().unwrap().push(traceparent);
            }
            let authorization = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            authorizations
                .lock()
                .unwrap()
                .push(authorization.unwrap_or_default());
            let session = request
                .headers()
                .get("mcp-session-id")
                .map(|v| v.to_str().unwrap().to_owned());
            let overloaded = request.method() == http::Method::POST
                && unavailable
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
            if overloaded {
                answered_unavailable.fetch_add(1, Ordering::SeqCst);
            }
            if session.is_none() && request.method() == http::Method::POST {
                started.fetch_add(1, Ordering::SeqCst);
            }
            async move {
                if overloaded {
                    let response = Response::builder()
                        .status(StatusCode::SERVICE_UNAVAILABLE)
                        .body(Full::new(Bytes::new()).map_err(|n| match n {}).boxed())
                        .unwrap();
                    return Ok::<_, Infallible>(response);
                }
                if session.is_some_and(|id| !known.lock().unwrap().contains(&id)) {
                    let response = Response::builder()
                        .status(StatusCode::NOT_FOUND)
                        .body(Full::new(Bytes::new()).map_err(|n| match n {}).boxed())
                        .unwrap();
                    return Ok::<_, Infallible>(response);
                }
                let authorized = request
                    .headers()
                    .get("authorization")
                    .is_some_and(|v| v.as_bytes() == format!("Bearer {TOKEN}").as_bytes());
                if !authorized {
                    refused.fetch_add(1, Ordering::SeqCst);
                    let response = Response::builder()
                        .status(StatusCode::UNAUTHORIZED)
                        .body(
                            Full::new(Bytes::from_static(b"{\"error\":\"bad token\"}"))
                                .map_err(|n| match n {})
                                .boxed(),
                        )
                        .unwrap();
                    return Ok::<_, Infallible>(response);
                }
                let is_get = request.method() == http::Method::GET;
                let (parts, body) = request.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                let text = String::from_utf8_lossy(&body);
                if text.contains("notifications/cancelled") {
                    cancel_notes.fetch_add(1, Ordering::SeqCst);
                }
                if text.contains("\"method\":\"initialize\"") {
                    initializes.fetch_add(1, Ordering::SeqCst);
                }
                let request = Request::from_parts(parts, Full::new(body));
                let response = match mcp.call(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                let response = if is_get && response.status() == StatusCode::OK {
                    // Counted open until the server drops the stream.
                    let open = OpenStream::new(open_streams);
                    response.map(|body| {
                        body.map_frame(move |frame| {
                            let _ = &open;
                            frame
                        })
                        .boxed()
                    })
                } else {
                    response
                };
                if let Some(id) = response.headers().get("mcp-session-id") {
                    known
                        .lock()
                        .unwrap()
                        .insert(id.to_str().unwrap().to_owned());
                }
                Ok(response.map(|body| body.map_err(|e| match e {}).boxed()))
            }
        })
    };
    let (addr, task) = crate::serve::bind(front).await;
    Running {
        addr,
        refused,
        seen,
        started,
        cancel_notes,
        initializes,
        cancelled,
        open_streams,
        traceparents,
        authorizations,
        unavailable,
        answered_unavailable,
        known,
        _task: tokio_util::task::AbortOnDropHandle::new(task),
    }
}

/// One open event stream, counted until dropped.
struct OpenStream(Arc<AtomicUsize>);

impl OpenStream {
    fn new(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

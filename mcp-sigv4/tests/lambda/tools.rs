//! An rmcp server on 127.0.0.1 behind `VerifySigV4Layer` (the demo stand-in's
//! credentials, as `era_server`'s) with the tools the Lambda's cases need: typed parameters, a
//! tool that reports `isError`, a large result and a slow tool. It counts the
//! requests it refused (403) and the `notifications/cancelled` it received.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};
use serde_json::{Value, json};
use tower::{BoxError, Service};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct Typed {
    pub n: i64,
    pub x: f64,
    pub flag: bool,
    pub tags: Vec<String>,
    pub opts: serde_json::Map<String, Value>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct Sized {
    pub bytes: usize,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct Slow {
    pub ms: u64,
}

#[derive(Debug, Clone)]
pub struct Tools {
    #[allow(dead_code)] // read by the `tool_handler` macro
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Tools {
    #[tool(description = "Echo typed parameters back as JSON")]
    fn typed(&self, Parameters(t): Parameters<Typed>) -> String {
        json!({"n": t.n, "x": t.x, "flag": t.flag, "tags": t.tags, "opts": t.opts}).to_string()
    }

    #[tool(description = "Always fails, as a tool does when its input makes no sense")]
    fn fail(&self) -> Result<String, String> {
        Err("no such city: Atlantis; give a real city".to_owned())
    }

    #[tool(description = "Return this many bytes of text")]
    fn big(&self, Parameters(Sized { bytes }): Parameters<Sized>) -> String {
        "x".repeat(bytes.min(10_000_000))
    }

    #[tool(description = "Answer after this many milliseconds")]
    async fn slow(&self, Parameters(Slow { ms }): Parameters<Slow>) -> String {
        tokio::time::sleep(Duration::from_millis(ms.min(20_000))).await;
        "done".to_owned()
    }
}

#[tool_handler]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// Session ids given, and those forgotten.
type Sessions = Arc<std::sync::Mutex<(HashSet<String>, HashSet<String>)>>;

pub struct ToolsServer {
    pub addr: SocketAddr,
    refused: Arc<AtomicUsize>,
    cancelled: Arc<AtomicUsize>,
    initializes: Arc<AtomicUsize>,
    sessions: Sessions,
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl ToolsServer {
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// Requests refused for their signature.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// `initialize` requests received.
    pub fn initializes(&self) -> usize {
        self.initializes.load(Ordering::SeqCst)
    }

    /// Forget every session given so far, as a restarted server does: a
    /// request that carries one is answered 404.
    pub fn forget_sessions(&self) {
        let mut sessions = self.sessions.lock().unwrap();
        let given = std::mem::take(&mut sessions.0);
        sessions.1.extend(given);
    }

    /// `notifications/cancelled` received.
    pub fn cancelled(&self) -> usize {
        self.cancelled.load(Ordering::SeqCst)
    }
}

/// Start it; `legacy_only` refuses `server/discover` as a 2025 server does, so
/// the client opens an `initialize` session.
pub async fn start(legacy_only: bool) -> ToolsServer {
    let verified = crate::era_server::verified_service(
        || Tools {
            tool_router: Tools::tool_router(),
        },
        true,
    );
    let refused = Arc::new(AtomicUsize::new(0));
    let cancelled = Arc::new(AtomicUsize::new(0));
    let initializes = Arc::new(AtomicUsize::new(0));
    let sessions: Sessions = Arc::default();
    let front = {
        let counters = (refused.clone(), cancelled.clone(), initializes.clone());
        let sessions = sessions.clone();
        tower::service_fn(move |request: Request<Incoming>| {
            let mut verified = verified.clone();
            let (refused, cancelled, initializes) = counters.clone();
            let sessions = sessions.clone();
            async move {
                let carried = request
                    .headers()
                    .get("mcp-session-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                if carried
                    .as_ref()
                    .is_some_and(|id| sessions.lock().unwrap().1.contains(id))
                {
                    let gone = http::Response::builder()
                        .status(404)
                        .body(
                            Full::new(Bytes::new())
                                .map_err(|never| match never {})
                                .boxed(),
                        )
                        .unwrap();
                    return Ok::<_, Infallible>(gone);
                }
                let (parts, body) = request.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if message["method"] == "initialize" {
                    initializes.fetch_add(1, Ordering::SeqCst);
                }
                if message["method"] == "notifications/cancelled" {
                    cancelled.fetch_add(1, Ordering::SeqCst);
                }
                if legacy_only && message["method"] == "server/discover" {
                    let refusal = json!({"jsonrpc": "2.0", "id": message["id"],
                        "error": {"code": -32601, "message": "Method not found: server/discover"}});
                    let response = http::Response::builder()
                        .status(400)
                        .header("content-type", "application/json")
                        .body(
                            Full::new(Bytes::from(refusal.to_string()))
                                .map_err(|never| match never {})
                                .boxed(),
                        )
                        .unwrap();
                    return Ok(response);
                }
                let request = Request::from_parts(parts, Full::new(body));
                let response = match verified.call(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                if response.status() == 403 {
                    refused.fetch_add(1, Ordering::SeqCst);
                }
                if let Some(id) = response
                    .headers()
                    .get("mcp-session-id")
                    .and_then(|v| v.to_str().ok())
                {
                    sessions.lock().unwrap().0.insert(id.to_owned());
                }
                Ok(response.map(|b| b.map_err(Into::<BoxError>::into).boxed()))
            }
        })
    };
    let (addr, task) = crate::serve::bind(front).await;
    ToolsServer {
        addr,
        refused,
        cancelled,
        initializes,
        sessions,
        _task: tokio_util::task::AbortOnDropHandle::new(task),
    }
}

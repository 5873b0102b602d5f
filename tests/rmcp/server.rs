//! An rmcp streamable-HTTP server on 127.0.0.1, at an AgentCore-shaped path,
//! behind a front that checks the path and query, optionally verifies SigV4, and
//! records every request and the head of every response.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ProgressNotificationParam, RequestMetaObject, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};
use tokio::net::TcpListener;
use tokio_rustls::rustls;

use crate::sigv4;

/// The runtime ARN the test endpoint pretends to serve.
pub const ARN: &str = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/test_agent-Ab12";

/// The path of [`ARN`]'s invocations, with the ARN percent-encoded as AgentCore wants.
pub fn invocation_path() -> String {
    let encoded: String = ARN
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("/runtimes/{encoded}/invocations")
}

// ---- the MCP server -------------------------------------------------------

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct EchoRequest {
    /// The text to send back.
    pub text: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct AddRequest {
    pub a: i64,
    pub b: i64,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct CountRequest {
    /// How many progress notifications to send.
    pub steps: u32,
    /// The pause before each, in milliseconds.
    pub pause_ms: u64,
}

#[derive(Debug, Clone)]
pub struct TestServer {
    #[allow(dead_code)] // read by the `tool_handler` macro
    tool_router: ToolRouter<Self>,
}

impl TestServer {
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }
}

#[tool_router]
impl TestServer {
    #[tool(description = "Send the text back")]
    fn echo(&self, Parameters(EchoRequest { text }): Parameters<EchoRequest>) -> String {
        text
    }

    #[tool(description = "Add two numbers")]
    fn add(&self, Parameters(AddRequest { a, b }): Parameters<AddRequest>) -> String {
        (a + b).to_string()
    }

    #[tool(description = "Send progress notifications, pausing before each, then finish")]
    async fn count(
        &self,
        Parameters(CountRequest { steps, pause_ms }): Parameters<CountRequest>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
    ) -> Result<String, ErrorData> {
        let token = meta
            .get_progress_token()
            .ok_or_else(|| ErrorData::invalid_params("count needs a progress token", None))?;
        for step in 1..=steps {
            tokio::time::sleep(Duration::from_millis(pause_ms)).await;
            peer.notify_progress(
                ProgressNotificationParam::new(token.clone(), f64::from(step))
                    .with_total(f64::from(steps)),
            )
            .await
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        }
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        Ok(format!("counted to {steps}"))
    }
}

#[tool_handler]
impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

// ---- the front: path check, SigV4 check, log ------------------------------

/// One request the endpoint received, and the head of its response.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub status: StatusCode,
    pub response_headers: HeaderMap,
}

#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Seen>>>);

impl Log {
    pub fn all(&self) -> Vec<Seen> {
        self.0.lock().unwrap().clone()
    }
}

/// How the endpoint is set up.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Sessions and SSE replies (rmcp's legacy session mode), or stateless JSON replies.
    pub sessions: bool,
    /// Verify a SigV4 signature on every request (with [`sigv4::credentials`]).
    pub verify_sigv4: bool,
}

impl Options {
    /// Sessions and SSE replies, every request verified.
    pub const SIGNED_SESSIONS: Self = Self {
        sessions: true,
        verify_sigv4: true,
    };
    /// Stateless JSON replies, every request verified.
    pub const SIGNED_STATELESS: Self = Self {
        sessions: false,
        verify_sigv4: true,
    };
}

pub struct Endpoint {
    pub addr: SocketAddr,
    pub log: Log,
    scheme: &'static str,
    _task: tokio::task::JoinHandle<()>,
}

impl Endpoint {
    /// The invocation URL, as AgentCore's: `.../runtimes/{ARN}/invocations?qualifier=DEFAULT`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}?qualifier=DEFAULT",
            self.scheme,
            self.addr,
            invocation_path()
        )
    }
}

type ResBody = BoxBody<Bytes, Infallible>;

pub async fn start(options: Options) -> Endpoint {
    start_on(options, None).await
}

/// [`start`], over TLS with `tls` (HTTP/1.1 and HTTP/2 by ALPN).
pub async fn start_tls(options: Options, tls: Arc<rustls::ServerConfig>) -> Endpoint {
    start_on(options, Some(tls)).await
}

async fn start_on(options: Options, tls: Option<Arc<rustls::ServerConfig>>) -> Endpoint {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(options.sessions)
        .with_json_response(!options.sessions)
        .with_sse_keep_alive(None);
    let mcp: StreamableHttpService<TestServer, LocalSessionManager> =
        StreamableHttpService::new(|| Ok(TestServer::new()), Default::default(), config);
    let log = Log::default();
    let front = {
        let log = log.clone();
        tower::service_fn(move |request: Request<Incoming>| {
            let mcp = mcp.clone();
            let log = log.clone();
            async move { Ok::<_, Infallible>(front(mcp, log, options, request).await) }
        })
    };
    serve_on(front, tls).await.with_log(log)
}

async fn front(
    mut mcp: StreamableHttpService<TestServer, LocalSessionManager>,
    log: Log,
    options: Options,
    request: Request<Incoming>,
) -> Response<ResBody> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let signature = if options.verify_sigv4 {
        sigv4::verify(&parts, &body).await
    } else {
        Ok(())
    };
    let response = if parts.uri.path() != invocation_path()
        || parts.uri.query() != Some("qualifier=DEFAULT")
    {
        aws_error(404, "ResourceNotFoundException", "No runtime at this path")
    } else if let Err((error_type, message)) = signature {
        aws_error(403, error_type, &message)
    } else {
        let request = Request::from_parts(parts.clone(), Full::new(body));
        match tower::Service::call(&mut mcp, request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    };
    log.0.lock().unwrap().push(Seen {
        method: parts.method,
        path_and_query,
        headers: parts.headers,
        status: response.status(),
        response_headers: response.headers().clone(),
    });
    response
}

/// An AWS-style JSON error reply.
pub fn aws_error(status: u16, error_type: &str, message: &str) -> Response<ResBody> {
    Response::builder()
        .status(status)
        .header(
            "x-amzn-errortype",
            format!("{error_type}:http://internal.amazon.com/coral/com.amazon.coral.service/"),
        )
        .header("content-type", "application/json")
        .header("x-amzn-requestid", "4f0c7a8e-0000-4000-8000-000000000000")
        .body(full(serde_json::json!({ "message": message }).to_string()))
        .unwrap()
}

pub fn full(body: impl Into<Bytes>) -> ResBody {
    Full::new(body.into()).boxed()
}

// ---- serving ---------------------------------------------------------------

pub struct Served {
    addr: SocketAddr,
    scheme: &'static str,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn with_log(self, log: Log) -> Endpoint {
        Endpoint {
            addr: self.addr,
            log,
            scheme: self.scheme,
            _task: self.task,
        }
    }
}

/// Serve `service` over HTTP/1.1 and HTTP/2 on a fresh 127.0.0.1 port.
pub async fn serve<S>(service: S) -> Served
where
    S: tower::Service<Request<Incoming>, Response = Response<ResBody>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    serve_on(service, None).await
}

async fn serve_on<S>(service: S, tls: Option<Arc<rustls::ServerConfig>>) -> Served
where
    S: tower::Service<Request<Incoming>, Response = Response<ResBody>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(service.clone());
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let builder = auto::Builder::new(TokioExecutor::new());
                match acceptor {
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                    Some(acceptor) => {
                        // A client that does not trust the certificate ends here.
                        let Ok(stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            });
        }
    });
    Served { addr, scheme, task }
}

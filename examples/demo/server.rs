//! A local stand-in for an AgentCore Runtime: an rmcp streamable-HTTP MCP server
//! with three tools, behind `VerifySigV4Layer`, at
//! `/runtimes/{encoded ARN}/invocations?qualifier=DEFAULT` on 127.0.0.1.
//! Shared by the demo and the CLI tests.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_credential_types::Credentials;
use bytes::Bytes;
use http::{Method, Request, Response};
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
use tower::{BoxError, Layer, Service};
use tower_sigv4::endpoint::RuntimeArn;
use tower_sigv4::verify::{VerifySigV4Layer, VerifyingKey};

/// The runtime the stand-in pretends to be.
pub const ARN: &str = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/demo_agent-Xy12";
pub const REGION: &str = "us-east-1";
pub const SERVICE: &str = "bedrock-agentcore";
pub const ACCESS_KEY: &str = "AKIDDEMOEXAMPLE";
pub const SECRET_KEY: &str = "demo/secret+key/not-a-real-one/EXAMPLEKEY";
pub const SESSION_TOKEN: &str = "demo-session-token/EXAMPLE+==";

/// What the stand-in checks, in one line: the service and region a signature
/// must be scoped to, and that a client infers both from its URL.
pub fn verifies() -> String {
    format!(
        "verifies SigV4 for service `{SERVICE}` in region `{REGION}` (a client infers both from the runtime ARN in the URL)"
    )
}

/// The demo's credentials as the environment variables a client reads them from.
pub fn env() -> [(&'static str, &'static str); 3] {
    [
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_SESSION_TOKEN", SESSION_TOKEN),
    ]
}

/// The model id `ask` names to the Converse stand-in (which plays any model).
pub const MODEL: &str = "demo.scripted-model-v1:0";
/// The question the printed `ask` command line asks.
pub const QUESTION: &str = "Say hello through the echo tool, and add 40 and 2";

/// `mcp-sigv4 ask` pointed at the stand-ins: its environment and arguments.
#[derive(Debug)]
pub struct AskCommand {
    pub env: Vec<(&'static str, String)>,
    /// How the shell finds the command: `mcp-sigv4` on the PATH, or a path.
    pub program: String,
    pub args: Vec<String>,
}

impl AskCommand {
    /// Bedrock at `converse_url` (the Converse stand-in), the tools of the MCP
    /// stand-in at `mcp_url`, all signed with the demo's credentials.
    pub fn new(mcp_url: &str, converse_url: &str) -> Self {
        let mut env: Vec<(&'static str, String)> =
            env().into_iter().map(|(k, v)| (k, v.to_owned())).collect();
        env.push(("AWS_REGION", REGION.to_owned()));
        let args = [
            "ask",
            "--endpoint-url",
            converse_url,
            "--model",
            MODEL,
            "--mcp",
            mcp_url,
            "--service",
            SERVICE,
            "--region",
            REGION,
            QUESTION,
        ];
        Self {
            env,
            program: "mcp-sigv4".to_owned(),
            args: args.into_iter().map(str::to_owned).collect(),
        }
    }

    /// The same command run as `program` (e.g. the absolute path of a built
    /// `mcp-sigv4`) instead of the name looked up on the PATH.
    pub fn program(mut self, program: &str) -> Self {
        self.program = program.to_owned();
        self
    }

    /// The command as one line for a POSIX shell, every word quoted as needed.
    pub fn shell_line(&self) -> String {
        let env = self.env.iter().map(|(k, v)| format!("{k}={}", quote(v)));
        let args = self.args.iter().map(|a| quote(a));
        env.chain(std::iter::once(quote(&self.program)))
            .chain(args)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `word`, single-quoted unless it holds only characters a shell leaves alone.
fn quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=+@%,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The demo's credentials (fake; the stand-in knows them).
pub fn credentials() -> Credentials {
    Credentials::new(
        ACCESS_KEY,
        SECRET_KEY,
        Some(SESSION_TOKEN.to_owned()),
        None,
        "demo",
    )
}

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
pub struct DemoServer {
    #[allow(dead_code)] // read by the `tool_handler` macro
    tool_router: ToolRouter<Self>,
    /// Tool calls served, counted in [`Stats::tool_calls`].
    calls: Arc<AtomicUsize>,
}

impl DemoServer {
    pub fn new(calls: Arc<AtomicUsize>) -> Self {
        Self {
            tool_router: Self::tool_router(),
            calls,
        }
    }

    fn called(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[tool_router]
impl DemoServer {
    #[tool(description = "Send the text back")]
    fn echo(&self, Parameters(EchoRequest { text }): Parameters<EchoRequest>) -> String {
        self.called();
        text
    }

    #[tool(description = "Add two numbers")]
    fn add(&self, Parameters(AddRequest { a, b }): Parameters<AddRequest>) -> String {
        self.called();
        a.saturating_add(b).to_string()
    }

    #[tool(description = "Send progress notifications, pausing before each, then finish")]
    async fn count(
        &self,
        Parameters(CountRequest { steps, pause_ms }): Parameters<CountRequest>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
    ) -> Result<String, ErrorData> {
        self.called();
        for step in 1..=steps.min(100) {
            tokio::time::sleep(Duration::from_millis(pause_ms.min(5_000))).await;
            if let Some(token) = meta.get_progress_token() {
                peer.notify_progress(
                    ProgressNotificationParam::new(token, f64::from(step))
                        .with_total(f64::from(steps)),
                )
                .await
                .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
            }
        }
        Ok(format!("counted to {steps}"))
    }
}

#[tool_handler]
impl ServerHandler for DemoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// The invocation path of [`ARN`], with the ARN percent-encoded.
pub fn invocation_path() -> String {
    let arn: RuntimeArn = ARN.parse().unwrap();
    let url = arn.invocation_url(None);
    let path = &url[url.find("/runtimes/").unwrap()..];
    path.split('?').next().unwrap().to_owned()
}

/// Counts of what the stand-in saw.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub accepted: Arc<AtomicUsize>,
    pub refused: Arc<AtomicUsize>,
    pub deletes: Arc<AtomicUsize>,
    pub tool_calls: Arc<AtomicUsize>,
}

impl Stats {
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
    pub fn deletes(&self) -> usize {
        self.deletes.load(Ordering::SeqCst)
    }
    pub fn tool_calls(&self) -> usize {
        self.tool_calls.load(Ordering::SeqCst)
    }
}

pub struct StandIn {
    pub addr: SocketAddr,
    pub stats: Stats,
    task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    /// `http://127.0.0.1:PORT/runtimes/{ARN}/invocations?qualifier=DEFAULT`.
    pub fn url(&self) -> String {
        format!(
            "http://{}{}?qualifier=DEFAULT",
            self.addr,
            invocation_path()
        )
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type ResBody = BoxBody<Bytes, BoxError>;

/// Start the stand-in. `json_response`: answer tools/call with JSON instead of SSE.
pub async fn start(json_response: bool) -> StandIn {
    start_on(0, json_response)
        .await
        .expect("binding 127.0.0.1 on a free port")
}

/// The stand-in on `127.0.0.1:port` (0 for any free port).
pub async fn start_on(port: u16, json_response: bool) -> std::io::Result<StandIn> {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(!json_response)
        .with_json_response(json_response)
        .with_sse_keep_alive(None);
    let stats = Stats::default();
    let calls = stats.tool_calls.clone();
    let mcp: StreamableHttpService<DemoServer, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(DemoServer::new(calls.clone())),
        Default::default(),
        config,
    );
    let verify = VerifySigV4Layer::with_keys(
        REGION,
        SERVICE,
        [(
            ACCESS_KEY,
            VerifyingKey::new(SECRET_KEY).with_session_token(SESSION_TOKEN),
        )],
    );
    let verified = verify.layer(mcp);
    let front = {
        let stats = stats.clone();
        tower::service_fn(move |request: Request<Incoming>| {
            let mut verified = verified.clone();
            let stats = stats.clone();
            async move {
                if request.uri().path() != invocation_path()
                    || request.uri().query() != Some("qualifier=DEFAULT")
                {
                    return Ok::<_, Infallible>(not_found());
                }
                let is_delete = request.method() == Method::DELETE;
                let response = match verified.call(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                if response.status() == 403 {
                    stats.refused.fetch_add(1, Ordering::SeqCst);
                } else {
                    stats.accepted.fetch_add(1, Ordering::SeqCst);
                    if is_delete {
                        stats.deletes.fetch_add(1, Ordering::SeqCst);
                    }
                }
                Ok(response.map(|body| body.map_err(Into::into).boxed()))
            }
        })
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(front.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(StandIn { addr, stats, task })
}

fn not_found() -> Response<ResBody> {
    Response::builder()
        .status(404)
        .header("x-amzn-errortype", "ResourceNotFoundException")
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from_static(
                br#"{"__type":"ResourceNotFoundException","message":"No runtime at this path"}"#,
            ))
            .map_err(|never| match never {})
            .boxed(),
        )
        .unwrap()
}

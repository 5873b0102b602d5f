//! rmcp MCP servers for the loop: a toolbox with tools for every case, and a
//! second server whose `search` collides with the toolbox's. Each sits behind a
//! front that checks SigV4 (`VerifySigV4Layer`), a bearer token, or nothing.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::{BoxError, Layer, Service};
use tower_sigv4::verify::{VerifySigV4Layer, VerifyingKey};

use crate::{ACCESS_KEY, REGION, SECRET_KEY};

/// A tool name over Bedrock's 64-character limit.
pub const LONG_NAME: &str =
    "a_tool_name_that_goes_on_and_on_well_past_the_sixty_four_characters_bedrock_allows";

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct Query {
    /// What to look for.
    pub query: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct City {
    pub city: String,
}

/// Every tool the cases need.
#[derive(Clone)]
pub struct Toolbox {
    label: String,
    /// `wait_for_release` waits on it; `release` opens it.
    gate: Arc<Notify>,
    #[allow(dead_code)] // read by the `tool_handler` macro
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Toolbox {
    #[tool(description = "Search the toolbox")]
    fn search(&self, Parameters(Query { query }): Parameters<Query>) -> String {
        format!("{}: results for {query}", self.label)
    }

    #[tool(name = "get.weather", description = "The weather in a city")]
    fn get_weather(&self, Parameters(City { city }): Parameters<City>) -> String {
        format!("{city}: sunny")
    }

    #[tool(name = "search docs", description = "Search the documentation")]
    fn search_docs(&self, Parameters(Query { query }): Parameters<Query>) -> String {
        format!("docs about {query}")
    }

    #[tool(
        name = "a_tool_name_that_goes_on_and_on_well_past_the_sixty_four_characters_bedrock_allows",
        description = "A tool with a long name"
    )]
    fn long_name(&self) -> String {
        "long tool ok".to_owned()
    }

    #[tool(description = "Always fails, reporting isError")]
    fn fail(&self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text("boom: the tool failed")])
    }

    #[tool(description = "Finishes only after `release` has been called")]
    async fn wait_for_release(&self) -> String {
        self.gate.notified().await;
        "released".to_owned()
    }

    #[tool(description = "Lets `wait_for_release` finish")]
    fn release(&self) -> String {
        // Stores a permit if `wait_for_release` is not waiting yet.
        self.gate.notify_one();
        "done".to_owned()
    }

    #[tool(description = "Never answers")]
    async fn hang(&self) -> String {
        std::future::pending::<()>().await;
        unreachable!()
    }

    #[tool(description = "A chart: text, an image and structured content")]
    fn chart(&self) -> CallToolResult {
        let mut result = CallToolResult::success(vec![
            ContentBlock::text("a chart"),
            // The 8-byte PNG signature, base64.
            ContentBlock::image("iVBORw0KGgo=", "image/png"),
        ]);
        result.structured_content = Some(serde_json::json!({"points": [1, 2, 3]}));
        result
    }
}

#[tool_handler]
impl ServerHandler for Toolbox {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// A second server, whose `search` shares its name with the toolbox's.
#[derive(Clone)]
pub struct Second {
    #[allow(dead_code)] // read by the `tool_handler` macro
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Second {
    #[tool(description = "Search the second server")]
    fn search(&self, Parameters(Query { query }): Parameters<Query>) -> String {
        format!("beta: results for {query}")
    }
}

#[tool_handler]
impl ServerHandler for Second {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// How the front checks requests.
#[derive(Clone, Copy, Debug)]
pub enum Guard {
    /// `VerifySigV4Layer` for `bedrock-agentcore` in [`REGION`].
    SigV4,
    /// `Authorization: Bearer TOKEN`.
    Bearer(&'static str),
}

/// A running MCP server on 127.0.0.1.
pub struct McpStandIn {
    pub addr: SocketAddr,
    pub refused: Arc<AtomicUsize>,
    accept: tokio::task::AbortHandle,
}

impl McpStandIn {
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    /// The name `ask` gives a `--mcp` server: its host and port.
    pub fn name(&self) -> String {
        self.addr.to_string()
    }

    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    /// A handle that takes the server down: the listener closes, and since every
    /// connection serves one request, the next request finds nobody there.
    pub fn kill_switch(&self) -> tokio::task::AbortHandle {
        self.accept.clone()
    }
}

impl Drop for McpStandIn {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

pub fn toolbox(
    label: &str,
) -> impl Fn() -> Result<Toolbox, std::io::Error> + Send + Sync + 'static {
    let label = label.to_owned();
    let gate = Arc::new(Notify::new());
    move || {
        Ok(Toolbox {
            label: label.clone(),
            gate: gate.clone(),
            tool_router: Toolbox::tool_router(),
        })
    }
}

pub fn second() -> impl Fn() -> Result<Second, std::io::Error> + Send + Sync + 'static {
    || {
        Ok(Second {
            tool_router: Second::tool_router(),
        })
    }
}

type ResBody = BoxBody<Bytes, BoxError>;

pub async fn start<H>(
    factory: impl Fn() -> Result<H, std::io::Error> + Send + Sync + 'static,
    guard: Guard,
) -> McpStandIn
where
    H: ServerHandler + Clone + Send + Sync + 'static,
{
    let config = StreamableHttpServerConfig::default().with_sse_keep_alive(None);
    let mcp: StreamableHttpService<H, LocalSessionManager> =
        StreamableHttpService::new(factory, Default::default(), config);
    let verified = VerifySigV4Layer::with_keys(
        REGION,
        "bedrock-agentcore",
        [(ACCESS_KEY, VerifyingKey::new(SECRET_KEY))],
    )
    .layer(mcp.clone());
    let refused = Arc::new(AtomicUsize::new(0));
    let counter = refused.clone();
    let front = tower::service_fn(move |request: Request<Incoming>| {
        let mut verified = verified.clone();
        let mut mcp = mcp.clone();
        let refused = counter.clone();
        async move {
            let response: Response<ResBody> = match guard {
                Guard::SigV4 => {
                    let Ok(response) = verified.call(request).await;
                    response.map(|body| body.map_err(Into::into).boxed())
                }
                Guard::Bearer(token) => {
                    let expected = format!("Bearer {token}");
                    if request
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        != Some(expected.as_str())
                    {
                        Response::builder()
                            .status(401)
                            .body(
                                Full::new(Bytes::from_static(b"bad token"))
                                    .map_err(|never| match never {})
                                    .boxed(),
                            )
                            .unwrap()
                    } else {
                        let Ok(response) = mcp.call(request).await;
                        response.map(|body| body.map_err(Into::into).boxed())
                    }
                }
            };
            if response.status() == 401 || response.status() == 403 {
                refused.fetch_add(1, Ordering::SeqCst);
            }
            Ok::<_, Infallible>(response)
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(front.clone());
            tokio::spawn(async move {
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder.http1().keep_alive(false);
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
    .abort_handle();
    McpStandIn {
        addr,
        refused,
        accept,
    }
}

//! An MCP server on 127.0.0.1 (SigV4 verified) that lists whatever tools the
//! test gives it, as raw JSON: names and input schemas no Rust tool macro
//! would write, for `agent-schema` to map into what Bedrock accepts. It
//! serves `tools/list` only.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use rmcp::model::{
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;
use tower::{BoxError, Layer, Service};
use tower_sigv4::verify::{VerifySigV4Layer, VerifyingKey};

use crate::server::{ACCESS_KEY, REGION, SECRET_KEY, SERVICE, SESSION_TOKEN};

#[derive(Clone)]
struct Listed(Arc<Vec<Tool>>);

impl ServerHandler for Listed {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.0.to_vec()))
    }
}

pub struct AwkwardServer {
    pub addr: SocketAddr,
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl AwkwardServer {
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }
}

/// Serve `tools` (each a tool object as `tools/list` carries it).
pub async fn start(tools: &[Value]) -> AwkwardServer {
    let tools: Vec<Tool> = tools
        .iter()
        .map(|t| serde_json::from_value(t.clone()).expect("a tool object"))
        .collect();
    let tools = Arc::new(tools);
    let config = StreamableHttpServerConfig::default().with_sse_keep_alive(None);
    let mcp: StreamableHttpService<Listed, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(Listed(tools.clone())),
        Default::default(),
        config,
    );
    let verified = VerifySigV4Layer::with_keys(
        REGION,
        SERVICE,
        [(
            ACCESS_KEY,
            VerifyingKey::new(SECRET_KEY).with_session_token(SESSION_TOKEN),
        )],
    )
    .layer(mcp);
    let front = tower::service_fn(move |request: Request<Incoming>| {
        let mut verified = verified.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let response = match verified
                .call(Request::from_parts(parts, Full::new(body)))
                .await
            {
                Ok(response) => response,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(response.map(|b| b.map_err(Into::<BoxError>::into).boxed()))
        }
    });
    let (addr, task) = crate::serve::bind(front).await;
    AwkwardServer {
        addr,
        _task: tokio_util::task::AbortOnDropHandle::new(task),
    }
}

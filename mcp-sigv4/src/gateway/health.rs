//! `/health`: liveness.

use ::http::{Response, StatusCode};
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use serde_json::json;
use tower_sigv4::rmcp::HttpClientError;

use super::http::{self, Body};
use super::server::Gateway;

impl<C> Gateway<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    pub(super) fn health(&self) -> Response<Body> {
        let names: Vec<&str> = self.inner.servers.iter().map(|s| s.name.as_str()).collect();
        http::json(StatusCode::OK, &json!({"status": "ok", "servers": names}))
    }
}

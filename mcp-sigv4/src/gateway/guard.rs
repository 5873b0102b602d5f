//! Cheap checks made before any body is read or any upstream is touched.

use ::http::{HeaderMap, StatusCode};
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use subtle::ConstantTimeEq;
use tower_sigv4::rmcp::HttpClientError;

use super::http::{self, Body, Refused};
use super::server::{Gateway, Target, digest};
use ::http::Response;

impl<C> Gateway<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// 401 unless the request carries the master key (compared in constant time).
    pub(super) fn authorize(&self, headers: &HeaderMap) -> Option<Response<Body>> {
        let expected = self.inner.master_key_digest?;
        let presented = headers
            .get(::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .or_else(|| {
                headers
                    .get("x-litellm-api-key")
                    .and_then(|v| v.to_str().ok())
            });
        let accepted = presented.is_some_and(|key| bool::from(digest(key.trim()).ct_eq(&expected)));
        if accepted {
            return None;
        }
        tracing::info!("refused a request without the master key");
        Some(http::error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong master key: send `Authorization: Bearer <master_key>`",
        ))
    }

    pub(super) fn target(
        &self,
        path: &str,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Target<C>, Refused> {
        let servers = &self.inner.servers;
        let named = path
            .strip_prefix("/mcp/")
            .map(str::to_owned)
            .or_else(|| {
                headers
                    .get("x-litellm-mcp-server")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .or_else(|| {
                query.and_then(|q| {
                    q.split('&')
                        .find_map(|pair| pair.strip_prefix("server="))
                        .map(|v| {
                            percent_encoding::percent_decode_str(v)
                                .decode_utf8_lossy()
                                .into_owned()
                        })
                })
            });
        let Some(named) = named else {
            return Ok(match servers.as_slice() {
                [only] => Target::One(only.clone()),
                all => Target::All(all.to_vec()),
            });
        };
        let mut chosen = Vec::new();
        for name in named.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match servers.iter().find(|s| s.name == name) {
                Some(server) => chosen.push(server.clone()),
                None => {
                    let known: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
                    return Err(Refused(
                        StatusCode::NOT_FOUND,
                        format!(
                            "no MCP server named `{name}`; known servers: {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(match chosen.len() {
            1 => Target::One(chosen.remove(0)),
            _ => Target::All(chosen),
        })
    }
}

//! Cheap checks made before any body is read or any upstream is touched: the
//! `Host` and `Origin` (against DNS rebinding and cross-site requests), the
//! method and content type, the credentials (master key, OAuth access token),
//! and the routing names.
//!
//! The checks are plain functions over the request head, so that a fuzz target
//! drives them without a running gateway.

use ::http::{HeaderMap, Method, StatusCode};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;
use tower_sigv4::rmcp::HttpClientError;

use super::caller::Caller;
use super::hosts::AllowedHosts;
use super::http::{self, Body, Refused};
use super::oauth;
use super::server::{Gateway, Target, digest};
use crate::protocol::jsonrpc::{self, Kind};
use ::http::Response;

/// 403 for a `Host` or a present `Origin` that is not allowed (a page that
/// rebinds a name to 127.0.0.1, or posts across sites). A request without
/// `Origin` is not from a browser page and passes that part. HTTP/2 carries the
/// host in the URI's authority (`authority`) rather than a `Host` header.
pub fn check_host_and_origin(
    headers: &HeaderMap,
    authority: Option<&str>,
    allowed: &AllowedHosts,
) -> Result<(), Refused> {
    let host = headers
        .get(::http::header::HOST)
        .map(|v| v.to_str().unwrap_or_default())
        .or(authority);
    if allowed.checks_host() && !host.is_some_and(|host| allowed.allows_host(host)) {
        return Err(Refused(
            StatusCode::FORBIDDEN,
            "the Host header names no host this gateway answers to; behind a load balancer, add its name to general_settings.allowed_hosts or --allowed-host".into(),
        ));
    }
    if let Some(origin) = headers.get(::http::header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if !allowed.allows_origin(origin) {
            return Err(Refused(
                StatusCode::FORBIDDEN,
                "requests from this Origin are refused: a browser page may reach the gateway only from an allowed host (general_settings.allowed_hosts or --allowed-host)".into(),
            ));
        }
    }
    Ok(())
}

/// 405 for a method other than POST, GET and DELETE; 415 for a POST that is not
/// `application/json` (a cross-site "simple" request is `text/plain`).
pub fn check_method_and_content_type(method: &Method, headers: &HeaderMap) -> Result<(), Refused> {
    if ![Method::POST, Method::GET, Method::DELETE].contains(method) {
        return Err(Refused(
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST, GET or DELETE".into(),
        ));
    }
    // A request with a credential header is never a browser's "simple" request
    // (it needs a CORS preflight), so curl's default form type is let through.
    let credentialed = headers.contains_key(::http::header::AUTHORIZATION)
        || headers.contains_key("x-litellm-api-key");
    if *method == Method::POST && !is_json(headers) && !credentialed {
        return Err(Refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "a POST must have `Content-Type: application/json`".into(),
        ));
    }
    Ok(())
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// Check one JSON-RPC message from the client before it goes anywhere: a
/// JSON-RPC 2.0 request, notification or response that MCP knows the shape of.
/// The error reply (-32600) says what is wrong with the client's input.
pub fn check_message(message: &Value) -> Result<(), Value> {
    if !message.is_object() {
        return Err(jsonrpc::error(
            &Value::Null,
            jsonrpc::INVALID_REQUEST,
            "the message is not a JSON object; send a JSON-RPC 2.0 request, notification or response",
            None,
        ));
    }
    if jsonrpc::kind(message) == Kind::Invalid {
        return Err(jsonrpc::invalid(message));
    }
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(jsonrpc::error(
            &id,
            jsonrpc::INVALID_REQUEST,
            "the message lacks `\"jsonrpc\": \"2.0\"`; every JSON-RPC 2.0 message carries it",
            None,
        ));
    }
    // Borrowing the value: no copy of the message is made.
    if let Err(e) = ClientJsonRpcMessage::deserialize(message) {
        return Err(jsonrpc::error(
            &id,
            jsonrpc::INVALID_REQUEST,
            &format!("the message does not have the shape MCP gives it: {e}; check its params"),
            None,
        ));
    }
    Ok(())
}

impl<C> Gateway<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// Who is calling, or the refusal: the master key (compared in constant
    /// time) opens everything; with `general_settings.oauth`, a bearer access
    /// token for the route at `path` (see [`oauth`](super::oauth)); with
    /// neither configured, anyone.
    pub(super) async fn authorize(
        &self,
        headers: &HeaderMap,
        path: &str,
    ) -> Result<Caller, Response<Body>> {
        let (token, oauth) = match (self.credential(headers), &self.inner.options.oauth) {
            (Credential::Caller(caller), _) => return Ok(caller),
            (Credential::Token(_), None) => return Ok(Caller::anonymous()),
            (Credential::Token(token), Some(oauth)) => (token, oauth),
            (Credential::NotAToken, Some(oauth)) => return Err(oauth.not_a_token(path)),
            (Credential::NotAToken | Credential::NoMasterKey, _) => {
                tracing::info!("refused a request without the master key");
                return Err(http::error(
                    StatusCode::UNAUTHORIZED,
                    "missing or wrong master key: send `Authorization: Bearer <master_key>` or `x-litellm-api-key: <master_key>`",
                ));
            }
        };
        oauth.check(token.as_deref(), path).await.map(caller_of)
    }

    /// What the request's credentials are, before any token is checked.
    fn credential(&self, headers: &HeaderMap) -> Credential {
        let Presented {
            litellm,
            authorization,
        } = presented(headers);
        if let Some(expected) = self.inner.master_key_digest
            && litellm
                .or(authorization)
                .is_some_and(|key| bool::from(digest(key.trim()).ct_eq(&expected)))
        {
            return Credential::Caller(Caller::master());
        }
        if self.inner.options.oauth.is_none() {
            return match self.inner.master_key_digest {
                None => Credential::Caller(Caller::anonymous()),
                Some(_) => Credential::NoMasterKey,
            };
        }
        match (authorization, litellm) {
            (None, None) => Credential::Token(None),
            (Some(token), _) if token.contains('.') => Credential::Token(Some(token.to_owned())),
            _ => Credential::NotAToken,
        }
    }

    pub(super) fn target(
        &self,
        path: &str,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Target<C>, Refused> {
        let servers = &self.inner.servers;
        let known: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
        let chosen = match routing_names(path, headers, query, &known)? {
            None => {
                return Ok(match servers.as_slice() {
                    [only] => Target::One(only.clone()),
                    all => Target::All(all.to_vec()),
                });
            }
            Some(chosen) => chosen,
        };
        Ok(match chosen.as_slice() {
            [one] => Target::One(servers[*one].clone()),
            many => Target::All(many.iter().map(|i| servers[*i].clone()).collect()),
        })
    }
}

/// The credentials a request presents to the gateway.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    /// `x-litellm-api-key` (with or without a `Bearer ` prefix).
    pub litellm: Option<&'a str>,
    /// The credential of `Authorization: Bearer`.
    pub authorization: Option<&'a str>,
}

/// What `headers` present. LiteLLM's own header comes first where both do:
/// beside it, `Authorization` may carry a credential meant for an upstream.
pub fn presented(headers: &HeaderMap) -> Presented<'_> {
    Presented {
        litellm: headers
            .get("x-litellm-api-key")
            .and_then(|v| v.to_str().ok())
            .map(|v| bearer(v).unwrap_or(v)),
        authorization: headers
            .get(::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer),
    }
}

/// The credential of an `Authorization: Bearer` value (the scheme in any case).
fn bearer(value: &str) -> Option<&str> {
    let value = value.trim();
    let (scheme, credential) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim())
        .filter(|c| !c.is_empty())
}

/// A request's credentials: a caller already, a token to check (none
/// presented: `None`), or a refusal.
enum Credential {
    Caller(Caller),
    Token(Option<String>),
    /// A master key is configured, OAuth is not, and the key is not presented.
    NoMasterKey,
    /// OAuth is configured and the credential is neither the key nor a JWT.
    NotAToken,
}

fn caller_of(verified: std::sync::Arc<oauth::Verified>) -> Caller {
    Caller::from_claims(&verified.iss, &verified.sub, &verified.claims)
}

/// The largest `x-litellm-mcp-server` header or `?server=` value, in bytes.
pub const MAX_ROUTING_NAMES_LEN: usize = 4096;

/// The servers a request names, as indices into `known` without repeats: by the
/// path (`/mcp/{server}`), the `x-litellm-mcp-server` header or `?server=`
/// (comma-separated). `None` when it names none. A list longer than `known` is
/// refused (400), so one request can never fan out to more upstream calls than
/// there are servers; so is an oversized header (431) or query value (400).
pub fn routing_names(
    path: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    known: &[&str],
) -> Result<Option<Vec<usize>>, Refused> {
    let too_long = |status: StatusCode, what: &str| {
        Refused(
            status,
            format!(
                "the {what} is longer than {MAX_ROUTING_NAMES_LEN} bytes; name at most the {} configured servers",
                known.len()
            ),
        )
    };
    let named = if let Some(name) = path.strip_prefix("/mcp/") {
        name.to_owned()
    } else if let Some(header) = headers
        .get("x-litellm-mcp-server")
        .or_else(|| headers.get("x-mcp-servers"))
    {
        if header.len() > MAX_ROUTING_NAMES_LEN {
            return Err(too_long(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "x-litellm-mcp-server header",
            ));
        }
        header.to_str().unwrap_or_default().to_owned()
    } else if let Some(value) =
        query.and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("server=")))
    {
        if value.len() > MAX_ROUTING_NAMES_LEN {
            return Err(too_long(StatusCode::BAD_REQUEST, "?server= value"));
        }
        percent_encoding::percent_decode_str(value)
            .decode_utf8_lossy()
            .into_owned()
    } else {
        return Ok(None);
    };
    let names: Vec<&str> = named
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    if names.len() > known.len() {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            format!(
                "the request names {} servers, more than the {} this gateway has; name each at most once",
                names.len(),
                known.len()
            ),
        ));
    }
    let mut chosen = Vec::with_capacity(names.len());
    for name in names {
        let Some(index) = known.iter().position(|k| *k == name) else {
            return Err(Refused(
                StatusCode::NOT_FOUND,
                format!(
                    "no MCP server named `{}`; known servers: {}",
                    name.escape_debug(),
                    known.join(", ")
                ),
            ));
        };
        if !chosen.contains(&index) {
            chosen.push(index);
        }
    }
    Ok(Some(chosen))
}

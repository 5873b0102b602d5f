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
use super::server::{Gateway, Target, digest};
use super::session;
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
    /// Who is calling: the master key's holder, a named key's (compared by
    /// SHA-256 digest in constant time, refused after `expires`), with
    /// `general_settings.oauth` the subject of a bearer access token for the
    /// route at `path` (see [`oauth`](super::oauth)), or anyone when the
    /// gateway asks for no credentials. 401 without a credential it knows
    /// (with OAuth, the `WWW-Authenticate` challenge); 403 for an identity that
    /// is granted nothing (deny by default).
    // Its refusals carry headers (`WWW-Authenticate`), so they are whole
    // responses.
    #[allow(clippy::result_large_err)]
    pub(super) async fn authorize(
        &self,
        headers: &HeaderMap,
        path: &str,
    ) -> Result<Caller, Response<Body>> {
        let options = &self.inner.options;
        let master = self.inner.master_key_digest;
        if master.is_none() && options.keys.is_empty() && options.oauth.is_none() {
            return Ok(Caller::anonymous());
        }
        let Presented {
            litellm,
            authorization,
        } = presented(headers);
        if let Some(presented) = litellm.or(authorization).map(|key| digest(key.trim())) {
            if let Some(master) = master
                && bool::from(presented.ct_eq(&master))
            {
                return Ok(Caller::master());
            }
            // Every key compared, whichever matches: the time taken does not say which.
            let mut found = None;
            for key in &options.keys {
                if bool::from(presented.ct_eq(&key.key_sha256)) {
                    found = Some(key);
                }
            }
            if let Some(key) = found {
                if key.expires.is_some_and(|expires| session::now() >= expires) {
                    tracing::info!(key = %key.name, "refused a request with an expired key");
                    return Err(http::error(
                        StatusCode::UNAUTHORIZED,
                        "this key has expired; ask for a new one (its general_settings.keys entry's `expires` has passed)",
                    ));
                }
                return deny_nothing(Caller::of_key(key)).map_err(Refused::response);
            }
        }
        let Some(oauth) = &options.oauth else {
            tracing::info!("refused a request without a known key");
            return Err(unauthorized());
        };
        // Not a key: an access token, or nothing (the challenge).
        let token = match authorization {
            Some(token) if token.contains('.') => Some(token),
            Some(_) => return Err(oauth.not_a_token(path)),
            None if litellm.is_some() => return Err(oauth.not_a_token(path)),
            None => None,
        };
        let verified = oauth.check(token, path).await?;
        let caller = Caller::from_claims(
            &verified.iss,
            &verified.sub,
            &verified.claims,
            &options.access,
        );
        deny_nothing(caller).map_err(Refused::response)
    }

    /// The servers a request addresses, of those `caller` may use: 403 for
    /// one named that it may not.
    pub(super) fn target(
        &self,
        caller: &Caller,
        path: &str,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Target<C>, Refused> {
        let servers = &self.inner.servers;
        let known: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
        let listed: Vec<&str> = known
            .iter()
            .copied()
            .filter(|name| caller.grants.allows_server(name))
            .collect();
        let target = match routing_names(path, headers, query, &known, &listed)?.as_deref() {
            None => match servers.as_slice() {
                [only] => Target::One(only.clone()),
                // Aggregated whoever calls, with the servers the caller may
                // use: tool names do not change with the caller.
                all => Target::All(
                    all.iter()
                        .filter(|s| caller.grants.allows_server(&s.name))
                        .cloned()
                        .collect(),
                ),
            },
            Some([one]) => Target::One(servers[*one].clone()),
            Some(many) => Target::All(many.iter().map(|i| servers[*i].clone()).collect()),
        };
        check_servers(caller, &target)?;
        Ok(target)
    }
}

fn unauthorized() -> Response<Body> {
    http::error(
        StatusCode::UNAUTHORIZED,
        "missing or wrong key: send `Authorization: Bearer <key>` or `x-litellm-api-key: <key>` with the master key or a key of general_settings.keys",
    )
}

/// 403 for a caller granted nothing (an identity that no key entry or
/// access rule gives a server): deny by default.
pub(super) fn deny_nothing(caller: Caller) -> Result<Caller, Refused> {
    if !caller.grants.is_nothing() {
        return Ok(caller);
    }
    tracing::info!(identity = %caller.label(), "refused an identity granted no server");
    Err(Refused(
        StatusCode::FORBIDDEN,
        "this identity may use no server of this gateway; ask its operator to grant it servers (general_settings.keys or general_settings.access)".into(),
    ))
}

/// 403 unless `caller` may use every server of `target`.
pub(super) fn check_servers<C>(caller: &Caller, target: &Target<C>) -> Result<(), Refused> {
    let servers = match target {
        Target::One(server) => std::slice::from_ref(server),
        Target::All(servers) => servers.as_slice(),
    };
    match servers
        .iter()
        .find(|s| !caller.grants.allows_server(&s.name))
    {
        None => Ok(()),
        Some(server) => Err(Refused(
            StatusCode::FORBIDDEN,
            format!(
                "this identity may not use server `{}`; the servers it may use are listed at GET /v1/mcp/server",
                server.name
            ),
        )),
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

/// The largest `x-litellm-mcp-server` header or `?server=` value, in bytes.
pub const MAX_ROUTING_NAMES_LEN: usize = 4096;

/// The servers a request names, as indices into `known` without repeats: by the
/// path (`/mcp/{server}`), the `x-litellm-mcp-server` header or `?server=`
/// (comma-separated). `None` when it names none. A list longer than `known` is
/// refused (400), so one request can never fan out to more upstream calls than
/// there are servers; so is an oversized header (431) or query value (400).
/// A name not in `known` is refused (404) with the names in `listed`: the
/// servers the caller may use, never one it may not.
pub fn routing_names(
    path: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    known: &[&str],
    listed: &[&str],
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
                    "no MCP server named `{}`; servers this identity may use: {}",
                    name.escape_debug(),
                    listed.join(", ")
                ),
            ));
        };
        if !chosen.contains(&index) {
            chosen.push(index);
        }
    }
    Ok(Some(chosen))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AccessRule;
    use serde_json::json;

    #[test]
    fn an_identity_granted_nothing_is_refused_by_default() {
        let rules = [AccessRule::new(
            "groups",
            "support",
            vec!["weather".into()],
            vec!["*".into()],
        )];
        let nobody = Caller::from_claims(
            "https://idp",
            "u-1",
            json!({"groups": ["x"]}).as_object().unwrap(),
            &rules,
        );
        let refused = deny_nothing(nobody).unwrap_err();
        assert_eq!(refused.0, StatusCode::FORBIDDEN);
        let support = Caller::from_claims(
            "https://idp",
            "u-2",
            json!({"groups": "support"}).as_object().unwrap(),
            &rules,
        );
        assert!(deny_nothing(support).is_ok());
        assert!(deny_nothing(Caller::master()).is_ok());
    }

    #[test]
    fn the_key_comes_from_litellms_header_first() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer upstream-token".parse().unwrap());
        assert_eq!(
            {
                let p = presented(&headers);
                p.litellm.or(p.authorization)
            },
            Some("upstream-token")
        );
        headers.insert("x-litellm-api-key", "Bearer sk-gateway".parse().unwrap());
        assert_eq!(
            {
                let p = presented(&headers);
                p.litellm.or(p.authorization)
            },
            Some("sk-gateway")
        );
        headers.insert("x-litellm-api-key", "sk-plain".parse().unwrap());
        assert_eq!(
            {
                let p = presented(&headers);
                p.litellm.or(p.authorization)
            },
            Some("sk-plain")
        );
        let none = HeaderMap::new();
        let p = presented(&none);
        assert_eq!(p.litellm.or(p.authorization), None);
    }
}

//! `auth_type: oauth2` with the client-credentials grant: a bearer token from
//! the server's token endpoint on every request. The client authenticates to
//! the token endpoint with HTTP Basic (`client_secret_basic`).
//!
//! The token is cached per server and fetched again ahead of its expiry, one
//! fetch at a time (concurrent requests wait for the one in flight). A request
//! the server refuses with 401 gets a fresh token and is sent once more: the
//! server may have revoked the cached one early.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tokio::time::Instant;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;
use tower_sigv4::BoxError;
use tower_sigv4::rmcp::{SignedHttpService, TransportBuilder};

use super::answer::Answer;
use crate::config::{OAuth2ClientCredentials, Secret};

/// The most of a token's life spent before it is fetched again: a minute, or
/// a quarter of a short life.
const REFRESH_AHEAD: Duration = Duration::from_secs(60);
/// The longest a token endpoint may take to answer.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// A token without `expires_in` is kept this long.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// The largest token response read.
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

impl OAuth2ClientCredentials {
    /// The grant of `client_id` and `client_secret` at `token_url`, asking for
    /// `scopes` (none when empty). The URL must be `https://`, or `http://` on
    /// loopback.
    ///
    /// ```
    /// use mcp_sigv4::config::{OAuth2ClientCredentials, Secret};
    ///
    /// let grant = OAuth2ClientCredentials::new(
    ///     "https://auth.example.com/oauth2/token",
    ///     "agent-client",
    ///     Secret::from("client-secret-EXAMPLE"),
    ///     vec!["mcp/invoke".into()],
    /// )?;
    /// assert!(!format!("{grant:?}").contains("client-secret-EXAMPLE"));
    /// assert!(OAuth2ClientCredentials::new("ftp://x", "id", Secret::from("s"), vec![]).is_err());
    /// # Ok::<(), tower_sigv4::Error>(())
    /// ```
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Secret,
        scopes: Vec<String>,
    ) -> Result<Self, tower_sigv4::Error> {
        let token_url = token_url.into();
        tower_sigv4::unstable::check_url(&token_url)?;
        Ok(Self {
            token_url,
            client_id: client_id.into(),
            client_secret,
            scopes,
        })
    }

    /// `service` with a token of this grant on every request, for the server
    /// `name` (in logs and errors). The token is cached, fetched again ahead of
    /// its expiry with one fetch in flight, and fetched anew once, the request
    /// sent again, when the server answers 401.
    pub fn authorize(
        &self,
        name: &str,
        service: SignedHttpService,
    ) -> Result<SignedHttpService, tower_sigv4::Error> {
        let tokens =
            TokenSource::new(name, self.clone(), |builder| builder.timeout(TOKEN_TIMEOUT))?;
        Ok(with_token(service, Arc::new(tokens)))
    }
}

/// A cached client-credentials token for one server.
struct TokenSource {
    server: String,
    grant: OAuth2ClientCredentials,
    http: SignedHttpService,
    // Held across a fetch: one load in flight, the others wait for its token.
    cached: tokio::sync::Mutex<Option<Cached>>,
}

struct Cached {
    value: HeaderValue,
    refresh_at: Instant,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("server", &self.server)
            .field("token_url", &self.grant.token_url)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    fn new(
        server: &str,
        grant: OAuth2ClientCredentials,
        configure: impl FnOnce(TransportBuilder) -> TransportBuilder,
    ) -> Result<Self, tower_sigv4::Error> {
        let http = configure(TransportBuilder::new(grant.token_url.as_str()))
            .sign(false)
            .build_service()?;
        Ok(Self {
            server: server.to_owned(),
            grant,
            http,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// The `Authorization` value to send: the cached token, or a fresh one
    /// when it is due (or `renew` says the server refused it).
    async fn authorization(&self, renew: bool) -> Result<HeaderValue, TokenError> {
        let mut cached = self.cached.lock().await;
        if !renew
            && let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.value.clone());
        }
        let (token, lifetime) = self.fetch().await?;
        let ahead = REFRESH_AHEAD.min(lifetime / 4);
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            self.failure("the access_token is not a valid HTTP header value".to_owned())
        })?;
        value.set_sensitive(true);
        *cached = Some(Cached {
            value: value.clone(),
            refresh_at: Instant::now() + lifetime.saturating_sub(ahead),
        });
        Ok(value)
    }

    fn failure(&self, message: String) -> TokenError {
        TokenError(format!(
            "server `{}`: the OAuth2 token endpoint {}: {message}",
            self.server,
            tower_sigv4::unstable::redact_query(&self.grant.token_url)
        ))
    }

    /// `Basic` of the client id and secret (`client_secret_basic`): RFC 6749
    /// section 2.3.1 has every authorization server take it and a client send the
    /// secret in the form only when it cannot, and servers that advertise one
    /// method (the MCP conformance suite's, for one) advertise this one. Both
    /// parts are form-encoded first, as that section says.
    fn client_authentication(&self) -> Result<HeaderValue, TokenError> {
        let pair = format!(
            "{}:{}",
            form_urlencoded_value(&self.grant.client_id),
            form_urlencoded_value(self.grant.client_secret.expose())
        );
        let mut value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(pair)))
            .map_err(|_| self.failure("the client id is not usable in a header".to_owned()))?;
        value.set_sensitive(true);
        Ok(value)
    }

    async fn fetch(&self) -> Result<(String, Duration), TokenError> {
        let mut form = form_urlencoded(&[("grant_type", "client_credentials")]);
        if !self.grant.scopes.is_empty() {
            form.push('&');
            form.push_str(&form_urlencoded(&[("scope", &self.grant.scopes.join(" "))]));
        }
        let request = Request::post(self.grant.token_url.as_str())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::AUTHORIZATION, self.client_authentication()?)
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| self.failure(e.to_string()))?;
        let response = self
            .http
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| self.failure(format!("unreachable ({e})")))?;
        let status = response.status();
        // Read frame by frame, bounded (`Limited` trips rustc's `Send` check here).
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| self.failure(format!("its answer could not be read ({e})")))?;
            if let Some(data) = frame.data_ref() {
                bytes.extend_from_slice(data);
            }
            if bytes.len() > MAX_TOKEN_RESPONSE {
                return Err(self.failure(format!("its answer is over {MAX_TOKEN_RESPONSE} bytes")));
            }
        }
        let body = bytes;
        let reply: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !status.is_success() {
            // `error` and `error_description` (RFC 6749) say why; nothing else
            // of the answer is repeated.
            let why = [reply.get("error"), reply.get("error_description")]
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(": ");
            return Err(self.failure(format!(
                "refused the client credentials ({status}{}{why}); check client_id, client_secret and scopes",
                if why.is_empty() { "" } else { ", " }
            )));
        }
        let token = reply
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.failure("its answer has no access_token".to_owned()))?;
        let lifetime = reply
            .get("expires_in")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        tracing::debug!(server = %self.server, "fetched an OAuth2 token valid for {} s", lifetime.as_secs());
        Ok((token.to_owned(), lifetime))
    }
}

/// `inner` with the server's token on every request, a 401 retried once with a
/// fresh one.
fn with_token(inner: SignedHttpService, tokens: Arc<TokenSource>) -> SignedHttpService {
    BoxCloneSyncService::new(tower::service_fn(move |request: Request<Full<Bytes>>| {
        authorized(inner.clone(), tokens.clone(), request)
    }))
}

async fn authorized(
    inner: SignedHttpService,
    tokens: Arc<TokenSource>,
    request: Request<Full<Bytes>>,
) -> Result<Answer, BoxError> {
    let (parts, body) = request.into_parts();
    let response = match send(&inner, &tokens, &parts, &body, false).await {
        Ok(response) => response,
        Err(e) => return Err(e),
    };
    if response.status() != StatusCode::UNAUTHORIZED {
        return Ok(response);
    }
    tracing::info!(server = %tokens.server, "the server refused the OAuth2 token (401); fetching a new one and retrying once");
    send(&inner, &tokens, &parts, &body, true).await
}

async fn send(
    inner: &SignedHttpService,
    tokens: &TokenSource,
    parts: &http::request::Parts,
    body: &Full<Bytes>,
    renew: bool,
) -> Result<Answer, BoxError> {
    let value = match tokens.authorization(renew).await {
        Ok(value) => value,
        Err(e) => return Err(Box::new(e)),
    };
    let mut request = Request::from_parts(parts.clone(), body.clone());
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, value);
    inner.clone().oneshot(request).await
}

/// A token could not be had; says from where and why, never the secret.
#[derive(Debug)]
struct TokenError(String);

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TokenError {}

/// What a form value escapes: all but the unreserved characters of RFC 3986.
const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn form_urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_urlencoded_value(k), form_urlencoded_value(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn form_urlencoded_value(value: &str) -> percent_encoding::PercentEncode<'_> {
    percent_encoding::utf8_percent_encode(value, FORM)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_client_authenticates_with_basic_of_its_form_encoded_id_and_secret() {
        let grant = OAuth2ClientCredentials::new(
            "http://127.0.0.1:9/token",
            "agent:one",
            Secret::from("s3cr/t+="),
            vec![],
        )
        .unwrap();
        let tokens = TokenSource::new("s", grant, |builder| builder).unwrap();
        let value = tokens.client_authentication().unwrap();
        assert!(value.is_sensitive());
        let encoded = value.to_str().unwrap().strip_prefix("Basic ").unwrap();
        assert_eq!(
            STANDARD.decode(encoded).unwrap(),
            b"agent%3Aone:s3cr%2Ft%2B%3D"
        );
    }
}

//! The gateway as an OAuth 2.1 resource server (the MCP specification's
//! authorization chapter, 2025-06-18 and later, 2026-07-28 included).
//!
//! - [`metadata`]: the RFC 9728 Protected Resource Metadata of each route, at
//!   `/.well-known/oauth-protected-resource` and its path-suffixed forms; each
//!   names the route's URL as its `resource` and the issuer as its
//!   authorization server, so that a client finds where to get a token from a
//!   401 alone.
//! - [`challenge`]: the 401 / 403 / 503 refusals with their
//!   `WWW-Authenticate: Bearer` challenge.
//! - `keys`: the issuer's JWKS by discovery, cached, refetched on an unknown
//!   `kid` at most once per `jwks_refetch_floor`, tried again in the
//!   background while the issuer is unreachable.
//! - `token`: one token checked (asymmetric algorithms only; `iss`, `aud`,
//!   `exp`, `nbf`, `typ`, scopes).
//! - `verified`: tokens that passed, for their next request on the same route
//!   (at most a minute, never past their `exp`).
//!
//! The client's token stays here: nothing of it reaches an upstream, whose
//! credentials are those of its `auth_type` (the specification forbids token
//! passthrough).

pub mod challenge;
mod keys;
pub mod metadata;
mod token;
mod verified;

use std::sync::Arc;

use ::http::Response;

use self::challenge::Problem;
use self::keys::Keys;
pub use self::token::{ALGORITHMS, LEEWAY_SECONDS, MAX_TOKEN_LEN, Verified};
use self::token::{Failure, Policy};
use super::http::{self, Body};
use crate::config::OAuthSettings;

/// The resource server: the settings and the issuer's keys. Cheap to share.
#[derive(Debug)]
pub struct ResourceServer {
    public_url: String,
    issuer: String,
    scopes_supported: Vec<String>,
    // What a 401 asks for: the required scopes, else those advertised.
    challenge_scope: Option<String>,
    policy: Policy,
    keys: Arc<Keys>,
    checked: verified::Checked,
}

impl ResourceServer {
    /// A resource server for clients connecting at `public_url`, trusting the
    /// tokens of `settings.issuer`. Its keys are fetched once [`start`]ed.
    ///
    /// [`start`]: ResourceServer::start
    pub fn new(public_url: &str, settings: &OAuthSettings) -> Result<Self, String> {
        let scope = if settings.required_scopes.is_empty() {
            &settings.scopes_supported
        } else {
            &settings.required_scopes
        };
        Ok(Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            issuer: settings.issuer.clone(),
            scopes_supported: settings.scopes_supported.clone(),
            challenge_scope: (!scope.is_empty()).then(|| scope.join(" ")),
            policy: Policy {
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
                required_scopes: settings.required_scopes.clone(),
                require_at_jwt: settings.require_at_jwt,
            },
            keys: Arc::new(Keys::new(&settings.issuer, settings.jwks_refetch_floor)?),
            checked: verified::Checked::default(),
        })
    }

    /// A resource server whose keys are those of `jwks` (a JWKS document),
    /// known from the start and never fetched: for tests and fuzzing, and for
    /// an issuer whose keys are pinned.
    pub fn with_jwks(
        public_url: &str,
        settings: &OAuthSettings,
        jwks: &serde_json::Value,
    ) -> Result<Self, String> {
        let server = Self::new(public_url, settings)?;
        server.keys.install(jwks)?;
        Ok(server)
    }

    /// Fetch the issuer's keys in the background (on the current runtime),
    /// trying again with backoff while it is unreachable.
    pub fn start(&self) {
        self.keys.start();
    }

    /// Wait, at most `limit`, for the first attempt to fetch the issuer's
    /// keys to end (fetched, or failed and to be tried again), so that a
    /// gateway that reaches its issuer does not answer its first tokens 503.
    pub async fn first_attempt(&self, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.keys.tried() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The metadata document a `GET` of `path` asks for, when `path` is under
    /// [`metadata::WELL_KNOWN`]: the document, or 404 for a route that does not
    /// exist; `None` for any other path.
    pub fn metadata(&self, path: &str, servers: &[&str]) -> Option<Response<Body>> {
        if !path.starts_with(metadata::WELL_KNOWN) {
            return None;
        }
        let Some(resource) = metadata::requested(path, servers) else {
            return Some(http::error(
                ::http::StatusCode::NOT_FOUND,
                "no such protected resource; its metadata is at /.well-known/oauth-protected-resource followed by the route's path (/mcp, /mcp/{server})",
            ));
        };
        let document = metadata::document(
            &self.public_url,
            &resource,
            &self.issuer,
            &self.scopes_supported,
        );
        let mut response = http::json(::http::StatusCode::OK, &document);
        let headers = response.headers_mut();
        headers.insert(
            ::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
            ::http::HeaderValue::from_static("*"),
        );
        headers.insert(
            ::http::header::CACHE_CONTROL,
            ::http::HeaderValue::from_static("max-age=300"),
        );
        Some(response)
    }

    /// Check the bearer `token` (if any) of a request to `path`: its claims,
    /// or the refusal to answer with.
    pub async fn check(
        &self,
        token: Option<&str>,
        path: &str,
    ) -> Result<Arc<Verified>, Response<Body>> {
        let resource_path = metadata::resource_path(path);
        let resource = format!("{}{resource_path}", self.public_url);
        let metadata_url = format!("{}{}{resource_path}", self.public_url, metadata::WELL_KNOWN);
        let Some(token) = token else {
            return Err(challenge::refusal(
                &Problem::Missing,
                &metadata_url,
                self.challenge_scope.as_deref(),
            ));
        };
        let key = verified::key(&resource, token);
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(verified) = self.checked.get(&key, now) {
            return Ok(verified);
        }
        let verdict = token::verify(token, &self.keys, &self.policy, &resource).await;
        let scope = self.challenge_scope.as_deref();
        match verdict {
            Ok(verified) => {
                let verified = Arc::new(verified);
                self.checked.put(key, verified.clone(), now);
                Ok(verified)
            }
            Err(Failure::Unavailable) => Err(challenge::unavailable(self.keys.retry_after())),
            Err(Failure::Invalid(why)) => {
                tracing::info!("refused an access token: {why}");
                Err(challenge::refusal(
                    &Problem::InvalidToken(&why),
                    &metadata_url,
                    scope,
                ))
            }
            Err(Failure::Scope) => Err(challenge::refusal(
                &Problem::InsufficientScope,
                &metadata_url,
                scope,
            )),
        }
    }

    /// A refusal for a request whose credential is not a token (nor a key).
    pub fn not_a_token(&self, path: &str) -> Response<Body> {
        let metadata_url = format!(
            "{}{}{}",
            self.public_url,
            metadata::WELL_KNOWN,
            metadata::resource_path(path)
        );
        challenge::refusal(
            &Problem::InvalidToken(
                "the credential is neither a key of this gateway nor an access token",
            ),
            &metadata_url,
            self.challenge_scope.as_deref(),
        )
    }
}

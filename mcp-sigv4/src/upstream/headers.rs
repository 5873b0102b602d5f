//! The headers of a request to a server: the auth header of `api_key`,
//! `bearer_token`, `basic`, `authorization` and `token`, and `static_headers`.
//! (`aws_sigv4` signs each request instead, see `credentials`; `oauth2` adds a
//! fetched token to each request, see `oauth2`.)

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderName, HeaderValue};
use tower_sigv4::{ConfigError, ConfigErrorKind, Error};

use crate::config::{Auth, ServerConfig};

impl ServerConfig {
    /// The headers sent on every request: the auth header of `api_key`,
    /// `bearer_token`, `basic` and `authorization`, then `static_headers`. Values
    /// are marked sensitive, so `Debug` of a `HeaderValue` does not show them.
    pub fn headers(&self) -> Result<HashMap<HeaderName, HeaderValue>, Error> {
        let mut headers = HashMap::new();
        let auth = match &self.auth {
            // An OAuth2 token is fetched at run time; the gateway adds it per request.
            Auth::None | Auth::SigV4 { .. } | Auth::OAuth2(_) => None,
            Auth::Token(token) => Some((
                http::header::AUTHORIZATION,
                format!("token {}", token.expose()),
            )),
            Auth::ApiKey(key) => Some((
                HeaderName::from_static("x-api-key"),
                key.expose().to_owned(),
            )),
            Auth::Bearer(token) => Some((
                http::header::AUTHORIZATION,
                format!("Bearer {}", token.expose()),
            )),
            Auth::Basic { user, password } => Some((
                http::header::AUTHORIZATION,
                format!(
                    "Basic {}",
                    BASE64.encode(format!("{user}:{}", password.expose()))
                ),
            )),
            Auth::Authorization(value) => {
                Some((http::header::AUTHORIZATION, value.expose().to_owned()))
            }
        };
        let statics = self
            .static_headers
            .iter()
            .map(|(name, value)| (name.clone(), value.expose().to_owned()));
        for (name, value) in auth.into_iter().chain(statics) {
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                Error::Config(ConfigError::new(
                    ConfigErrorKind::Other,
                    format!(
                        "MCP server `{}`: the value for header `{name}` is not a valid HTTP header value",
                        self.name
                    ),
                ))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(headers)
    }
}

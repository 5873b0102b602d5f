//! From a [`ServerConfig`] to an rmcp client transport.

use std::collections::HashMap;
use std::sync::Arc;

use aws_credential_types::Credentials;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderName, HeaderValue};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use tower_sigv4::rmcp::{SignedHttpService, SignedTransport, TowerHttpClient, TransportBuilder};
use tower_sigv4::{ConfigError, ConfigErrorKind, Error};

use super::assume_role::AssumeRole;
use super::{Auth, CredentialsSource, OnNotification, ServerConfig, Transport};
use super::{sse, stdio};

/// Names the static credentials in logs and diagnoses.
const STATIC_SOURCE: &str = "mcp-sigv4 configuration file";

impl ServerConfig {
    /// The [`TransportBuilder`] for this server: signing configured for
    /// `aws_sigv4`, signing off for the other auth types (their header is in
    /// [`headers`](Self::headers)). Set timeouts or retries on it, then
    /// [`build_client`](TransportBuilder::build_client), or use
    /// [`transport_with`](Self::transport_with).
    pub fn transport_builder(&self) -> TransportBuilder {
        let builder = TransportBuilder::new(self.url.as_str());
        match &self.auth {
            Auth::SigV4 {
                region,
                service,
                credentials,
            } => {
                let builder = builder.region(region).service(service.as_str());
                with_credentials(builder, credentials, region)
            }
            _ => builder.sign(false),
        }
    }

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

    /// The HTTP client for this server, after `configure` has had its say on the
    /// builder: signed for `aws_sigv4`, with a client-credentials token on
    /// every request for `oauth2`, plain otherwise (the auth header is in
    /// [`headers`](Self::headers)).
    pub fn http_client_with(
        &self,
        configure: impl FnOnce(TransportBuilder) -> TransportBuilder,
    ) -> Result<TowerHttpClient<SignedHttpService>, Error> {
        self.http_client_notifying(configure, Arc::new(|_: &serde_json::Value| {}))
    }

    /// Like [`http_client_with`](Self::http_client_with), with `notify` called
    /// for each notification a `stdio` or `sse` server sends on its shared
    /// stream (an `http` server's notifications reach its clients' streams).
    pub fn http_client_notifying(
        &self,
        configure: impl FnOnce(TransportBuilder) -> TransportBuilder,
        notify: OnNotification,
    ) -> Result<TowerHttpClient<SignedHttpService>, Error> {
        if let Transport::Stdio(command) = &self.transport {
            return Ok(TowerHttpClient::new(stdio::service(
                &self.name, command, notify,
            )));
        }
        let service = configure(self.transport_builder()).build_service()?;
        let service = match &self.auth {
            Auth::OAuth2(grant) => grant.authorize(&self.name, service)?,
            _ => service,
        };
        let service = match self.transport {
            Transport::Sse => sse::service(&self.name, &self.url, service, notify),
            _ => service,
        };
        Ok(TowerHttpClient::new(service))
    }

    /// The rmcp transport to this server, signed or with its auth header.
    pub fn transport(&self) -> Result<SignedTransport, Error> {
        self.transport_with(|builder| builder)
    }

    /// Like [`transport`](Self::transport), after `configure` has had its say on
    /// the builder (timeouts, retries).
    pub fn transport_with(
        &self,
        configure: impl FnOnce(TransportBuilder) -> TransportBuilder,
    ) -> Result<SignedTransport, Error> {
        let client = self.http_client_with(configure)?;
        let config = StreamableHttpClientTransportConfig::with_uri(self.url.as_str())
            .custom_headers(self.headers()?);
        Ok(StreamableHttpClientTransport::with_client(client, config))
    }
}

fn with_credentials(
    builder: TransportBuilder,
    credentials: &CredentialsSource,
    region: &str,
) -> TransportBuilder {
    match credentials {
        CredentialsSource::DefaultChain { profile: None } => builder,
        CredentialsSource::DefaultChain {
            profile: Some(profile),
        } => builder.profile(profile),
        source @ CredentialsSource::Static { .. } => match static_credentials(source) {
            Some(credentials) => builder.credentials(credentials),
            None => builder,
        },
        CredentialsSource::AssumeRole {
            role_arn,
            session_name,
            base,
        } => builder.credentials_provider(AssumeRole::new(
            role_arn.clone(),
            session_name.clone(),
            region.to_owned(),
            (**base).clone(),
        )),
    }
}

pub(super) fn static_credentials(source: &CredentialsSource) -> Option<Credentials> {
    match source {
        CredentialsSource::Static {
            access_key_id,
            secret_access_key,
            session_token,
        } => Some(Credentials::new(
            access_key_id.clone(),
            secret_access_key.expose().to_owned(),
            session_token.as_ref().map(|t| t.expose().to_owned()),
            None,
            STATIC_SOURCE,
        )),
        _ => None,
    }
}

//! From a [`ServerConfig`] to an rmcp client transport.

use std::sync::Arc;

use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use tower_sigv4::Error;
use tower_sigv4::rmcp::{SignedHttpService, SignedTransport, TowerHttpClient, TransportBuilder};

use super::OnNotification;
use super::credentials::with_credentials;
use super::{sse, stdio};
use crate::config::{Auth, ServerConfig, Transport};

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

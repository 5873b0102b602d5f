use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use tower::retry::Retry;
use tower::timeout::TimeoutLayer;
use tower::util::BoxCloneSyncService;
use tower::{Layer, ServiceExt};
use tower_service::Service;

use super::TowerHttpClient;
use crate::error::BoxError;
use crate::recover::RecoverLayer;
use crate::retry::RetryPolicy;
use crate::{Error, ServiceName, SigV4Builder, SigV4Layer, endpoint};

/// The HTTP stack [`TransportBuilder`] builds, boxed: hyper-util's client with
/// rustls (HTTP/1.1 and HTTP/2, Mozilla's roots), behind the signing layer, the
/// [recovery layer](crate::recover) and the [retry policy](crate::retry).
pub type SignedHttpService =
    BoxCloneSyncService<Request<Full<Bytes>>, Response<BoxBody<Bytes, BoxError>>, BoxError>;

/// The rmcp transport [`connect`] and [`TransportBuilder::build`] return.
pub type SignedTransport = StreamableHttpClientTransport<TowerHttpClient<SignedHttpService>>;

/// An rmcp transport to the MCP server at `url`, every request signed with SigV4
/// for the service and region inferred from the URL, with credentials from the
/// default chain. The same as `TransportBuilder::new(url).build()`.
///
/// Fails when the URL is not `https://` (plain `http://` is allowed for
/// 127.0.0.1, `localhost` and `::1` only), or when the service or region cannot
/// be inferred (use [`TransportBuilder`] to set them).
///
/// ```no_run
/// use rmcp::ServiceExt;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let transport = tower_sigv4::rmcp::connect("https://aws-mcp.us-east-1.api.aws/mcp")?;
/// let client = ().serve(transport).await?;
/// for tool in client.list_all_tools().await? {
///     println!("{}", tool.name);
/// }
/// client.cancel().await?;
/// # Ok(()) }
/// ```
pub fn connect(url: &str) -> Result<SignedTransport, Error> {
    TransportBuilder::new(url).build()
}

/// Configures a signed rmcp transport: the endpoint, what to sign for and with,
/// and the retry and recovery layers around the signer.
///
/// ```no_run
/// use aws_credential_types::Credentials;
/// use rmcp::ServiceExt;
/// use tower_sigv4::ServiceName;
/// use tower_sigv4::retry::RetryPolicy;
/// use tower_sigv4::rmcp::TransportBuilder;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let transport = TransportBuilder::new("https://mcp.example.com/mcp")
///     .service(ServiceName::EXECUTE_API)
///     .region("eu-west-1")
///     .credentials(Credentials::new("AKID", "SECRET", None, None, "example"))
///     .retry(RetryPolicy::default().max_attempts(5))
///     .signing(|signing| signing.max_body_size(1024 * 1024))
///     .build()?;
/// let client = ().serve(transport).await?;
/// # let _ = client;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TransportBuilder {
    url: String,
    signing: SigV4Builder,
    retry: RetryPolicy,
    recover: bool,
    sign: bool,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
}

impl TransportBuilder {
    /// A transport to `url`; the service and region are inferred from its host
    /// unless set.
    pub fn new(url: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            signing: SigV4Layer::for_endpoint(&url),
            url,
            retry: RetryPolicy::default(),
            recover: true,
            sign: true,
            timeout: None,
            connect_timeout: None,
        }
    }

    /// The region to sign for, e.g. `us-east-1`.
    pub fn region(self, region: impl Into<String>) -> Self {
        self.signing(|s| s.region(region))
    }

    /// The service to sign for, e.g. [`ServiceName::BEDROCK_AGENTCORE`].
    pub fn service(self, service: impl Into<ServiceName>) -> Self {
        self.signing(|s| s.service(service))
    }

    /// Sign with these static credentials instead of the default chain.
    pub fn credentials(self, credentials: Credentials) -> Self {
        self.signing(|s| s.credentials(credentials))
    }

    /// Load credentials from `provider` (cached, refreshed ahead of expiry).
    pub fn credentials_provider(self, provider: impl ProvideCredentials + 'static) -> Self {
        self.signing(|s| s.credentials_provider(provider))
    }

    /// Use the default credential chain with this profile instead of `AWS_PROFILE`.
    #[cfg(feature = "default-credentials")]
    pub fn profile(self, profile: impl Into<String>) -> Self {
        self.signing(|s| s.profile(profile))
    }

    /// Change anything else about signing, such as the body limit or the signed
    /// headers.
    pub fn signing(mut self, configure: impl FnOnce(SigV4Builder) -> SigV4Builder) -> Self {
        self.signing = configure(self.signing);
        self
    }

    /// How throttling and transient failures are retried (default
    /// [`RetryPolicy::default`]; [`RetryPolicy::none`] for a single attempt).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Whether a [`RecoverLayer`] reloads credentials or corrects the clock after
    /// a refused signature and retries once (default on).
    pub fn recover(mut self, enabled: bool) -> Self {
        self.recover = enabled;
        self
    }

    /// Whether requests are signed (default on). Off sends them unsigned, for
    /// public endpoints during local development or servers authenticated by a
    /// header; the recovery layer is then left out too, and no service, region or
    /// credentials are needed.
    pub fn sign(mut self, enabled: bool) -> Self {
        self.sign = enabled;
        self
    }

    /// Fail an attempt whose response has not started within `timeout` (default:
    /// no limit). A streaming response that has started is not cut off.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Fail a connection attempt that takes longer than `timeout` (default: no limit).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The signed HTTP client, for use with your own
    /// [`StreamableHttpClientTransportConfig`].
    pub fn build_client(self) -> Result<TowerHttpClient<SignedHttpService>, Error> {
        endpoint::check_url(&self.url)?;
        let client = hyper_client(self.connect_timeout).map_err(BoxError::from);
        let client = tower::util::option_layer(self.timeout.map(TimeoutLayer::new)).layer(client);
        // Unsigned needs no service, region or credentials: build the signer only to sign.
        let service = match (self.sign, self.recover) {
            (false, _) => boxed(Retry::new(self.retry, client)),
            (true, true) => {
                let signing = self.signing.build()?;
                let recovering =
                    RecoverLayer::new(signing.signer().clone()).layer(signing.layer(client));
                boxed(Retry::new(self.retry, recovering))
            }
            (true, false) => boxed(Retry::new(self.retry, self.signing.build()?.layer(client))),
        };
        Ok(TowerHttpClient::new(service))
    }

    /// The rmcp transport.
    pub fn build(self) -> Result<SignedTransport, Error> {
        let config = StreamableHttpClientTransportConfig::with_uri(self.url.as_str());
        Ok(StreamableHttpClientTransport::with_client(
            self.build_client()?,
            config,
        ))
    }
}

type HyperClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

fn hyper_client(connect_timeout: Option<Duration>) -> HyperClient {
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    // Small JSON-RPC requests must not wait for delayed ACKs (Nagle).
    http.set_nodelay(true);
    http.set_connect_timeout(connect_timeout);
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .build(https)
}

fn boxed<S, B>(service: S) -> SignedHttpService
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = BoxError>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<BoxError>,
{
    BoxCloneSyncService::new(service.map_response(|response: Response<B>| {
        response.map(|body| body.map_err(Into::into).boxed())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn builds_for_known_endpoints_and_refuses_unknown_ones() {
        let credentials = Credentials::new("AKID", "SECRET", None, None, "test");
        let built = TransportBuilder::new("https://aws-mcp.us-east-1.api.aws/mcp")
            .credentials(credentials.clone())
            .build();
        assert!(built.is_ok());
        let unknown = TransportBuilder::new("https://mcp.example.com/mcp")
            .credentials(credentials)
            .build();
        assert!(matches!(unknown, Err(Error::Config(_))));
        // Unsigned, nothing needs inferring.
        let unsigned = TransportBuilder::new("https://mcp.example.com/mcp")
            .sign(false)
            .build();
        assert!(unsigned.is_ok());
    }
}

//! `connect` and `TransportBuilder`: a signed rmcp transport over hyper-util with
//! rustls.

mod net;
mod tls;

use std::path::PathBuf;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
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
/// rustls (HTTP/1.1 and HTTP/2), behind the signing layer, the
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
/// loopback hosts only: 127.0.0.0/8, `::1` and `localhost`), when the service or region cannot
/// be inferred (use [`TransportBuilder`] to set them), or when the proxy or CA
/// bundle variables of the environment are unusable (see [`TransportBuilder`]).
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
/// the retry and recovery layers around the signer, and the network.
///
/// # Network
///
/// - **Proxies**: `HTTPS_PROXY`/`https_proxy` for `https://` endpoints,
///   `HTTP_PROXY`/`http_proxy` for `http://` ones, `ALL_PROXY`/`all_proxy` for
///   both when those are unset, and `NO_PROXY`/`no_proxy` (comma-separated hosts,
///   domains matching their subdomains, IP addresses and CIDR ranges, or `*`) for
///   hosts reached directly. Loopback hosts are proxied too unless `NO_PROXY`
///   names them, as with curl. Only `http://` proxies are supported, with
///   `user:password@` for basic authentication; every request goes through an
///   HTTP `CONNECT` tunnel, `http://` endpoints included, so TLS runs end to end.
///   [`proxy`](Self::proxy), [`no_proxy`](Self::no_proxy) and
///   [`direct`](Self::direct) override the environment.
/// - **Trust**: the OS trust store (through rustls-native-certs, which reads
///   `SSL_CERT_FILE`/`SSL_CERT_DIR` instead when they are set), or Mozilla's roots
///   when the store is empty, plus the PEM bundle named by `AWS_CA_BUNDLE` (or
///   else `SSL_CERT_FILE`) or by [`ca_bundle`](Self::ca_bundle). A bundle that
///   cannot be read is an [`Error::Config`] naming the variable and the path. The
///   rustls crypto provider is aws-lc-rs, set on the configuration: the process
///   default is never used, so a second provider enabled elsewhere in the program
///   changes nothing.
/// - **Timeouts**: connecting (TCP, proxy tunnel and TLS handshake) is bounded by
///   [`connect_timeout`](Self::connect_timeout) (default
///   [`DEFAULT_CONNECT_TIMEOUT`](Self::DEFAULT_CONNECT_TIMEOUT), 10 s); each
///   attempt's response must start within [`timeout`](Self::timeout) (default
///   [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT), 180 s). The timeout covers the
///   response head only, never the body, so a long Server-Sent Events stream is
///   not cut off; a connection that dies silently under a stream is found by TCP
///   keepalive and HTTP/2 PINGs ([`keepalive`](Self::keepalive), default
///   [`DEFAULT_KEEPALIVE`](Self::DEFAULT_KEEPALIVE), 30 s).
///
/// Environment variables are read from the process environment when the
/// transport is built, or from the lookup given to [`env`](Self::env).
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
///
/// Through a proxy, trusting a private CA, with shorter timeouts:
///
/// ```no_run
/// use std::time::Duration;
/// use tower_sigv4::rmcp::TransportBuilder;
///
/// # fn demo() -> Result<(), tower_sigv4::Error> {
/// let transport = TransportBuilder::new("https://aws-mcp.us-east-1.api.aws/mcp")
///     .proxy("http://proxy.corp.example:3128")
///     .no_proxy("localhost,.corp.example")
///     .ca_bundle("/etc/pki/corp-ca.pem")
///     .connect_timeout(Duration::from_secs(5))
///     .timeout(Duration::from_secs(60))
///     .build()?;
/// # let _ = transport;
/// # Ok(()) }
/// ```
///
/// The builder is `Clone`, `Send` and `Sync`.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct TransportBuilder {
    url: String,
    signing: SigV4Builder,
    retry: RetryPolicy,
    recover: bool,
    sign: bool,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    keepalive: Option<Duration>,
    proxy: net::ProxySetting,
    no_proxy: Option<String>,
    ca_bundle: Option<PathBuf>,
    env: net::Env,
    allow_plain_http: bool,
}

impl TransportBuilder {
    /// How long an attempt may wait for the response to start, by default.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);
    /// How long setting up a connection (TCP, proxy tunnel, TLS) may take, by default.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The TCP keepalive time and HTTP/2 PING interval, by default.
    pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(30);
    /// An HTTP/2 PING unanswered this long closes the connection.
    const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

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
            timeout: Some(Self::DEFAULT_TIMEOUT),
            connect_timeout: Some(Self::DEFAULT_CONNECT_TIMEOUT),
            keepalive: Some(Self::DEFAULT_KEEPALIVE),
            proxy: net::ProxySetting::FromEnv,
            no_proxy: None,
            ca_bundle: None,
            env: net::Env::process(),
            allow_plain_http: false,
        }
    }

    forward_signing_setters!();

    /// Change anything else about signing, such as the body limit or the signed
    /// headers.
    pub fn signing(mut self, configure: impl FnOnce(SigV4Builder) -> SigV4Builder) -> Self {
        self.signing = configure(self.signing);
        self
    }

    /// Connect and sign over plain `http://` to any host, not only to loopback
    /// ones (127.0.0.0/8, `::1`, `localhost`). See
    /// [`SigV4Builder::allow_plain_http`] for what this exposes: with temporary
    /// credentials, the session token crosses the network in clear text.
    pub fn allow_plain_http(mut self) -> Self {
        self.allow_plain_http = true;
        self.signing(SigV4Builder::allow_plain_http)
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

    /// Fail an attempt whose response has not started within `timeout` (default
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT), 180 s; `Duration::MAX` for no
    /// limit). The limit is on the response head: a streaming body that has
    /// started is not cut off. A request whose attempt timed out is retried only
    /// when marked [`RetrySafe`](crate::retry::RetrySafe).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Fail a connection whose set-up (TCP connect, proxy tunnel, TLS handshake)
    /// takes longer than `timeout` (default
    /// [`DEFAULT_CONNECT_TIMEOUT`](Self::DEFAULT_CONNECT_TIMEOUT), 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// TCP keepalive time and HTTP/2 PING interval (default
    /// [`DEFAULT_KEEPALIVE`](Self::DEFAULT_KEEPALIVE), 30 s; `None` for neither).
    /// They find a connection that died without a word, under a long stream or
    /// in the pool. An HTTP/2 PING unanswered for 20 s closes the connection.
    pub fn keepalive(mut self, interval: Option<Duration>) -> Self {
        self.keepalive = interval;
        self
    }

    /// Send every request through this HTTP proxy (`http://[user:password@]host:port`),
    /// whatever `HTTPS_PROXY`, `HTTP_PROXY` and `ALL_PROXY` say. Hosts named by
    /// [`no_proxy`](Self::no_proxy) or `NO_PROXY` are still reached directly.
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = net::ProxySetting::Url(url.into());
        self
    }

    /// Hosts reached without the proxy, in `NO_PROXY`'s form
    /// (`localhost,.corp.example,10.0.0.0/8`), instead of `NO_PROXY`'s value.
    pub fn no_proxy(mut self, hosts: impl Into<String>) -> Self {
        self.no_proxy = Some(hosts.into());
        self
    }

    /// Connect directly: no proxy, whatever the environment says.
    pub fn direct(mut self) -> Self {
        self.proxy = net::ProxySetting::Direct;
        self
    }

    /// Trust the CA certificates of this PEM file besides the OS's, instead of
    /// the file `AWS_CA_BUNDLE` or `SSL_CERT_FILE` names.
    pub fn ca_bundle(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_bundle = Some(path.into());
        self
    }

    /// Read `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY` (and their
    /// lowercase forms), `AWS_CA_BUNDLE` and `SSL_CERT_FILE` through `lookup`
    /// instead of from the process environment.
    ///
    /// ```
    /// use tower_sigv4::rmcp::TransportBuilder;
    ///
    /// let builder = TransportBuilder::new("https://aws-mcp.us-east-1.api.aws/mcp")
    ///     .env(|name| (name == "HTTPS_PROXY").then(|| "http://127.0.0.1:3128".to_owned()));
    /// # let _ = builder;
    /// ```
    pub fn env(mut self, lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = net::Env::new(lookup);
        self
    }

    /// The signed HTTP client, for use with your own
    /// [`StreamableHttpClientTransportConfig`].
    pub fn build_client(self) -> Result<TowerHttpClient<SignedHttpService>, Error> {
        self.build_service().map(TowerHttpClient::new)
    }

    /// The signed HTTP service itself: retry, recovery and signing over
    /// hyper-util, for requests of your own (`http::Request<Full<Bytes>>` with an
    /// absolute URI).
    pub fn build_service(self) -> Result<SignedHttpService, Error> {
        endpoint::check_url_with(&self.url, self.allow_plain_http)?;
        let connector = self.connector()?;
        let client = hyper_client(connector, self.keepalive).map_err(BoxError::from);
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
        Ok(service)
    }

    /// TCP, the proxy tunnel and TLS, bounded by the connect timeout.
    fn connector(&self) -> Result<Connector, Error> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        // Small JSON-RPC requests must not wait for delayed ACKs (Nagle).
        http.set_nodelay(true);
        http.set_keepalive(self.keepalive);
        http.set_connect_timeout(self.connect_timeout);
        let proxies = net::proxy_matcher(&self.proxy, self.no_proxy.as_deref(), &self.env)?;
        let bundle = match &self.ca_bundle {
            Some(path) => Some(tls::CaBundle {
                path: path.clone(),
                origin: "the builder's ca_bundle",
            }),
            None => self
                .env
                .first(&["AWS_CA_BUNDLE", "SSL_CERT_FILE"])
                .map(|(origin, path)| tls::CaBundle {
                    path: path.into(),
                    origin,
                }),
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls::client_config(bundle.as_ref())?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(net::ProxyConnector::new(http, proxies));
        Ok(net::ConnectTimeout::new(https, self.connect_timeout))
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

type Connector = net::ConnectTimeout<hyper_rustls::HttpsConnector<net::ProxyConnector>>;

fn hyper_client(
    connector: Connector,
    keepalive: Option<Duration>,
) -> Client<Connector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .http2_keep_alive_interval(keepalive)
        .http2_keep_alive_timeout(TransportBuilder::KEEPALIVE_TIMEOUT)
        .http2_keep_alive_while_idle(true)
        .build(connector)
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
        assert_eq!(
            unknown.err().and_then(|e| e.config_kind()),
            Some(crate::ConfigErrorKind::NoService)
        );
        // Unsigned, nothing needs inferring.
        let unsigned = TransportBuilder::new("https://mcp.example.com/mcp")
            .sign(false)
            .build();
        assert!(unsigned.is_ok());
    }

    #[test]
    fn the_builder_has_network_defaults() {
        let builder = TransportBuilder::new("https://aws-mcp.us-east-1.api.aws/mcp");
        assert_eq!(builder.timeout, Some(TransportBuilder::DEFAULT_TIMEOUT));
        assert_eq!(
            builder.connect_timeout,
            Some(TransportBuilder::DEFAULT_CONNECT_TIMEOUT)
        );
        assert_eq!(builder.keepalive, Some(TransportBuilder::DEFAULT_KEEPALIVE));
        assert!(matches!(builder.proxy, net::ProxySetting::FromEnv));
    }
}

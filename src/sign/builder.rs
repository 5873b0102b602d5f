use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use super::DEFAULT_MAX_BODY_SIZE;
use crate::SigV4Layer;
use crate::clock::{Clock, SharedClock, SkewCorrection};
use crate::credentials::{CredentialsCache, CredentialsCacheBuilder};
use crate::error::{ConfigErrorKind, config};
use crate::signer::{Config, MissingCredentials};
use crate::{Error, ServiceName, SignedHeaders, Signer, endpoint};

/// Configuration for a [`SigV4Layer`].
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use aws_credential_types::Credentials;
/// use tower_sigv4::clock::FixedClock;
/// use tower_sigv4::{ServiceName, SigV4Layer, SignedHeaders};
///
/// let layer = SigV4Layer::builder()
///     .region("us-west-2")
///     .service(ServiceName::BEDROCK_AGENTCORE)
///     .credentials(Credentials::new("AKID", "SECRET", None, None, "example"))
///     .signed_headers(SignedHeaders::default().also_exclude(["x-forwarded-for"]))
///     .max_body_size(4 * 1024 * 1024)
///     .content_sha256_header(true)
///     .clock(FixedClock::new(UNIX_EPOCH + Duration::from_secs(1_700_000_000)))
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
///
/// The builder is `Clone`, `Send` and `Sync`: configure it once and build a
/// signer per client. Signers built from clones share a credentials provider
/// given with [`credentials_provider`](Self::credentials_provider), but each has
/// its own cache of it.
///
/// A builder that is configured and then dropped is a warning (the type is
/// `#[must_use]`), so a forgotten `build()` does not go unnoticed:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// tower_sigv4::SigV4Layer::for_endpoint("https://aws-mcp.us-east-1.api.aws/mcp").region("us-west-2");
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until `build` or `build_signer` is called"]
pub struct SigV4Builder {
    region: Option<String>,
    service: Option<ServiceName>,
    endpoint: Option<String>,
    credentials: CredentialsChoice,
    cache: CredentialsCacheBuilder,
    headers: SignedHeaders,
    max_body_size: Option<usize>,
    clock: Option<SharedClock>,
    content_sha256_header: bool,
    normalize_path: Option<bool>,
    missing_credentials: MissingCredentials,
    allow_plain_http: bool,
}

#[derive(Clone, Debug, Default)]
enum CredentialsChoice {
    #[default]
    Default,
    #[cfg(feature = "default-credentials")]
    Profile(String),
    Static(Credentials),
    Provider(ProviderChoice),
    Cache(CredentialsCache),
}

/// A provider given to the builder, shared by its clones, with the name it is
/// shown by (taken before wrapping: the wrapper's `Debug` would hide it).
#[derive(Clone)]
struct ProviderChoice {
    provider: SharedCredentialsProvider,
    name: String,
}

impl std::fmt::Debug for ProviderChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl SigV4Builder {
    /// The region to sign for, e.g. `us-east-1`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// The service to sign for (default `bedrock-agentcore`, or inferred from the endpoint).
    pub fn service(mut self, service: impl Into<ServiceName>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Infer service and region from this URL where they are not set explicitly.
    ///
    /// [`build`](Self::build) checks the URL as every request is checked: it must
    /// be an absolute `https://` URL, or plain `http://` to a loopback host
    /// (`127.0.0.0/8`, `::1`, `localhost`), unless
    /// [`allow_plain_http`](Self::allow_plain_http) is set. A loopback URL names
    /// no service or region, except an AgentCore Runtime invocation path
    /// (`/runtimes/{ARN}/invocations`), whose ARN gives both; set them otherwise.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// Sign with these static credentials; no provider is ever called.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = CredentialsChoice::Static(credentials);
        self
    }

    /// Load credentials from `provider`, cached and refreshed ahead of expiry.
    pub fn credentials_provider(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.credentials = CredentialsChoice::Provider(ProviderChoice {
            name: crate::credentials::provider_name(&provider),
            provider: SharedCredentialsProvider::new(provider),
        });
        self
    }

    /// Share an existing cache (for example with a retry policy or another layer).
    /// The cache settings on this builder are then ignored.
    pub fn credentials_cache(mut self, cache: CredentialsCache) -> Self {
        self.credentials = CredentialsChoice::Cache(cache);
        self
    }

    /// Use the default credential chain with this profile instead of `AWS_PROFILE`.
    #[cfg(feature = "default-credentials")]
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.credentials = CredentialsChoice::Profile(profile.into());
        self
    }

    /// Refresh credentials this long before they expire (default 5 minutes).
    pub fn refresh_before_expiry(mut self, buffer: Duration) -> Self {
        self.cache = self.cache.refresh_before_expiry(buffer);
        self
    }

    /// Fail a credentials load that takes longer than this (default 5 seconds).
    pub fn credentials_load_timeout(mut self, timeout: Duration) -> Self {
        self.cache = self.cache.load_timeout(timeout);
        self
    }

    /// Which headers are signed (default: all but [`SignedHeaders::DEFAULT_EXCLUDED`]).
    pub fn signed_headers(mut self, headers: SignedHeaders) -> Self {
        self.headers = headers;
        self
    }

    /// The largest body the layer buffers and signs (default 10 MiB).
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = Some(bytes);
        self
    }

    /// The clock that dates signatures (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(SharedClock::new(clock));
        self
    }

    /// Also send and sign `x-amz-content-sha256` with the body's hash (default off).
    pub fn content_sha256_header(mut self, enabled: bool) -> Self {
        self.content_sha256_header = enabled;
        self
    }

    /// Whether `.` and `..` segments and repeated slashes are normalised in the
    /// canonical path (default: yes for every service but S3, as AWS requires).
    pub fn normalize_path(mut self, enabled: bool) -> Self {
        self.normalize_path = Some(enabled);
        self
    }

    /// What to do when no credentials can be loaded (default: fail the request).
    pub fn missing_credentials(mut self, policy: MissingCredentials) -> Self {
        self.missing_credentials = policy;
        self
    }

    /// Sign and send requests over plain `http://` to any host, not only to
    /// loopback ones.
    ///
    /// By default a request to `http://` on a host other than `127.0.0.0/8`,
    /// `::1` or `localhost` is refused with [`Error::Config`] before it is
    /// signed, and so is an [`endpoint`](Self::endpoint) of that form when the
    /// signer is built. This is for private networks where TLS ends in front of
    /// the server (a sidecar, a VPC endpoint behind a proxy).
    ///
    /// # Warning
    ///
    /// SigV4 authenticates a request but does not hide it. Over plain HTTP,
    /// anyone on the path reads the body and every header, and with temporary
    /// credentials that includes the **session token** (`x-amz-security-token`):
    /// with the access key id it can be replayed until it expires. A captured
    /// signed request can also be replayed for up to 15 minutes. AWS endpoints
    /// accept HTTPS only.
    ///
    /// ```
    /// use aws_credential_types::Credentials;
    /// use tower_sigv4::SigV4Layer;
    ///
    /// let credentials = Credentials::new("AKID", "SECRET", None, None, "example");
    /// let url = "http://mcp.internal.example:8080/mcp";
    /// let refused = SigV4Layer::for_endpoint(url)
    ///     .service("execute-api")
    ///     .region("us-east-1")
    ///     .credentials(credentials.clone())
    ///     .build();
    /// assert!(refused.unwrap_err().to_string().contains("uses plain http://"));
    ///
    /// let layer = SigV4Layer::for_endpoint(url)
    ///     .service("execute-api")
    ///     .region("us-east-1")
    ///     .credentials(credentials)
    ///     .allow_plain_http()
    ///     .build();
    /// assert!(layer.is_ok());
    /// ```
    pub fn allow_plain_http(mut self) -> Self {
        self.allow_plain_http = true;
        self
    }

    /// Build the signer without wrapping it in a layer.
    pub fn build_signer(self) -> Result<Signer, Error> {
        if let Some(url) = &self.endpoint {
            endpoint::check_url_with(url, self.allow_plain_http)?;
        }
        let inferred = self.endpoint.as_deref().and_then(endpoint::infer);
        let service = match (self.service, &inferred, &self.endpoint) {
            (Some(service), _, _) => service,
            (None, Some(inferred), _) => inferred.service.clone(),
            (None, None, Some(url)) => {
                let url = endpoint::redact_query(url);
                return Err(config(
                    ConfigErrorKind::NoService,
                    format!(
                        "cannot infer the SigV4 service from `{url}`; set it explicitly (`bedrock-agentcore` for AgentCore, `aws-mcp` for the AWS MCP Server)"
                    ),
                ));
            }
            (None, None, None) => ServiceName::default(),
        };
        let region = match (self.region, inferred) {
            (Some(region), _) => region,
            (None, Some(inferred)) => inferred.region,
            (None, None) => env_region().ok_or_else(|| {
                config(ConfigErrorKind::NoRegion, match &self.endpoint {
                    Some(url) => format!(
                        "cannot infer the AWS region from `{}`; set it explicitly or with AWS_REGION",
                        endpoint::redact_query(url)
                    ),
                    None => "no AWS region configured; set it on the builder or with AWS_REGION".to_owned(),
                })
            })?,
        };
        if region.is_empty() || service.as_str().is_empty() {
            return Err(config(
                ConfigErrorKind::EmptyName,
                "the region and service must not be empty",
            ));
        }
        let clock = self.clock.unwrap_or_default();
        let cache = self.cache.clock(clock.clone());
        let credentials = match self.credentials {
            CredentialsChoice::Static(credentials) => CredentialsCache::fixed(credentials),
            CredentialsChoice::Provider(choice) => {
                cache.source_name(choice.name).build_shared(choice.provider)
            }
            CredentialsChoice::Cache(cache) => cache,
            #[cfg(feature = "default-credentials")]
            CredentialsChoice::Default => default_chain(cache, None, &region),
            #[cfg(feature = "default-credentials")]
            CredentialsChoice::Profile(profile) => default_chain(cache, Some(profile), &region),
            #[cfg(not(feature = "default-credentials"))]
            CredentialsChoice::Default => {
                return Err(config(
                    ConfigErrorKind::NoCredentials,
                    "no credentials configured: pass `credentials` or `credentials_provider`, or enable the `default-credentials` feature",
                ));
            }
        };
        Ok(Signer::from_config(Config {
            normalize_path: self.normalize_path.unwrap_or(service.as_str() != "s3"),
            region,
            service,
            credentials,
            headers: self.headers,
            max_body_size: self.max_body_size.unwrap_or(DEFAULT_MAX_BODY_SIZE),
            clock,
            skew: SkewCorrection::default(),
            content_sha256_header: self.content_sha256_header,
            missing_credentials: self.missing_credentials,
            allow_plain_http: self.allow_plain_http,
            checked_host: OnceLock::new(),
            warned_unsigned: AtomicBool::new(false),
        }))
    }

    /// Build the layer.
    pub fn build(self) -> Result<SigV4Layer, Error> {
        self.build_signer().map(SigV4Layer::from_signer)
    }
}

fn env_region() -> Option<String> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
}

#[cfg(feature = "default-credentials")]
fn default_chain(
    cache: CredentialsCacheBuilder,
    profile: Option<String>,
    region: &str,
) -> CredentialsCache {
    use crate::credentials::DefaultChain;
    let mut chain = DefaultChain::new().region(region);
    let mut name = crate::credentials::DEFAULT_CHAIN_NAME.to_owned();
    if let Some(profile) = profile {
        name = format!("{name}, profile `{profile}`");
        chain = chain.profile(profile);
    }
    cache.source_name(name).build(chain)
}

use std::fmt;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_credential_types::provider::{self, ProvideCredentials};
use tokio::sync::OnceCell;

/// The AWS SDK's default credential chain (environment, profile files, SSO, web
/// identity, ECS and EC2 instance metadata), built on first use.
///
/// ```no_run
/// # async fn demo() {
/// use tower_sigv4::credentials::CredentialsCache;
/// use tower_sigv4::credentials::DefaultChain;
///
/// let cache = CredentialsCache::new(DefaultChain::new().profile("dev").region("us-east-1"));
/// let credentials = cache.get().await;
/// # }
/// ```
#[derive(Default)]
pub struct DefaultChain {
    profile: Option<String>,
    region: Option<String>,
    chain: OnceCell<DefaultCredentialsChain>,
}

impl DefaultChain {
    /// The chain with the environment's profile and region.
    pub fn new() -> Self {
        Self::default()
    }

    /// Read this profile instead of `AWS_PROFILE` / `default`.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// The region used by providers that call AWS (STS, SSO).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    async fn chain(&self) -> &DefaultCredentialsChain {
        self.chain
            .get_or_init(|| async {
                let mut builder = DefaultCredentialsChain::builder();
                if let Some(profile) = &self.profile {
                    builder = builder.profile_name(profile);
                }
                if let Some(region) = &self.region {
                    builder = builder.region(aws_config::Region::new(region.clone()));
                }
                builder.build().await
            })
            .await
    }
}

impl fmt::Debug for DefaultChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DefaultChain")
            .field("profile", &self.profile)
            .field("region", &self.region)
            .finish()
    }
}

impl ProvideCredentials for DefaultChain {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            self.chain().await.provide_credentials().await
        })
    }
}

/// How the default chain is named in errors and logs.
pub(crate) const DEFAULT_CHAIN_NAME: &str = "the default credential chain (environment variables, profile files, SSO, web identity, ECS, EC2 instance metadata)";

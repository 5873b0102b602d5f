//! Where the SigV4 credentials of a server come from: the default chain, a
//! profile, static keys, or (`aws_role_name`) a role assumed with STS, built on
//! first use.

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, future};
use tokio::sync::OnceCell;
use tower_sigv4::rmcp::TransportBuilder;

use crate::config::CredentialsSource;

/// Names the static credentials in logs and diagnoses.
const STATIC_SOURCE: &str = "mcp-sigv4 configuration file";

/// `builder` with the credentials of `credentials` (`region` is where a role is
/// assumed).
pub(super) fn with_credentials(
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

fn static_credentials(source: &CredentialsSource) -> Option<Credentials> {
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

/// aws-config's [`AssumeRoleProvider`] is built asynchronously (it loads the base
/// configuration), while a transport is configured synchronously: build it on the
/// first credentials request. The signer's `CredentialsCache` around this provider
/// keeps the assumed credentials and refreshes them before they expire.
#[derive(Debug)]
struct AssumeRole {
    role_arn: String,
    session_name: Option<String>,
    region: String,
    base: CredentialsSource,
    provider: OnceCell<AssumeRoleProvider>,
}

impl AssumeRole {
    fn new(
        role_arn: String,
        session_name: Option<String>,
        region: String,
        base: CredentialsSource,
    ) -> Self {
        Self {
            role_arn,
            session_name,
            region,
            base,
            provider: OnceCell::new(),
        }
    }

    async fn build(&self) -> AssumeRoleProvider {
        let region = Region::new(self.region.clone());
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(region.clone());
        match &self.base {
            CredentialsSource::DefaultChain {
                profile: Some(profile),
            } => loader = loader.profile_name(profile),
            source @ CredentialsSource::Static { .. } => {
                if let Some(credentials) = static_credentials(source) {
                    loader = loader.credentials_provider(credentials);
                }
            }
            _ => {}
        }
        let base = loader.load().await;
        let mut builder = AssumeRoleProvider::builder(self.role_arn.as_str())
            .configure(&base)
            .region(region);
        if let Some(name) = &self.session_name {
            builder = builder.session_name(name);
        }
        builder.build().await
    }
}

impl ProvideCredentials for AssumeRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let provider = self.provider.get_or_init(|| self.build()).await;
            let credentials: provider::Result = provider.provide_credentials().await;
            credentials
        })
    }
}

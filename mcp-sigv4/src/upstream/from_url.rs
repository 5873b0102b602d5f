//! One server given by its URL alone (`ask --mcp URL`, the Lambda's
//! `MCP_SERVER_URL`): signed with SigV4 from the default credential chain, its
//! service and region inferred from the host unless given.

use tower_sigv4::endpoint;

use crate::config::{Auth, CredentialsSource, ServerConfig};

/// What a URL's host does not say, and was not given either: the command
/// names its own flag or variable for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotInferred {
    /// The SigV4 service.
    Service,
    /// The AWS region.
    Region,
}

impl ServerConfig {
    /// The server `name` at `url`, signed for `service` in `region` (each
    /// inferred from the host when `None`) with credentials from the default
    /// chain, with `profile` when given.
    ///
    /// ```
    /// use mcp_sigv4::config::ServerConfig;
    /// use mcp_sigv4::upstream::NotInferred;
    ///
    /// let url = "https://bedrock-agentcore.us-west-2.amazonaws.com/runtimes/x/invocations";
    /// assert!(ServerConfig::signed_for_url("x", url, None, None, None).is_ok());
    /// let local = "http://127.0.0.1:8080/mcp";
    /// assert_eq!(
    ///     ServerConfig::signed_for_url("x", local, None, None, None).unwrap_err(),
    ///     NotInferred::Service
    /// );
    /// assert_eq!(
    ///     ServerConfig::signed_for_url("x", local, Some("aws-mcp".into()), None, None).unwrap_err(),
    ///     NotInferred::Region
    /// );
    /// ```
    pub fn signed_for_url(
        name: impl Into<String>,
        url: &str,
        service: Option<String>,
        region: Option<String>,
        profile: Option<String>,
    ) -> Result<Self, NotInferred> {
        let inferred = endpoint::infer(url);
        let service = service
            .or_else(|| inferred.as_ref().map(|e| e.service.as_str().to_owned()))
            .ok_or(NotInferred::Service)?;
        let region = region
            .or_else(|| inferred.as_ref().map(|e| e.region.clone()))
            .ok_or(NotInferred::Region)?;
        Ok(Self::new(
            name,
            url,
            Auth::SigV4 {
                region,
                service,
                credentials: CredentialsSource::DefaultChain { profile },
            },
        ))
    }
}

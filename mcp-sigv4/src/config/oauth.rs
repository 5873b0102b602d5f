//! `general_settings.public_url` and `general_settings.oauth`: the gateway as an
//! OAuth 2.1 resource server (the MCP authorization specification). The values;
//! `parse` reads them.

use std::time::Duration;

/// The least time between two JWKS fetches for an unknown `kid` by default.
pub const DEFAULT_JWKS_REFETCH_FLOOR: Duration = Duration::from_secs(10);

/// `general_settings.oauth`: who issues the access tokens the gateway accepts,
/// and what they must carry.
///
/// ```
/// use mcp_sigv4::config::Config;
///
/// let yaml = r#"
/// general_settings:
///   public_url: https://mcp.example.com
///   oauth:
///     issuer: https://login.example.com/realms/agents
///     required_scopes: [mcp:tools]
/// "#;
/// let config = Config::from_yaml(yaml, "config.yaml", |_| None)?;
/// let oauth = config.oauth.unwrap();
/// assert_eq!(oauth.audience, "https://mcp.example.com/mcp");
/// assert_eq!(oauth.scopes_supported, ["mcp:tools"]);
/// # Ok::<(), mcp_sigv4::config::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthSettings {
    /// `issuer`: the authorization server's issuer identifier; its OpenID or
    /// RFC 8414 metadata gives the JWKS, and tokens must carry it as `iss`.
    pub issuer: String,
    /// `audience`: an `aud` accepted on every route besides the route's own
    /// resource URL; `public_url` + `/mcp` by default.
    pub audience: String,
    /// `scopes_supported`: advertised in the resource metadata;
    /// `required_scopes` by default.
    pub scopes_supported: Vec<String>,
    /// `required_scopes`: every token must carry them all (else 403).
    pub required_scopes: Vec<String>,
    /// `require_at_jwt`: accept only tokens typed `at+jwt` (RFC 9068).
    pub require_at_jwt: bool,
    /// `jwks_refetch_floor`, in seconds: the least time between two JWKS
    /// fetches caused by a token with an unknown `kid`.
    pub jwks_refetch_floor: Duration,
}

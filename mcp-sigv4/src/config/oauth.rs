//! `general_settings.public_url` and `general_settings.oauth`: the gateway as an
//! OAuth 2.1 resource server (the MCP authorization specification).

use std::time::Duration;

use serde_norway::{Mapping, Value};

use super::error::ConfigError;
use super::parse::{Reader, Unknown, kind_of};

/// The keys of `general_settings.oauth`.
const OAUTH_KEYS: &[&str] = &[
    "issuer",
    "audience",
    "scopes_supported",
    "required_scopes",
    "require_at_jwt",
    "jwks_refetch_floor",
];

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

/// `public_url` and `oauth` of `general`.
pub(super) fn read(
    reader: &Reader<'_>,
    general: &Mapping,
) -> Result<(Option<String>, Option<OAuthSettings>), ConfigError> {
    let public_url = reader
        .string(
            general,
            "general_settings.public_url",
            "public_url",
            "the gateway",
        )?
        .map(|url| public_url(reader, &url))
        .transpose()?;
    let oauth = match general.get("oauth") {
        None | Some(Value::Null) => return Ok((public_url, None)),
        Some(Value::Mapping(oauth)) => oauth,
        Some(other) => {
            return Err(reader.invalid(
                Some("general_settings.oauth".to_owned()),
                format!(
                    "expected a mapping with at least `issuer`; got {}",
                    kind_of(other)
                ),
            ));
        }
    };
    let Some(public) = public_url.clone() else {
        return Err(reader.invalid(
            Some("general_settings.public_url".to_owned()),
            "general_settings.oauth needs the URL clients connect to, the base of the resource URLs tokens are issued for: set general_settings.public_url (e.g. https://mcp.example.com)",
        ));
    };
    reader.check_keys(
        oauth,
        Some("general_settings.oauth"),
        OAUTH_KEYS,
        &[],
        Unknown::Warn,
    );
    let at = |key: &str| format!("general_settings.oauth.{key}");
    let issuer = reader
        .string(oauth, &at("issuer"), "issuer", "the gateway")?
        .map(|issuer| issuer.trim().to_owned())
        .filter(|issuer| !issuer.is_empty())
        .ok_or_else(|| {
            reader.invalid(
                Some(at("issuer")),
                "missing: set it to the authorization server's issuer URL, e.g. https://login.example.com/realms/agents (its discovery document gives the signing keys)",
            )
        })?;
    check_http_url(reader, &at("issuer"), &issuer)?;
    let audience = match reader.string(oauth, &at("audience"), "audience", "the gateway")? {
        Some(audience) if !audience.trim().is_empty() => audience.trim().to_owned(),
        _ => format!("{public}/mcp"),
    };
    let required_scopes = scopes(reader, oauth, "required_scopes")?.unwrap_or_default();
    let scopes_supported =
        scopes(reader, oauth, "scopes_supported")?.unwrap_or_else(|| required_scopes.clone());
    let require_at_jwt = match oauth.get("require_at_jwt") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(reader.invalid(
                Some(at("require_at_jwt")),
                format!("expected true or false; got {}", kind_of(other)),
            ));
        }
    };
    let jwks_refetch_floor = reader
        .seconds(
            oauth,
            &at("jwks_refetch_floor"),
            "jwks_refetch_floor",
            "0 refetches on every unknown kid",
        )?
        .unwrap_or(DEFAULT_JWKS_REFETCH_FLOOR);
    Ok((
        public_url,
        Some(OAuthSettings {
            issuer,
            audience,
            scopes_supported,
            required_scopes,
            require_at_jwt,
            jwks_refetch_floor,
        }),
    ))
}

/// `public_url` without its trailing slash: an `http(s)` origin, no path.
fn public_url(reader: &Reader<'_>, url: &str) -> Result<String, ConfigError> {
    let key = "general_settings.public_url";
    let url = url.trim().trim_end_matches('/').to_owned();
    check_http_url(reader, key, &url)?;
    let after_scheme = url.split_once("://").map_or("", |(_, rest)| rest);
    if after_scheme.contains(['/', '?', '#']) {
        return Err(reader.invalid(
            Some(key.to_owned()),
            format!(
                "expected the origin clients connect to, without a path, e.g. https://mcp.example.com; got `{}`",
                url.escape_debug()
            ),
        ));
    }
    Ok(url)
}

fn check_http_url(reader: &Reader<'_>, key: &str, url: &str) -> Result<(), ConfigError> {
    let parsed = url.parse::<http::Uri>().ok();
    let ok = parsed
        .as_ref()
        .is_some_and(|uri| match (uri.scheme_str(), uri.host()) {
            (Some("https"), Some(_)) => true,
            (Some("http"), Some(host)) => {
                let host = host.trim_start_matches('[').trim_end_matches(']');
                host == "localhost"
                    || host
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            _ => false,
        });
    if ok {
        return Ok(());
    }
    Err(reader.invalid(
        Some(key.to_owned()),
        format!(
            "expected an https:// URL (http:// only on loopback); got `{}`",
            url.escape_debug()
        ),
    ))
}

/// A list of scope names at `key` of `oauth` (a list, or one space-separated string).
fn scopes(
    reader: &Reader<'_>,
    oauth: &Mapping,
    key: &str,
) -> Result<Option<Vec<String>>, ConfigError> {
    let path = format!("general_settings.oauth.{key}");
    let words = |s: &str| -> Vec<String> { s.split_whitespace().map(str::to_owned).collect() };
    match oauth.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Sequence(items)) => {
            let mut scopes = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let Value::String(scope) = item else {
                    return Err(reader.invalid(
                        Some(format!("{path}[{i}]")),
                        format!("expected a scope name; got {}", kind_of(item)),
                    ));
                };
                scopes.extend(words(scope));
            }
            Ok(Some(scopes))
        }
        Some(Value::String(_)) => Ok(reader
            .string(oauth, &path, key, "the gateway")?
            .map(|s| words(&s))),
        Some(other) => Err(reader.invalid(
            Some(path),
            format!("expected a list of scope names; got {}", kind_of(other)),
        )),
    }
}

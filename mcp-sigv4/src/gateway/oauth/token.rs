//! One access token checked: a JWS (RFC 7515) signed with an asymmetric key of
//! the issuer's JWKS, typed `at+jwt` (RFC 9068) or, unless `require_at_jwt`,
//! `JWT` or untyped, with the configured `iss`, an `aud` naming the route's
//! resource or the gateway's `audience` (RFC 8707), and `exp`/`nbf` within a
//! minute of the clock. The signature and claims are checked by
//! `jsonwebtoken`; the policy (which algorithms, which audiences, which scopes)
//! is here.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::keys::{KeySet, Keys};

/// The longest token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 60;

/// The signature algorithms accepted: asymmetric only. `none` and the HMAC
/// family are never accepted (an HMAC "signed" with the public key is a
/// classic forgery).
pub const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What a token must be, besides well signed.
#[derive(Debug)]
pub(super) struct Policy {
    pub(super) issuer: String,
    pub(super) audience: String,
    pub(super) required_scopes: Vec<String>,
    pub(super) require_at_jwt: bool,
}

/// The claims of a token that passed.
#[derive(Clone, Debug)]
pub struct Verified {
    /// `iss`.
    pub iss: String,
    /// `sub`.
    pub sub: String,
    /// Every claim of the payload.
    pub claims: Map<String, Value>,
}

/// Why a token did not pass.
#[derive(Debug)]
pub(super) enum Failure {
    /// The issuer's keys are not known yet: 503.
    Unavailable,
    /// RFC 6750 `invalid_token`, with a description that names no part of the token.
    Invalid(String),
    /// RFC 6750 `insufficient_scope`.
    Scope,
}

fn invalid(why: impl Into<String>) -> Failure {
    Failure::Invalid(why.into())
}

/// Check `token` for a request to the route whose resource URL is `resource`.
pub(super) async fn verify(
    token: &str,
    keys: &Keys,
    policy: &Policy,
    resource: &str,
) -> Result<Verified, Failure> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid("the token is too long"));
    }
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| invalid("the token is not a JWT signed with an accepted algorithm"))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(invalid(
            "the token is not signed with an asymmetric algorithm (RS256, PS256, ES256, EdDSA, ...)",
        ));
    }
    check_type(header.typ.as_deref(), policy.require_at_jwt)?;
    let Some(mut set) = keys.current() else {
        return Err(Failure::Unavailable);
    };
    if set.find(header.kid.as_deref()).is_none() {
        set = keys.refetch().await.ok_or(Failure::Unavailable)?;
    }
    let claims = check_signature_and_claims(
        token,
        header.alg,
        header.kid.as_deref(),
        &set,
        policy,
        resource,
    )?;
    let scopes = scopes_of(&claims);
    if !policy
        .required_scopes
        .iter()
        .all(|needed| scopes.contains(&needed.as_str()))
    {
        return Err(Failure::Scope);
    }
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(Verified {
        iss: text("iss"),
        sub: text("sub"),
        claims,
    })
}

/// `at+jwt` (RFC 9068 §2.1, with or without `application/`), `JWT` or none,
/// or only `at+jwt` when `require_at_jwt`.
fn check_type(typ: Option<&str>, require_at_jwt: bool) -> Result<(), Failure> {
    let typ = typ.map(|t| t.to_ascii_lowercase());
    let typ = typ
        .as_deref()
        .map(|t| t.strip_prefix("application/").unwrap_or(t));
    match typ {
        Some("at+jwt") => Ok(()),
        Some("jwt") | None if !require_at_jwt => Ok(()),
        _ if require_at_jwt => Err(invalid(
            "the token is not typed at+jwt (RFC 9068), which general_settings.oauth.require_at_jwt asks for",
        )),
        _ => Err(invalid("the token's typ is not at+jwt or JWT")),
    }
}

fn check_signature_and_claims(
    token: &str,
    alg: Algorithm,
    kid: Option<&str>,
    set: &KeySet,
    policy: &Policy,
    resource: &str,
) -> Result<Map<String, Value>, Failure> {
    let key = set
        .find(kid)
        .ok_or_else(|| invalid("the token is signed with a key the issuer does not publish"))?;
    if key.alg.is_some_and(|published| published != alg) {
        return Err(invalid(
            "the token's algorithm is not the one its key is published for",
        ));
    }
    let mut validation = Validation::new(alg);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    validation.set_issuer(&[&policy.issuer]);
    validation.set_audience(&[resource, policy.audience.as_str()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding, &validation)
        .map(|data| data.claims)
        .map_err(|e| {
            invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired".to_owned(),
                ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".to_owned(),
                ErrorKind::InvalidAudience => format!(
                    "the token is for another resource (aud); ask the authorization server for one with resource={resource}"
                ),
                ErrorKind::InvalidIssuer => "the token is from another issuer".to_owned(),
                ErrorKind::InvalidSignature => "the token's signature does not verify".to_owned(),
                ErrorKind::MissingRequiredClaim(claim) => {
                    format!("the token has no `{claim}` claim")
                }
                _ => "the token is not valid".to_owned(),
            })
        })
}

/// The token's scopes: `scope` (space-separated, RFC 9068 §2.2.3) or `scp`
/// (a list or a string, as some providers send).
fn scopes_of(claims: &Map<String, Value>) -> Vec<&str> {
    let mut scopes = Vec::new();
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => scopes.extend(s.split_whitespace()),
            Some(Value::Array(items)) => scopes.extend(items.iter().filter_map(Value::as_str)),
            _ => {}
        }
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_at_jwt_is_always_accepted_and_jwt_or_none_unless_required() {
        for typ in [Some("at+jwt"), Some("application/at+jwt"), Some("AT+JWT")] {
            assert!(check_type(typ, true).is_ok(), "{typ:?}");
        }
        for typ in [Some("JWT"), None] {
            assert!(check_type(typ, false).is_ok(), "{typ:?}");
            assert!(check_type(typ, true).is_err(), "{typ:?}");
        }
        assert!(check_type(Some("dpop+jwt"), false).is_err());
    }

    #[test]
    fn scopes_come_from_scope_or_scp() {
        let claims = |v: Value| v.as_object().cloned().unwrap_or_default();
        let c = claims(serde_json::json!({"scope": "a b"}));
        assert_eq!(scopes_of(&c), ["a", "b"]);
        let c = claims(serde_json::json!({"scp": ["a", 1, "c"]}));
        assert_eq!(scopes_of(&c), ["a", "c"]);
    }
}

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

    const ISSUER: &str = "https://login.example.com";
    const ROUTE: &str = "https://mcp.example.com/mcp/github";
    const AUDIENCE: &str = "https://mcp.example.com/mcp";

    /// An ES256 key of the "issuer": its JWKS and a signer of claims.
    struct Issuer {
        keys: Keys,
        der: Vec<u8>,
        jwks: Value,
    }

    impl Issuer {
        fn new() -> Self {
            use base64::Engine;
            let pair = rcgen::KeyPair::generate().unwrap();
            let raw = pair.public_key_raw();
            let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
            let jwks = serde_json::json!({"keys": [{
                "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
                "x": b64(&raw[1..33]), "y": b64(&raw[33..65]),
            }]});
            // Nothing listens on port 9: a refetch fails and the keys stay.
            let keys = Keys::new("http://127.0.0.1:9", std::time::Duration::ZERO).unwrap();
            keys.install_for_test(&jwks, "http://127.0.0.1:9/jwks");
            Self {
                keys,
                der: pair.serialize_der(),
                jwks,
            }
        }

        fn sign(&self, typ: Option<&str>, kid: &str, claims: Value) -> String {
            let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
            header.typ = typ.map(str::to_owned);
            header.kid = Some(kid.to_owned());
            let key = jsonwebtoken::EncodingKey::from_ec_der(&self.der);
            jsonwebtoken::encode(&header, &claims, &key).unwrap()
        }
    }

    fn policy(require_at_jwt: bool) -> Policy {
        Policy {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            required_scopes: vec!["mcp:tools".into()],
            require_at_jwt,
        }
    }

    fn claims(extra: Value) -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        let mut claims = serde_json::json!({
            "iss": ISSUER, "sub": "alice", "aud": ROUTE, "scope": "mcp:tools other",
            "iat": now, "exp": now + 300,
        });
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    }

    fn outcome(issuer: &Issuer, token: &str, require_at_jwt: bool) -> Result<Verified, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(verify(token, &issuer.keys, &policy(require_at_jwt), ROUTE))
            .map_err(|failure| format!("{failure:?}"))
    }

    #[test]
    fn a_well_signed_token_for_the_route_or_the_audience_passes() {
        let issuer = Issuer::new();
        let token = issuer.sign(Some("at+jwt"), "k1", claims(serde_json::json!({})));
        let verified = outcome(&issuer, &token, true).unwrap();
        assert_eq!(
            (verified.iss.as_str(), verified.sub.as_str()),
            (ISSUER, "alice")
        );
        let token = issuer.sign(
            None,
            "k1",
            claims(serde_json::json!({"aud": [AUDIENCE, "x"]})),
        );
        assert!(outcome(&issuer, &token, false).is_ok());
    }

    #[test]
    fn exp_and_nbf_hold_with_a_minute_of_leeway_and_no_more() {
        let issuer = Issuer::new();
        let now = jsonwebtoken::get_current_timestamp();
        let at = |extra| outcome(&issuer, &issuer.sign(None, "k1", claims(extra)), false);
        assert!(at(serde_json::json!({"exp": now - 30})).is_ok());
        assert!(
            at(serde_json::json!({"exp": now - 120}))
                .unwrap_err()
                .contains("expired")
        );
        assert!(at(serde_json::json!({"nbf": now + 30})).is_ok());
        assert!(
            at(serde_json::json!({"nbf": now + 120}))
                .unwrap_err()
                .contains("not valid yet")
        );
    }

    #[test]
    fn foreign_aud_iss_kid_typ_or_scope_are_refused() {
        let issuer = Issuer::new();
        let refused = |typ, kid, extra, require| {
            outcome(&issuer, &issuer.sign(typ, kid, claims(extra)), require).unwrap_err()
        };
        let none = serde_json::json!({});
        assert!(
            refused(
                None,
                "k1",
                serde_json::json!({"aud": "https://other.example.com/mcp"}),
                false
            )
            .contains("another resource")
        );
        assert!(
            refused(
                None,
                "k1",
                serde_json::json!({"iss": "https://evil.example.com"}),
                false
            )
            .contains("another issuer")
        );
        assert!(refused(None, "k2", none.clone(), false).contains("does not publish"));
        assert!(refused(Some("JWT"), "k1", none.clone(), true).contains("at+jwt"));
        assert_eq!(
            refused(None, "k1", serde_json::json!({"scope": "other"}), false),
            "Scope"
        );
        let mut no_sub = claims(none);
        no_sub.as_object_mut().unwrap().remove("sub");
        let token = issuer.sign(None, "k1", no_sub);
        assert!(
            outcome(&issuer, &token, false)
                .unwrap_err()
                .contains("`sub`")
        );
    }

    #[test]
    fn alg_none_hmac_with_the_public_key_and_tampering_are_refused() {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let issuer = Issuer::new();
        let body = b64(claims(serde_json::json!({})).to_string().as_bytes());
        let none = format!(
            "{}.{body}.",
            b64(br#"{"alg":"none","typ":"at+jwt","kid":"k1"}"#)
        );
        assert!(outcome(&issuer, &none, false).is_err());
        let hs256 = jsonwebtoken::encode(
            &jsonwebtoken::Header {
                kid: Some("k1".into()),
                ..jsonwebtoken::Header::new(Algorithm::HS256)
            },
            &claims(serde_json::json!({})),
            &jsonwebtoken::EncodingKey::from_secret(issuer.jwks.to_string().as_bytes()),
        )
        .unwrap();
        assert!(
            outcome(&issuer, &hs256, false)
                .unwrap_err()
                .contains("asymmetric")
        );
        let good = issuer.sign(None, "k1", claims(serde_json::json!({})));
        let parts: Vec<&str> = good.split('.').collect();
        let forged = b64(claims(serde_json::json!({"sub": "admin"}))
            .to_string()
            .as_bytes());
        let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert!(
            outcome(&issuer, &tampered, false)
                .unwrap_err()
                .contains("signature")
        );
        assert!(outcome(&issuer, &"a".repeat(MAX_TOKEN_LEN + 1), false).is_err());
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

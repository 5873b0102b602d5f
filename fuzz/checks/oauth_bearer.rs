//! The gateway's credential path before any upstream is touched, with hostile
//! request heads: `Authorization` and `x-litellm-api-key` values through
//! `guard::presented`, then bearer tokens through the OAuth resource server
//! (`gateway::ResourceServer::check`, keys pinned: no network): arbitrary
//! bytes, JWS-shaped tokens of arbitrary header and claims, and tokens well
//! signed by the issuer's key then altered.
//!
//! Shared by the cargo-fuzz target `fuzz_targets/oauth_bearer.rs` and by
//! `mcp-sigv4/tests/gateway/fuzz.rs`, which runs pseudo-random inputs through it
//! under `cargo test`.

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::{HeaderMap, HeaderValue, StatusCode};
use mcp_sigv4::config::Config;
use mcp_sigv4::gateway::{ResourceServer, guard};
use serde_json::{Value, json};

const PUBLIC: &str = "https://mcp.example.com";
const ISSUER: &str = "https://login.example.com";
/// A P-256 key of the issuer (PKCS#8 DER), its public point's x and y.
const KEY: &str = "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420d4e3f817ef28e5ce3de73c0e591c0c173e27a3c1b15a88108cb0ad712d08d6d5a14403420004809ad2020f773a13532dc5abf1284a6a562ab837cfdb8c2a737eca71cee268d7f3b71d88bae83b524fcebc18f49fcd6424fb31e211bd66cfcef3f27df4079b6d";
const X: &str = "809ad2020f773a13532dc5abf1284a6a562ab837cfdb8c2a737eca71cee268d7";
const Y: &str = "f3b71d88bae83b524fcebc18f49fcd6424fb31e211bd66cfcef3f27df4079b6d";

#[derive(Arbitrary, Debug)]
pub struct Input {
    /// The raw `Authorization` value, used when no token is built.
    authorization: Vec<u8>,
    litellm: Option<Vec<u8>>,
    /// The request path (a route, the REST API, anything).
    path: String,
    token: Token,
}

#[derive(Arbitrary, Debug)]
pub enum Token {
    /// `Authorization` as given.
    Raw,
    /// `Bearer ` and three base64url parts of these bytes.
    Shaped {
        header: Vec<u8>,
        claims: Vec<u8>,
        signature: Vec<u8>,
    },
    /// A token signed with the issuer's key: good claims with some changed,
    /// and maybe one byte of the token altered after signing.
    Signed {
        alg_or_typ: Option<String>,
        kid: Option<String>,
        aud: Option<String>,
        iss: Option<String>,
        exp_offset: i32,
        scope: Option<String>,
        flip: Option<(u16, u8)>,
    },
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    })
}

/// The resource server, made once: its HTTP client loads the root certificates.
fn server() -> &'static ResourceServer {
    static SERVER: OnceLock<ResourceServer> = OnceLock::new();
    SERVER.get_or_init(make_server)
}

fn make_server() -> ResourceServer {
    let yaml = format!(
        "general_settings:\n  public_url: {PUBLIC}\n  oauth:\n    issuer: {ISSUER}\n    required_scopes: [mcp:tools]\n"
    );
    let config = Config::from_yaml(&yaml, "fuzz.yaml", |_| None).unwrap();
    let b64 = |hex_text: &str| B64.encode(hex::decode(hex_text).unwrap());
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "x": b64(X), "y": b64(Y)}]});
    ResourceServer::with_jwks(PUBLIC, config.oauth.as_ref().unwrap(), &jwks).unwrap()
}

fn signed(header: &jsonwebtoken::Header, claims: &Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_ec_der(&hex::decode(KEY).unwrap());
    jsonwebtoken::encode(header, claims, &key).unwrap()
}

/// Run one input; panics on a violated property.
pub fn check(input: Input) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut expect_pass = false;
    let authorization: Vec<u8> = match &input.token {
        Token::Raw => input.authorization.clone(),
        Token::Shaped {
            header,
            claims,
            signature,
        } => format!(
            "Bearer {}.{}.{}",
            B64.encode(header),
            B64.encode(claims),
            B64.encode(signature)
        )
        .into_bytes(),
        Token::Signed {
            alg_or_typ,
            kid,
            aud,
            iss,
            exp_offset,
            scope,
            flip,
        } => {
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            header.typ = alg_or_typ.clone();
            header.kid = Some(kid.clone().unwrap_or_else(|| "k1".into()));
            let route = format!("{PUBLIC}/mcp");
            let claims = json!({
                "iss": iss.clone().unwrap_or_else(|| ISSUER.into()),
                "sub": "fuzz",
                "aud": aud.clone().unwrap_or_else(|| route.clone()),
                "exp": now + i64::from(*exp_offset),
                "scope": scope.clone().unwrap_or_else(|| "mcp:tools".into()),
            });
            let mut token = signed(&header, &claims).into_bytes();
            let typ_ok = matches!(
                alg_or_typ
                    .as_deref()
                    .map(str::to_ascii_lowercase)
                    .as_deref(),
                None | Some("jwt" | "at+jwt" | "application/at+jwt")
            );
            let scope_ok = claims["scope"]
                .as_str()
                .unwrap()
                .split_whitespace()
                .any(|s| s == "mcp:tools");
            expect_pass = typ_ok
                && scope_ok
                && kid.is_none()
                && iss.is_none()
                && aud.is_none()
                && *exp_offset > 0
                && flip.is_none();
            if let Some((at, bit)) = flip {
                let at = usize::from(*at) % token.len();
                token[at] ^= 1 << (bit % 8);
            }
            [b"Bearer ".as_slice(), &token].concat()
        }
    };
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(&authorization) {
        headers.insert(http::header::AUTHORIZATION, value);
    }
    if let Some(value) = input
        .litellm
        .as_deref()
        .and_then(|v| HeaderValue::from_bytes(v).ok())
    {
        headers.insert("x-litellm-api-key", value);
    }
    let presented = guard::presented(&headers);
    // A bearer credential is a part of the header, never more.
    if let Some(token) = presented.authorization {
        let raw = headers[http::header::AUTHORIZATION].as_bytes();
        assert!(!token.is_empty() && raw.len() > token.len());
    }
    let Some(token) = presented.authorization.filter(|t| t.contains('.')) else {
        return;
    };
    let outcome = runtime().block_on(server().check(Some(token), &input.path));
    match outcome {
        Ok(verified) => {
            // Only a token of the issuer, for this gateway, unexpired, passes.
            assert_eq!(verified.iss, ISSUER);
            assert!(verified.claims["exp"].as_i64().unwrap_or(0) > now - 61);
            assert!(
                !matches!(input.token, Token::Raw | Token::Shaped { .. }),
                "an unsigned token passed"
            );
            if let Token::Signed { flip, .. } = &input.token {
                assert!(flip.is_none(), "an altered token passed");
            }
        }
        Err(refusal) => {
            assert!(!expect_pass, "a good token was refused: {refusal:?}");
            let status = refusal.status();
            assert!(
                [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status),
                "{status}"
            );
            let challenge = refusal.headers()[http::header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap();
            assert!(challenge.starts_with("Bearer error=\""), "{challenge}");
            assert!(challenge.contains(
                "resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource"
            ));
            assert!(
                token.len() < 16 || !challenge.contains(token),
                "the challenge repeats the token"
            );
        }
    }
}

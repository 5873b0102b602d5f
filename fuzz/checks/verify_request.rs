//! Arbitrary inbound requests through the verifying layer: never a panic, never an
//! acceptance unless the request was signed with the right key and unchanged, never
//! an acceptance with a repeated signature header or with a required header left
//! unsigned, no unsigned header past `strip_unsigned_headers`, and the same answer
//! for a request in its HTTP/2 shape (no `host` header, the authority in the URI).
//!
//! Shared by the cargo-fuzz target `fuzz_targets/verify_request.rs` and by
//! `tests/fuzz_corpus.rs`, which replays the seeds and every regression input under
//! `cargo test`.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use arbitrary::Arbitrary;
use aws_credential_types::Credentials;
use bytes::Bytes;
use http_body_util::Full;
use tower::{Layer, ServiceExt};
use tower_sigv4::SigV4Layer;
use tower_sigv4::clock::FixedClock;
use tower_sigv4::verify::{VerifiedIdentity, VerifySigV4Layer, VerifyingKey};

// New fields go at the end: the committed seeds decode field by field, and fields
// past their bytes take default values.
#[derive(Arbitrary, Debug)]
pub struct Input {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    authorization: Option<String>,
    body: Vec<u8>,
    /// Sign first (with the right or a wrong secret), then maybe mutate.
    sign: Option<bool>,
    mutate_body: bool,
    /// Sign as the key that requires a session token, with the token.
    token: bool,
    /// Appended after signing: a second value of a header that must be single.
    duplicate: Option<(Single, String)>,
    /// Appended after signing, unsigned.
    unsigned: Option<(String, String)>,
    /// Require `unsigned`'s name to be signed.
    require_signed: bool,
    strip_unsigned: bool,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Single {
    Authorization,
    Date,
    Token,
    ContentSha256,
    Host,
}

impl Single {
    fn name(self) -> &'static str {
        match self {
            Single::Authorization => "authorization",
            Single::Date => "x-amz-date",
            Single::Token => "x-amz-security-token",
            Single::ContentSha256 => "x-amz-content-sha256",
            Single::Host => "host",
        }
    }
}

const SECRET: &str = "the-right-secret";
const TOKEN: &str = "fuzz/token+==";
const AUTHORITY: &str = "bedrock-agentcore.us-east-1.amazonaws.com";

/// Run one input; panics on a violated property. Returns whether the verifier
/// accepted the request.
pub fn check(input: Input) -> bool {
    // The verifying layer bounds the body read with a Tokio timer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(run(input))
}

async fn run(input: Input) -> bool {
    let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let uri = format!("https://{AUTHORITY}/{}", input.path);
    let mut builder = http::Request::builder()
        .method(input.method.as_bytes())
        .uri(uri.as_str());
    for (name, value) in &input.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(auth) = &input.authorization {
        builder = builder.header("authorization", auth.as_str());
    }
    let Ok(request) = builder.body(()) else {
        return false;
    };
    let (mut parts, ()) = request.into_parts();
    let mut body = input.body.clone();
    let mut signed_right = false;
    if let Some(right) = input.sign {
        let secret = if right { SECRET } else { "a-wrong-secret" };
        let signer = SigV4Layer::builder()
            .region("us-east-1")
            .credentials(Credentials::new(
                if input.token { "ASIAFUZZ" } else { "AKIDFUZZ" },
                secret,
                input.token.then(|| TOKEN.to_owned()),
                None,
                "fuzz",
            ))
            .clock(FixedClock::new(time))
            .build_signer()
            .unwrap();
        if signer.sign(&mut parts, &body).await.is_err() {
            return false;
        }
        signed_right = right;
        if input.mutate_body {
            body.push(b'!');
            parts.headers.remove("content-length");
            signed_right = false;
        }
    }
    let repeated = match &input.duplicate {
        Some((single, value)) => match http::HeaderValue::from_str(value) {
            Ok(value) if parts.headers.contains_key(single.name()) => {
                parts.headers.append(single.name(), value);
                true
            }
            _ => false,
        },
        None => false,
    };
    let mut required = None;
    if let Some((name, value)) = &input.unsigned
        && let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        )
    {
        parts.headers.append(name.clone(), value);
        required = input.require_signed.then_some(name);
    }

    let mut verify = VerifySigV4Layer::with_keys(
        "us-east-1",
        "bedrock-agentcore",
        [
            ("AKIDFUZZ", VerifyingKey::new(SECRET)),
            (
                "ASIAFUZZ",
                VerifyingKey::new(SECRET).with_session_token(TOKEN),
            ),
        ],
    )
    .clock(FixedClock::new(time))
    .strip_unsigned_headers(input.strip_unsigned);
    if let Some(name) = &required {
        verify = verify.require_signed([name.as_str()]);
    }

    let h2 = h2_shape(&parts);
    let (accepted, seen) = verified(&verify, parts, body.clone()).await;
    if accepted {
        assert!(
            signed_right,
            "accepted a request not signed with the right key"
        );
        assert!(!repeated, "accepted a repeated signature header");
        let (headers, identity) = seen.expect("accepted but the inner service was not called");
        if let Some(name) = &required {
            assert!(
                identity.is_signed(name.as_str()),
                "accepted `{name}` unsigned though required"
            );
        }
        if input.strip_unsigned {
            for name in headers.keys() {
                assert!(
                    name == "authorization" || identity.is_signed(name.as_str()),
                    "`{name}` is unsigned but reached the inner service"
                );
            }
        }
        assert!(identity.is_signed("host"));
    }
    // The same request as an HTTP/2 server sees it: one answer for both.
    if let Some(h2) = h2 {
        let (h2_accepted, _) = verified(&verify, h2, body).await;
        assert_eq!(
            h2_accepted, accepted,
            "the HTTP/2 shape of the request was answered differently"
        );
    }
    accepted
}

/// `parts` as hyper's server gives an HTTP/2 request: no `host` header, the
/// authority in the URI. `None` when the request's `host` is not the URI's
/// authority (then the two shapes differ in what was signed).
fn h2_shape(parts: &http::request::Parts) -> Option<http::request::Parts> {
    let hosts: Vec<_> = parts.headers.get_all("host").iter().collect();
    if hosts.len() != 1 || hosts[0] != AUTHORITY {
        return None;
    }
    let (mut h2, ()) = http::Request::new(()).into_parts();
    h2.method = parts.method.clone();
    h2.uri = parts.uri.clone();
    h2.version = http::Version::HTTP_2;
    h2.headers = parts.headers.clone();
    h2.headers.remove("host");
    Some(h2)
}

type Seen = Option<(http::HeaderMap, VerifiedIdentity)>;

/// Whether `verify` accepted the request, and what its inner service saw.
async fn verified(
    verify: &VerifySigV4Layer,
    parts: http::request::Parts,
    body: Vec<u8>,
) -> (bool, Seen) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let log = seen.clone();
    let inner = tower::service_fn(move |req: http::Request<Full<Bytes>>| {
        let identity = req.extensions().get::<VerifiedIdentity>().cloned();
        *log.lock().unwrap() = Some((
            req.headers().clone(),
            identity.expect("no VerifiedIdentity on an accepted request"),
        ));
        async { Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new()))) }
    });
    let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
    let response = verify.layer(inner).oneshot(request).await.unwrap();
    let accepted = response.status() == 200;
    let seen = seen.lock().unwrap().take();
    (accepted, seen)
}

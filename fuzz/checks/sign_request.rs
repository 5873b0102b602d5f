//! Arbitrary method, URI, headers and body through the signing layer with fixed
//! credentials and clock: never a panic, whatever it signs the verifying layer
//! accepts, and it sends every header value as the caller set it.
//!
//! Shared by the cargo-fuzz target `fuzz_targets/sign_request.rs` and by
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
use tower_sigv4::clock::FixedClock;
use tower_sigv4::verify::{VerifySigV4Layer, VerifyingKey};
use tower_sigv4::{SigV4Layer, SignedHeaders};

#[derive(Arbitrary, Debug)]
pub struct Input {
    method: String,
    uri: String,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
    token: bool,
    sha256_header: bool,
    allow_list: bool,
}

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "fuzz-token";

/// Run one input; panics on a violated property. Returns whether the request
/// was signed (and so verified), rather than refused with a typed error.
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
    let mut builder = http::Request::builder()
        .method(input.method.as_bytes())
        .uri(input.uri.as_str());
    for (name, value) in &input.headers {
        builder = builder.header(name.as_slice(), value.as_slice());
    }
    let Ok(request) = builder.body(Full::new(Bytes::from(input.body))) else {
        return false;
    };
    let given = request.headers().clone();
    let mut signing = SigV4Layer::builder()
        .region("us-east-1")
        .credentials(Credentials::new(
            "AKIDEXAMPLE",
            SECRET,
            input.token.then(|| TOKEN.to_owned()),
            None,
            "fuzz",
        ))
        .content_sha256_header(input.sha256_header)
        .max_body_size(64 * 1024)
        .clock(FixedClock::new(time))
        // Nothing is sent: any URI the fuzzer makes up is signed.
        .allow_plain_http();
    if input.allow_list {
        signing = signing.signed_headers(SignedHeaders::only(["content-type", "mcp-session-id"]));
    }
    let layer = signing.build().unwrap();
    let seen = Arc::new(Mutex::new(None));
    let recorder = seen.clone();
    let inner = tower::service_fn(move |req: http::Request<Full<Bytes>>| {
        *recorder.lock().unwrap() = Some(req);
        async { Ok::<_, Infallible>(http::Response::new(())) }
    });
    if layer.layer(inner).oneshot(request).await.is_err() {
        return false; // A typed error is fine; a panic is not.
    }
    let signed = seen.lock().unwrap().take().unwrap();

    // The signer adds and replaces only its own headers; the rest go out as given.
    const OWN: [&str; 5] = [
        "authorization",
        "x-amz-date",
        "x-amz-security-token",
        "x-amz-content-sha256",
        "host",
    ];
    for name in given.keys().filter(|n| !OWN.contains(&n.as_str())) {
        let sent: Vec<_> = signed.headers().get_all(name).iter().collect();
        let set: Vec<_> = given.get_all(name).iter().collect();
        assert_eq!(sent, set, "`{name}` changed on the way");
    }

    // What was signed must verify.
    let mut key = VerifyingKey::new(SECRET);
    if input.token {
        key = key.with_session_token(TOKEN);
    }
    let verify =
        VerifySigV4Layer::with_keys("us-east-1", "bedrock-agentcore", [("AKIDEXAMPLE", key)])
            .clock(FixedClock::new(time))
            .max_body_size(64 * 1024);
    let ok = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
    });
    let response = verify.layer(ok).oneshot(signed).await.unwrap();
    if response.status() != 200 {
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        panic!(
            "the verifier refused what the signer signed: {}",
            String::from_utf8_lossy(&body)
        );
    }
    true
}

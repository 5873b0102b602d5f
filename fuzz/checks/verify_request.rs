//! Arbitrary inbound requests through the verifying layer: never a panic, and never
//! an acceptance unless the request was signed with the right key.
//!
//! Shared by the cargo-fuzz target `fuzz_targets/verify_request.rs` and by
//! `tests/fuzz_corpus.rs`, which replays the seeds and every regression input under
//! `cargo test`.

use std::convert::Infallible;
use std::time::{Duration, UNIX_EPOCH};

use arbitrary::Arbitrary;
use aws_credential_types::Credentials;
use bytes::Bytes;
use http_body_util::Full;
use tower::{Layer, ServiceExt};
use tower_sigv4::SigV4Layer;
use tower_sigv4::clock::FixedClock;
use tower_sigv4::verify::{VerifySigV4Layer, VerifyingKey};

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
}

const SECRET: &str = "the-right-secret";

/// Run one input; panics on a violated property. Returns whether the verifier
/// accepted the request.
pub fn check(input: Input) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(run(input))
}

async fn run(input: Input) -> bool {
    let time = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let uri = format!(
        "https://bedrock-agentcore.us-east-1.amazonaws.com/{}",
        input.path
    );
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
            .credentials(Credentials::new("AKIDFUZZ", secret, None, None, "fuzz"))
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
    let verify = VerifySigV4Layer::with_keys(
        "us-east-1",
        "bedrock-agentcore",
        [("AKIDFUZZ", VerifyingKey::new(SECRET))],
    )
    .clock(FixedClock::new(time));
    let ok = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
    });
    let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
    let response = verify.layer(ok).oneshot(request).await.unwrap();
    let accepted = response.status() == 200;
    if accepted {
        assert!(
            signed_right,
            "accepted a request not signed with the right key"
        );
    }
    accepted
}

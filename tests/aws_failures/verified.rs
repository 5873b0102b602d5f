//! Against the verifying layer: a wrong service and a skewed clock.

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use tower::Layer;
use tower_sigv4::clock::FixedClock;
use tower_sigv4::rejection::RejectionKind;
use tower_sigv4::retry::RetryPolicy;
use tower_sigv4::verify::{VerifySigV4Layer, VerifyingKey};
use tower_sigv4::{SigV4Layer, Signer};

use crate::retry::{Counting, call_with};

/// A server that verifies SigV4 for bedrock-agentcore / us-east-1 against the
/// Counting provider's keys (any `AKID{n}`, secret `SECRET`, token `TOKEN{n}`).
async fn verifying_endpoint() -> (String, tokio::task::JoinHandle<()>) {
    let layer = VerifySigV4Layer::new("us-east-1", "bedrock-agentcore", |id: &str| {
        let n = id.strip_prefix("AKID")?;
        Some(VerifyingKey::new("SECRET").with_session_token(format!("TOKEN{n}")))
    });
    let ok = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"{}"))))
    });
    let service = layer.layer(ok);
    let (addr, task) = crate::serve::bind(service).await;
    (format!("http://{addr}/mcp"), task)
}

fn signer(service: &str, clock: FixedClock, provider: Counting) -> Signer {
    SigV4Layer::builder()
        .region("us-east-1")
        .service(service)
        .credentials_provider(provider)
        .clock(clock)
        .build_signer()
        .unwrap()
}

#[tokio::test]
async fn wrong_service_is_classified_with_a_hint_naming_both_services_and_not_looped() {
    let (url, _server) = verifying_endpoint().await;
    let provider = Counting::default();
    let signer = signer(
        "aws-mcp",
        FixedClock::new(SystemTime::now()),
        provider.clone(),
    );
    let outcome = call_with(&signer, RetryPolicy::default(), &url, false)
        .await
        .unwrap();
    assert_eq!(outcome.status, 403);
    let diagnosis = outcome.diagnosis.unwrap();
    assert_eq!(diagnosis.kind(), RejectionKind::InvalidSignature);
    let hint = diagnosis.hint();
    assert!(
        hint.contains("`aws-mcp`") && hint.contains("`bedrock-agentcore`"),
        "{hint}"
    );
    // New credentials cannot fix a wrong service: no reload, no retry.
    assert!(diagnosis.is_wrong_endpoint());
    assert_eq!(provider.loads(), 1);
    assert!(!diagnosis.retried);
    let text = diagnosis.to_string();
    assert!(text.contains("InvalidSignatureException"), "{text}");
}

#[tokio::test]
async fn a_skewed_clock_is_corrected_from_the_date_header() {
    let (url, _server) = verifying_endpoint().await;
    // The local clock is an hour behind the server's.
    let local = SystemTime::now() - Duration::from_secs(3600);
    let clock = FixedClock::new(local);
    let signer = signer("bedrock-agentcore", clock, Counting::default());
    let outcome = call_with(&signer, RetryPolicy::default(), &url, false)
        .await
        .unwrap();
    assert_eq!(
        outcome.status,
        200,
        "{:?}",
        outcome.diagnosis.map(|d| d.to_string())
    );
    // The frozen clock has not moved: what the signer adds to it is the skew.
    let offset = signer.now().duration_since(local).unwrap();
    assert!(
        offset > Duration::from_secs(3590) && offset < Duration::from_secs(3610),
        "{offset:?}"
    );
    // Later requests use the corrected clock at once.
    let outcome = call_with(&signer, RetryPolicy::none(), &url, false)
        .await
        .unwrap();
    assert_eq!(outcome.status, 200);
}

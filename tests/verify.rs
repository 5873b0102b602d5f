//! The verifying layer: requests signed by the signing layer are accepted; every
//! kind of mismatch is refused with 403, an AWS error type and a message naming
//! the part; nothing refused reaches the inner service.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use tower::{Service, ServiceExt};
use tower_sigv4::clock::FixedClock;
use tower_sigv4::verify::{VerifiedIdentity, VerifySigV4Layer, VerifyingKey};
use tower_sigv4::{ServiceName, SigV4Layer};

const AK: &str = "AKIDEXAMPLE";
const SK: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "session/token+==";
const URL: &str = "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fa-1/invocations?qualifier=DEFAULT";

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

type Verifying = tower::util::BoxCloneService<
    http::Request<Full<Bytes>>,
    http::Response<http_body_util::Either<Full<Bytes>, Full<Bytes>>>,
    Infallible,
>;

struct Verifier {
    service: Verifying,
    calls: Arc<AtomicUsize>,
}

fn verifier() -> Verifier {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let layer = VerifySigV4Layer::with_keys(
        "us-east-1",
        "bedrock-agentcore",
        [
            ("AKIDEXAMPLE", VerifyingKey::new(SK)),
            ("ASIATOKEN", VerifyingKey::new(SK).with_session_token(TOKEN)),
            (
                "ASIAEXPIRED",
                VerifyingKey::new(SK).with_session_token(TOKEN).expired(),
            ),
        ],
    )
    .clock(FixedClock::new(now()))
    .max_body_size(64 * 1024);
    let inner = tower::service_fn(move |req: http::Request<Full<Bytes>>| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let who = req
                .extensions()
                .get::<VerifiedIdentity>()
                .unwrap()
                .access_key_id
                .clone();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(format!(
                "{who}:{}",
                String::from_utf8_lossy(&body)
            )))))
        }
    });
    Verifier {
        service: tower::util::BoxCloneService::new(tower::Layer::layer(&layer, inner)),
        calls,
    }
}

/// Sign with the signing layer; return the signed request.
async fn signed(
    ak: &str,
    token: Option<&str>,
    service: &str,
    region: &str,
    time: SystemTime,
    body: &'static str,
) -> http::Request<Full<Bytes>> {
    let signer = SigV4Layer::builder()
        .region(region)
        .service(ServiceName::new(service))
        .credentials(Credentials::new(
            ak,
            SK,
            token.map(str::to_owned),
            None,
            "test",
        ))
        .clock(FixedClock::new(time))
        .build_signer()
        .unwrap();
    let (mut parts, _) = http::Request::post(URL)
        .header("content-type", "application/json")
        .header("mcp-session-id", "3f2a")
        .body(())
        .unwrap()
        .into_parts();
    signer.sign(&mut parts, body.as_bytes()).await.unwrap();
    http::Request::from_parts(parts, Full::new(Bytes::from_static(body.as_bytes())))
}

async fn send(v: &mut Verifier, req: http::Request<Full<Bytes>>) -> (u16, String, String) {
    let response = v.service.ready().await.unwrap().call(req).await.unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, kind, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn accepts_what_the_signing_layer_signed_with_identity_and_body() {
    let mut v = verifier();
    let req = signed(
        AK,
        None,
        "bedrock-agentcore",
        "us-east-1",
        now(),
        r#"{"id":1}"#,
    )
    .await;
    assert_eq!(
        send(&mut v, req).await,
        (200, String::new(), r#"AKIDEXAMPLE:{"id":1}"#.to_owned())
    );
    let req = signed(
        "ASIATOKEN",
        Some(TOKEN),
        "bedrock-agentcore",
        "us-east-1",
        now(),
        "{}",
    )
    .await;
    assert_eq!(send(&mut v, req).await.0, 200);
    // Within the 5-minute skew either way.
    for skew in [-290i64, 290] {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs((1_700_000_000 + skew) as u64);
        let req = signed(AK, None, "bedrock-agentcore", "us-east-1", t, "{}").await;
        assert_eq!(send(&mut v, req).await.0, 200, "skew {skew}");
    }
    assert_eq!(v.calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn refusals_name_the_part_that_did_not_match() {
    let mut v = verifier();
    let mut cases: Vec<(&str, http::Request<Full<Bytes>>, &str, &str)> = Vec::new();

    let mut unsigned = signed(AK, None, "bedrock-agentcore", "us-east-1", now(), "{}").await;
    unsigned.headers_mut().remove("authorization");
    cases.push((
        "unsigned",
        unsigned,
        "MissingAuthenticationTokenException",
        "Missing Authentication Token",
    ));

    let wrong_service = signed(AK, None, "aws-mcp", "us-east-1", now(), "{}").await;
    cases.push((
        "wrong service",
        wrong_service,
        "InvalidSignatureException",
        "scoped to correct service: 'bedrock-agentcore'",
    ));

    let wrong_region = signed(AK, None, "bedrock-agentcore", "eu-west-1", now(), "{}").await;
    cases.push((
        "wrong region",
        wrong_region,
        "InvalidSignatureException",
        "'eu-west-1'",
    ));

    let stale = signed(
        AK,
        None,
        "bedrock-agentcore",
        "us-east-1",
        now() - Duration::from_secs(600),
        "{}",
    )
    .await;
    cases.push(("stale date", stale, "InvalidSignatureException", "Signature expired: 20231114T220320Z is now earlier than 20231114T220820Z (20231114T221320Z - 5 min.)"));

    let future = signed(
        AK,
        None,
        "bedrock-agentcore",
        "us-east-1",
        now() + Duration::from_secs(600),
        "{}",
    )
    .await;
    cases.push((
        "future date",
        future,
        "InvalidSignatureException",
        "Signature not yet current",
    ));

    let (parts, _) = signed(
        AK,
        None,
        "bedrock-agentcore",
        "us-east-1",
        now(),
        r#"{"a":1}"#,
    )
    .await
    .into_parts();
    let tampered_body =
        http::Request::from_parts(parts, Full::new(Bytes::from_static(br#"{"a":2}"#)));
    cases.push((
        "tampered body",
        tampered_body,
        "InvalidSignatureException",
        "does not match the signature you provided",
    ));

    let mut tampered_header = signed(AK, None, "bedrock-agentcore", "us-east-1", now(), "{}").await;
    tampered_header
        .headers_mut()
        .insert("mcp-session-id", "other".parse().unwrap());
    cases.push((
        "tampered header",
        tampered_header,
        "InvalidSignatureException",
        "does not match the signature you provided",
    ));

    let mut missing = signed(AK, None, "bedrock-agentcore", "us-east-1", now(), "{}").await;
    missing.headers_mut().remove("content-type");
    cases.push((
        "missing signed header",
        missing,
        "InvalidSignatureException",
        "`content-type` is not on the request",
    ));

    let unknown = signed(
        "AKIDUNKNOWN",
        None,
        "bedrock-agentcore",
        "us-east-1",
        now(),
        "{}",
    )
    .await;
    cases.push((
        "unknown key",
        unknown,
        "UnrecognizedClientException",
        "security token included in the request is invalid",
    ));

    let no_token = signed(
        "ASIATOKEN",
        None,
        "bedrock-agentcore",
        "us-east-1",
        now(),
        "{}",
    )
    .await;
    cases.push((
        "missing token",
        no_token,
        "UnrecognizedClientException",
        "invalid",
    ));

    let expired = signed(
        "ASIAEXPIRED",
        Some(TOKEN),
        "bedrock-agentcore",
        "us-east-1",
        now(),
        "{}",
    )
    .await;
    cases.push(("expired token", expired, "ExpiredTokenException", "expired"));

    let wrong_secret = {
        let signer = SigV4Layer::builder()
            .region("us-east-1")
            .credentials(Credentials::new(AK, "not-the-secret", None, None, "test"))
            .clock(FixedClock::new(now()))
            .build_signer()
            .unwrap();
        let (mut parts, _) = http::Request::post(URL).body(()).unwrap().into_parts();
        signer.sign(&mut parts, b"{}").await.unwrap();
        http::Request::from_parts(parts, Full::new(Bytes::from_static(b"{}")))
    };
    cases.push((
        "wrong secret",
        wrong_secret,
        "InvalidSignatureException",
        "does not match the signature you provided",
    ));

    for (name, request, kind, needle) in cases {
        let (status, error_type, body) = send(&mut v, request).await;
        assert_eq!(status, 403, "{name}: {body}");
        assert_eq!(error_type, kind, "{name}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["__type"], kind, "{name}");
        let message = json["message"].as_str().unwrap();
        assert!(message.contains(needle), "{name}: {message}");
    }
    assert_eq!(
        v.calls.load(Ordering::SeqCst),
        0,
        "a refused request reached the inner service"
    );
}

#[tokio::test]
async fn oversized_and_unreadable_bodies_are_refused() {
    let layer = VerifySigV4Layer::with_keys(
        "us-east-1",
        "bedrock-agentcore",
        [(AK, VerifyingKey::new(SK))],
    )
    .max_body_size(1024);
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let inner = tower::service_fn(move |_req: http::Request<Full<Bytes>>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new()))) }
    });
    let service = tower::Layer::layer(&layer, inner);

    let big = http::Request::post(URL)
        .body(Full::new(Bytes::from(vec![b'x'; 4096])))
        .unwrap();
    let response = service.clone().oneshot(big).await.unwrap();
    assert_eq!(response.status(), 413);

    let broken = http::Request::post(URL)
        .body(StreamBody::new(stream::iter(vec![
            Ok(Frame::data(Bytes::from_static(b"{"))),
            Err(std::io::Error::other("reset")),
        ])))
        .unwrap();
    let response = service.oneshot(broken).await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn garbage_authorization_headers_are_refused_without_panicking() {
    let mut v = verifier();
    let garbage = [
        "",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 ",
        "Bearer token",
        "AWS4-HMAC-SHA256 Credential=",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2023/us-east-1/bedrock-agentcore/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/bedrock-agentcore/aws4_request, SignedHeaders=, Signature=0000000000000000000000000000000000000000000000000000000000000000",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f, SignedHeaders=host, Signature=zz",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/bedrock-agentcore/aws4_request,,,, Signature=1",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/bedrock-agentcore/aws4_request, Credential=x, SignedHeaders=host, Signature=1",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/bedrock-agentcore/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000",
    ];
    for value in garbage {
        let mut req = signed(AK, None, "bedrock-agentcore", "us-east-1", now(), "{}").await;
        req.headers_mut()
            .insert("authorization", value.parse().unwrap());
        let (status, _, body) = send(&mut v, req).await;
        assert_eq!(status, 403, "{value}: {body}");
    }
    let mut bad_date = signed(AK, None, "bedrock-agentcore", "us-east-1", now(), "{}").await;
    bad_date
        .headers_mut()
        .insert("x-amz-date", "yesterday".parse().unwrap());
    assert_eq!(send(&mut v, bad_date).await.0, 403);
    assert_eq!(v.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn keys_never_show_in_debug() {
    let key = VerifyingKey::new(SK).with_session_token(TOKEN);
    let layer = VerifySigV4Layer::with_keys("us-east-1", "aws-mcp", [(AK, key.clone())]);
    let text = format!("{key:?} {layer:?}");
    assert!(!text.contains(SK) && !text.contains(TOKEN), "{text}");
}

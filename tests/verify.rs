//! The verifying layer: requests signed by the signing layer are accepted; every
//! kind of mismatch is refused with 403, an AWS error type and a message naming
//! the part; nothing refused reaches the inner service.

#[path = "support/serve.rs"]
mod serve;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http_body_util::combinators::BoxBody;
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
    sign_with(&signer, body).await
}

/// An MCP POST to [`URL`] with `body`, signed by `signer`.
async fn sign_with(signer: &tower_sigv4::Signer, body: &'static str) -> http::Request<Full<Bytes>> {
    let (mut parts, _) = http::Request::post(URL)
        .header("content-type", "application/json")
        .header("mcp-session-id", "3f2a")
        .body(())
        .unwrap()
        .into_parts();
    signer.sign(&mut parts, body.as_bytes()).await.unwrap();
    http::Request::from_parts(parts, Full::new(Bytes::from_static(body.as_bytes())))
}

/// A request [`signed`] for bedrock-agentcore in us-east-1, where the
/// verifier expects it.
async fn signed_for_agentcore(
    ak: &str,
    token: Option<&str>,
    time: SystemTime,
    body: &'static str,
) -> http::Request<Full<Bytes>> {
    signed(ak, token, "bedrock-agentcore", "us-east-1", time, body).await
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
    let req = signed_for_agentcore(AK, None, now(), r#"{"id":1}"#).await;
    assert_eq!(
        send(&mut v, req).await,
        (200, String::new(), r#"AKIDEXAMPLE:{"id":1}"#.to_owned())
    );
    let req = signed_for_agentcore("ASIATOKEN", Some(TOKEN), now(), "{}").await;
    assert_eq!(send(&mut v, req).await.0, 200);
    // Within the 5-minute skew either way.
    for skew in [-290i64, 290] {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs((1_700_000_000 + skew) as u64);
        let req = signed_for_agentcore(AK, None, t, "{}").await;
        assert_eq!(send(&mut v, req).await.0, 200, "skew {skew}");
    }
    assert_eq!(v.calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn refusals_name_the_part_that_did_not_match() {
    let mut v = verifier();
    let mut cases: Vec<(&str, http::Request<Full<Bytes>>, &str, &str)> = Vec::new();

    let mut unsigned = signed_for_agentcore(AK, None, now(), "{}").await;
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

    let stale = signed_for_agentcore(AK, None, now() - Duration::from_secs(600), "{}").await;
    cases.push(("stale date", stale, "InvalidSignatureException", "Signature expired: 20231114T220320Z is now earlier than 20231114T220820Z (20231114T221320Z - 5 min.)"));

    let future = signed_for_agentcore(AK, None, now() + Duration::from_secs(600), "{}").await;
    cases.push((
        "future date",
        future,
        "InvalidSignatureException",
        "Signature not yet current",
    ));

    let (parts, _) = signed_for_agentcore(AK, None, now(), r#"{"a":1}"#)
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

    let mut tampered_header = signed_for_agentcore(AK, None, now(), "{}").await;
    tampered_header
        .headers_mut()
        .insert("mcp-session-id", "other".parse().unwrap());
    cases.push((
        "tampered header",
        tampered_header,
        "InvalidSignatureException",
        "does not match the signature you provided",
    ));

    let mut missing = signed_for_agentcore(AK, None, now(), "{}").await;
    missing.headers_mut().remove("content-type");
    cases.push((
        "missing signed header",
        missing,
        "InvalidSignatureException",
        "`content-type` is not on the request",
    ));

    let unknown = signed_for_agentcore("AKIDUNKNOWN", None, now(), "{}").await;
    cases.push((
        "unknown key",
        unknown,
        "UnrecognizedClientException",
        "security token included in the request is invalid",
    ));

    let no_token = signed_for_agentcore("ASIATOKEN", None, now(), "{}").await;
    cases.push((
        "missing token",
        no_token,
        "UnrecognizedClientException",
        "invalid",
    ));

    let expired = signed_for_agentcore("ASIAEXPIRED", Some(TOKEN), now(), "{}").await;
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
    // Signed headers, so that the body is read at all (see the next test).
    let head = || async {
        signed_for_agentcore(AK, None, SystemTime::now(), "{}")
            .await
            .into_parts()
            .0
    };

    let big = http::Request::from_parts(head().await, Full::new(Bytes::from(vec![b'x'; 4096])));
    let response = service.clone().oneshot(big).await.unwrap();
    assert_eq!(response.status(), 413);

    let broken = http::Request::from_parts(
        head().await,
        StreamBody::new(stream::iter(vec![
            Ok(Frame::data(Bytes::from_static(b"{"))),
            Err(std::io::Error::other("reset")),
        ])),
    );
    let response = service.oneshot(broken).await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// A 10 MB upload whose body counts how often it is read.
fn counted_upload(
    polls: Arc<AtomicUsize>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>>> {
    let chunk = Bytes::from(vec![b'x'; 10 * 1024 * 1024]);
    StreamBody::new(stream::poll_fn(move |_| {
        polls.fetch_add(1, Ordering::SeqCst);
        std::task::Poll::Ready(Some(Ok(Frame::data(chunk.clone()))))
    }))
}

#[tokio::test]
async fn an_unsigned_or_wrongly_scoped_upload_is_refused_before_its_body_is_read() {
    let polls = Arc::new(AtomicUsize::new(0));
    let layer = VerifySigV4Layer::with_keys(
        "us-east-1",
        "bedrock-agentcore",
        [(AK, VerifyingKey::new(SK))],
    )
    .max_body_size(64 * 1024 * 1024);
    let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
    });
    let service = tower::Layer::layer(&layer, inner);
    // Forty unsigned 10 MB POSTs: each refused with nothing of its body read.
    for _ in 0..40 {
        let unsigned = http::Request::post(URL)
            .body(counted_upload(polls.clone()))
            .unwrap();
        let response = service.clone().oneshot(unsigned).await.unwrap();
        assert_eq!(response.status(), 403);
    }
    // Signed for the wrong region, an unknown key, a stale date.
    for (ak, region, time) in [
        (AK, "eu-west-1", SystemTime::now()),
        ("AKIDUNKNOWN", "us-east-1", SystemTime::now()),
        (
            AK,
            "us-east-1",
            SystemTime::now() - Duration::from_secs(3600),
        ),
    ] {
        let (parts, _) = signed(ak, None, "bedrock-agentcore", region, time, "{}")
            .await
            .into_parts();
        let request = http::Request::from_parts(parts, counted_upload(polls.clone()));
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 403, "{ak} {region}");
    }
    assert_eq!(polls.load(Ordering::SeqCst), 0, "a refused body was read");
}

#[tokio::test(start_paused = true)]
async fn a_body_that_stops_arriving_gets_408_after_the_body_read_timeout() {
    let layer = VerifySigV4Layer::with_keys(
        "us-east-1",
        "bedrock-agentcore",
        [(AK, VerifyingKey::new(SK))],
    )
    .clock(FixedClock::new(now()))
    .body_read_timeout(Duration::from_secs(5));
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let inner = tower::service_fn(move |_req: http::Request<Full<Bytes>>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new()))) }
    });
    let service = tower::Layer::layer(&layer, inner);
    let (parts, _) = signed_for_agentcore(AK, None, now(), "{}")
        .await
        .into_parts();
    // Half a body, then nothing: a slow or vanished client.
    let stalled = StreamBody::new(
        stream::iter(vec![Ok::<_, Infallible>(Frame::data(Bytes::from_static(
            b"{",
        )))])
        .chain(stream::pending()),
    );
    let response = service
        .oneshot(http::Request::from_parts(parts, stalled))
        .await
        .unwrap();
    assert_eq!(response.status(), 408);
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
        let mut req = signed_for_agentcore(AK, None, now(), "{}").await;
        req.headers_mut()
            .insert("authorization", value.parse().unwrap());
        let (status, _, body) = send(&mut v, req).await;
        assert_eq!(status, 403, "{value}: {body}");
    }
    let mut bad_date = signed_for_agentcore(AK, None, now(), "{}").await;
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

/// What an inner service behind the verifying layer saw: each request's head.
type Seen = Arc<std::sync::Mutex<Vec<http::request::Parts>>>;

/// An inner service that records the head of each request it gets.
fn recorder() -> (
    impl tower::Service<
        http::Request<Full<Bytes>>,
        Response = http::Response<Full<Bytes>>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + 'static,
    Seen,
) {
    let seen = Seen::default();
    let log = seen.clone();
    let inner = tower::service_fn(move |req: http::Request<Full<Bytes>>| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push(req.into_parts().0);
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
        }
    });
    (inner, seen)
}

/// The verifying layer `layer` over an inner service that records what it sees.
fn recording(layer: VerifySigV4Layer) -> (Verifying, Seen) {
    let (inner, seen) = recorder();
    let layer = layer.clock(FixedClock::new(now()));
    (
        tower::util::BoxCloneService::new(tower::Layer::layer(&layer, inner)),
        seen,
    )
}

fn keys() -> VerifySigV4Layer {
    VerifySigV4Layer::with_keys(
        "us-east-1",
        "bedrock-agentcore",
        [
            (AK, VerifyingKey::new(SK)),
            ("ASIATOKEN", VerifyingKey::new(SK).with_session_token(TOKEN)),
        ],
    )
}

async fn status_of(service: &mut Verifying, req: http::Request<Full<Bytes>>) -> (u16, String) {
    let response = service.ready().await.unwrap().call(req).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn repeated_signature_headers_are_refused() {
    let mut v = verifier();
    let cases = [
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/bedrock-agentcore/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000",
        ),
        ("x-amz-date", "20231114T221320Z"),
        ("x-amz-security-token", TOKEN),
        (
            "x-amz-content-sha256",
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        ),
        ("host", "bedrock-agentcore.us-east-1.amazonaws.com"),
    ];
    for (name, value) in cases {
        for first in [false, true] {
            let mut req = signed_for_agentcore("ASIATOKEN", Some(TOKEN), now(), "{}").await;
            assert_eq!(send(&mut v, clone_request(&req)).await.0, 200);
            // The copy goes after the signed value, or before it: neither wins.
            let value: http::HeaderValue = value.parse().unwrap();
            let headers = req.headers_mut();
            let mut signed: Vec<_> = headers.get_all(name).iter().cloned().collect();
            // Not set by the signer (x-amz-content-sha256): the right value, twice.
            if signed.is_empty() {
                signed.push(value.clone());
            }
            headers.remove(name);
            if first {
                headers.append(name, value.clone());
            }
            for v in signed {
                headers.append(name, v);
            }
            if !first {
                headers.append(name, value);
            }
            let (status, kind, body) = send(&mut v, req).await;
            assert_eq!(
                (status, kind.as_str()),
                (403, "IncompleteSignatureException"),
                "{name}: {body}"
            );
            assert!(
                body.contains(&format!("2 '{name}' headers")),
                "{name}: {body}"
            );
        }
    }
    assert_eq!(v.calls.load(Ordering::SeqCst), 5 * 2);
}

fn clone_request(req: &http::Request<Full<Bytes>>) -> http::Request<Full<Bytes>> {
    let mut copy = http::Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.headers_mut() = req.headers().clone();
    copy
}

#[tokio::test]
async fn session_tokens_must_match_exactly_and_be_signed() {
    let mut v = verifier();
    // Same length, one byte off; a prefix; longer; another case: all invalid.
    for token in [
        "session/token+=-",
        "session/token+",
        "session/token+===",
        "SESSION/token+==",
    ] {
        let req = signed_for_agentcore("ASIATOKEN", Some(token), now(), "{}").await;
        let (status, kind, body) = send(&mut v, req).await;
        assert_eq!(
            (status, kind.as_str()),
            (403, "UnrecognizedClientException"),
            "{token}: {body}"
        );
    }
    // The right token, sent but not signed.
    let mut req = signed_for_agentcore("ASIATOKEN", None, now(), "{}").await;
    req.headers_mut()
        .insert("x-amz-security-token", TOKEN.parse().unwrap());
    let (status, kind, body) = send(&mut v, req).await;
    assert_eq!(
        (status, kind.as_str()),
        (403, "InvalidSignatureException"),
        "{body}"
    );
    assert!(
        body.contains("'x-amz-security-token' must be a signed header"),
        "{body}"
    );
    assert_eq!(v.calls.load(Ordering::SeqCst), 0);
}

/// `SystemTime ± Duration::MAX` does not exist: no bound, and no panic.
#[tokio::test]
async fn a_huge_clock_skew_accepts_any_date_without_panicking() {
    let (mut service, seen) = recording(keys().max_clock_skew(Duration::MAX));
    let year_1971 = SystemTime::UNIX_EPOCH + Duration::from_secs(365 * 86_400);
    let year_9000 = SystemTime::UNIX_EPOCH + Duration::from_secs(222_000_000_000);
    for time in [year_1971, now(), year_9000] {
        let req = signed_for_agentcore(AK, None, time, "{}").await;
        let (status, body) = status_of(&mut service, req).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(seen.lock().unwrap().len(), 3);

    // A large skew that fits still bounds.
    let (mut service, _) = recording(keys().max_clock_skew(Duration::from_secs(86_400 * 365 * 10)));
    let req = signed_for_agentcore(AK, None, year_1971, "{}").await;
    assert_eq!(status_of(&mut service, req).await.0, 403);
}

#[tokio::test]
async fn the_identity_names_the_signed_headers_and_unsigned_ones_pass_by_default() {
    let (mut service, seen) = recording(keys());
    let mut req = signed_for_agentcore(AK, None, now(), "{}").await;
    req.headers_mut()
        .insert("x-injected", "later".parse().unwrap());
    assert_eq!(status_of(&mut service, req).await.0, 200);
    let parts = seen.lock().unwrap().remove(0);
    let identity = parts.extensions.get::<VerifiedIdentity>().unwrap();
    assert_eq!(
        identity.signed_headers,
        ["content-type", "host", "mcp-session-id", "x-amz-date"]
    );
    assert!(identity.is_signed("Mcp-Session-Id"));
    assert!(!identity.is_signed("x-injected"));
    assert_eq!(parts.headers["x-injected"], "later");
}

#[tokio::test]
async fn require_signed_refuses_a_named_header_that_is_not_signed() {
    let (mut service, seen) =
        recording(keys().require_signed(["mcp-session-id", "x-request-nonce", "not a name"]));
    // Signed: accepted.
    let req = signed_for_agentcore(AK, None, now(), "{}").await;
    assert_eq!(status_of(&mut service, req).await.0, 200);
    // Absent (an initialize request has no session id yet): accepted.
    let signer = SigV4Layer::builder()
        .region("us-east-1")
        .credentials(Credentials::new(AK, SK, None, None, "test"))
        .clock(FixedClock::new(now()))
        .build_signer()
        .unwrap();
    let (mut parts, _) = http::Request::post(URL).body(()).unwrap().into_parts();
    signer.sign(&mut parts, b"{}").await.unwrap();
    let req = http::Request::from_parts(parts, Full::new(Bytes::from_static(b"{}")));
    assert_eq!(status_of(&mut service, req).await.0, 200);
    // Added after signing: refused.
    for name in ["x-request-nonce", "X-Request-Nonce"] {
        let mut req = signed_for_agentcore(AK, None, now(), "{}").await;
        req.headers_mut().insert(name, "n-1".parse().unwrap());
        let (status, body) = status_of(&mut service, req).await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body.contains("'x-request-nonce' must be a signed header"),
            "{body}"
        );
    }
    // Left out of the signature by the client: refused.
    let signer = SigV4Layer::builder()
        .region("us-east-1")
        .credentials(Credentials::new(AK, SK, None, None, "test"))
        .signed_headers(tower_sigv4::SignedHeaders::only(["content-type"]))
        .clock(FixedClock::new(now()))
        .build_signer()
        .unwrap();
    let req = sign_with(&signer, "{}").await;
    let (status, body) = status_of(&mut service, req).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("'mcp-session-id' must be a signed header"),
        "{body}"
    );
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn strip_unsigned_headers_leaves_the_inner_service_only_signed_ones() {
    let (mut service, seen) = recording(keys().strip_unsigned_headers(true));
    let mut req = signed_for_agentcore("ASIATOKEN", Some(TOKEN), now(), "{}").await;
    req.headers_mut()
        .insert("x-injected", "later".parse().unwrap());
    req.headers_mut()
        .insert("user-agent", "unsigned/1.0".parse().unwrap());
    req.headers_mut()
        .append("x-injected", "twice".parse().unwrap());
    assert_eq!(status_of(&mut service, req).await.0, 200);
    let parts = seen.lock().unwrap().remove(0);
    let mut names: Vec<&str> = parts.headers.keys().map(|n| n.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "authorization",
            "content-type",
            "host",
            "mcp-session-id",
            "x-amz-date",
            "x-amz-security-token"
        ]
    );
    // Off by default: see the_identity_names_the_signed_headers_and_unsigned_ones_pass_by_default.
}

/// HTTP/2 carries the host in `:authority`, and hyper's server makes no `host`
/// header of it. hyper's h2 client passes a `host` header through (the signer
/// sets one), but clients that follow RFC 9113 8.3.1 (curl, Go, browsers) send
/// `:authority` only; both shapes must verify.
#[tokio::test]
async fn http2_requests_are_verified_against_the_authority() {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let (inner, seen) = recorder();
    let service = tower::Layer::layer(
        &VerifySigV4Layer::with_keys("us-east-1", "aws-mcp", [(AK, VerifyingKey::new(SK))])
            .clock(FixedClock::new(now())),
        inner,
    );
    let (addr, _accept) = crate::serve::bind(service).await;

    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let signing = SigV4Layer::builder()
        .region("us-east-1")
        .service(ServiceName::AWS_MCP)
        .credentials(Credentials::new(AK, SK, None, None, "test"))
        .clock(FixedClock::new(now()))
        .build()
        .unwrap();
    let url = format!("http://{addr}/mcp?qualifier=DEFAULT");
    for keep_host in [true, false] {
        let drop_host =
            tower::util::MapRequestLayer::new(move |mut req: http::Request<Full<Bytes>>| {
                if !keep_host {
                    req.headers_mut().remove("host");
                }
                req
            });
        let service = tower::ServiceBuilder::new()
            .layer(signing.clone())
            .layer(drop_host)
            .service(client.clone());
        let request = http::Request::post(&url)
            .header("content-type", "application/json")
            .header("mcp-session-id", "h2-session")
            .body(Full::new(Bytes::from_static(b"{\"id\":1}")))
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            status,
            200,
            "host kept: {keep_host}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for (parts, had_host) in seen.iter().zip([true, false]) {
        assert_eq!(parts.version, http::Version::HTTP_2);
        assert_eq!(parts.headers.contains_key("host"), had_host);
        assert_eq!(parts.uri.authority().unwrap().as_str(), addr.to_string());
        assert!(
            parts
                .extensions
                .get::<VerifiedIdentity>()
                .unwrap()
                .is_signed("host")
        );
    }
}

/// The inner service's readiness (here a concurrency limit of one) is taken once
/// the body is read: a client still uploading holds no permit, so a complete
/// request that comes after it is served first.
#[tokio::test(start_paused = true)]
async fn a_slow_upload_does_not_hold_the_inner_services_readiness() {
    let served = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = served.clone();
    let inner = tower::ServiceBuilder::new()
        .concurrency_limit(1)
        .service(tower::service_fn(move |req: http::Request<Full<Bytes>>| {
            let log = log.clone();
            async move {
                let body = req.into_body().collect().await.unwrap().to_bytes();
                log.lock().unwrap().push(body.clone());
                Ok::<_, Infallible>(http::Response::new(Full::new(body)))
            }
        }));
    let layer = keys().clock(FixedClock::new(now()));
    let mut service = tower::Layer::layer(&layer, inner);

    let slow = signed_for_agentcore(AK, None, now(), "{\"slow\":1}").await;
    let (parts, _) = slow.into_parts();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
    let body = StreamBody::new(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|frame| (frame, rx))
    }));
    let slow = http::Request::from_parts(parts, BoxBody::new(body));
    tx.send(Ok(Frame::data(Bytes::from_static(b"{\"slow\""))))
        .await
        .unwrap();
    type Req = http::Request<BoxBody<Bytes, Infallible>>;
    let first = tokio::spawn(
        ServiceExt::<Req>::ready(&mut service)
            .await
            .unwrap()
            .call(slow),
    );
    tokio::task::yield_now().await;

    let fast = signed_for_agentcore(AK, None, now(), "{\"fast\":2}")
        .await
        .map(BoxBody::new);
    // Paused time: if the fast request waited on the slow one's permit, the
    // runtime would go idle and this guard would fire at once.
    let response = tokio::time::timeout(Duration::from_secs(3600), async {
        ServiceExt::<Req>::ready(&mut service)
            .await
            .unwrap()
            .call(fast)
            .await
            .unwrap()
    })
    .await
    .expect("the complete request waited for the one still uploading");
    assert_eq!(response.status(), 200);
    assert!(!first.is_finished());
    assert_eq!(
        served.lock().unwrap().as_slice(),
        [Bytes::from_static(b"{\"fast\":2}")]
    );

    tx.send(Ok(Frame::data(Bytes::from_static(b":1}"))))
        .await
        .unwrap();
    drop(tx);
    assert_eq!(first.await.unwrap().unwrap().status(), 200);
    assert_eq!(served.lock().unwrap().len(), 2);
}

//! MCP-shaped requests signed by botocore (an independent SigV4 implementation),
//! re-signed through the layer: every signature must match. The vectors and their
//! generator live in tests/vectors/; `cargo test` needs no Python.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_credential_types::Credentials;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use tower::ServiceExt;
use tower_sigv4::SigV4Layer;
use tower_sigv4::clock::FixedClock;

#[derive(Deserialize)]
struct File {
    generator: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body_b64: String,
    access_key: String,
    secret_key: String,
    session_token: Option<String>,
    region: String,
    service: String,
    timestamp: String,
    expected: Expected,
}

#[derive(Deserialize)]
struct Expected {
    signed_headers: String,
    signature: String,
    authorization: String,
    x_amz_date: String,
    x_amz_security_token: Option<String>,
}

fn load() -> File {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/botocore_mcp.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// `YYYYMMDDTHHMMSSZ` to a time.
fn parse_amz_date(s: &str) -> SystemTime {
    tower_sigv4::clock::parse_amz_date(s).unwrap_or_else(|| panic!("bad timestamp {s}"))
}

async fn sign_case(case: &Case) -> http::Request<Bytes> {
    let layer = SigV4Layer::builder()
        .region(&case.region)
        .service(case.service.as_str())
        .credentials(Credentials::new(
            &case.access_key,
            &case.secret_key,
            case.session_token.clone(),
            None,
            "vectors",
        ))
        .clock(FixedClock::new(parse_amz_date(&case.timestamp)))
        .build()
        .unwrap();
    let body = base64::engine::general_purpose::STANDARD
        .decode(&case.body_b64)
        .unwrap();
    let mut builder = http::Request::builder()
        .method(case.method.as_str())
        .uri(case.url.as_str());
    for (name, value) in &case.headers {
        builder = builder.header(name, value);
    }
    let request = builder.body(Full::new(Bytes::from(body))).unwrap();
    let seen = Arc::new(Mutex::new(None));
    let recorder = seen.clone();
    let inner = tower::service_fn(move |req: http::Request<Full<Bytes>>| {
        let recorder = recorder.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            *recorder.lock().unwrap() = Some(http::Request::from_parts(parts, body));
            Ok::<_, Infallible>(http::Response::new(()))
        }
    });
    tower::Layer::layer(&layer, inner)
        .oneshot(request)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", case.id));
    seen.lock().unwrap().take().unwrap()
}

fn header<'a>(req: &'a http::Request<Bytes>, name: &str) -> Option<&'a str> {
    req.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn layer_matches_every_botocore_vector() {
    let file = load();
    assert!(file.generator.contains("botocore"), "{}", file.generator);
    assert!(file.cases.len() >= 30, "only {} vectors", file.cases.len());
    let mut failures = Vec::new();
    for case in &file.cases {
        let signed = sign_case(case).await;
        let authorization = header(&signed, "authorization").unwrap_or_default();
        if authorization != case.expected.authorization {
            failures.push(format!(
                "{}:\n  expected {}\n  got      {}",
                case.id, case.expected.authorization, authorization
            ));
            continue;
        }
        assert!(authorization.ends_with(&format!("Signature={}", case.expected.signature)));
        assert!(
            authorization.contains(&format!("SignedHeaders={},", case.expected.signed_headers))
        );
        assert_eq!(
            header(&signed, "x-amz-date"),
            Some(case.expected.x_amz_date.as_str()),
            "{}",
            case.id
        );
        assert_eq!(
            header(&signed, "x-amz-security-token"),
            case.expected.x_amz_security_token.as_deref(),
            "{}",
            case.id
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors differ:\n{}",
        failures.len(),
        file.cases.len(),
        failures.join("\n")
    );
    println!("{} botocore vectors matched", file.cases.len());
}

/// The verifying layer accepts every request botocore signed, and refuses it once
/// the body changes.
#[tokio::test]
async fn verifying_layer_accepts_every_botocore_vector() {
    use tower_sigv4::verify::{VerifySigV4Layer, VerifyingKey};
    let file = load();
    for case in &file.cases {
        let mut key = VerifyingKey::new(&case.secret_key);
        if let Some(token) = &case.session_token {
            key = key.with_session_token(token);
        }
        let layer = VerifySigV4Layer::with_keys(
            case.region.as_str(),
            case.service.as_str(),
            [(case.access_key.as_str(), key)],
        )
        .clock(FixedClock::new(parse_amz_date(&case.timestamp)));
        let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
        });
        let service = tower::Layer::layer(&layer, inner);
        let body = base64::engine::general_purpose::STANDARD
            .decode(&case.body_b64)
            .unwrap();
        let build = |body: Vec<u8>| {
            let mut builder = http::Request::builder()
                .method(case.method.as_str())
                .uri(case.url.as_str());
            let host = case
                .url
                .split("://")
                .nth(1)
                .unwrap()
                .split('/')
                .next()
                .unwrap();
            let host = host
                .strip_suffix(":443")
                .filter(|_| case.url.starts_with("https"))
                .unwrap_or(host);
            builder = builder.header("host", host);
            for (name, value) in &case.headers {
                builder = builder.header(name, value);
            }
            builder = builder
                .header("authorization", &case.expected.authorization)
                .header("x-amz-date", &case.expected.x_amz_date);
            if let Some(token) = &case.expected.x_amz_security_token {
                builder = builder.header("x-amz-security-token", token);
            }
            builder.body(Full::new(Bytes::from(body))).unwrap()
        };
        let response = service.clone().oneshot(build(body.clone())).await.unwrap();
        assert_eq!(
            response.status(),
            200,
            "{}: {:?}",
            case.id,
            response.into_body().collect().await.unwrap().to_bytes()
        );
        // Same length (Content-Length stays right), different bytes.
        let mut tampered = body;
        match tampered.first_mut() {
            Some(first) => *first = if *first == b' ' { b'\t' } else { b' ' },
            None => tampered.push(b' '),
        }
        let response = service.oneshot(build(tampered)).await.unwrap();
        assert_eq!(
            response.status(),
            403,
            "{}: tampered body accepted",
            case.id
        );
    }
}

//! AWS's own SigV4 test suite, run through the signing layer. For every case the
//! layer's signature must equal the signature of AWS's expected canonical request;
//! the canonical request rebuilt from what the layer put on the wire (with the
//! crate's independent implementation, through `tower_sigv4::unstable::explain_with`)
//! must equal AWS's text; and where AWS gives
//! them, the string to sign and the signature must match too.

#[path = "support/aws_suite.rs"]
mod aws_suite;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_credential_types::Credentials;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use sha2::{Digest, Sha256};
use tower::ServiceExt;
use tower_sigv4::clock::FixedClock;
use tower_sigv4::unstable::{self as verify, PathHandling, parse_amz_date};
use tower_sigv4::{SigV4Layer, SignedHeaders};

use aws_suite::SuiteCase;

/// Cases the layer cannot express, with the reason.
fn unsupported(case: &SuiteCase) -> Option<&'static str> {
    if case.context.omit_session_token {
        return Some(
            "session token added after signing: the layer always signs x-amz-security-token",
        );
    }
    let path = case.target.split('?').next().unwrap_or_default();
    if path.bytes().any(|b| !b.is_ascii() || b == b' ') || path.contains("%20") {
        return Some(
            "AWS's expected canonical URI encodes the decoded path (raw UTF-8 or a space) once; on the wire it is percent-encoded, and double encoding (AWS's rule for non-S3 services, checked by double-encode-path) signs `%E1` as `%25E1`",
        );
    }
    None
}

/// `2015-08-30T12:36:00Z`, through the crate's `x-amz-date` parser.
fn parse_iso(s: &str) -> SystemTime {
    let compact: String = s.chars().filter(|c| *c != '-' && *c != ':').collect();
    parse_amz_date(&compact).unwrap_or_else(|| panic!("bad timestamp {s}"))
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The SigV4 signature of `string_to_sign`, from AWS's key derivation.
fn signature(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
    string_to_sign: &str,
) -> String {
    let mut key = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()))
}

/// The request target as it goes on the wire: non-ASCII bytes percent-encoded.
fn wire_target(target: &str) -> String {
    let mut out = String::new();
    for b in target.bytes() {
        if b.is_ascii() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn sign_through_layer(case: &SuiteCase) -> http::Request<Bytes> {
    let ctx = &case.context;
    let layer = SigV4Layer::builder()
        .region(&ctx.region)
        .service(ctx.service.as_str())
        .credentials(Credentials::new(
            &ctx.credentials.access_key_id,
            &ctx.credentials.secret_access_key,
            ctx.credentials.token.clone(),
            None,
            "suite",
        ))
        .clock(FixedClock::new(parse_iso(&ctx.timestamp)))
        .content_sha256_header(ctx.sign_body)
        .normalize_path(ctx.normalize)
        // The suite signs every header it lists.
        .signed_headers(SignedHeaders::excluding(["authorization"]))
        .build()
        .unwrap();
    let host = case
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.clone())
        .unwrap();
    let mut builder = http::Request::builder()
        .method(case.method.as_str())
        .uri(format!("https://{host}{}", wire_target(&case.target)));
    for (name, value) in &case.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder
        .body(Full::new(Bytes::from(case.body.clone())))
        .unwrap();
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
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let signed = seen.lock().unwrap().take();
    signed.unwrap()
}

#[tokio::test]
async fn every_suite_case_through_the_layer() {
    let cases = aws_suite::load_cases();
    assert_eq!(cases.len(), 40, "AWS's suite has 40 cases");
    let mut checked = 0;
    let mut skipped = Vec::new();
    for case in &cases {
        if let Some(reason) = unsupported(case) {
            skipped.push(format!("{}: {reason}", case.name));
            continue;
        }
        let signed = sign_through_layer(case).await;
        let (parts, body) = signed.into_parts();
        let payload = hex::encode(Sha256::digest(&body));
        let path = if case.context.normalize {
            PathHandling::Normalized
        } else {
            PathHandling::Unnormalized
        };
        let explained = verify::explain_with(&parts, &payload, path)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let parsed = &explained.authorization;
        let amz_date = parts.headers["x-amz-date"].to_str().unwrap();
        let (region, service) = (&case.context.region, &case.context.service);
        let scope = format!("{}/{region}/{service}/aws4_request", &amz_date[..8]);

        // 1. The layer's signature is the signature of AWS's canonical request.
        let expected_creq = &case.expected_canonical_request;
        let expected_sts = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(expected_creq.as_bytes()))
        );
        let secret = &case.context.credentials.secret_access_key;
        assert_eq!(
            parsed.signature,
            signature(secret, &amz_date[..8], region, service, &expected_sts),
            "{}: the layer signed a different canonical request than AWS's:\n{expected_creq}",
            case.name
        );

        // 2. AWS's string to sign and signature, where given.
        if let Some(sts) = &case.expected_string_to_sign {
            assert_eq!(&expected_sts, sts, "{}: string to sign", case.name);
        }
        if let Some(signature) = &case.expected_signature {
            assert_eq!(&parsed.signature, signature, "{}: signature", case.name);
        }

        // 3. The canonical request rebuilt from the wire by the independent implementation.
        assert_eq!(
            &explained.canonical_request, expected_creq,
            "{}: rebuilt canonical request",
            case.name
        );
        assert_eq!(
            explained.string_to_sign, expected_sts,
            "{}: rebuilt string to sign",
            case.name
        );
        checked += 1;
    }
    println!(
        "{checked} AWS suite cases matched; {} not expressible:",
        skipped.len()
    );
    for s in &skipped {
        println!("  {s}");
    }
    assert!(checked >= 35, "only {checked} cases checked");
}

//! Server-side SigV4 verification for the test endpoint, with the crate's own
//! `VerifySigV4Layer` (an implementation independent of aws-sigv4).

use std::convert::Infallible;

use aws_credential_types::Credentials;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;
use tower_sigv4::verify::{VerifySigV4Layer, VerifyingKey};

pub const REGION: &str = "us-east-1";
pub const SERVICE: &str = "bedrock-agentcore";

pub fn credentials() -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session-token".to_owned()),
        None,
        "test",
    )
}

/// `Ok` when the request carries a valid signature by [`credentials`] for
/// [`SERVICE`] in [`REGION`], checked by the crate's `VerifySigV4Layer`;
/// otherwise the refusal's message, as AWS would say it.
pub async fn verify(
    parts: &http::request::Parts,
    body: &Bytes,
) -> Result<(), (&'static str, String)> {
    let credentials = credentials();
    let key = VerifyingKey::new(credentials.secret_access_key())
        .with_session_token(credentials.session_token().unwrap_or_default());
    let layer = VerifySigV4Layer::with_keys(
        REGION,
        SERVICE,
        [(credentials.access_key_id().to_owned(), key)],
    );
    let ok = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
    });
    let mut request = http::Request::new(Full::new(body.clone()));
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.headers_mut() = parts.headers.clone();
    let response = tower::Layer::layer(&layer, ok)
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    if response.status().is_success() {
        return Ok(());
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let error_type = match json["__type"].as_str() {
        Some("MissingAuthenticationTokenException") => "MissingAuthenticationTokenException",
        Some("UnrecognizedClientException") => "UnrecognizedClientException",
        Some("IncompleteSignatureException") => "IncompleteSignatureException",
        Some("ExpiredTokenException") => "ExpiredTokenException",
        _ => "InvalidSignatureException",
    };
    Err((
        error_type,
        json["message"].as_str().unwrap_or("refused").to_owned(),
    ))
}

//! What the benches share: the MCP-shaped request, credentials, layers, the
//! in-memory inner service and runtimes.
#![allow(dead_code)] // each bench uses a different part

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials};
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SigningParams, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::Full;
use sha2::{Digest, Sha256};
use tower_sigv4::{ServiceName, SigV4Layer};

pub const URL: &str = "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fagent-1/invocations?qualifier=DEFAULT";
pub const SIZES: [(usize, &str); 5] = [
    (0, "0B"),
    (1024, "1KiB"),
    (64 * 1024, "64KiB"),
    (1024 * 1024, "1MiB"),
    (8 * 1024 * 1024, "8MiB"),
];

pub fn credentials() -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session-token".to_owned()),
        None,
        "bench",
    )
}

pub fn body(size: usize) -> Bytes {
    Bytes::from(vec![b'x'; size])
}

pub fn request(body: &Bytes) -> http::Request<Full<Bytes>> {
    http::Request::post(URL)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", "c7d1b2a4-5e6f-4a8b-9c0d-1e2f3a4b5c6d")
        .body(Full::new(body.clone()))
        .unwrap()
}

/// Credentials that expire in an hour: the cache path of a refreshing provider.
#[derive(Debug)]
pub struct Expiring;

impl ProvideCredentials for Expiring {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::ready(Ok(Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token".to_owned()),
            Some(SystemTime::now() + Duration::from_secs(3600)),
            "expiring",
        )))
    }
}

pub fn static_layer() -> SigV4Layer {
    SigV4Layer::builder()
        .service(ServiceName::BEDROCK_AGENTCORE)
        .region("us-east-1")
        .credentials(credentials())
        .max_body_size(16 * 1024 * 1024)
        .build()
        .unwrap()
}

pub fn provider_layer() -> SigV4Layer {
    SigV4Layer::builder()
        .service(ServiceName::BEDROCK_AGENTCORE)
        .region("us-east-1")
        .credentials_provider(Expiring)
        .max_body_size(16 * 1024 * 1024)
        .build()
        .unwrap()
}

/// The inner service: answers at once.
pub fn inner() -> impl tower::Service<
    http::Request<Full<Bytes>>,
    Response = http::Response<()>,
    Error = Infallible,
    Future = std::future::Ready<Result<http::Response<()>, Infallible>>,
> + Clone {
    tower::service_fn(|_req: http::Request<Full<Bytes>>| {
        std::future::ready(Ok(http::Response::new(())))
    })
}

pub fn runtime(threads: usize) -> tokio::runtime::Runtime {
    if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .unwrap()
    }
}

/// aws-sigv4's parameters for the benches' service, region and the current time.
/// Built per request, as a caller of aws-sigv4 must (the time is in them).
fn signing_params(identity: &Identity) -> SigningParams<'_> {
    v4::SigningParams::builder()
        .identity(identity)
        .region("us-east-1")
        .name("bedrock-agentcore")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into()
}

/// aws-sigv4 directly: hash, then sign the same request.
pub fn primitive(body: &Bytes) -> String {
    let identity = credentials().into();
    let params = signing_params(&identity);
    let hash = hex::encode(Sha256::digest(body));
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-session-id", "c7d1b2a4-5e6f-4a8b-9c0d-1e2f3a4b5c6d"),
        ("host", "bedrock-agentcore.us-east-1.amazonaws.com"),
    ];
    let signable = SignableRequest::new(
        "POST",
        URL,
        headers.into_iter(),
        SignableBody::Precomputed(hash),
    )
    .unwrap();
    let (_instructions, signature) = sign(signable, &params).unwrap().into_parts();
    signature
}

/// aws-sigv4 used directly on the same `http::Request` the layer receives, the way
/// its docs show: build the request, hash the body, sign the request's headers,
/// apply the instructions. The layer does this too, so this is the like-for-like
/// baseline; [`primitive`] is `sign()` alone on borrowed strings.
pub fn primitive_on_request(body: &Bytes) -> http::Request<Full<Bytes>> {
    let mut request = request(body);
    let identity = credentials().into();
    let params = signing_params(&identity);
    let hash = hex::encode(Sha256::digest(body));
    let uri = request.uri().to_string();
    let signable = SignableRequest::new(
        request.method().as_str(),
        &uri,
        request
            .headers()
            .iter()
            .map(|(name, value)| (name.as_str(), value.to_str().unwrap())),
        SignableBody::Precomputed(hash),
    )
    .unwrap();
    let (instructions, _signature) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut request);
    request
}

//! Every way to build a signer refuses plain `http://` to a host that is not
//! loopback, with one error, and the builders and errors are `Clone`, `Send`
//! and `Sync`.

use std::convert::Infallible;

use aws_credential_types::Credentials;
use bytes::Bytes;
use http_body_util::Full;
use tower::{Layer, ServiceExt};
use tower_sigv4::reqwest::SigV4Middleware;
use tower_sigv4::rmcp::TransportBuilder;
use tower_sigv4::{BoxError, Error, SigV4Layer};

/// Not loopback, and in the reserved `.invalid` domain: a request that got
/// through would fail to resolve rather than reach anyone.
const PLAIN: &str = "http://mcp.internal.invalid:8080/mcp";

fn credentials() -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "SECRETKEY",
        Some("SESSIONTOKEN".to_owned()),
        None,
        "test",
    )
}

/// The refusal, as the signing layer's builder words it.
fn expected() -> String {
    layer_builder(PLAIN).build().unwrap_err().to_string()
}

fn assert_refusal(error: &Error) {
    assert_eq!(
        error.config_kind(),
        Some(tower_sigv4::ConfigErrorKind::PlainHttp),
        "{error:?}"
    );
    assert_eq!(error.to_string(), expected());
    assert!(error.to_string().contains("uses plain http://"), "{error}");
}

fn layer_builder(url: &str) -> tower_sigv4::SigV4Builder {
    SigV4Layer::for_endpoint(url)
        .service("execute-api")
        .region("us-east-1")
        .credentials(credentials())
}

#[test]
fn sigv4_layer_for_a_plain_http_endpoint_is_refused() {
    assert_refusal(&layer_builder(PLAIN).build().unwrap_err());
    assert_refusal(&layer_builder(PLAIN).build_signer().unwrap_err());
    assert!(layer_builder(PLAIN).allow_plain_http().build().is_ok());
    for loopback in [
        "http://127.0.0.1:8080/mcp",
        "http://localhost/mcp",
        "http://[::1]:3000/mcp",
    ] {
        assert!(layer_builder(loopback).build().is_ok(), "{loopback}");
    }
}

/// Sends `uri` through a layer built without an endpoint; returns the error, or
/// the authorization header the inner service saw.
async fn send_through_layer(layer: SigV4Layer, uri: &str) -> Result<String, BoxError> {
    let inner = tower::service_fn(|req: http::Request<Full<Bytes>>| async move {
        let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
        Ok::<_, Infallible>(http::Response::new(auth))
    });
    let request = http::Request::post(uri).body(Full::new(Bytes::from_static(b"{}")))?;
    Ok(layer.layer(inner).oneshot(request).await?.into_body())
}

#[tokio::test]
async fn sigv4_layer_refuses_plain_http_requests_before_signing() {
    let layer = SigV4Layer::builder()
        .region("us-east-1")
        .credentials(credentials())
        .build()
        .unwrap();
    let error = send_through_layer(layer.clone(), PLAIN).await.unwrap_err();
    assert_refusal(error.downcast_ref::<Error>().unwrap());
    assert!(!format!("{error:?}").contains("SESSIONTOKEN"));
    let auth = send_through_layer(layer, "http://127.0.0.1:9/mcp")
        .await
        .unwrap();
    assert!(auth.starts_with("AWS4-HMAC-SHA256 "), "{auth}");

    let opted_out = SigV4Layer::builder()
        .region("us-east-1")
        .credentials(credentials())
        .allow_plain_http()
        .build()
        .unwrap();
    assert!(opted_out.signer().allows_plain_http());
    let auth = send_through_layer(opted_out, PLAIN).await.unwrap();
    assert!(auth.starts_with("AWS4-HMAC-SHA256 "), "{auth}");
}

#[tokio::test]
async fn sigv4_middleware_refuses_plain_http_before_sending() {
    let signer = SigV4Layer::builder()
        .region("us-east-1")
        .credentials(credentials())
        .build_signer()
        .unwrap();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(SigV4Middleware::new(signer))
        .build();
    let error = client.post(PLAIN).body("{}").send().await.unwrap_err();
    let reqwest_middleware::Error::Middleware(error) = error else {
        panic!("expected the middleware's error, got {error:?}");
    };
    assert_refusal(error.downcast_ref::<Error>().unwrap());

    let built = SigV4Middleware::for_endpoint(PLAIN)
        .service("execute-api")
        .region("us-east-1")
        .credentials(credentials())
        .build();
    assert_refusal(&built.unwrap_err());
    let built = SigV4Middleware::builder()
        .service("execute-api")
        .region("us-east-1")
        .credentials(credentials())
        .allow_plain_http()
        .build()
        .unwrap();
    assert!(built.signer().allows_plain_http());
}

#[tokio::test]
async fn transport_builder_refuses_plain_http() {
    let build = |url: &str| {
        TransportBuilder::new(url)
            .service("execute-api")
            .region("us-east-1")
            .credentials(credentials())
    };
    assert_refusal(&build(PLAIN).build().err().expect("refused"));
    assert_refusal(&build(PLAIN).sign(false).build().err().expect("refused"));
    assert!(build(PLAIN).allow_plain_http().build().is_ok());
    assert!(build("http://127.0.0.1:8080/mcp").build().is_ok());
}

#[test]
fn builders_and_errors_are_clone_send_sync() {
    fn clone_send_sync<T: Clone + Send + Sync + 'static>() {}
    clone_send_sync::<tower_sigv4::SigV4Builder>();
    clone_send_sync::<SigV4Layer>();
    clone_send_sync::<TransportBuilder>();
    clone_send_sync::<tower_sigv4::reqwest::SigV4MiddlewareBuilder>();
    clone_send_sync::<SigV4Middleware>();
    clone_send_sync::<Error>();
    clone_send_sync::<tower_sigv4::rmcp::HttpClientError>();
    clone_send_sync::<tower_sigv4::rmcp::StatusError>();
    clone_send_sync::<tower_sigv4::recover::Diagnosis>();
    clone_send_sync::<tower_sigv4::endpoint::ArnError>();
    clone_send_sync::<tower_sigv4::credentials::CredentialsError>();
    clone_send_sync::<tower_sigv4::rejection::AwsErrorReply>();
    clone_send_sync::<tower_sigv4::credentials::CredentialsCache>();
}

#[tokio::test]
async fn a_cloned_builder_builds_the_same_signer_twice() {
    #[derive(Debug)]
    struct Provider;
    impl aws_credential_types::provider::ProvideCredentials for Provider {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(credentials()))
        }
    }
    let builder = SigV4Layer::builder()
        .region("eu-west-1")
        .credentials_provider(Provider);
    let first = builder.clone().build_signer().unwrap();
    let second = builder.build_signer().unwrap();
    for signer in [first, second] {
        assert_eq!(signer.region(), "eu-west-1");
        assert_eq!(signer.credentials().source_name(), "Provider");
        let loaded = signer.credentials().get().await.unwrap();
        assert_eq!(loaded.access_key_id(), "AKIDEXAMPLE");
    }
}

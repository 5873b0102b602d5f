//! The reqwest-middleware adapter against a verifying server on 127.0.0.1:
//! signing, bounded bodies, plain-http refusal and recovery from refused
//! signatures. The same tests run for every reqwest version the crate supports.

#[path = "../support/serve.rs"]
mod serve;
mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_credential_types::provider::{ProvideCredentials, future};

/// A provider that counts its loads.
#[derive(Clone, Debug, Default)]
struct Counting(Arc<AtomicUsize>);

impl Counting {
    fn loads(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl ProvideCredentials for Counting {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.fetch_add(1, Ordering::SeqCst);
        future::ProvideCredentials::ready(Ok(server::credentials()))
    }
}

/// The middleware for `url` with the verifying server's credentials.
#[cfg(any(feature = "reqwest", feature = "reqwest-012"))]
fn middleware(url: &str) -> tower_sigv4::reqwest::SigV4MiddlewareBuilder {
    tower_sigv4::reqwest::SigV4Middleware::for_endpoint(url).credentials(server::credentials())
}

/// The middleware for `url`, signing for a region the server does not accept
/// (`eu-west-1`), with recovery on: each request gets a 403 and a diagnosis.
#[cfg(any(feature = "reqwest", feature = "reqwest-012"))]
fn wrong_region(url: &str) -> tower_sigv4::reqwest::SigV4Middleware {
    middleware(url)
        .region("eu-west-1")
        .recover(true)
        .build()
        .unwrap()
}

/// The middleware tests, for one pair of reqwest and reqwest-middleware crates.
macro_rules! middleware_tests {
    ($name:ident, $reqwest:ident, $middleware:ident) => {
        mod $name {
            use bytes::Bytes;
            use futures_util::stream;
            use tower_sigv4::Error;
            use tower_sigv4::recover::Diagnosis;
            use tower_sigv4::rejection::RejectionKind;
            use tower_sigv4::reqwest::SigV4Middleware;

            use super::{Counting, middleware, server, wrong_region};

            fn client(middleware: SigV4Middleware) -> $middleware::ClientWithMiddleware {
                $middleware::ClientBuilder::new($reqwest::Client::new())
                    .with(middleware)
                    .build()
            }

            #[tokio::test]
            async fn a_loopback_runtime_url_infers_service_and_region_and_is_accepted() {
                let server = server::start(0).await;
                let signing = middleware(&server.url()).build().unwrap();
                assert_eq!(signing.signer().service().as_str(), "bedrock-agentcore");
                assert_eq!(signing.signer().region(), server::REGION);
                let response = client(signing)
                    .post(server.url())
                    .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                assert!(response.extensions().get::<Diagnosis>().is_none());
                assert_eq!(
                    response.text().await.unwrap(),
                    r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#
                );
            }

            #[tokio::test]
            async fn streaming_bodies_are_signed_and_bounded() {
                let server = server::start(0).await;
                let signing = middleware(&server.url())
                    .signing(|s| s.max_body_size(64))
                    .build()
                    .unwrap();
                let client = client(signing);
                let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                    Ok(Bytes::from_static(b"{\"a\":")),
                    Ok(Bytes::from_static(b"1}")),
                ];
                let response = client
                    .post(server.url())
                    .body($reqwest::Body::wrap_stream(stream::iter(chunks)))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                assert_eq!(response.text().await.unwrap(), r#"{"a":1}"#);

                let big: Vec<Result<Bytes, std::io::Error>> = vec![Ok(Bytes::from(vec![b'x'; 65]))];
                let error = client
                    .post(server.url())
                    .body($reqwest::Body::wrap_stream(stream::iter(big)))
                    .send()
                    .await
                    .unwrap_err();
                let $middleware::Error::Middleware(error) = error else {
                    panic!("expected the middleware's error, got {error:?}");
                };
                assert!(matches!(
                    error.downcast_ref::<Error>(),
                    Some(Error::BodyTooLarge { limit: 64, .. })
                ));
                assert_eq!(server.received(), 1, "the oversized body was not sent");
            }

            #[tokio::test]
            async fn plain_http_to_another_host_is_refused_before_sending() {
                let signing = SigV4Middleware::builder()
                    .region("us-east-1")
                    .credentials(server::credentials())
                    .build()
                    .unwrap();
                let url = "http://mcp.internal.invalid/mcp";
                let error = client(signing).post(url).send().await.unwrap_err();
                let $middleware::Error::Middleware(error) = error else {
                    panic!("expected the middleware's error, got {error:?}");
                };
                let error = error.downcast_ref::<Error>().unwrap();
                assert_eq!(
                    error.config_kind(),
                    Some(tower_sigv4::ConfigErrorKind::PlainHttp)
                );
                assert!(error.to_string().contains("uses plain http://"), "{error}");
            }

            #[tokio::test]
            async fn a_403_for_the_wrong_region_carries_the_diagnosis() {
                let server = server::start(0).await;
                let response = client(wrong_region(&server.url()))
                    .post(server.url())
                    .body("{}")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 403);
                assert_eq!(response.url().as_str(), server.url());
                let diagnosis = response.extensions().get::<Diagnosis>().unwrap().clone();
                assert_eq!(diagnosis.kind(), RejectionKind::InvalidSignature);
                assert!(diagnosis.is_wrong_endpoint(), "{diagnosis}");
                assert_eq!(diagnosis.signing_region, "eu-west-1");
                assert!(!diagnosis.retried, "a wrong region is not retried");
                assert!(
                    diagnosis
                        .to_string()
                        .contains("signed for service `bedrock-agentcore` in `eu-west-1`"),
                    "{diagnosis}"
                );
                assert_eq!(server.received(), 1);
                // The reply's body is still there to read.
                let body = response.text().await.unwrap();
                assert!(body.contains("scoped to a valid region"), "{body}");
            }

            #[tokio::test]
            async fn without_recovery_a_403_is_passed_on_as_it_came() {
                let server = server::start(0).await;
                let signing = middleware(&server.url())
                    .region("eu-west-1")
                    .build()
                    .unwrap();
                let response = client(signing).post(server.url()).send().await.unwrap();
                assert_eq!(response.status(), 403);
                assert!(response.extensions().get::<Diagnosis>().is_none());
                assert_eq!(server.received(), 1);
            }

            #[tokio::test]
            async fn an_expired_token_is_reloaded_and_the_request_sent_once_more() {
                let server = server::start(1).await;
                let provider = Counting::default();
                let signing = SigV4Middleware::for_endpoint(&server.url())
                    .credentials_provider(provider.clone())
                    .recover(true)
                    .build()
                    .unwrap();
                let response = client(signing)
                    .post(server.url())
                    .body("{\"retry\":true}")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                assert_eq!(server.received(), 2);
                assert_eq!(provider.loads(), 2, "the refused credentials were reloaded");
                assert_eq!(response.text().await.unwrap(), "{\"retry\":true}");
            }

            #[tokio::test]
            async fn a_lasting_refusal_is_retried_once_and_diagnosed() {
                let server = server::start(usize::MAX).await;
                let provider = Counting::default();
                let signing = SigV4Middleware::for_endpoint(&server.url())
                    .credentials_provider(provider.clone())
                    .recover(true)
                    .build()
                    .unwrap();
                let response = client(signing).post(server.url()).send().await.unwrap();
                assert_eq!(response.status(), 403);
                let diagnosis = response.extensions().get::<Diagnosis>().unwrap();
                assert_eq!(diagnosis.kind(), RejectionKind::ExpiredToken);
                assert!(diagnosis.retried);
                assert_eq!(server.received(), 2, "one retry, no more");
            }
        }
    };
}

#[cfg(feature = "reqwest")]
middleware_tests!(reqwest_013, reqwest, reqwest_middleware);

#[cfg(feature = "reqwest-012")]
middleware_tests!(reqwest_012, reqwest012, reqwest_middleware04);

/// reqwest-retry 0.7 (reqwest-middleware 0.4) before the signer, as the module
/// docs place it: it wraps the signer's error in a `RetryError` of its own, and
/// passes a 403 on as it came.
#[cfg(feature = "reqwest-012")]
mod through_reqwest_retry {
    use reqwest_middleware04::{ClientBuilder, ClientWithMiddleware};
    use reqwest_retry::RetryTransientMiddleware;
    use reqwest_retry::policies::ExponentialBackoff;
    use tower_sigv4::recover::Diagnosis;
    use tower_sigv4::rejection::RejectionKind;
    use tower_sigv4::reqwest::SigV4Middleware;
    use tower_sigv4::{ConfigErrorKind, Error};

    use super::{middleware, server, wrong_region};

    fn client(signing: SigV4Middleware) -> ClientWithMiddleware {
        let retry = ExponentialBackoff::builder().build_with_max_retries(2);
        ClientBuilder::new(reqwest012::Client::new())
            .with(RetryTransientMiddleware::new_with_policy(retry))
            .with(signing)
            .build()
    }

    #[tokio::test]
    async fn a_signing_error_is_found_behind_the_retry_error() {
        let signing = SigV4Middleware::builder()
            .region("us-east-1")
            .credentials(server::credentials())
            .build()
            .unwrap();
        let error = client(signing)
            .post("http://mcp.internal.invalid/mcp")
            .body("{}")
            .send()
            .await
            .unwrap_err();
        let found = Error::find_in(&error).unwrap_or_else(|| panic!("not found in {error:?}"));
        assert_eq!(found.config_kind(), Some(ConfigErrorKind::PlainHttp));
        // The message still reads as the signer's.
        assert!(error.to_string().contains("uses plain http://"), "{error}");
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_found_and_not_sent() {
        let server = server::start(0).await;
        let signing = middleware(&server.url())
            .signing(|s| s.max_body_size(8))
            .build()
            .unwrap();
        let error = client(signing)
            .post(server.url())
            .body("{\"over\":\"the limit\"}")
            .send()
            .await
            .unwrap_err();
        assert!(matches!(
            Error::find_in(&error),
            Some(Error::BodyTooLarge { limit: 8, .. })
        ));
        assert_eq!(server.received(), 0, "nothing was sent, nor retried");
    }

    #[tokio::test]
    async fn the_diagnosis_of_a_403_reaches_the_caller() {
        let server = server::start(0).await;
        let response = client(wrong_region(&server.url()))
            .post(server.url())
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        let diagnosis = response.extensions().get::<Diagnosis>().unwrap();
        assert_eq!(diagnosis.kind(), RejectionKind::InvalidSignature);
        assert_eq!(
            server.received(),
            1,
            "a 403 is not retried by reqwest-retry"
        );
    }
}

//! The ready-made transport's network, on 127.0.0.1: an HTTP CONNECT proxy that
//! counts its tunnels, a TLS endpoint with a certificate from a CA made at test
//! time, and `NO_PROXY`. Environment variables are handed to the builder through
//! `TransportBuilder::env`, never set on the process.

use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tower::ServiceExt;
use tower_sigv4::retry::RetryPolicy;
use tower_sigv4::rmcp::TransportBuilder;

use crate::net::{TestCa, connect_proxy, test_ca};
use crate::server::{self, Endpoint, Options};
use crate::{LIMIT, builder, conversation, sigv4};

/// A variable lookup with these values and nothing else.
fn vars(
    values: &[(&'static str, String)],
) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let values = values.to_vec();
    move |name| {
        values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    }
}

async fn endpoint(ca: &TestCa) -> Endpoint {
    server::start_tls(Options::SIGNED_STATELESS, ca.server.clone()).await
}

/// One signed JSON-RPC `ping` through the transport's HTTP service.
async fn ping(builder: TransportBuilder, url: &str) -> Result<u16, tower_sigv4::BoxError> {
    let service = builder.retry(RetryPolicy::none()).build_service()?;
    let request = http::Request::post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Full::new(Bytes::from_static(
            br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
        )))
        .unwrap();
    let response = service.oneshot(request).await?;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    Ok(status)
}

#[tokio::test]
async fn a_whole_session_goes_through_the_https_proxy_of_the_environment() {
    tokio::time::timeout(LIMIT, async {
        let ca = test_ca("session");
        let endpoint = server::start_tls(Options::SIGNED_SESSIONS, ca.server.clone()).await;
        let proxy = connect_proxy().await;
        let transport = builder(&endpoint)
            .env(vars(&[
                ("HTTPS_PROXY", proxy.url.clone()),
                ("AWS_CA_BUNDLE", ca.bundle.display().to_string()),
            ]))
            .build()
            .unwrap();
        conversation(transport).await;
        assert!(proxy.tunnels() >= 1, "no CONNECT reached the proxy");
        assert!(!endpoint.log.all().is_empty());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn the_builders_proxy_is_used_and_no_proxy_naming_the_host_bypasses_it() {
    tokio::time::timeout(LIMIT, async {
        let ca = test_ca("bypass");
        let endpoint = endpoint(&ca).await;
        let proxy = connect_proxy().await;
        let url = endpoint.url();

        let via_builder = builder(&endpoint)
            .env(vars(&[]))
            .proxy(proxy.url.clone())
            .ca_bundle(&ca.bundle);
        assert_eq!(ping(via_builder, &url).await.unwrap(), 200);
        assert_eq!(proxy.tunnels(), 1);

        let bypassed = builder(&endpoint).ca_bundle(&ca.bundle).env(vars(&[
            ("HTTPS_PROXY", proxy.url.clone()),
            ("NO_PROXY", "localhost,127.0.0.1".to_owned()),
        ]));
        assert_eq!(ping(bypassed, &url).await.unwrap(), 200);
        let direct = builder(&endpoint)
            .ca_bundle(&ca.bundle)
            .env(vars(&[("HTTPS_PROXY", proxy.url.clone())]))
            .direct();
        assert_eq!(ping(direct, &url).await.unwrap(), 200);
        assert_eq!(
            proxy.tunnels(),
            1,
            "NO_PROXY and direct() go around the proxy"
        );
        assert_eq!(endpoint.log.all().len(), 3);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_private_ca_is_trusted_only_when_its_bundle_is_given() {
    tokio::time::timeout(LIMIT, async {
        let ca = test_ca("trust");
        let endpoint = endpoint(&ca).await;
        let url = endpoint.url();

        let untrusted = ping(builder(&endpoint).env(vars(&[])), &url)
            .await
            .unwrap_err();
        assert!(
            tower_sigv4::retry::is_connect_error(&*untrusted),
            "a refused certificate is a connect error: {untrusted}"
        );
        assert!(endpoint.log.all().is_empty());

        let bundle = ca.bundle.display().to_string();
        let trusted = [
            builder(&endpoint).env(vars(&[])).ca_bundle(&ca.bundle),
            builder(&endpoint).env(vars(&[("AWS_CA_BUNDLE", bundle.clone())])),
            builder(&endpoint).env(vars(&[("SSL_CERT_FILE", bundle.clone())])),
        ];
        for builder in trusted {
            assert_eq!(ping(builder, &url).await.unwrap(), 200);
        }
        assert_eq!(endpoint.log.all().len(), 3);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn an_unreadable_ca_bundle_is_a_config_error_naming_the_variable_and_path() {
    let missing = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("no-such-ca.pem");
    let not_pem = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("not-a-ca.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    for (variable, path, what) in [
        ("AWS_CA_BUNDLE", &missing, "cannot be read"),
        ("SSL_CERT_FILE", &not_pem, "no PEM certificate"),
    ] {
        let err = TransportBuilder::new("https://aws-mcp.us-east-1.api.aws/mcp")
            .credentials(sigv4::credentials())
            .env(vars(&[(variable, path.display().to_string())]))
            .build_service()
            .expect_err("a config error");
        let text = err.to_string();
        assert_eq!(
            err.config_kind(),
            Some(tower_sigv4::ConfigErrorKind::CaBundle),
            "{text}"
        );
        for part in [variable, &path.display().to_string(), what] {
            assert!(text.contains(part), "`{part}` not in: {text}");
        }
    }
}

//! The ready-made transport's network, on 127.0.0.1: an HTTP CONNECT proxy that
//! counts its tunnels, a TLS endpoint with a certificate from a CA made at test
//! time, and `NO_PROXY`. Environment variables are handed to the builder through
//! `TransportBuilder::env`, never set on the process.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tower::ServiceExt;
use tower_sigv4::retry::RetryPolicy;
use tower_sigv4::rmcp::TransportBuilder;
use tower_sigv4::{Error, ServiceName};

use crate::server::{self, Endpoint, Options};
use crate::{LIMIT, conversation, sigv4};

/// A CA made for this test run, and a server configuration with a certificate
/// it issued for `localhost` and 127.0.0.1.
pub struct TestCa {
    /// The CA's certificate, as a PEM file.
    pub bundle: PathBuf,
    pub server: Arc<rustls::ServerConfig>,
}

pub fn test_ca(name: &str) -> TestCa {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "tower-sigv4 test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();

    let bundle = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}-ca.pem", std::process::id()));
    std::fs::write(&bundle, ca.pem()).unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    TestCa {
        bundle,
        server: Arc::new(server),
    }
}

/// An HTTP proxy on 127.0.0.1 that only tunnels (CONNECT) and counts tunnels.
pub struct Proxy {
    pub url: String,
    tunnels: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn connect_proxy() -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let tunnels = Arc::new(AtomicUsize::new(0));
    let counted = tunnels.clone();
    let task = tokio::spawn(async move {
        for _ in 0..64 {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let counted = counted.clone();
            tokio::spawn(async move {
                let _ = tunnel(client, &counted).await;
            });
        }
    });
    Proxy { url, tunnels, task }
}

/// Read a CONNECT request, connect to its target and splice the two streams.
async fn tunnel(mut client: TcpStream, tunnels: &AtomicUsize) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    let end = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = client.read(&mut buffer).await?;
        if n == 0 || head.len() > 8 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buffer[..n]);
    };
    let request_line = String::from_utf8_lossy(&head[..end])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut parts = request_line.split(' ');
    let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
        client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let mut upstream = TcpStream::connect(target).await?;
    tunnels.fetch_add(1, Ordering::SeqCst);
    client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await?;
    upstream.write_all(&head[end..]).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

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

fn builder(endpoint: &Endpoint) -> TransportBuilder {
    TransportBuilder::new(endpoint.url())
        .service(ServiceName::BEDROCK_AGENTCORE)
        .region(sigv4::REGION)
        .credentials(sigv4::credentials())
}

async fn endpoint(ca: &TestCa) -> Endpoint {
    server::start_tls(
        Options {
            sessions: false,
            verify_sigv4: true,
        },
        ca.server.clone(),
    )
    .await
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
        let endpoint = server::start_tls(
            Options {
                sessions: true,
                verify_sigv4: true,
            },
            ca.server.clone(),
        )
        .await;
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
        assert!(matches!(err, Error::Config(_)), "{text}");
        for part in [variable, &path.display().to_string(), what] {
            assert!(text.contains(part), "`{part}` not in: {text}");
        }
    }
}

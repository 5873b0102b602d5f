//! Network fixtures on 127.0.0.1 shared by the library's and the application's
//! tests: a CA made at test time with a server certificate it issued, and an HTTP
//! proxy that only tunnels (CONNECT) and counts its tunnels.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

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

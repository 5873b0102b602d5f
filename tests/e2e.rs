//! End to end on 127.0.0.1: hyper-util's client and reqwest-middleware, each
//! through the signer, to a hyper server behind the verifying layer.

#[path = "support/serve.rs"]
mod serve;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_sigv4::reqwest::SigV4Middleware;
use tower_sigv4::verify::{VerifiedIdentity, VerifySigV4Layer, VerifyingKey};
use tower_sigv4::{ServiceName, SigV4Layer, Signer};

const AK: &str = "AKIDEXAMPLE";
const SK: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "tok/en+==";

/// What the server accepted: (identity, body).
type Accepted = Arc<Mutex<Vec<(String, Bytes)>>>;

async fn server() -> (SocketAddr, Accepted) {
    let accepted = Accepted::default();
    let log = accepted.clone();
    let verify = VerifySigV4Layer::with_keys(
        "us-east-1",
        "aws-mcp",
        [(AK, VerifyingKey::new(SK).with_session_token(TOKEN))],
    );
    let inner = tower::service_fn(move |req: http::Request<Full<Bytes>>| {
        let log = log.clone();
        async move {
            let who = req
                .extensions()
                .get::<VerifiedIdentity>()
                .unwrap()
                .access_key_id
                .clone();
            let body = req.into_body().collect().await.unwrap().to_bytes();
            log.lock().unwrap().push((who, body.clone()));
            Ok::<_, Infallible>(http::Response::new(Full::new(body)))
        }
    });
    let service = verify.layer(inner);
    let (addr, _accept) = crate::serve::bind(service).await;
    (addr, accepted)
}

fn signer() -> Signer {
    SigV4Layer::builder()
        .service(ServiceName::AWS_MCP)
        .region("us-east-1")
        .credentials(Credentials::new(
            AK,
            SK,
            Some(TOKEN.to_owned()),
            None,
            "test",
        ))
        .max_body_size(64 * 1024)
        .build_signer()
        .unwrap()
}

#[tokio::test]
async fn hyper_util_client_through_the_layer_is_accepted_by_the_verifier() {
    let (addr, accepted) = server().await;
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let service = ServiceBuilder::new()
        .layer(SigV4Layer::from_signer(signer()))
        .service(client);
    // A path with an encoded ARN, a query, a non-default port: all signed as sent.
    let url = format!(
        "http://{addr}/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fa-1/invocations?qualifier=DEFAULT&b=%2F"
    );
    for body in [
        &b"{}"[..],
        "{\"text\":\"héllo 👋\"}".as_bytes(),
        &[b'x'; 40_000][..],
    ] {
        let request = http::Request::post(&url)
            .header("content-type", "application/json")
            .header("mcp-session-id", "abc")
            .header("user-agent", "rewritten-by-proxies/1.0")
            .body(Full::new(Bytes::copy_from_slice(body)))
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let echoed = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&echoed));
        assert_eq!(&echoed[..], body);
    }
    assert_eq!(accepted.lock().unwrap().len(), 3);
    assert!(accepted.lock().unwrap().iter().all(|(who, _)| who == AK));
}

#[tokio::test]
async fn reqwest_middleware_signs_bytes_and_streaming_bodies() {
    let (addr, accepted) = server().await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(SigV4Middleware::new(signer()))
        .build();
    let url = format!("http://{addr}/mcp");

    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);

    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"{\"jsonrpc\":\"2.0\",")),
        Ok(Bytes::from_static(b"\"id\":2,")),
        Ok(Bytes::from_static(b"\"method\":\"tools/list\"}")),
    ];
    let response = client
        .post(&url)
        .body(reqwest::Body::wrap_stream(stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let bodies: Vec<Bytes> = accepted
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b.clone())
        .collect();
    assert_eq!(
        bodies[1],
        Bytes::from_static(br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
    );

    // Over the limit: a middleware error that says what to do, nothing sent.
    let big = vec![b'x'; 65 * 1024];
    let err = client.post(&url).body(big).send().await.unwrap_err();
    assert!(
        matches!(err, reqwest_middleware::Error::Middleware(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_body_size"), "{err}");
    let big_stream: Vec<Result<Bytes, std::io::Error>> = (0..100)
        .map(|_| Ok(Bytes::from(vec![b'y'; 1024])))
        .collect();
    let err = client
        .post(&url)
        .body(reqwest::Body::wrap_stream(stream::iter(big_stream)))
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("signing limit"), "{err}");
    assert_eq!(accepted.lock().unwrap().len(), 2);
}

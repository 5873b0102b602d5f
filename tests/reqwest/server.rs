//! A hyper server on 127.0.0.1 behind the verifying layer (bedrock-agentcore in
//! us-east-1), which can refuse the first requests as AWS does an expired token.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_credential_types::Credentials;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tower::{Layer, ServiceExt};
use tower_sigv4::verify::{VerifySigV4Layer, VerifyingKey};

pub const AK: &str = "AKIDEXAMPLE";
pub const SK: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub const TOKEN: &str = "session/token+==";
pub const REGION: &str = "us-east-1";
pub const ARN: &str = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/agent-1";

pub fn credentials() -> Credentials {
    Credentials::new(AK, SK, Some(TOKEN.to_owned()), None, "test")
}

pub struct Server {
    pub addr: SocketAddr,
    /// Every request that reached the server, accepted or not.
    pub received: Arc<AtomicUsize>,
}

impl Server {
    /// The AgentCore Runtime invocation URL of the runtime [`ARN`] on this server.
    pub fn url(&self) -> String {
        let arn: tower_sigv4::endpoint::RuntimeArn = ARN.parse().unwrap();
        let remote = arn.invocation_url(None);
        let path = remote.split_once(".amazonaws.com").unwrap().1;
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}

/// Starts the server; the first `expired` requests are refused with
/// `ExpiredTokenException` before their signature is looked at.
pub async fn start(expired: usize) -> Server {
    let received = Arc::new(AtomicUsize::new(0));
    let verify = VerifySigV4Layer::with_keys(
        REGION,
        "bedrock-agentcore",
        [(AK, VerifyingKey::new(SK).with_session_token(TOKEN))],
    );
    let echo = tower::service_fn(|req: http::Request<Full<Bytes>>| async move {
        let body = req.into_body().collect().await.unwrap().to_bytes();
        Ok::<_, Infallible>(http::Response::new(Full::new(body)))
    });
    let verified = verify.layer(echo);
    let count = received.clone();
    let front = tower::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let verified = verified.clone();
        let n = count.fetch_add(1, Ordering::SeqCst);
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            if n < expired {
                let reply = http::Response::builder()
                    .status(403)
                    .header("x-amzn-errortype", "ExpiredTokenException")
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(
                        br#"{"message":"The security token included in the request is expired"}"#,
                    )))
                    .unwrap();
                return Ok::<_, Infallible>(reply.map(|b| {
                    b.map_err(|never| -> tower_sigv4::BoxError { match never {} })
                        .boxed()
                }));
            }
            let request = http::Request::from_parts(parts, Full::new(body));
            let response = verified.oneshot(request).await.unwrap();
            Ok(response.map(|b| b.boxed()))
        }
    });
    let (addr, _accept) = crate::serve::bind(front).await;
    Server { addr, received }
}

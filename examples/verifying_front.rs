//! A SigV4-verifying reverse proxy on 127.0.0.1: `VerifySigV4Layer` in front of
//! any local HTTP server, for driving a signing client (the `mcp-sigv4` gateway
//! with `auth_type: aws_sigv4`) against a server that knows nothing of SigV4.
//! `conformance/server.sh` puts it in front of the conformance target server.
//!
//! ```sh
//! cargo run --example verifying_front --features verify -- --upstream http://127.0.0.1:3001 [--port 0]
//! ```
//!
//! It prints its base URL on the first line, then the credentials it accepts as
//! `NAME=value` lines (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_SERVICE`): the signature must be
//! scoped to that region and service. A request that verifies is forwarded with
//! the same method, path, query, headers (but `Host` and hop-by-hop ones) and
//! body; the response, SSE included, streams back unbuffered. A refused request
//! gets the layer's 403 and never reaches the upstream; each refusal is logged on
//! stderr.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{Request, Response, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{BoxError, Layer, Service};
use tower_sigv4::verify::{VerifySigV4Layer, VerifyingKey};

const ACCESS_KEY: &str = "AKIDEXAMPLE";
const SECRET_KEY: &str = "front/secret+key/not-a-real-one/EXAMPLEKEY";
const SESSION_TOKEN: &str = "front-session-token/EXAMPLE+==";
const REGION: &str = "us-east-1";
const SERVICE: &str = "bedrock-agentcore";

/// Headers that belong to one connection, not to the request (RFC 9110 7.6.1).
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

type ResBody = BoxBody<Bytes, BoxError>;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("verifying_front: {message}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let upstream: Uri = flag("--upstream")
        .ok_or("--upstream URL is required: the server to forward verified requests to")?
        .parse()
        .map_err(|e| format!("--upstream is not a URL: {e}"))?;
    let (Some("http"), Some(authority)) = (upstream.scheme_str(), upstream.authority().cloned())
    else {
        return Err("--upstream must be http://HOST:PORT (plain HTTP, on this machine)".into());
    };
    let port: u16 = match flag("--port") {
        None => 0,
        Some(p) => p
            .parse()
            .map_err(|_| "--port takes a port number from 0 to 65535")?,
    };

    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let forward = tower::service_fn(move |request: Request<Full<Bytes>>| {
        let client = client.clone();
        let authority = authority.clone();
        async move { Ok::<_, Infallible>(forward(&client, authority, request).await) }
    });
    let verified = VerifySigV4Layer::with_keys(
        REGION,
        SERVICE,
        [(
            ACCESS_KEY,
            VerifyingKey::new(SECRET_KEY).with_session_token(SESSION_TOKEN),
        )],
    )
    .layer(forward);
    let front = tower::service_fn(move |request: Request<Incoming>| {
        let mut verified = verified.clone();
        async move {
            let what = format!("{} {}", request.method(), request.uri());
            let Ok(response) = verified.call(request).await;
            if response.status() == http::StatusCode::FORBIDDEN {
                eprintln!("verifying_front: refused {what}");
            }
            Ok::<_, Infallible>(response.map(|body| body.map_err(BoxError::from).boxed()))
        }
    });

    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}; choose another --port"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    println!("http://{address}");
    println!("AWS_ACCESS_KEY_ID={ACCESS_KEY}");
    println!("AWS_SECRET_ACCESS_KEY={SECRET_KEY}");
    println!("AWS_SESSION_TOKEN={SESSION_TOKEN}");
    println!("AWS_REGION={REGION}");
    println!("AWS_SERVICE={SERVICE}");
    loop {
        let (stream, _) = listener
            .accept()
            .await
            .map_err(|e| format!("accept failed: {e}"))?;
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(front.clone());
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Send a verified request on to `authority`, and its response back; an
/// upstream that cannot be reached is a 502 that says so.
async fn forward(
    client: &Client<HttpConnector, Full<Bytes>>,
    authority: http::uri::Authority,
    request: Request<Full<Bytes>>,
) -> Response<ResBody> {
    let (mut parts, body) = request.into_parts();
    let mut uri = parts.uri.into_parts();
    uri.scheme = Some(http::uri::Scheme::HTTP);
    uri.authority = Some(authority);
    parts.uri = match Uri::from_parts(uri) {
        Ok(uri) => uri,
        Err(error) => {
            return text(
                http::StatusCode::BAD_REQUEST,
                format!("no path to forward: {error}"),
            );
        }
    };
    // The client sets `Host` from the URI; the signed one named this front.
    parts.headers.remove(header::HOST);
    for name in &HOP_BY_HOP {
        parts.headers.remove(name);
    }
    match client.request(Request::from_parts(parts, body)).await {
        Ok(response) => response.map(|body| body.map_err(Into::into).boxed()),
        Err(error) => text(
            http::StatusCode::BAD_GATEWAY,
            format!("upstream unreachable: {error}"),
        ),
    }
}

fn text(status: http::StatusCode, message: String) -> Response<ResBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(message))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    response
}

//! A [`reqwest_middleware::Middleware`] that signs requests with SigV4.
//!
//! ```no_run
//! use reqwest_middleware::ClientBuilder;
//! use tower_sigv4::SigV4Layer;
//! use tower_sigv4::reqwest::SigV4Middleware;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let url = "https://aws-mcp.us-east-1.api.aws/mcp";
//! let signer = SigV4Layer::for_endpoint(url).build_signer()?;
//! let client = ClientBuilder::new(reqwest::Client::new())
//!     // .with(retry middleware) goes here, before the signer
//!     .with(SigV4Middleware::new(signer))
//!     .build();
//! let response = client
//!     .post(url)
//!     .header("content-type", "application/json")
//!     .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
//!     .send()
//!     .await?;
//! # let _ = response;
//! # Ok(()) }
//! ```
//!
//! # Note
//!
//! Add this middleware **last**, after any retry middleware, so every attempt is
//! signed afresh with a new date, and nothing changes a signed header after it.
//! Bytes bodies are signed as they are; streaming bodies are buffered up to the
//! signer's [`max_body_size`](crate::SigV4Builder::max_body_size). A body over the
//! limit, or one that fails while it is read, fails the request with
//! [`reqwest_middleware::Error::Middleware`] wrapping a [`crate::Error`] that says
//! what to do, and nothing is sent.

use ::reqwest::{Body, Request, Response};
use bytes::Bytes;
use http::Extensions;
use reqwest_middleware::{Middleware, Next};

use crate::body::collect_body;
use crate::{Error, Signer};

/// Signs each request with SigV4 before passing it on. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct SigV4Middleware {
    signer: Signer,
}

impl SigV4Middleware {
    /// A middleware signing with `signer` (see [`SigV4Builder::build_signer`](crate::SigV4Builder::build_signer)).
    pub fn new(signer: Signer) -> Self {
        Self { signer }
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    async fn sign(&self, request: &mut Request) -> Result<(), Error> {
        // A bytes body yields its `Bytes` as one frame, so collecting it moves the
        // bytes without a copy; a streaming body is buffered up to the limit.
        let body = match request.body_mut().take() {
            None => Bytes::new(),
            Some(body) => {
                collect_body(request.headers(), body, self.signer.max_body_size()).await?
            }
        };
        let uri: http::Uri = request
            .url()
            .as_str()
            .parse()
            .map_err(|_| Error::RelativeUri {
                uri: crate::endpoint::redact_query(request.url().as_str()),
            })?;
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.method = request.method().clone();
        parts.uri = uri;
        parts.headers = std::mem::take(request.headers_mut());
        let signed = self.signer.sign(&mut parts, &body).await;
        *request.headers_mut() = parts.headers;
        *request.body_mut() = Some(Body::from(body));
        signed.map(|_| ())
    }
}

#[async_trait::async_trait]
impl Middleware for SigV4Middleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        self.sign(&mut request)
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        next.run(request, extensions).await
    }
}

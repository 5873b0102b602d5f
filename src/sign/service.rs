use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Full;
use tower_service::Service;

use super::future::ResponseFuture;
use crate::SigV4Layer;
use crate::body::collect_body;
use crate::error::BoxError;
use crate::{Error, Signer};

/// Signs each request with AWS SigV4, then calls the inner service. See the
/// [module docs](crate::sign).
#[derive(Clone, Debug)]
pub struct SigV4<S> {
    inner: S,
    signer: Signer,
}

impl SigV4<()> {
    /// A layer that wraps services with the signer `signer`, as
    /// [`SigV4Layer::from_signer`].
    pub fn layer(signer: Signer) -> SigV4Layer {
        SigV4Layer::from_signer(signer)
    }
}

impl<S> SigV4<S> {
    /// Wrap `inner`, signing with `signer`.
    pub fn new(inner: S, signer: Signer) -> Self {
        Self { inner, signer }
    }

    /// The signer.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consume `self`, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B, ResBody> Service<Request<B>> for SigV4<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = ResponseFuture<S>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone may not be ready: keep the instance `poll_ready` was called on.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let signer = self.signer.clone();
        ResponseFuture::new(Box::pin(sign_request(signer, request)), inner)
    }
}

/// Buffer the body within the limit, sign, and rebuild the request around the
/// same bytes.
pub(crate) async fn sign_request<B>(
    signer: Signer,
    request: Request<B>,
) -> Result<Request<Full<Bytes>>, Error>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = request.into_parts();
    let body = collect_body(&parts.headers, body, signer.max_body_size()).await?;
    signer.sign(&mut parts, &body).await?;
    Ok(Request::from_parts(parts, Full::new(body)))
}

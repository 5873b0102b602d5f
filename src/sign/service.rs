use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower_service::Service;

use super::{ResponseFuture, SigV4Layer};
use crate::error::BoxError;
use crate::{Error, Signer};

/// Signs each request with AWS SigV4, then calls the inner service. See the
/// [module docs](crate::sign).
#[derive(Clone, Debug)]
pub struct SigV4<S> {
    inner: S,
    signer: Signer,
}

impl<S> SigV4<S> {
    /// Wrap `inner`, signing with `signer`.
    pub fn new(inner: S, signer: Signer) -> Self {
        Self { inner, signer }
    }

    /// A layer that wraps services with the signer `signer`.
    pub fn layer(signer: Signer) -> SigV4Layer {
        SigV4Layer::from_signer(signer)
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

/// Collect `body` into one `Bytes`, refusing it before reading when its declared
/// length is over `limit`. A single-chunk body is not copied.
pub(crate) async fn collect_body<B>(
    headers: &http::HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, Error>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let declared = declared_length(headers);
    let hinted = body.size_hint().lower();
    if let Some(len) = declared.filter(|&len| len > limit as u64) {
        return Err(Error::BodyTooLarge {
            limit,
            declared: Some(len),
        });
    }
    if hinted > limit as u64 {
        return Err(Error::BodyTooLarge {
            limit,
            declared: Some(hinted),
        });
    }
    let bytes = read_within(body, limit).await?;
    if let Some(declared) = declared.filter(|&d| d != bytes.len() as u64) {
        return Err(Error::ContentLengthMismatch {
            declared,
            actual: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

/// Read every data frame of `body` into one `Bytes`, failing as soon as the total
/// passes `limit`. The first chunk is kept as it is (`Bytes` moves, it is not
/// copied); only a second chunk starts a contiguous buffer. Trailers are ignored.
async fn read_within<B>(body: B, limit: usize) -> Result<Bytes, Error>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut first = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Error::BodyRead(Arc::from(e.into())))?;
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        let len = data.remaining();
        total = match total.checked_add(len) {
            Some(total) if total <= limit => total,
            _ => {
                return Err(Error::BodyTooLarge {
                    limit,
                    declared: None,
                });
            }
        };
        if len == 0 {
            continue;
        }
        let chunk = data.copy_to_bytes(len);
        match &mut joined {
            Some(buf) => buf.extend_from_slice(&chunk),
            None if first.is_empty() => first = chunk,
            None => {
                let mut buf = BytesMut::with_capacity(total);
                buf.extend_from_slice(&first);
                buf.extend_from_slice(&chunk);
                joined = Some(buf);
            }
        }
    }
    Ok(joined.map_or(first, BytesMut::freeze))
}

fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

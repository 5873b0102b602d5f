//! Recovering from AWS's rejections of a signature: [`RecoverLayer`] reads the
//! error reply of a 401 or 403, classifies it, logs one warning that says what was
//! signed and what to do, and retries **once** where a retry can help:
//!
//! - expired token, invalid signature, unrecognised client: the credentials the
//!   request was signed with are invalidated and reloaded, and the request is
//!   signed again (not for static credentials, which a reload cannot change).
//!   Only the first refusal of a generation of credentials reloads them: many
//!   requests refused at once cause one load, and each is retried with the new
//!   credentials. When the reloaded credentials are refused too, later requests
//!   signed with them are not retried (until the credentials change again), so a
//!   lasting refusal does not double every request. A signature scoped to the
//!   wrong service or region ([`Diagnosis::is_wrong_endpoint`]) is not retried: new
//!   credentials would be refused the same way;
//! - signature expired / clock skew: the offset between the server's `Date` and the
//!   local clock is applied to the signer's clock for this and later requests.
//!
//! The classification reaches the caller as a [`Diagnosis`] in the response's
//! extensions. The layer sits between the retry layer and the signing layer:
//!
//! ```
//! use aws_credential_types::Credentials;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use tower::ServiceBuilder;
//! use tower::retry::RetryLayer;
//! use tower_sigv4::SigV4Layer;
//! use tower_sigv4::recover::RecoverLayer;
//! use tower_sigv4::retry::RetryPolicy;
//!
//! # fn demo() -> Result<(), tower_sigv4::Error> {
//! let signing = SigV4Layer::for_endpoint("https://aws-mcp.us-east-1.api.aws/mcp")
//!     .credentials(Credentials::new("AKID", "SECRET", None, None, "example"))
//!     .build()?;
//! let service = ServiceBuilder::new()
//!     .layer(RetryLayer::new(RetryPolicy::default()))
//!     .layer(RecoverLayer::new(signing.signer().clone()))
//!     .layer(signing)
//!     .service(tower::service_fn(|req: http::Request<Full<Bytes>>| async move {
//!         Ok::<_, tower_sigv4::BoxError>(http::Response::new(req.into_body()))
//!     }));
//! # let _ = service;
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::task::{Context, Poll};
use std::time::SystemTime;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{Either, Full};
use tower_layer::Layer;
use tower_service::Service;

pub mod future;

use self::future::ResponseFuture;
use crate::endpoint::{self, Endpoint};
use crate::error::BoxError;
use crate::rejection::{AwsErrorReply, RejectionKind};
use crate::signer::SignedWith;
use crate::{ServiceName, Signer};

/// The most of an error reply's body that is read to classify it.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// What AWS said when it refused a request, with what was signed: inserted into
/// the extensions of every 401/403 response that passes a [`Recover`] service,
/// or a `SigV4Middleware` (feature `reqwest`) with recovery on.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Diagnosis {
    /// The parsed reply.
    pub reply: AwsErrorReply,
    /// The service the request was signed for.
    pub signing_service: ServiceName,
    /// The region the request was signed for.
    pub signing_region: String,
    /// The service and region the request's host belongs to, if known.
    pub inferred: Option<Endpoint>,
    /// Where the credentials came from: the configured source.
    pub credentials_source: String,
    /// The provider that supplied the newest credentials, as the provider names
    /// itself ([`CredentialsCache::last_provider`](crate::credentials::CredentialsCache::last_provider)):
    /// `ProfileFile`, `SSO`, `EnvironmentVariable`, ...
    pub credentials_provider: Option<String>,
    /// When the credentials expire, if they do.
    pub credentials_expiry: Option<SystemTime>,
    /// Whether the layer retried once (after a reload or a clock correction).
    pub retried: bool,
}

impl Diagnosis {
    /// The classification.
    pub fn kind(&self) -> RejectionKind {
        self.reply.kind()
    }

    /// One line that says what to do.
    pub fn hint(&self) -> Cow<'static, str> {
        if let Some(expected) = self
            .expected_service()
            .filter(|s| *s != self.signing_service.as_str())
        {
            return Cow::Owned(format!(
                "the request was signed for service `{}`, but the endpoint expects `{expected}`: set the service to `{expected}`",
                self.signing_service
            ));
        }
        if let Some(inferred) = self
            .inferred
            .as_ref()
            .filter(|i| i.service != self.signing_service || i.region != self.signing_region)
        {
            return Cow::Owned(format!(
                "the request was signed for service `{}` in `{}`, but the host belongs to service `{}` in `{}`: set --service/--region (or the builder's service/region) to match the endpoint",
                self.signing_service, self.signing_region, inferred.service, inferred.region
            ));
        }
        self.reply.kind().hint()
    }

    /// Whether the signature was scoped to a service or region the endpoint does
    /// not accept: AWS's message names the service expected or refuses the region,
    /// or the request's host belongs to another service or region than the one
    /// signed for. New credentials cannot help; the configuration must change.
    pub fn is_wrong_endpoint(&self) -> bool {
        let region_refused = self.reply.message.as_deref().is_some_and(|m| {
            m.to_ascii_lowercase()
                .contains("credential should be scoped to a valid region")
        });
        let other_service = self
            .expected_service()
            .is_some_and(|s| s != self.signing_service.as_str());
        let other_host = self
            .inferred
            .as_ref()
            .is_some_and(|i| i.service != self.signing_service || i.region != self.signing_region);
        region_refused || other_service || other_host
    }

    /// The service AWS says the credential should be scoped to, from messages like
    /// "Credential should be scoped to correct service: 'aws-mcp'".
    fn expected_service(&self) -> Option<&str> {
        let message = self.reply.message.as_deref()?;
        let rest = message.split("correct service: '").nth(1)?;
        rest.split('\'').next().filter(|s| !s.is_empty())
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; signed for service `{}` in `{}`",
            self.reply, self.signing_service, self.signing_region
        )?;
        if let Some(inferred) = &self.inferred {
            write!(
                f,
                " (host belongs to `{}` in `{}`)",
                inferred.service, inferred.region
            )?;
        }
        write!(f, " with credentials from {}", self.credentials_source)?;
        if let Some(provider) = &self.credentials_provider {
            write!(f, " ({provider})")?;
        }
        if let Some(expiry) = self.credentials_expiry {
            write!(f, " expiring {}", httpdate::fmt_http_date(expiry))?;
        }
        write!(f, "; hint: {}", self.hint())
    }
}

/// Applies [`Recover`] to a service. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct RecoverLayer {
    signer: Signer,
}

impl RecoverLayer {
    /// Recover using the credentials cache and clock of `signer` (the same signer
    /// as the signing layer's).
    pub fn new(signer: Signer) -> Self {
        Self { signer }
    }
}

impl<S> Layer<S> for RecoverLayer {
    type Service = Recover<S>;

    fn layer(&self, inner: S) -> Recover<S> {
        Recover {
            inner,
            signer: self.signer.clone(),
        }
    }
}

/// Classifies 401/403 replies and retries once after reloading credentials or
/// correcting the clock. See the [module docs](self).
///
/// # Response body
///
/// A reply that was classified has had (up to 64 KiB of) its body read, so the
/// response's body is [`Either`]: the inner service's body, untouched, for every
/// other reply, or the bytes that were read. `Either`'s error is [`BoxError`]
/// (`Box<dyn Error + Send + Sync>`), which `?` does not convert into a plain
/// `Box<dyn Error>`; in a function that returns one, drop the `Send + Sync` with
/// `map_err`:
///
/// ```
/// use std::error::Error;
/// use aws_credential_types::Credentials;
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use tower::{Layer, ServiceExt};
/// use tower_sigv4::SigV4Layer;
/// use tower_sigv4::recover::RecoverLayer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn Error>> {
/// let signing = SigV4Layer::for_endpoint("https://aws-mcp.us-east-1.api.aws/mcp")
///     .credentials(Credentials::new("AKID", "SECRET", None, None, "example"))
///     .build()?;
/// let echo = tower::service_fn(|req: http::Request<Full<Bytes>>| async move {
///     Ok::<_, tower_sigv4::BoxError>(http::Response::new(req.into_body()))
/// });
/// let service = RecoverLayer::new(signing.signer().clone()).layer(signing.layer(echo));
/// let request = http::Request::post("https://aws-mcp.us-east-1.api.aws/mcp")
///     .body(Full::new(Bytes::from_static(b"{}")))?;
/// let response = service.oneshot(request).await.map_err(|e| e as Box<dyn Error>)?;
/// let body = response
///     .into_body()
///     .collect()
///     .await
///     .map_err(|e| e as Box<dyn Error>)?
///     .to_bytes();
/// assert_eq!(body, "{}");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Recover<S> {
    inner: S,
    signer: Signer,
}

impl Recover<()> {
    /// A layer that wraps services with [`Recover`], as [`RecoverLayer::new`].
    pub fn layer(signer: Signer) -> RecoverLayer {
        RecoverLayer::new(signer)
    }
}

impl<S> Recover<S> {
    /// Wrap `inner`, recovering with the credentials cache and clock of
    /// `signer` (the same signer as the signing layer's).
    pub fn new(inner: S, signer: Signer) -> Self {
        Self { inner, signer }
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

impl<S, B, ResBody> Service<Request<B>> for Recover<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Clone + Send + 'static,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Either<ResBody, Full<Bytes>>>;
    type Error = BoxError;
    type Future = ResponseFuture<ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let signer = self.signer.clone();
        ResponseFuture::new(Box::pin(async move {
            let first = SignedWith::default();
            request.extensions_mut().insert(first.clone());
            let mut again = request.clone();
            let second = SignedWith::default();
            again.extensions_mut().insert(second.clone());
            let host = request_host(request.headers(), request.uri());
            let response = inner.call(request).await.map_err(Into::into)?;
            if !is_refusal(response.status()) {
                return Ok(response.map(Either::Left));
            }
            let (parts, body) = response.into_parts();
            let (body, diagnosis) = diagnose(&parts, body, &signer, host.as_deref()).await;
            if !should_retry(&diagnosis, &signer, &parts.headers, first.generation()) {
                return Ok(with_diagnosis(parts, body, diagnosis));
            }
            drop((parts, body));
            tower::ServiceExt::ready(&mut inner)
                .await
                .map_err(Into::into)?;
            let response = inner.call(again).await.map_err(Into::into)?;
            if !is_refusal(response.status()) {
                return Ok(response.map(Either::Left));
            }
            let (parts, body) = response.into_parts();
            let (body, mut again_diagnosis) =
                diagnose(&parts, body, &signer, host.as_deref()).await;
            refused_again(&diagnosis, &mut again_diagnosis, &signer, &second);
            Ok(with_diagnosis(parts, body, again_diagnosis))
        }))
    }
}

/// Whether a response is one [`Recover`] classifies: 401 or 403.
pub(crate) fn is_refusal(status: StatusCode) -> bool {
    matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
}

/// The host a request goes to, for comparing with the signing scope: the
/// `Host` header if set, else the URI's.
pub(crate) fn request_host(headers: &http::HeaderMap, uri: &http::Uri) -> Option<String> {
    headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.host().map(str::to_owned))
}

/// Read (a bounded prefix of) a 401/403 reply's body, classify it and log one
/// warning that says what to do. Returns the bytes read, to pass on.
pub(crate) async fn diagnose<B>(
    parts: &http::response::Parts,
    body: B,
    signer: &Signer,
    host: Option<&str>,
) -> (Bytes, Box<Diagnosis>)
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    // An unreadable error body still leaves the status and headers to classify.
    let bytes = crate::body::prefix(body, MAX_ERROR_BODY).await;
    let reply = AwsErrorReply::parse(parts.status, &parts.headers, &bytes);
    let diagnosis = Diagnosis {
        reply,
        signing_service: signer.service().clone(),
        signing_region: signer.region().to_owned(),
        inferred: host.and_then(|h| endpoint::infer_host(endpoint::host_of(h).unwrap_or(h))),
        credentials_source: signer.credentials().source_name().to_owned(),
        credentials_provider: signer.credentials().last_provider(),
        credentials_expiry: signer.credentials().cached_expiry(),
        retried: false,
    };
    tracing::warn!(
        status = parts.status.as_u16(),
        kind = ?diagnosis.kind(),
        signing_service = %diagnosis.signing_service,
        signing_region = %diagnosis.signing_region,
        inferred_service = diagnosis.inferred.as_ref().map(|e| e.service.to_string()),
        inferred_region = diagnosis.inferred.as_ref().map(|e| e.region.clone()),
        credentials_source = %diagnosis.credentials_source,
        credentials_expiry = ?diagnosis.credentials_expiry.map(httpdate::fmt_http_date),
        "AWS refused the request: {}",
        diagnosis.hint()
    );
    (bytes, Box::new(diagnosis))
}

/// After the retry was refused too: mark the diagnosis as retried, and when both
/// refusals were about credentials, remember that reloading did not help the
/// generation the retry was signed with.
pub(crate) fn refused_again(
    first: &Diagnosis,
    again: &mut Diagnosis,
    signer: &Signer,
    signed_with: &SignedWith,
) {
    if is_about_credentials(first.kind())
        && is_about_credentials(again.kind())
        && let Some(generation) = signed_with.generation()
    {
        signer.credentials().refused_after_reload(generation);
    }
    again.retried = true;
}

/// Whether new credentials may fix a refusal of this kind.
fn is_about_credentials(kind: RejectionKind) -> bool {
    matches!(
        kind,
        RejectionKind::ExpiredToken
            | RejectionKind::InvalidSignature
            | RejectionKind::UnrecognizedClient
    )
}

/// Whether to retry the refused request, after invalidating the credentials it
/// was signed with (`signed_with`, their generation) or correcting the clock.
pub(crate) fn should_retry(
    diagnosis: &Diagnosis,
    signer: &Signer,
    headers: &http::HeaderMap,
    signed_with: Option<u64>,
) -> bool {
    match diagnosis.kind() {
        kind if is_about_credentials(kind) => {
            let cache = signer.credentials();
            if cache.is_fixed()
                || (kind == RejectionKind::InvalidSignature && diagnosis.is_wrong_endpoint())
            {
                return false;
            }
            let Some(generation) = signed_with else {
                return false;
            };
            if cache.reload_did_not_help(generation) {
                return false;
            }
            // Only the first refusal of these credentials reloads them; the other
            // requests refused with them are signed again with the new ones.
            if cache.invalidate_if_generation(generation) {
                tracing::info!(
                    generation,
                    "reloading the AWS credentials that were refused"
                );
            }
            true
        }
        RejectionKind::SignatureExpired => {
            let server_time = headers
                .get(http::header::DATE)
                .and_then(|d| d.to_str().ok())
                .and_then(|d| httpdate::parse_http_date(d).ok());
            match server_time {
                Some(server_time) => {
                    signer.skew().observe(server_time, signer.clock_now());
                    tracing::warn!(
                        offset_ms = signer.skew().offset() / 1_000_000,
                        "correcting the signing clock from the server's Date header"
                    );
                    true
                }
                None => false,
            }
        }
        _ => false,
    }
}

fn with_diagnosis<B>(
    parts: http::response::Parts,
    body: Bytes,
    diagnosis: Box<Diagnosis>,
) -> Response<Either<B, Full<Bytes>>> {
    let mut response = Response::from_parts(parts, Either::Right(Full::new(body)));
    response.extensions_mut().insert(*diagnosis);
    response
}

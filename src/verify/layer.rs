use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{Either, Full};
use tower::ServiceExt;
use tower_layer::Layer;
use tower_service::Service;

use super::check::{
    Expectations, Refusal, VerifiedIdentity, VerifyingKey, check_headers, check_signature,
};
use super::future::ResponseFuture;
use crate::ServiceName;
use crate::body::collect_body;
use crate::clock::{Clock, SharedClock};
use crate::error::BoxError;
use crate::sign::DEFAULT_MAX_BODY_SIZE;

type Lookup = dyn Fn(&str) -> Option<VerifyingKey> + Send + Sync;

/// Applies [`VerifySigV4`] to a service. See the [module docs](super).
#[derive(Clone)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct VerifySigV4Layer {
    config: Arc<Config>,
}

#[derive(Clone)]
struct Config {
    lookup: Arc<Lookup>,
    region: String,
    service: String,
    max_skew: Duration,
    clock: SharedClock,
    max_body_size: usize,
    require_signed: Vec<HeaderName>,
    strip_unsigned: bool,
    body_read_timeout: Duration,
}

impl VerifySigV4Layer {
    /// Verify requests signed for `region` and `service`, with secrets found by
    /// access key id through `lookup`.
    pub fn new(
        region: impl Into<String>,
        service: impl Into<ServiceName>,
        lookup: impl Fn(&str) -> Option<VerifyingKey> + Send + Sync + 'static,
    ) -> Self {
        Self {
            config: Arc::new(Config {
                lookup: Arc::new(lookup),
                region: region.into(),
                service: service.into().as_str().to_owned(),
                max_skew: Duration::from_secs(5 * 60),
                clock: SharedClock::default(),
                max_body_size: DEFAULT_MAX_BODY_SIZE,
                require_signed: Vec::new(),
                strip_unsigned: false,
                body_read_timeout: Self::DEFAULT_BODY_READ_TIMEOUT,
            }),
        }
    }

    /// Verify with a fixed set of keys.
    pub fn with_keys<I, K>(
        region: impl Into<String>,
        service: impl Into<ServiceName>,
        keys: I,
    ) -> Self
    where
        I: IntoIterator<Item = (K, VerifyingKey)>,
        K: Into<String>,
    {
        let keys: Vec<(String, VerifyingKey)> =
            keys.into_iter().map(|(k, v)| (k.into(), v)).collect();
        Self::new(region, service, move |id: &str| {
            keys.iter().find(|(k, _)| k == id).map(|(_, v)| v.clone())
        })
    }

    /// How long reading a request's body may take by default: 30 s.
    pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

    /// How long reading a request's body may take, once its headers passed
    /// (default [`DEFAULT_BODY_READ_TIMEOUT`](Self::DEFAULT_BODY_READ_TIMEOUT));
    /// a slower client gets 408 and holds nothing longer. The deadline is a Tokio
    /// timer: the runtime needs its time driver, as every hyper server's has.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_sigv4::verify::VerifySigV4Layer;
    ///
    /// let layer = VerifySigV4Layer::with_keys("us-east-1", "bedrock-agentcore", [] as [(String, _); 0])
    ///     .body_read_timeout(Duration::from_secs(5));
    /// # let _ = layer;
    /// ```
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.config).body_read_timeout = timeout;
        self
    }

    /// How far the signature's date may be from the server's clock (default 5
    /// minutes). A captured request can be replayed for as long as its date stays
    /// within this window (see the [module docs](super#replay)).
    pub fn max_clock_skew(mut self, skew: Duration) -> Self {
        Arc::make_mut(&mut self.config).max_skew = skew;
        self
    }

    /// The server's clock (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        Arc::make_mut(&mut self.config).clock = SharedClock::new(clock);
        self
    }

    /// The largest body buffered for verification (default 10 MiB); larger ones get 413.
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.config).max_body_size = bytes;
        self
    }

    /// Refuse a request that carries one of these headers without signing it
    /// (`InvalidSignatureException`). A request without the header passes this
    /// check (an MCP `initialize` has no `mcp-session-id` yet), so an application
    /// that needs the header, such as a nonce, checks that it is there. Names that
    /// are not valid header names are ignored; the list adds to earlier calls.
    ///
    /// ```
    /// use tower_sigv4::verify::{VerifySigV4Layer, VerifyingKey};
    ///
    /// let layer = VerifySigV4Layer::with_keys("us-east-1", "aws-mcp", [("AKID", VerifyingKey::new("secret"))])
    ///     .require_signed(["mcp-session-id", "x-request-nonce"]);
    /// # let _ = layer;
    /// ```
    pub fn require_signed<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        let names = names
            .into_iter()
            .filter_map(|n| HeaderName::from_bytes(n.as_ref().trim().as_bytes()).ok());
        Arc::make_mut(&mut self.config).require_signed.extend(names);
        self
    }

    /// Remove every header the signature does not cover, except `authorization`,
    /// before the inner service sees the request (default: off, every header is
    /// passed on). The inner service then reads only what the client signed.
    /// [`VerifiedIdentity::signed_headers`](super::VerifiedIdentity::signed_headers)
    /// names what is left.
    pub fn strip_unsigned_headers(mut self, strip: bool) -> Self {
        Arc::make_mut(&mut self.config).strip_unsigned = strip;
        self
    }
}

impl fmt::Debug for VerifySigV4Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("VerifySigV4Layer")
            .field("region", &c.region)
            .field("service", &c.service)
            .field("max_skew", &c.max_skew)
            .field("clock", &c.clock)
            .field("max_body_size", &c.max_body_size)
            .field("require_signed", &c.require_signed)
            .field("strip_unsigned", &c.strip_unsigned)
            .field("body_read_timeout", &c.body_read_timeout)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for VerifySigV4Layer {
    type Service = VerifySigV4<S>;

    fn layer(&self, inner: S) -> VerifySigV4<S> {
        VerifySigV4 {
            inner,
            layer: self.clone(),
        }
    }
}

/// Verifies SigV4 signatures before calling the inner service. See the
/// [module docs](super).
#[derive(Clone, Debug)]
pub struct VerifySigV4<S> {
    inner: S,
    layer: VerifySigV4Layer,
}

impl VerifySigV4<()> {
    /// A layer that verifies requests signed for `region` and `service`, as
    /// [`VerifySigV4Layer::new`]. The service is a [`ServiceName`], as on the
    /// signing side, or a string:
    ///
    /// ```
    /// use tower_sigv4::ServiceName;
    /// use tower_sigv4::verify::{VerifySigV4, VerifyingKey};
    ///
    /// let layer = VerifySigV4::layer("us-east-1", ServiceName::AWS_MCP, |id: &str| {
    ///     (id == "AKIDEXAMPLE").then(|| VerifyingKey::new("SECRET"))
    /// });
    /// # let _ = layer;
    /// ```
    pub fn layer(
        region: impl Into<String>,
        service: impl Into<ServiceName>,
        lookup: impl Fn(&str) -> Option<VerifyingKey> + Send + Sync + 'static,
    ) -> VerifySigV4Layer {
        VerifySigV4Layer::new(region, service, lookup)
    }
}

impl<S> VerifySigV4<S> {
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

impl<S, B, ResBody> Service<Request<B>> for VerifySigV4<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Either<ResBody, Full<Bytes>>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    /// Always ready: the inner service's readiness is taken in the response
    /// future, once the body is read and the signature checked, so that a client
    /// uploading slowly (or a refused request) holds no concurrency permit or
    /// other capacity of the inner service.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The future takes the service `self` held and drives it ready itself
        // (`oneshot`) after the body is read; `self` keeps a fresh clone. See
        // tower-service's "Be careful when cloning inner services".
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let config = self.layer.config.clone();
        ResponseFuture::new(Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let expect = Expectations {
                region: &config.region,
                service: &config.service,
                max_skew: config.max_skew,
                now: config.clock.now(),
                require_signed: &config.require_signed,
            };
            // Everything the headers can show is checked before the body is
            // read: an unsigned or wrongly signed upload is refused at once and
            // its body is never buffered.
            let checked = match check_headers(&parts, &*config.lookup, &expect) {
                Ok(checked) => checked,
                Err(refusal) => return Ok(refused(&parts, &refusal)),
            };
            let read = tokio::time::timeout(
                config.body_read_timeout,
                collect_body(&parts.headers, body, config.max_body_size),
            )
            .await;
            let Ok(read) = read else {
                return Ok(refused(
                    &parts,
                    &Refusal::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "RequestTimeoutException",
                        format!(
                            "The request body did not arrive within {} s.",
                            config.body_read_timeout.as_secs_f64()
                        ),
                    ),
                ));
            };
            let body = match read {
                Ok(body) => body,
                Err(crate::Error::BodyTooLarge { .. }) => {
                    return Ok(refuse(&Refusal::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "RequestEntityTooLargeException",
                        format!("The request body is over {} bytes.", config.max_body_size),
                    )));
                }
                Err(e) => {
                    return Ok(refuse(&Refusal::new(
                        StatusCode::BAD_REQUEST,
                        "BadRequestException",
                        format!("The request body could not be read: {e}"),
                    )));
                }
            };
            match check_signature(&parts, &body, checked, &expect) {
                Ok(identity) => {
                    if config.strip_unsigned {
                        strip_unsigned(&mut parts.headers, &identity);
                    }
                    parts.extensions.insert(identity);
                    let response = inner
                        .oneshot(Request::from_parts(parts, Full::new(body)))
                        .await?;
                    Ok(response.map(Either::Left))
                }
                Err(refusal) => Ok(refused(&parts, &refusal)),
            }
        }))
    }
}

/// Log a refusal and answer it.
fn refused<B>(parts: &http::request::Parts, refusal: &Refusal) -> Response<Either<B, Full<Bytes>>> {
    tracing::warn!(
        method = %parts.method,
        path = parts.uri.path(),
        status = refusal.status.as_u16(),
        error_type = refusal.error_type,
        "refused a request: {}",
        refusal.message
    );
    refuse(refusal)
}

/// Drop every header the signature does not cover but `authorization`.
fn strip_unsigned(headers: &mut HeaderMap, identity: &VerifiedIdentity) {
    let unsigned: Vec<HeaderName> = headers
        .keys()
        .filter(|name| *name != AUTHORIZATION && !identity.is_signed(name.as_str()))
        .cloned()
        .collect();
    for name in unsigned {
        headers.remove(name);
    }
}

fn refuse<B>(refusal: &Refusal) -> Response<Either<B, Full<Bytes>>> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(refusal.body()))));
    *response.status_mut() = refusal.status;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if let Ok(value) = http::HeaderValue::from_str(refusal.error_type) {
        headers.insert("x-amzn-errortype", value);
    }
    response
}

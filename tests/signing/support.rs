use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use bytes::Bytes;
use http_body_util::Full;
use tower::ServiceExt;
use tower::service_fn;
use tower_sigv4::clock::FixedClock;
use tower_sigv4::{BoxError, SigV4Layer};

pub const ACCESS_KEY: &str = "AKIDEXAMPLE";
pub const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub const SESSION_TOKEN: &str = "FwoGZXIvYXdzEJr//////////wEaDEXAMPLETOKEN+/=";

/// 2015-08-30T12:36:00Z, the AWS test suite's time.
pub fn suite_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

pub fn credentials(token: bool) -> Credentials {
    Credentials::new(
        ACCESS_KEY,
        SECRET_KEY,
        token.then(|| SESSION_TOKEN.to_owned()),
        None,
        "test",
    )
}

pub fn layer(token: bool) -> SigV4Layer {
    SigV4Layer::builder()
        .region("us-east-1")
        .credentials(credentials(token))
        .clock(FixedClock::new(suite_time()))
        .build()
        .unwrap()
}

/// What the inner service saw.
#[derive(Clone, Debug, Default)]
pub struct Seen(pub Arc<Mutex<Vec<http::Request<Bytes>>>>);

impl Seen {
    pub fn requests(&self) -> Vec<http::Request<Bytes>> {
        self.0.lock().unwrap().clone()
    }
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// Send `request` through `layer` into a recording inner service.
pub async fn send<B>(
    layer: &SigV4Layer,
    request: http::Request<B>,
) -> (Result<http::Response<Full<Bytes>>, BoxError>, Seen)
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let seen = Seen::default();
    let recorder = seen.clone();
    let inner = service_fn(move |req: http::Request<Full<Bytes>>| {
        let recorder = recorder.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = http_body_util::BodyExt::collect(body)
                .await
                .unwrap()
                .to_bytes();
            recorder
                .0
                .lock()
                .unwrap()
                .push(http::Request::from_parts(parts, body));
            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
        }
    });
    let service = tower::Layer::layer(layer, inner);
    let result = service.oneshot(request).await;
    (result, seen)
}

pub fn header<'a>(req: &'a http::Request<Bytes>, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}"))
        .to_str()
        .unwrap()
}

pub fn sign_error(err: BoxError) -> tower_sigv4::Error {
    err.downcast_ref::<tower_sigv4::Error>()
        .unwrap_or_else(|| panic!("not a tower_sigv4::Error: {err}"))
        .clone()
}

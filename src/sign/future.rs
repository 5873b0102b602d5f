//! The response future of [`SigV4`](crate::SigV4).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::Error;
use crate::error::BoxError;

type SignFuture = Pin<Box<dyn Future<Output = Result<Request<Full<Bytes>>, Error>> + Send>>;

pin_project! {
    /// Response future of [`SigV4`](crate::SigV4): signs, then awaits the inner service.
    pub struct ResponseFuture<S>
    where
        S: Service<Request<Full<Bytes>>>,
    {
        #[pin]
        state: State<S>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S>
    where
        S: Service<Request<Full<Bytes>>>,
    {
        Signing { signing: SignFuture, inner: Option<S> },
        Calling { #[pin] future: S::Future },
    }
}

impl<S> ResponseFuture<S>
where
    S: Service<Request<Full<Bytes>>>,
{
    pub(crate) fn new(signing: SignFuture, inner: S) -> Self {
        Self {
            state: State::Signing {
                signing,
                inner: Some(inner),
            },
        }
    }
}

impl<S> Future for ResponseFuture<S>
where
    S: Service<Request<Full<Bytes>>>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut this = self.as_mut().project();
            match this.state.as_mut().project() {
                StateProj::Signing { signing, inner } => {
                    let request = ready!(signing.as_mut().poll(cx))?;
                    let Some(mut inner) = inner.take() else {
                        unreachable!("ResponseFuture polled after the inner service was called")
                    };
                    let future = inner.call(request);
                    this.state.set(State::Calling { future });
                }
                StateProj::Calling { future } => {
                    return future.poll(cx).map_err(Into::into);
                }
            }
        }
    }
}

impl<S> fmt::Debug for ResponseFuture<S>
where
    S: Service<Request<Full<Bytes>>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

//! The accept loop the tests' stand-in servers share: any tower service, served
//! over HTTP/1.1 and HTTP/2 on a listener the test bound on 127.0.0.1.

#![allow(dead_code)]

use std::net::SocketAddr;

use hyper::body::{Body, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A tower service a stand-in serves: cloned per connection, run on the runtime.
pub trait StandIn<B>:
    tower::Service<
        http::Request<Incoming>,
        Response = http::Response<B>,
        Future: Send + 'static,
        Error: Into<BoxError>,
    > + Clone
    + Send
    + 'static
{
}

impl<S, B> StandIn<B> for S where
    S: tower::Service<
            http::Request<Incoming>,
            Response = http::Response<B>,
            Future: Send + 'static,
            Error: Into<BoxError>,
        > + Clone
        + Send
        + 'static
{
}

/// The body of a stand-in's response.
pub trait Reply: Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

impl<B> Reply for B where B: Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

/// Serve `service` on `listener`, one task per connection, until the returned
/// task is aborted or the runtime ends. A connection's error ends that connection
/// only.
pub fn spawn<S, B>(listener: TcpListener, service: S) -> JoinHandle<()>
where
    S: StandIn<B>,
    B: Reply,
{
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// Bind a free port on 127.0.0.1 and [`spawn`] `service` on it.
pub async fn bind<S, B>(service: S) -> (SocketAddr, JoinHandle<()>)
where
    S: StandIn<B>,
    B: Reply,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, spawn(listener, service))
}

/// Bind a free port on 127.0.0.1 and answer every request with `handler`, for
/// the small scripted servers (token endpoints, counting MCP servers).
pub async fn answer<H, F, B>(handler: H) -> (SocketAddr, JoinHandle<()>)
where
    H: Fn(http::Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = http::Response<B>> + Send + 'static,
    B: Reply,
{
    bind(tower::service_fn(move |request| {
        let reply = handler(request);
        async move { Ok::<_, std::convert::Infallible>(reply.await) }
    }))
    .await
}

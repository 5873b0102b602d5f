//! The gateway's HTTP front-end: accept connections, serve HTTP/1.1 and HTTP/2,
//! and on shutdown stop accepting and let in-flight requests finish.

use std::convert::Infallible;
use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_sigv4::rmcp::HttpClientError;

use super::Gateway;

/// Serve `gateway` on `listener` until `shutdown`; then stop accepting and give
/// in-flight requests up to `drain` to finish.
pub async fn serve<C>(
    gateway: Gateway<C>,
    listener: TcpListener,
    shutdown: CancellationToken,
    drain: Duration,
) where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment, go on.
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let gateway = gateway.clone();
            async move { Ok::<_, Infallible>(gateway.handle(request).await) }
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    tracing::info!("shutting down: no new connections; draining in-flight requests");
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still in flight after {} s; exiting anyway",
            drain.as_secs_f64()
        );
    }
}

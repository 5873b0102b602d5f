//! The gateway's HTTP front-end: accept connections, serve HTTP/1.1 and HTTP/2,
//! and on shutdown stop accepting and let in-flight requests finish.
//!
//! Slow and idle clients are bounded here: a connection must send its first byte
//! within the idle timeout, and each request head within the header-read
//! timeout (hyper's timer; on HTTP/1.1 it also runs while a kept-alive
//! connection waits for its next request, so it is the idle keep-alive timeout
//! there; HTTP/2 connections are pinged at the idle interval). At most
//! `max_connections` are served at once; past that, a few more connections are
//! let in for `/health` alone, so a load balancer still sees the replica alive,
//! and the rest are closed at once.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use ::http::{Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tower_sigv4::rmcp::HttpClientError;

use super::http::{self, Body, ClientAddress};
use super::server::Gateway;

/// Connections let in past `max_connections`, for `/health` only.
const HEALTH_ONLY_CONNECTIONS: usize = 16;

/// Limits on the connections the gateway serves.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A request's head must arrive within this (and, on HTTP/1.1, the next
    /// request's head on a kept-alive connection).
    pub header_read_timeout: Duration,
    /// A new connection must send its first byte within this; HTTP/2
    /// connections are pinged at this interval.
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long in-flight requests may take to finish after shutdown.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
            drain: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// The same limits, each at most a day: hyper adds them to
    /// `Instant::now()`, which overflows on `Duration::MAX`.
    fn bounded(self) -> Self {
        let day = Duration::from_secs(86_400);
        Self {
            header_read_timeout: self.header_read_timeout.min(day),
            idle_timeout: self.idle_timeout.min(day),
            ..self
        }
    }
}

/// hyper's connection builder with the header-read and keep-alive timeouts of
/// `limits`.
fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.idle_timeout)
        .keep_alive_timeout(limits.header_read_timeout);
    builder
}

/// Answer `GET /metrics` (and nothing else) on `listener`, for as long as the
/// runtime runs: the address of `--metrics-listen`, which the operator keeps
/// off the clients' network. Slow clients are bounded as on the gateway's own
/// listener: the first byte within the idle timeout, each request head within
/// the header-read timeout.
pub async fn serve_metrics(listener: TcpListener, limits: Limits) {
    let limits = limits.bounded();
    let builder = Arc::new(connection_builder(&limits));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let builder = builder.clone();
        let idle = limits.idle_timeout;
        tokio::spawn(async move {
            if !first_byte_within(&stream, idle).await {
                return;
            }
            let service =
                hyper::service::service_fn(|request: hyper::Request<Incoming>| async move {
                    let response = if request.uri().path() == "/metrics" {
                        crate::telemetry::metrics()
                            .response()
                            .map(http_body_util::BodyExt::boxed)
                    } else {
                        http::error(StatusCode::NOT_FOUND, "not found; metrics are at /metrics")
                    };
                    Ok::<_, Infallible>(response)
                });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Serve `gateway` on `listener` until `shutdown`; then stop accepting and give
/// in-flight requests up to `limits.drain` to finish.
pub async fn serve<C>(
    gateway: Gateway<C>,
    listener: TcpListener,
    shutdown: CancellationToken,
    limits: Limits,
) where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    let limits = limits.bounded();
    let graceful = GracefulShutdown::new();
    let builder = Arc::new(connection_builder(&limits));
    let served = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let health_only = Arc::new(Semaphore::new(HEALTH_ONLY_CONNECTIONS));
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
        let slot = match served.clone().try_acquire_owned() {
            Ok(permit) => Slot {
                _permit: permit,
                health_only: false,
            },
            Err(_) => match health_only.clone().try_acquire_owned() {
                Ok(permit) => Slot {
                    _permit: permit,
                    health_only: true,
                },
                Err(_) => {
                    tracing::warn!(%peer, "closing a connection: {} connections are open (--max-connections)", limits.max_connections);
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let idle = limits.idle_timeout;
        tokio::spawn(async move {
            if !first_byte_within(&stream, idle).await {
                tracing::debug!(%peer, "closing a connection that sent nothing");
                return;
            }
            let health_only = slot.health_only;
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    let gateway = gateway.clone();
                    request.extensions_mut().insert(ClientAddress(peer.ip()));
                    async move {
                        Ok::<_, Infallible>(if health_only {
                            health_or_busy(&gateway, request.uri().path())
                        } else {
                            gateway.handle(request).await
                        })
                    }
                });
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(slot);
        });
    }
    tracing::info!("shutting down: no new connections; draining in-flight requests");
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still in flight after {} s; exiting anyway",
            limits.drain.as_secs_f64()
        );
    }
}

/// A connection's place: served in full, or let in past the cap for `/health`.
struct Slot {
    _permit: OwnedSemaphorePermit,
    health_only: bool,
}

/// Whether the client sent something within `idle` (a connection that sends
/// nothing would otherwise hold its slot for ever: hyper's header-read timer
/// starts only once the protocol is known).
async fn first_byte_within(stream: &TcpStream, idle: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(idle, stream.peek(&mut byte)).await,
        Ok(Ok(n)) if n > 0
    )
}

fn health_or_busy<C>(gateway: &Gateway<C>, path: &str) -> Response<Body>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    let mut response = if path.trim_end_matches('/') == "/health" {
        gateway.health()
    } else {
        http::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the gateway serves its maximum number of connections (--max-connections); retry shortly",
        )
    };
    response.headers_mut().insert(
        ::http::header::CONNECTION,
        ::http::HeaderValue::from_static("close"),
    );
    response
}

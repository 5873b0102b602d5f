//! `transport: sse`: a server of the 2024-11-05 HTTP+SSE transport (a GET
//! event stream whose first `endpoint` event names where to POST messages;
//! replies come back on the stream), behind the same HTTP service every other
//! server has, so that the gateway reaches it like a streamable-HTTP server.
//!
//! One stream per server, shared by every client: requests are POSTed with ids
//! of the bridge's own and matched to the replies on the stream, so a slow call
//! blocks no other. The stream is opened by the first request, with that
//! request's headers, and opened again when it ends; the first `initialize` is
//! the handshake, answered from memory afterwards and replayed on a new stream.
//! The GET and the POSTs go through the server's HTTP service, so `aws_sigv4`
//! signs them and `oauth2` adds its token like any request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use sse_stream::SseStream;
use tokio::sync::oneshot;
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;
use tower_sigv4::BoxError;
use tower_sigv4::rmcp::SignedHttpService;

use super::OnNotification;
use super::answer::{Answer, respond};

/// The longest the server may take to name its message endpoint.
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(30);

/// The HTTP service of the SSE server at `url`, reached through `inner`.
pub(super) fn service(
    server: &str,
    url: &str,
    inner: SignedHttpService,
    notify: OnNotification,
) -> SignedHttpService {
    let bridge = Arc::new(Bridge {
        server: server.to_owned(),
        url: url.to_owned(),
        inner,
        stream: tokio::sync::Mutex::new(None),
        handshake: Mutex::new(None),
        next_id: AtomicU64::new(0),
        notify,
    });
    BoxCloneSyncService::new(tower::service_fn(move |request: Request<Full<Bytes>>| {
        bridge.clone().answer(request)
    }))
}

struct Bridge {
    server: String,
    url: String,
    inner: SignedHttpService,
    stream: tokio::sync::Mutex<Option<Arc<Stream>>>,
    // The first `initialize` and its result.
    handshake: Mutex<Option<(Value, Value)>>,
    next_id: AtomicU64,
    notify: OnNotification,
}

/// One open event stream.
struct Stream {
    endpoint: String,
    pending: Mutex<HashMap<u64, oneshot::Sender<Value>>>,
    closed: tokio_util::sync::CancellationToken,
    initialized: std::sync::atomic::AtomicBool,
}

/// `data` of an `endpoint` event, against the stream's URL.
fn resolve(base: &str, data: &str) -> String {
    let data = data.trim();
    if data.starts_with("http://") || data.starts_with("https://") {
        return data.to_owned();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    if data.starts_with('/') {
        return format!("{scheme}://{authority}{data}");
    }
    let path = rest.split('?').next().unwrap_or(rest);
    let dir = path.rsplit_once('/').map_or(path, |(dir, _)| dir);
    format!("{scheme}://{dir}/{data}")
}

impl Bridge {
    async fn answer(self: Arc<Self>, request: Request<Full<Bytes>>) -> Result<Answer, BoxError> {
        match *request.method() {
            Method::POST => {}
            Method::DELETE => return Ok(respond(StatusCode::OK, None)),
            _ => return Ok(respond(StatusCode::METHOD_NOT_ALLOWED, None)),
        }
        let (parts, body) = request.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        };
        let Ok(mut message) = serde_json::from_slice::<Value>(&body) else {
            return Ok(respond(StatusCode::BAD_REQUEST, None));
        };
        let method = message
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if method == "initialize"
            && let Some((_, result)) = self.lock_handshake().clone()
        {
            let id = message.get("id").cloned().unwrap_or(Value::Null);
            return Ok(respond(
                StatusCode::OK,
                Some(&json!({"jsonrpc": "2.0", "id": id, "result": result})),
            ));
        }
        let stream = match self.stream(&parts.headers).await {
            Ok(stream) => stream,
            Err(refusal) => return refusal,
        };
        if method == "notifications/initialized" && stream.initialized.swap(true, Ordering::SeqCst)
        {
            return Ok(respond(StatusCode::ACCEPTED, None));
        }
        let is_request = !method.is_empty() && message.get("id").is_some();
        if !is_request {
            let posted = self.post(&stream, &parts.headers, &message).await?;
            return Ok(if posted.status().is_success() {
                respond(StatusCode::ACCEPTED, None)
            } else {
                posted
            });
        }
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        let (reply, replied) = oneshot::channel();
        let own = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        message["id"] = json!(own);
        stream.lock_pending().insert(own, reply);
        let posted = self.post(&stream, &parts.headers, &message).await;
        match posted {
            Ok(posted) if posted.status().is_success() => {}
            other => {
                stream.lock_pending().remove(&own);
                return other;
            }
        }
        let Ok(mut reply) = replied.await else {
            return Err(format!(
                "server `{}`: the SSE stream ended before the reply came",
                self.server
            )
            .into());
        };
        reply["id"] = id;
        if method == "initialize"
            && let Some(result) = reply.get("result")
        {
            *self.lock_handshake() = Some((message, result.clone()));
        }
        Ok(respond(StatusCode::OK, Some(&reply)))
    }

    fn lock_handshake(&self) -> std::sync::MutexGuard<'_, Option<(Value, Value)>> {
        self.handshake
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn post(
        &self,
        stream: &Stream,
        headers: &HeaderMap,
        message: &Value,
    ) -> Result<Answer, BoxError> {
        let mut request = Request::post(stream.endpoint.as_str())
            .body(Full::new(Bytes::from(message.to_string())))
            .map_err(|e| -> BoxError { Box::new(e) })?;
        for (name, value) in headers {
            if name != http::header::ACCEPT && name.as_str() != "mcp-session-id" {
                request.headers_mut().insert(name.clone(), value.clone());
            }
        }
        request.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        self.inner.clone().oneshot(request).await
    }

    /// The open stream, or a new one; a refusal of the GET is passed on as is.
    async fn stream(&self, headers: &HeaderMap) -> Result<Arc<Stream>, Result<Answer, BoxError>> {
        let mut current = self.stream.lock().await;
        if let Some(stream) = current.as_ref()
            && !stream.closed.is_cancelled()
        {
            return Ok(stream.clone());
        }
        let mut request = Request::get(self.url.as_str())
            .body(Full::new(Bytes::new()))
            .map_err(|e| Err(Box::new(e) as BoxError))?;
        for (name, value) in headers {
            if name != http::header::CONTENT_TYPE && name.as_str() != "mcp-session-id" {
                request.headers_mut().insert(name.clone(), value.clone());
            }
        }
        request.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("text/event-stream"),
        );
        let response = self.inner.clone().oneshot(request).await.map_err(Err)?;
        if !response.status().is_success() {
            return Err(Ok(response));
        }
        let mut events = Box::pin(SseStream::new(
            response.into_body().map_err(std::io::Error::other),
        ));
        let endpoint = tokio::time::timeout(ENDPOINT_TIMEOUT, async {
            while let Some(Ok(event)) = events.next().await {
                if event.event.as_deref() == Some("endpoint") {
                    return event.data;
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| {
            Err(format!(
                "server `{}`: the SSE stream named no endpoint (an `endpoint` event) within {} s; is it a 2024-11-05 SSE server?",
                self.server,
                ENDPOINT_TIMEOUT.as_secs()
            )
            .into())
        })?;
        let stream = Arc::new(Stream {
            endpoint: resolve(&self.url, &endpoint),
            pending: Mutex::default(),
            closed: tokio_util::sync::CancellationToken::new(),
            initialized: std::sync::atomic::AtomicBool::new(false),
        });
        tracing::info!(server = %self.server, "opened the SSE stream");
        let reader = stream.clone();
        let server = self.server.clone();
        let notify = self.notify.clone();
        tokio::spawn(async move {
            while let Some(Ok(event)) = events.next().await {
                let Some(message) = event
                    .data
                    .as_deref()
                    .and_then(|data| serde_json::from_str::<Value>(data).ok())
                else {
                    continue;
                };
                if message.get("method").is_some() {
                    if message.get("id").is_none() {
                        notify(&message);
                    }
                    continue;
                }
                if let Some(reply) = message
                    .get("id")
                    .and_then(Value::as_u64)
                    .and_then(|id| reader.lock_pending().remove(&id))
                {
                    let _ = reply.send(message);
                }
            }
            tracing::warn!(server = %server, "the SSE stream ended; the next request opens a new one");
            reader.closed.cancel();
            reader.lock_pending().clear();
        });
        // A new stream after a lost one: the handshake again.
        let handshake = self.lock_handshake().clone();
        if let Some((initialize, _)) = handshake {
            let mut replay = initialize;
            replay["id"] = json!(self.next_id.fetch_add(1, Ordering::SeqCst) + 1);
            let _ = self.post(&stream, headers, &replay).await;
            let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
            let _ = self.post(&stream, headers, &note).await;
            stream.initialized.store(true, Ordering::SeqCst);
        }
        *current = Some(stream.clone());
        Ok(stream)
    }
}

impl Stream {
    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Value>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn endpoints_resolve_against_the_stream_url() {
        let base = "http://127.0.0.1:8000/mcp/sse?key=1";
        assert_eq!(
            resolve(base, "/messages?session_id=a"),
            "http://127.0.0.1:8000/messages?session_id=a"
        );
        assert_eq!(
            resolve(base, "messages?session_id=a"),
            "http://127.0.0.1:8000/mcp/messages?session_id=a"
        );
        assert_eq!(
            resolve(base, "https://other.example/m"),
            "https://other.example/m"
        );
    }
}

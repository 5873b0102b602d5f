//! A Lambda Runtime API on 127.0.0.1, as AWS Lambda serves it to a custom
//! runtime (`/2018-06-01/runtime/invocation/next`, `/{id}/response`,
//! `/{id}/error`, `/init/error`, with the `Lambda-Runtime-Aws-Request-Id` and
//! `Lambda-Runtime-Deadline-Ms` headers), for `mcp-sigv4 lambda` to poll.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::Value;
use tokio::sync::{Mutex, mpsc};

/// What the function posted for one invocation.
#[derive(Debug)]
pub struct Posted {
    pub request_id: String,
    /// `response`, `error` or `init-error`.
    pub kind: String,
    pub body: Value,
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    events: mpsc::Sender<(String, u64, Value)>,
    posted: Mutex<mpsc::Receiver<Posted>>,
    nexts: Arc<AtomicUsize>,
    count: AtomicUsize,
    _task: tokio_util::task::AbortOnDropHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let (events, queue) = mpsc::channel::<(String, u64, Value)>(16);
        let (post, posted) = mpsc::channel::<Posted>(16);
        let queue = Arc::new(Mutex::new(queue));
        let nexts = Arc::new(AtomicUsize::new(0));
        let service = {
            let nexts = nexts.clone();
            tower::service_fn(move |request: Request<Incoming>| {
                let queue = queue.clone();
                let post = post.clone();
                let nexts = nexts.clone();
                async move { Ok::<_, Infallible>(serve(request, queue, post, nexts).await) }
            })
        };
        let (addr, task) = crate::serve::bind(service).await;
        Self {
            addr,
            events,
            posted: Mutex::new(posted),
            nexts,
            count: AtomicUsize::new(0),
            _task: tokio_util::task::AbortOnDropHandle::new(task),
        }
    }

    /// `AWS_LAMBDA_RUNTIME_API`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// How many `/next` polls arrived.
    pub fn nexts(&self) -> usize {
        self.nexts.load(Ordering::SeqCst)
    }

    /// Hand the function one event with `deadline` left, and wait (bounded) for
    /// what it posts back.
    pub async fn invoke(&self, event: Value, deadline: Duration) -> Posted {
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        let id = format!("req-{n}");
        let deadline_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + deadline.as_millis() as u64;
        self.events
            .send((id.clone(), deadline_ms, event))
            .await
            .unwrap();
        let posted = tokio::time::timeout(crate::LIMIT, self.posted.lock().await.recv())
            .await
            .expect("the function answers within the limit")
            .expect("the runtime API is running");
        assert_eq!(posted.request_id, id, "{posted:?}");
        posted
    }
}

async fn serve(
    request: Request<Incoming>,
    queue: Arc<Mutex<mpsc::Receiver<(String, u64, Value)>>>,
    post: mpsc::Sender<Posted>,
    nexts: Arc<AtomicUsize>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let rest = path.strip_prefix("/2018-06-01/runtime/").unwrap_or("");
    if method == Method::GET && rest == "invocation/next" {
        nexts.fetch_add(1, Ordering::SeqCst);
        // Held until the test hands over an event, as Lambda holds it.
        let Some((id, deadline_ms, event)) = queue.lock().await.recv().await else {
            return status(StatusCode::GONE);
        };
        return Response::builder()
            .header("lambda-runtime-aws-request-id", id)
            .header("lambda-runtime-deadline-ms", deadline_ms.to_string())
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:mcp-tools",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(event.to_string())))
            .unwrap();
    }
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let posted = if rest == "init/error" {
        Some(("init".to_owned(), "init-error"))
    } else {
        rest.strip_prefix("invocation/").and_then(|r| {
            r.strip_suffix("/response")
                .map(|id| (id.to_owned(), "response"))
                .or_else(|| r.strip_suffix("/error").map(|id| (id.to_owned(), "error")))
        })
    };
    match posted {
        Some((request_id, kind)) if method == Method::POST => {
            let _ = post
                .send(Posted {
                    request_id,
                    kind: kind.to_owned(),
                    body: parsed,
                })
                .await;
            status(StatusCode::ACCEPTED)
        }
        _ => status(StatusCode::NOT_FOUND),
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    Response::builder()
        .status(code)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

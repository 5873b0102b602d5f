//! A scripted HTTP endpoint on 127.0.0.1: answers each request with the next
//! scripted reply (the last one repeats) and records what it received.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }
    pub fn ok() -> Self {
        Self::new(200).body(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#)
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
    pub fn body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }
    /// An AWS JSON error reply.
    pub fn aws_error(status: u16, kind: &str, message: &str) -> Self {
        Self::new(status)
            .header(
                "x-amzn-errortype",
                &format!("{kind}:http://internal.amazon.com/coral/com.amazon.coral.service/"),
            )
            .header("content-type", "application/json")
            .body(&serde_json::json!({ "message": message }).to_string())
    }
}

#[derive(Clone, Default)]
pub struct Recorded(pub Arc<Mutex<Vec<http::request::Parts>>>);

impl Recorded {
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn header(&self, i: usize, name: &str) -> Option<String> {
        self.0.lock().unwrap()[i]
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

pub struct Scripted {
    pub addr: SocketAddr,
    pub recorded: Recorded,
    _task: tokio::task::JoinHandle<()>,
}

impl Scripted {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self._task.abort();
    }
}

pub async fn start(script: Vec<Reply>) -> Scripted {
    let script = Mutex::new(VecDeque::from(script));
    start_with(move |_| {
        let mut script = script.lock().unwrap();
        if script.len() > 1 {
            script.pop_front().unwrap()
        } else {
            script.front().cloned().unwrap_or_else(Reply::ok)
        }
    })
    .await
}

/// Answer each request with what `reply` says for its head.
pub async fn start_with(
    reply: impl Fn(&http::request::Parts) -> Reply + Send + Sync + 'static,
) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let script = Arc::new(reply);
    let recorded = Recorded::default();
    let rec = recorded.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let script = script.clone();
            let rec = rec.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let script = script.clone();
                    let rec = rec.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let _ = body.collect().await;
                        let reply = script(&parts);
                        rec.0.lock().unwrap().push(parts);
                        let mut response = http::Response::builder().status(reply.status);
                        for (k, v) in &reply.headers {
                            response = response.header(k, v);
                        }
                        Ok::<_, Infallible>(
                            response.body(Full::new(Bytes::from(reply.body))).unwrap(),
                        )
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Scripted {
        addr,
        recorded,
        _task: task,
    }
}

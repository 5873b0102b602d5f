//! A scripted stand-in for Bedrock Runtime's Converse and ConverseStream on
//! 127.0.0.1, behind `VerifySigV4Layer` for service `bedrock`: the SDK reaches it
//! through the endpoint override, and its signatures are checked by our verifier.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::{Layer, Service};
use tower_sigv4::verify::{VerifySigV4Layer, VerifyingKey};

use crate::{ACCESS_KEY, REGION, SECRET_KEY};

/// One model turn: Bedrock content blocks (`{"text": ..}`, `{"toolUse": ..}`)
/// and a stop reason.
#[derive(Clone, Debug)]
pub struct Turn {
    pub content: Vec<Value>,
    pub stop_reason: &'static str,
}

impl Turn {
    pub fn new(content: Vec<Value>, stop_reason: &'static str) -> Self {
        Self {
            content,
            stop_reason,
        }
    }

    pub fn text(text: &str) -> Self {
        Self::new(vec![json!({ "text": text })], "end_turn")
    }
}

pub fn tool_use(id: &str, name: &str, input: Value) -> Value {
    json!({"toolUse": {"toolUseId": id, "name": name, "input": input}})
}

/// What the model says to the `n`th request (from 0), given that request's body.
pub type Script = Arc<dyn Fn(usize, &Value) -> Turn + Send + Sync>;

/// A request the stand-in received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub body: Value,
}

pub struct BedrockStandIn {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub refused: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl BedrockStandIn {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for BedrockStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A stand-in that plays `turns` in order (and fails past the end).
pub async fn scripted(turns: Vec<Turn>) -> BedrockStandIn {
    start(Arc::new(move |n, _| {
        turns.get(n).cloned().unwrap_or_else(|| {
            Turn::new(
                vec![json!({"text": "the script has no more turns"})],
                "malformed_model_output",
            )
        })
    }))
    .await
}

pub async fn start(script: Script) -> BedrockStandIn {
    let received = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let model = {
        let received = received.clone();
        tower::service_fn(move |request: Request<Full<Bytes>>| {
            let received = received.clone();
            let script = script.clone();
            async move {
                let path = request.uri().path().to_owned();
                let bytes = request.into_body().collect().await.unwrap().to_bytes();
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let n = {
                    let mut received = received.lock().unwrap();
                    received.push(Received {
                        path: path.clone(),
                        body: body.clone(),
                    });
                    received.len() - 1
                };
                let turn = script(n, &body);
                let response = if path.ends_with("/converse-stream") {
                    Response::builder()
                        .header("content-type", "application/vnd.amazon.eventstream")
                        .body(Full::new(Bytes::from(event_stream(&turn))))
                } else {
                    Response::builder()
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(converse_json(&turn).to_string())))
                };
                Ok::<_, Infallible>(response.unwrap())
            }
        })
    };
    let verified = VerifySigV4Layer::with_keys(
        REGION,
        "bedrock",
        [(ACCESS_KEY, VerifyingKey::new(SECRET_KEY))],
    )
    .layer(model);
    let counter = refused.clone();
    let front = tower::service_fn(move |request: Request<Incoming>| {
        let mut verified = verified.clone();
        let refused = counter.clone();
        async move {
            let Ok(response) = verified.call(request).await;
            if response.status() == 403 {
                refused.fetch_add(1, Ordering::SeqCst);
            }
            Ok::<_, Infallible>(response)
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(front.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    BedrockStandIn {
        addr,
        received,
        refused,
        task,
    }
}

fn usage() -> Value {
    json!({"inputTokens": 10, "outputTokens": 5, "totalTokens": 15})
}

fn converse_json(turn: &Turn) -> Value {
    json!({
        "output": {"message": {"role": "assistant", "content": turn.content}},
        "stopReason": turn.stop_reason,
        "usage": usage(),
        "metrics": {"latencyMs": 1}
    })
}

/// The turn as ConverseStream events: each text and each tool input in two
/// deltas, so the client must gather them.
fn event_stream(turn: &Turn) -> Vec<u8> {
    let mut out = Vec::new();
    let mut event = |kind: &'static str, payload: Value| {
        let message = Message::new(Bytes::from(payload.to_string()))
            .add_header(Header::new(
                ":message-type",
                HeaderValue::String("event".into()),
            ))
            .add_header(Header::new(":event-type", HeaderValue::String(kind.into())))
            .add_header(Header::new(
                ":content-type",
                HeaderValue::String("application/json".into()),
            ));
        write_message_to(&message, &mut out).unwrap();
    };
    event("messageStart", json!({"role": "assistant"}));
    for (index, block) in turn.content.iter().enumerate() {
        if let Some(text) = block["text"].as_str() {
            for part in halves(text) {
                event(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": index, "delta": {"text": part}}),
                );
            }
        } else if let Some(tool_use) = block.get("toolUse") {
            event(
                "contentBlockStart",
                json!({"contentBlockIndex": index, "start": {"toolUse": {
                    "toolUseId": tool_use["toolUseId"], "name": tool_use["name"]}}}),
            );
            for part in halves(&tool_use["input"].to_string()) {
                event(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": index, "delta": {"toolUse": {"input": part}}}),
                );
            }
        }
        event("contentBlockStop", json!({"contentBlockIndex": index}));
    }
    event("messageStop", json!({"stopReason": turn.stop_reason}));
    event(
        "metadata",
        json!({"usage": usage(), "metrics": {"latencyMs": 1}}),
    );
    out
}

fn halves(text: &str) -> [&str; 2] {
    let mut middle = text.len() / 2;
    while !text.is_char_boundary(middle) {
        middle += 1;
    }
    [&text[..middle], &text[middle..]]
}

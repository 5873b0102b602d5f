//! A scripted stand-in for Bedrock Runtime's Converse and ConverseStream on
//! 127.0.0.1, behind `VerifySigV4Layer` for service `bedrock`: the SDK reaches it
//! through the endpoint override, and its signatures are checked by our verifier.
//! Shared by the demo (`--serve`, with [`calls_the_tools`]) and the `ask` tests
//! (with scripts of their own).

#![allow(dead_code)]

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

/// How many requests [`BedrockStandIn::received`] keeps.
const KEPT: usize = 1_000;

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

/// A script that plays `turns` in order (and fails past the end).
pub fn play(turns: Vec<Turn>) -> Script {
    Arc::new(move |n, _| {
        turns.get(n).cloned().unwrap_or_else(|| {
            Turn::new(
                vec![json!({"text": "the script has no more turns"})],
                "malformed_model_output",
            )
        })
    })
}

/// The demo's model: asked a question, it calls the demo server's `echo` (with
/// the question) and `add` (40 + 2) tools, whatever names `ask` gave them; given
/// their results, it answers with what they said. Stateless, so any number of
/// conversations can run at once.
pub fn calls_the_tools() -> Script {
    Arc::new(|_, body| {
        let messages = body["messages"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let last = messages
            .last()
            .map(|m| &m["content"])
            .and_then(Value::as_array);
        let results: Vec<String> = last
            .into_iter()
            .flatten()
            .filter_map(|block| block.get("toolResult"))
            .map(|result| {
                let text = result["content"][0]["text"].as_str().unwrap_or_default();
                format!(
                    "{} said {text:?}",
                    result["toolUseId"].as_str().unwrap_or("?")
                )
            })
            .collect();
        if !results.is_empty() {
            return Turn::text(&format!(
                "The stand-in's tools answered: {}.",
                results.join("; ")
            ));
        }
        let question = last
            .into_iter()
            .flatten()
            .find_map(|block| block["text"].as_str())
            .unwrap_or_default();
        let offered = offered_tools(body);
        let named = |suffix: &str| offered.iter().find(|name| name.ends_with(suffix)).cloned();
        let mut calls = Vec::new();
        if let Some(echo) = named("echo") {
            calls.push(tool_use("echo", &echo, json!({ "text": question })));
        }
        if let Some(add) = named("add") {
            calls.push(tool_use("add", &add, json!({ "a": 40, "b": 2 })));
        }
        if calls.is_empty() {
            return Turn::text(
                "No echo or add tool was offered: point --mcp at the demo's MCP server.",
            );
        }
        Turn::new(calls, "tool_use")
    })
}

/// The tool names offered in a request's `toolConfig`.
pub fn offered_tools(body: &Value) -> Vec<String> {
    body["toolConfig"]["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["toolSpec"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Who the stand-in accepts: signatures for service `bedrock` in `region` by
/// `access_key`, whose secret (and session token, if any) `key` holds.
pub struct Signer<'a> {
    pub region: &'a str,
    pub access_key: &'a str,
    pub key: VerifyingKey,
}

/// The stand-in on `127.0.0.1:port` (0 for any free port), playing `script`.
pub async fn start_on(
    port: u16,
    script: Script,
    signer: Signer<'_>,
) -> std::io::Result<BedrockStandIn> {
    let received = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let count = Arc::new(AtomicUsize::new(0));
    let model = {
        let received = received.clone();
        tower::service_fn(move |request: Request<Full<Bytes>>| {
            let received = received.clone();
            let script = script.clone();
            let count = count.clone();
            async move {
                let path = request.uri().path().to_owned();
                let bytes = match request.into_body().collect().await {
                    Ok(body) => body.to_bytes(),
                    Err(never) => match never {},
                };
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let n = count.fetch_add(1, Ordering::SeqCst);
                {
                    // The first requests are kept for the tests to read; a
                    // long-running demo keeps no more.
                    let mut received = received.lock().unwrap();
                    if received.len() < KEPT {
                        received.push(Received {
                            path: path.clone(),
                            body: body.clone(),
                        });
                    }
                }
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
                Ok::<_, Infallible>(response.expect("a response from valid parts"))
            }
        })
    };
    let verified =
        VerifySigV4Layer::with_keys(signer.region, "bedrock", [(signer.access_key, signer.key)])
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
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
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
    Ok(BedrockStandIn {
        addr,
        received,
        refused,
        task,
    })
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

//! A legacy server's requests to a 2026-07-28 host, through the modern
//! multi-round-trip flow. The host's request runs in a task of its own; when
//! the server asks the client something on that request's stream (sampling,
//! elicitation, roots), the host is answered with an `InputRequiredResult` and
//! the task is parked under its `requestState`. The host's retry with
//! `inputResponses` and that `requestState` answers the server's requests and
//! picks the task up again, until the server's reply arrives for the retry.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};
use tower_sigv4::rmcp::HttpClientError;

use rmcp::transport::streamable_http_client::StreamableHttpClient;

use super::{Failure, Relay, StreamEnded, jsonrpc, lock};

/// The most requests parked at once; more are answered with an error.
const MAX_PARKED: usize = 64;

/// A host request waiting for the host's answers to the server's requests.
pub(super) struct Parked {
    asks: mpsc::Receiver<Value>,
    done: oneshot::Receiver<Result<Value, Failure>>,
    // Aborted when dropped (expired, cancelled, or the relay shut down), which
    // drops the upstream request and its stream.
    task: tokio::task::JoinHandle<()>,
    // The `inputRequests` keys the host was given, and the server's request ids.
    keys: HashMap<String, Value>,
}

impl Drop for Parked {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<C> Relay<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// Send a modern host's request to a legacy server in a task of its own, and
    /// answer with its reply or with the server's first requests as input
    /// requests.
    pub(super) async fn exchange_asking(
        &self,
        message: &Value,
        id: &Value,
    ) -> Result<Value, Failure> {
        let (ask, asks) = mpsc::channel(8);
        let (finish, done) = oneshot::channel();
        let relay = self.clone();
        let (message, request_id) = (message.clone(), id.clone());
        let task = tokio::spawn(async move {
            // Its reply comes on its own stream; none is routed here from another.
            let (_unused, mut receiver) = oneshot::channel();
            let reply = relay
                .exchange(&message, &request_id, &mut receiver, Some(&ask))
                .await;
            let _ = finish.send(reply);
        });
        let parked = Parked {
            asks,
            done,
            task,
            keys: HashMap::new(),
        };
        self.next_turn(parked, id).await
    }

    /// The parked request a retry names in its `requestState`, if any.
    pub(super) fn unpark(&self, message: &Value) -> Option<Parked> {
        let state = message.pointer("/params/requestState")?.as_str()?;
        lock(&self.shared.parked).remove(state)
    }

    /// Answer the server's requests with the retry's `inputResponses`, then wait
    /// for the next turn of the parked request.
    pub(super) async fn resume(
        &self,
        mut parked: Parked,
        retry: &Value,
        id: &Value,
    ) -> Result<Value, Failure> {
        let responses = retry
            .pointer("/params/inputResponses")
            .and_then(Value::as_object);
        for (key, server_id) in parked.keys.drain() {
            let answer = match responses.and_then(|r| r.get(&key)) {
                Some(result) => json!({"jsonrpc": "2.0", "id": server_id, "result": result}),
                None => jsonrpc::error(
                    &server_id,
                    jsonrpc::INVALID_PARAMS,
                    "the client sent no answer to this request",
                    None,
                ),
            };
            self.forward(answer, "the host's answer to the server's request")
                .await;
        }
        self.next_turn(parked, id).await
    }

    /// Wait for the parked request's reply (answered as `id`) or for the
    /// server's next requests (answered as input requests, and parked again).
    async fn next_turn(&self, mut parked: Parked, id: &Value) -> Result<Value, Failure> {
        let first = tokio::select! {
            done = &mut parked.done => {
                let mut reply = done.unwrap_or(Err(Failure::StreamEnded(StreamEnded {
                    resumed: 0,
                    cause: Some("the request's task ended".into()),
                })))?;
                reply["id"] = id.clone();
                return Ok(reply);
            }
            Some(ask) = parked.asks.recv() => ask,
        };
        let mut requests = Map::new();
        let mut take = |ask: Value| {
            let key = format!("mcp-sigv4-{}", requests.len() + 1);
            parked.keys.insert(key.clone(), ask["id"].clone());
            let mut input = json!({"method": ask["method"]});
            if let Some(params) = ask.get("params") {
                input["params"] = params.clone();
            }
            requests.insert(key, input);
        };
        take(first);
        while let Ok(more) = parked.asks.try_recv() {
            take(more);
        }
        let state = format!("mcp-sigv4-{}", uuid::Uuid::new_v4());
        {
            let mut all = lock(&self.shared.parked);
            if all.len() >= MAX_PARKED {
                return Ok(jsonrpc::error(
                    id,
                    jsonrpc::UPSTREAM_ERROR,
                    &format!(
                        "{MAX_PARKED} requests already wait for the client's input; answer those first"
                    ),
                    Some(json!({"source": "relay"})),
                ));
            }
            all.insert(state.clone(), parked);
        }
        // A host that never retries does not keep the server's request forever.
        let relay = self.clone();
        let expiry = self.shared.options.request_timeout;
        let key = state.clone();
        // Not in the relay's task tracker: shutdown need not wait for it.
        tokio::spawn(async move {
            tokio::time::sleep(expiry).await;
            if lock(&relay.shared.parked).remove(&key).is_some() {
                tracing::info!("a request waiting for the client's input expired");
            }
        });
        Ok(json!({"jsonrpc": "2.0", "id": id, "result": {
            "resultType": "input_required",
            "inputRequests": requests,
            "requestState": state,
        }}))
    }
}

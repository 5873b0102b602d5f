//! A 2026-07-28 server's `InputRequiredResult` for a 2025 client. The 2025
//! revisions have no such result: a server asks its client with a request of
//! its own on the POST's event stream. So the gateway does: each input request
//! goes to the client as that request (`elicitation/create`,
//! `sampling/createMessage`, `roots/list`) on the reply stream of the client's
//! request, the client's answer (a POST of a JSON-RPC response) is taken here,
//! and the request goes to the server again with the answers as its
//! `inputResponses` and the `requestState`, until the server's result is final.
//!
//! The asks wait on this replica: the client's answer must reach the replica
//! whose stream asked (with several replicas, the same holds for the order of
//! GET and POST, see `dispatch`). An answer that reaches another replica is
//! sent on to the server as any response, and the ask waits out the request's
//! `--tool-timeout`.

use std::collections::HashMap;
use std::sync::PoisonError;

use rmcp::transport::streamable_http_client::StreamableHttpClient;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;
use tower_sigv4::rmcp::HttpClientError;

use super::http::EventSender;
use super::server::{Asked, Gateway};
use super::tasks;
use crate::protocol::era;
use crate::protocol::jsonrpc::{self, Kind};
use crate::upstream::{Reply, Upstream};

/// An ask forgotten when its wait ends, answered or not.
struct Forget<'a>(&'a Asked, String);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        lock(self.0).remove(&self.1);
    }
}

fn lock(asked: &Asked) -> std::sync::MutexGuard<'_, HashMap<String, oneshot::Sender<Value>>> {
    asked.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<C> Gateway<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// Take a client's JSON-RPC response to one of the gateway's own input
    /// requests; `false` when `message` answers none of them (it goes on to
    /// the server that asked).
    pub(super) fn answer_input(&self, message: &Value) -> bool {
        if jsonrpc::kind(message) != Kind::Response {
            return false;
        }
        let waiter = lock(&self.inner.asked).remove(&jsonrpc::id_key(&message["id"]));
        match waiter {
            Some(waiter) => {
                let _ = waiter.send(message.clone());
                true
            }
            None => false,
        }
    }

    /// Carry `reply`, a 2026-07-28 server's answer to `request`, to its final
    /// result for a 2025 client: each round of input requests is asked on
    /// `sender` (the reply stream of the client's request) and the request is
    /// sent again with the answers; the server's other messages on the way
    /// (progress) go to `pass`. At most [`era::INPUT_ROUNDS`] rounds. An
    /// error says why the server's final result did not come.
    pub(super) async fn fulfil_inputs<F, Fut>(
        &self,
        upstream: &Upstream<C>,
        request: &Value,
        mut reply: Value,
        sender: &EventSender,
        mut pass: F,
    ) -> Result<Value, String>
    where
        F: FnMut(Value) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let attempts = self.inner.options.resume_attempts;
        for _round in 0..era::INPUT_ROUNDS {
            let Some(inputs) = era::input_required(&reply) else {
                return Ok(reply);
            };
            let mut answers = Map::new();
            for (key, input) in inputs.requests {
                answers.insert(key, self.ask_client(&input, sender).await?);
            }
            let retry = era::with_input_responses(request, answers, inputs.request_state);
            reply = match upstream.send(&retry).await {
                Ok(Reply::Json(reply)) => reply,
                Ok(Reply::Stream(events)) => upstream
                    .follow(events, &id, attempts, &mut pass)
                    .await
                    .map_err(|ended| ended.to_string())?,
                Ok(Reply::Accepted) => {
                    return Err("the server accepted the answered request without a reply".into());
                }
                Err(e) => return Err(tower_sigv4::unstable::ErrorChain(&e).to_string()),
            };
        }
        Ok(jsonrpc::error(
            &id,
            jsonrpc::UPSTREAM_ERROR,
            &format!(
                "the MCP server asked for input more than {} times for one request; giving up",
                era::INPUT_ROUNDS
            ),
            Some(json!({"source": "gateway"})),
        ))
    }

    /// Send the client one input request as a 2025 server-to-client request
    /// and wait for its answer (the result, or the error it answered with).
    async fn ask_client(&self, input: &Value, sender: &EventSender) -> Result<Value, String> {
        let id = json!(format!("mcp-sigv4-input-{}", uuid::Uuid::new_v4()));
        let (waiter, answer) = oneshot::channel();
        let key = jsonrpc::id_key(&id);
        lock(&self.inner.asked).insert(key.clone(), waiter);
        let _forget = Forget(&self.inner.asked, key);
        // The raw task id of the server's related-task `_meta` is no
        // client's to see: the ask goes on a stream that owns no task.
        let mut request = era::input_request_message(&id, input);
        tasks::without_related_task(&mut request);
        if sender.send(request).await.is_err() {
            return Err("the client went away".into());
        }
        let answer = tokio::select! {
            () = sender.closed() => return Err("the client went away".into()),
            answer = answer => answer,
        };
        answer
            .map(|answer| era::input_answer(&answer))
            .map_err(|_| "the client's answer was lost".into())
    }
}

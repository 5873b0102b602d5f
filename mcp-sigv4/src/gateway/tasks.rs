//! MCP tasks bound to the caller that created them.
//!
//! The gateway reaches each server as one identity, so a server cannot tell
//! the gateway's callers apart and would let any of them read, update or
//! cancel any task whose id they learn. The gateway therefore never shows a
//! client a server's own task id: every task id on its way to a client (a
//! `CreateTaskResult`, `tasks/get`, `notifications/tasks/status`, the
//! related-task `_meta`, ...) is [sealed](super::session::Sealer::seal_fixed)
//! together with the caller's identity digest and the server's name, and
//! every task id on its way to a server is opened again. A task id that does
//! not open for this caller and this server is answered as an unknown task
//! (`-32602`, as the specification has a receiver answer a task it does not
//! know) and never reaches the server.
//!
//! The seal is deterministic (the same task id for the same caller, server
//! and upstream id every time), so a client matches a notification's task id
//! to the one it was given. It carries no state: any replica with the same
//! `session_secret` opens it; without one, a task id opens only on the
//! replica that sealed it.
//!
//! A server binds tasks to the one identity it sees, so it may tell any
//! stream about any caller's task: a task status notification goes on only
//! where its task is the caller's by construction ([`Statuses`]).
//!
//! `tasks/list` (2025-11-25) is refused: the server lists every task of the
//! gateway's one identity, and nothing in its ids says which caller created
//! which, so no filter could show a caller exactly its own tasks. The
//! `tasks.list` capability is taken out of what the servers declare.

use ::http::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::caller;
use super::http::{self, Body};
use super::session::Sealer;
use crate::protocol::era::Era;
use crate::protocol::jsonrpc;
use crate::telemetry::audit;

/// The label of a sealed task id: its prefix, and authenticated with it.
const LABEL: &str = "t1";

/// The methods whose `params.taskId` names a task of the server.
pub(super) const ADDRESSED: [&str; 4] =
    ["tasks/get", "tasks/result", "tasks/cancel", "tasks/update"];

/// The `_meta` key that ties a message to a task.
const RELATED: &str = "io.modelcontextprotocol/related-task";

/// What a sealed task id holds.
#[derive(Serialize, Deserialize)]
struct Sealed {
    /// The server's name.
    #[serde(rename = "s")]
    server: String,
    /// The caller's identity digest.
    #[serde(rename = "w")]
    caller: String,
    /// The server's own task id.
    #[serde(rename = "t")]
    task: String,
}

/// The task ids of one caller: sealed for it, and opened only for it.
#[derive(Clone)]
pub(super) struct Binding {
    sealer: Sealer,
    caller: String,
}

impl std::fmt::Debug for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Binding(<redacted>)")
    }
}

impl Binding {
    /// The binding of the request being answered (its caller in scope).
    pub(super) fn current(sealer: &Sealer) -> Self {
        Self {
            sealer: sealer.clone(),
            caller: caller::current_digest().unwrap_or_default(),
        }
    }

    /// `server`'s task id `task` as this caller is shown it.
    pub(super) fn seal(&self, server: &str, task: &str) -> String {
        let sealed = Sealed {
            server: server.to_owned(),
            caller: self.caller.clone(),
            task: task.to_owned(),
        };
        let plain = serde_json::to_vec(&sealed).unwrap_or_default();
        self.sealer.seal_fixed(LABEL, &plain)
    }

    /// The server and its task id that `token` names, if it was sealed for
    /// this caller.
    pub(super) fn open(&self, token: &str) -> Option<(String, String)> {
        let plain = self.sealer.open_fixed(LABEL, token)?;
        let sealed: Sealed = serde_json::from_slice(&plain).ok()?;
        (sealed.caller == self.caller).then_some((sealed.server, sealed.task))
    }

    /// `server`'s task id that `token` names, if it was sealed for this
    /// caller and this server.
    fn open_for(&self, server: &str, token: &str) -> Option<String> {
        self.open(token)
            .filter(|(sealed, _)| sealed == server)
            .map(|(_, task)| task)
    }

    /// The server a task method's `params.taskId` names, if it is this
    /// caller's: how the aggregated endpoint routes it.
    pub(super) fn server_of(&self, message: &Value) -> Option<String> {
        let token = message.pointer("/params/taskId")?.as_str()?;
        self.open(token).map(|(server, _)| server)
    }

    /// A client's message on its way to `server`, its task ids opened: a
    /// task method's `params.taskId` must be this caller's task of this
    /// server (`Err` otherwise); a related-task `_meta` that is not is left
    /// out, and so are such ids in a `subscriptions/listen`.
    pub(super) fn open_incoming(&self, server: &str, message: &mut Value) -> Result<(), NotYours> {
        let method = jsonrpc::method(message).unwrap_or_default().to_owned();
        if ADDRESSED.contains(&method.as_str()) {
            let token = message.pointer("/params/taskId").and_then(Value::as_str);
            let task = token
                .and_then(|token| self.open_for(server, token))
                .ok_or(NotYours)?;
            message["params"]["taskId"] = Value::String(task);
        }
        for part in ["params", "result"] {
            let Some(meta) = message
                .get_mut(part)
                .and_then(|p| p.get_mut("_meta"))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            let opened = meta
                .get(RELATED)
                .and_then(|related| related.get("taskId"))
                .and_then(Value::as_str)
                .and_then(|token| self.open_for(server, token));
            match opened {
                Some(task) => meta[RELATED]["taskId"] = Value::String(task),
                None => {
                    meta.remove(RELATED);
                }
            }
        }
        if method == "subscriptions/listen"
            && let Some(ids) = message
                .pointer_mut("/params/notifications/taskIds")
                .and_then(Value::as_array_mut)
        {
            let opened: Vec<Value> = ids
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|token| self.open_for(server, token))
                .map(Value::String)
                .collect();
            *ids = opened;
        }
        Ok(())
    }

    /// A message of `server` on its way to the client, its task ids sealed.
    /// `method` is the method of the request it answers, for a reply.
    pub(super) fn seal_outgoing(&self, server: &str, message: &mut Value, method: Option<&str>) {
        let seal = |id: &mut Value| {
            if let Some(task) = id.as_str() {
                *id = Value::String(self.seal(server, task));
            }
        };
        if let Some(result) = message.get_mut("result").filter(|r| r.is_object()) {
            // 2025-11-25's CreateTaskResult.
            if let Some(id) = result.pointer_mut("/task/taskId") {
                seal(id);
            }
            // A task method's Task, or 2026-07-28's CreateTaskResult.
            let is_task = method.is_some_and(|m| ADDRESSED.contains(&m))
                || result.get("resultType").and_then(Value::as_str) == Some("task");
            if is_task && let Some(id) = result.get_mut("taskId") {
                seal(id);
            }
            if method == Some("tasks/list")
                && let Some(tasks) = result.get_mut("tasks").and_then(Value::as_array_mut)
            {
                for task in tasks {
                    if let Some(id) = task.get_mut("taskId") {
                        seal(id);
                    }
                }
            }
        }
        match jsonrpc::method(message) {
            Some("notifications/tasks/status" | "notifications/tasks") => {
                if let Some(id) = message.pointer_mut("/params/taskId") {
                    seal(id);
                }
            }
            Some("notifications/subscriptions/acknowledged") => {
                if let Some(ids) = message
                    .pointer_mut("/params/notifications/taskIds")
                    .and_then(Value::as_array_mut)
                {
                    ids.iter_mut().for_each(seal);
                }
            }
            _ => {}
        }
        for part in ["params", "result"] {
            if let Some(id) = message
                .get_mut(part)
                .and_then(|p| p.get_mut("_meta"))
                .and_then(|meta| meta.get_mut(RELATED))
                .and_then(|related| related.get_mut("taskId"))
            {
                seal(id);
            }
        }
    }
}

/// Which task status notifications a stream may carry to its client. A
/// server binds tasks to the one identity it sees (the gateway's), so it may
/// tell any stream about any caller's task; what it tells is passed on only
/// where the stream is the caller's by construction. Status notifications are
/// optional (a client must not rely on them and polls `tasks/get`), so one
/// left out costs nothing but a poll.
#[derive(Clone, Debug)]
pub(super) enum Statuses {
    /// Any task's: the reply stream of the caller's own request (a
    /// `tools/call`, say, whose task id is not known before its result).
    Any,
    /// These tasks' only (the server's own ids): a task method's reply
    /// stream (its task), a `subscriptions/listen` stream (the tasks the
    /// caller subscribed to, once opened), a GET stream (none).
    Only(Vec<String>),
}

impl Statuses {
    /// What the reply stream of `request` (its task ids already opened) may carry.
    pub(super) fn of_request(request: &Value) -> Self {
        let method = jsonrpc::method(request).unwrap_or_default();
        if ADDRESSED.contains(&method) {
            let task = request.pointer("/params/taskId").and_then(Value::as_str);
            return Self::Only(task.map(str::to_owned).into_iter().collect());
        }
        if method == "subscriptions/listen" {
            let asked = request
                .pointer("/params/notifications/taskIds")
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            return Self::Only(asked);
        }
        Self::Any
    }

    /// Whether `message` may go on to the client: a status notification of a
    /// task outside `Only` may not, and an acknowledgement keeps only the
    /// task ids inside it.
    pub(super) fn pass(&self, message: &mut Value) -> bool {
        let Self::Only(allowed) = self else {
            return true;
        };
        let allows = |id: &Value| {
            id.as_str()
                .is_some_and(|id| allowed.iter().any(|a| a == id))
        };
        match jsonrpc::method(message) {
            Some("notifications/tasks/status" | "notifications/tasks") => {
                message.pointer("/params/taskId").is_some_and(allows)
            }
            Some("notifications/subscriptions/acknowledged") => {
                if let Some(ids) = message
                    .pointer_mut("/params/notifications/taskIds")
                    .and_then(Value::as_array_mut)
                {
                    ids.retain(allows);
                }
                true
            }
            _ => true,
        }
    }
}

/// A task id that is not the caller's task of the server it was sent to.
#[derive(Debug)]
pub(super) struct NotYours;

/// The answer to a task method whose task id is not the caller's: the
/// error a server gives for a task it does not know (`-32602`), so that a
/// caller learns nothing of other callers' tasks. Written to the audit trail.
pub(super) fn unknown_task(message: &Value, server: Option<&str>, era: Era) -> Response<Body> {
    let method = jsonrpc::method(message).unwrap_or_default();
    tracing::info!(method, "refused a task id not bound to the caller");
    audit::refused(
        audit::Outcome::Refused,
        server,
        None,
        "a task id not created by this caller",
    );
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let error = jsonrpc::error(
        &id,
        jsonrpc::INVALID_PARAMS,
        "Failed to retrieve task: Task not found",
        None,
    );
    http::json(era.status_of(&error), &error)
}

/// The answer to `tasks/list`: refused, since a server's list cannot be
/// narrowed to the caller's own tasks (see the module's docs).
pub(super) fn list_refused(message: &Value, era: Era) -> Response<Body> {
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let error = jsonrpc::error(
        &id,
        jsonrpc::METHOD_NOT_FOUND,
        "tasks/list is not served by this gateway: its servers see one identity and cannot list one caller's tasks; keep the task ids your calls returned and poll each with tasks/get",
        Some(json!({"source": "gateway"})),
    );
    http::json(era.status_of(&error), &error)
}

/// A server's declared capabilities without `tasks.list`, which the gateway
/// does not serve.
pub(super) fn without_list(capabilities: &mut Value) {
    if let Some(tasks) = capabilities.get_mut("tasks").and_then(Value::as_object_mut) {
        tasks.remove("list");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(caller: &str) -> Binding {
        Binding {
            sealer: Sealer::new(&[7; 32]).unwrap(),
            caller: caller.to_owned(),
        }
    }

    #[test]
    fn a_task_id_opens_for_its_caller_and_server_only() {
        let ann = binding("ann");
        let token = ann.seal("alpha", "task-1");
        assert_eq!(ann.seal("alpha", "task-1"), token, "the same id each time");
        assert!(!token.contains("task-1"));
        let mut get =
            json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"taskId": token}});
        assert!(
            binding("bob")
                .open_incoming("alpha", &mut get.clone())
                .is_err()
        );
        assert!(ann.open_incoming("beta", &mut get.clone()).is_err());
        let mut raw = json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/cancel", "params": {"taskId": "task-1"}});
        assert!(ann.open_incoming("alpha", &mut raw).is_err());
        ann.open_incoming("alpha", &mut get).unwrap();
        assert_eq!(get["params"]["taskId"], "task-1");
    }

    #[test]
    fn outgoing_task_ids_are_sealed_where_they_appear() {
        let ann = binding("ann");
        let sealed = ann.seal("alpha", "task-1");
        let mut created =
            json!({"jsonrpc": "2.0", "id": 1, "result": {"task": {"taskId": "task-1"}}});
        ann.seal_outgoing("alpha", &mut created, Some("tools/call"));
        assert_eq!(created["result"]["task"]["taskId"], sealed);
        let mut modern = json!({"jsonrpc": "2.0", "id": 1, "result": {"resultType": "task", "taskId": "task-1"}});
        ann.seal_outgoing("alpha", &mut modern, Some("tools/call"));
        assert_eq!(modern["result"]["taskId"], sealed);
        let mut plain = json!({"jsonrpc": "2.0", "id": 1, "result": {"taskId": "not-a-task"}});
        ann.seal_outgoing("alpha", &mut plain, Some("tools/call"));
        assert_eq!(plain["result"]["taskId"], "not-a-task");
        let mut status = json!({"jsonrpc": "2.0", "method": "notifications/tasks/status", "params": {"taskId": "task-1"}});
        ann.seal_outgoing("alpha", &mut status, None);
        assert_eq!(status["params"]["taskId"], sealed);
        let mut result = json!({"jsonrpc": "2.0", "id": 2, "result": {"_meta": {RELATED: {"taskId": "task-1"}}}});
        ann.seal_outgoing("alpha", &mut result, Some("tasks/result"));
        assert_eq!(result["result"]["_meta"][RELATED]["taskId"], sealed);
    }

    #[test]
    fn foreign_related_task_meta_and_listen_ids_are_left_out() {
        let ann = binding("ann");
        let bob = binding("bob").seal("alpha", "task-2");
        let own = ann.seal("alpha", "task-1");
        let mut listen = json!({"jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen",
            "params": {"notifications": {"taskIds": [own, bob]}, "_meta": {RELATED: {"taskId": bob}}}});
        ann.open_incoming("alpha", &mut listen).unwrap();
        assert_eq!(
            listen["params"]["notifications"]["taskIds"],
            json!(["task-1"])
        );
        assert!(listen["params"]["_meta"].get(RELATED).is_none());
    }

    #[test]
    fn a_stream_carries_the_statuses_of_its_own_tasks_only() {
        let status = |id: &str| json!({"jsonrpc": "2.0", "method": "notifications/tasks/status", "params": {"taskId": id}});
        let get = json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"taskId": "task-1"}});
        let only = Statuses::of_request(&get);
        assert!(only.pass(&mut status("task-1")));
        assert!(!only.pass(&mut status("task-2")));
        assert!(!Statuses::Only(Vec::new()).pass(&mut status("task-1")));
        let call =
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x"}});
        assert!(Statuses::of_request(&call).pass(&mut status("task-2")));
        let mut ack = json!({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
            "params": {"notifications": {"taskIds": ["task-1", "task-2"]}}});
        assert!(only.pass(&mut ack));
        assert_eq!(ack["params"]["notifications"]["taskIds"], json!(["task-1"]));
    }

    #[test]
    fn the_list_capability_is_taken_out() {
        let mut caps = json!({"tasks": {"list": {}, "cancel": {}}});
        without_list(&mut caps);
        assert_eq!(caps, json!({"tasks": {"cancel": {}}}));
    }
}

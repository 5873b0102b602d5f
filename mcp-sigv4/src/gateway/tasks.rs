//! MCP tasks bound to the caller that created them.
//!
//! The gateway reaches each server as one identity, so a server cannot tell
//! the gateway's callers apart and would let any of them read, update or
//! cancel any task whose id they learn. The gateway therefore never shows a
//! client a server's own task id: every task id on its way to a client (a
//! `CreateTaskResult`, `tasks/get`, `notifications/tasks/status`, the
//! related-task `_meta`, ...) is [sealed](super::session::Sealer::seal_fixed)
//! together with the caller's identity digest and the server's name, or
//! left out where the stream does not own it (below), and
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
//! The server's name in a sealed task id comes with a digest of its URL, so
//! a name pointed at another URL takes none of the old task ids.
//!
//! A server binds tasks to the one identity it sees, so it may tell any
//! stream about any caller's task, and a sealed id is a key to its task. A
//! task id is therefore sealed only where the stream owns its task by
//! construction ([`Owned`]); elsewhere a status notification is left out and
//! a related-task `_meta` taken out. A `CreateTaskResult`'s id is sealed only
//! in the reply to a request that asked for a task ([`asks_for_task`]), so
//! that a tool whose output a caller chooses seals nothing for it.
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
use super::session::{Sealer, url_digest};
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

/// The `_meta` key of a 2026-07-28 request's capabilities (the envelope).
const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

/// The 2026-07-28 tasks extension's identifier.
const TASKS_EXTENSION: &str = "io.modelcontextprotocol/tasks";

/// What a sealed task id holds.
#[derive(Serialize, Deserialize)]
struct Sealed {
    /// The server's name.
    #[serde(rename = "s")]
    server: String,
    /// A digest of the server's URL ([`url_digest`]): a name pointed at
    /// another URL takes none of the old URL's task ids.
    #[serde(rename = "u")]
    url: String,
    /// The caller's identity digest.
    #[serde(rename = "w")]
    caller: String,
    /// The server's own task id.
    #[serde(rename = "t")]
    task: String,
}

/// A server as a sealed task id names it: its name and its URL's digest.
#[derive(Clone, Debug)]
pub(super) struct TaskServer {
    name: String,
    url: String,
}

impl TaskServer {
    /// The server named `name` at `url`.
    pub(super) fn new(name: &str, url: &str) -> Self {
        Self {
            name: name.to_owned(),
            url: url_digest(url),
        }
    }
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
    pub(super) fn seal(&self, server: &TaskServer, task: &str) -> String {
        let sealed = Sealed {
            server: server.name.clone(),
            url: server.url.clone(),
            caller: self.caller.clone(),
            task: task.to_owned(),
        };
        let plain = serde_json::to_vec(&sealed).unwrap_or_default();
        self.sealer.seal_fixed(LABEL, &plain)
    }

    /// What `token` holds, if it was sealed for this caller.
    fn open(&self, token: &str) -> Option<Sealed> {
        let plain = self.sealer.open_fixed(LABEL, token)?;
        let sealed: Sealed = serde_json::from_slice(&plain).ok()?;
        (sealed.caller == self.caller).then_some(sealed)
    }

    /// `server`'s task id that `token` names, if it was sealed for this
    /// caller and this server at its present URL.
    fn open_for(&self, server: &TaskServer, token: &str) -> Option<String> {
        self.open(token)
            .filter(|sealed| sealed.server == server.name && sealed.url == server.url)
            .map(|sealed| sealed.task)
    }

    /// The server a task method's `params.taskId` names, if it is this
    /// caller's: how the aggregated endpoint routes it.
    pub(super) fn server_of(&self, message: &Value) -> Option<String> {
        let token = message.pointer("/params/taskId")?.as_str()?;
        self.open(token).map(|sealed| sealed.server)
    }

    /// A client's message on its way to `server`, its task ids opened: a
    /// task method's `params.taskId` must be this caller's task of this
    /// server (`Err` otherwise); a related-task `_meta` that is not is left
    /// out, and so are such ids in a `subscriptions/listen`.
    pub(super) fn open_incoming(
        &self,
        server: &TaskServer,
        message: &mut Value,
    ) -> Result<(), NotYours> {
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

    /// A message of `server` on its way to the client, on a stream that owns
    /// `owned`: its task ids sealed where the stream owns them, and left out
    /// where it does not. `false`: the message does not go on (a status
    /// notification of a task the stream does not own).
    ///
    /// A task id the stream does not own is never sealed: a server sees one
    /// identity and may name any caller's task anywhere, and a sealed id is a
    /// key to that task. A related-task `_meta` that names one is taken out
    /// (the message itself goes on); an unowned id in a result is left as
    /// the server sent it, which opens nothing (only sealed ids do).
    pub(super) fn seal_outgoing(
        &self,
        server: &TaskServer,
        message: &mut Value,
        owned: &Owned,
    ) -> bool {
        let seal = |id: &mut Value| {
            if let Some(task) = id.as_str() {
                *id = Value::String(self.seal(server, task));
            }
        };
        // The task a CreateTaskResult creates: this caller's only in the
        // reply to a request that asked for a task.
        let created = message
            .get("result")
            .filter(|_| owned.creates)
            .and_then(|result| {
                let modern = result.get("resultType").and_then(Value::as_str) == Some("task");
                let id = if modern {
                    result.get("taskId")
                } else {
                    result.pointer("/task/taskId")
                };
                id.and_then(Value::as_str).map(str::to_owned)
            });
        let owns =
            |id: &Value| owned.owns(id) || created.is_some() && id.as_str() == created.as_deref();
        let seal_owned = |id: &mut Value| {
            if owns(id) {
                seal(id);
            }
        };
        let related = |meta: &mut Value| {
            let Some(meta) = meta.as_object_mut() else {
                return;
            };
            let owns = meta
                .get(RELATED)
                .and_then(|related| related.get("taskId"))
                .is_some_and(owns);
            match meta.get_mut(RELATED).and_then(|r| r.get_mut("taskId")) {
                Some(id) if owns => seal(id),
                _ => {
                    meta.remove(RELATED);
                }
            }
        };
        if let Some(result) = message.get_mut("result").filter(|r| r.is_object()) {
            // 2025-11-25's CreateTaskResult; 2026-07-28's, or a task
            // method's Task (that task only).
            if let Some(id) = result.pointer_mut("/task/taskId") {
                seal_owned(id);
            }
            if let Some(id) = result.get_mut("taskId") {
                seal_owned(id);
            }
            if let Some(meta) = result.get_mut("_meta") {
                related(meta);
            }
            // 2026-07-28's input requests, in a result or a Task.
            if let Some(inputs) = result
                .get_mut("inputRequests")
                .and_then(Value::as_object_mut)
            {
                for input in inputs.values_mut() {
                    if let Some(meta) = input.pointer_mut("/params/_meta") {
                        related(meta);
                    }
                }
            }
        }
        match jsonrpc::method(message) {
            Some("notifications/tasks/status" | "notifications/tasks") => {
                match message.pointer_mut("/params/taskId") {
                    Some(id) if owned.owns(id) => seal(id),
                    _ => return false,
                }
            }
            Some("notifications/subscriptions/acknowledged") => {
                if let Some(ids) = message
                    .pointer_mut("/params/notifications/taskIds")
                    .and_then(Value::as_array_mut)
                {
                    ids.retain(|id| owned.owns(id));
                    ids.iter_mut().for_each(seal);
                }
            }
            _ => {}
        }
        if let Some(meta) = message.pointer_mut("/params/_meta") {
            related(meta);
        }
        true
    }
}

/// A server's request for input, on its way to a client as a request of the
/// gateway's: a related-task `_meta` in it is taken out, since the gateway
/// asks on the reply stream of a request that owns no task.
pub(super) fn without_related_task(request: &mut Value) {
    if let Some(meta) = request
        .pointer_mut("/params/_meta")
        .and_then(Value::as_object_mut)
    {
        meta.remove(RELATED);
    }
}

/// Whether `request` asked for a task: a `tools/call` with `params.task`
/// (2025-11-25), or one whose per-request capabilities declare the tasks
/// extension (2026-07-28: "A server MUST NOT return `CreateTaskResult` to a
/// client that did not include the extension capability on its request").
pub(super) fn asks_for_task(request: &Value) -> bool {
    if jsonrpc::method(request) != Some("tools/call") {
        return false;
    }
    let Some(params) = request.get("params") else {
        return false;
    };
    params.get("task").is_some_and(Value::is_object)
        || params
            .get("_meta")
            .and_then(|meta| meta.get(CLIENT_CAPABILITIES))
            .and_then(|caps| caps.get("extensions"))
            .and_then(|extensions| extensions.get(TASKS_EXTENSION))
            .is_some()
}

/// The tasks a stream may name to its client (the server's own ids), and
/// whether its reply may create one. A server binds tasks to the one
/// identity it sees (the gateway's), so it may tell any stream about any
/// caller's task; a task is named to a client only where the stream owns it
/// by construction: a task method's stream (its task, once opened for the
/// caller), a `subscriptions/listen` stream (the tasks subscribed to, once
/// opened), the reply of a request that asked for a task (the task it
/// creates). Anything else (a `tools/call`'s reply stream before its
/// result, a GET stream) owns none: a status notification there may be any
/// caller's and is left out. Status notifications are optional (a client
/// must not rely on them and polls `tasks/get`), so one left out costs
/// nothing but a poll.
#[derive(Clone, Debug, Default)]
pub(super) struct Owned {
    tasks: Vec<String>,
    creates: bool,
}

impl Owned {
    /// A stream that owns no task (a GET stream).
    pub(super) fn none() -> Self {
        Self::default()
    }

    /// What the stream of `request` (its task ids already opened) owns.
    pub(super) fn of_request(request: &Value) -> Self {
        let method = jsonrpc::method(request).unwrap_or_default();
        let mut owned = Self {
            creates: asks_for_task(request),
            ..Self::default()
        };
        if ADDRESSED.contains(&method) {
            let task = request.pointer("/params/taskId").and_then(Value::as_str);
            owned.tasks.extend(task.map(str::to_owned));
        }
        if method == "subscriptions/listen"
            && let Some(ids) = request
                .pointer("/params/notifications/taskIds")
                .and_then(Value::as_array)
        {
            owned
                .tasks
                .extend(ids.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        owned
    }

    /// Whether `id` is a task this stream owns.
    fn owns(&self, id: &Value) -> bool {
        id.as_str()
            .is_some_and(|id| self.tasks.iter().any(|own| own == id))
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

    fn alpha() -> TaskServer {
        TaskServer::new("alpha", "http://127.0.0.1:1/mcp")
    }

    /// What the stream of `request` owns.
    fn owned(request: Value) -> Owned {
        Owned::of_request(&request)
    }

    #[test]
    fn a_task_id_opens_for_its_caller_and_server_only() {
        let ann = binding("ann");
        let token = ann.seal(&alpha(), "task-1");
        assert_eq!(ann.seal(&alpha(), "task-1"), token, "the same id each time");
        assert!(!token.contains("task-1"));
        let mut get =
            json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"taskId": token}});
        assert!(
            binding("bob")
                .open_incoming(&alpha(), &mut get.clone())
                .is_err()
        );
        let beta = TaskServer::new("beta", "http://127.0.0.1:1/mcp");
        assert!(ann.open_incoming(&beta, &mut get.clone()).is_err());
        let mut raw = json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/cancel", "params": {"taskId": "task-1"}});
        assert!(ann.open_incoming(&alpha(), &mut raw).is_err());
        ann.open_incoming(&alpha(), &mut get).unwrap();
        assert_eq!(get["params"]["taskId"], "task-1");
    }

    #[test]
    fn a_task_id_dies_when_its_server_name_points_at_another_url() {
        let ann = binding("ann");
        let token = ann.seal(&alpha(), "task-1");
        let moved = TaskServer::new("alpha", "http://127.0.0.1:2/mcp");
        let mut get =
            json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"taskId": token}});
        assert!(ann.open_incoming(&moved, &mut get).is_err());
    }

    #[test]
    fn outgoing_task_ids_are_sealed_where_the_stream_owns_them() {
        let ann = binding("ann");
        let sealed = ann.seal(&alpha(), "task-1");
        let asks = owned(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "x", "task": {"ttl": 1000}}}));
        let mut created = json!({"jsonrpc": "2.0", "id": 1, "result": {"task": {"taskId": "task-1"},
            "_meta": {RELATED: {"taskId": "task-1"}}}});
        assert!(ann.seal_outgoing(&alpha(), &mut created, &asks));
        assert_eq!(created["result"]["task"]["taskId"], sealed);
        assert_eq!(created["result"]["_meta"][RELATED]["taskId"], sealed);
        let asks_modern = owned(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "x", "_meta": {CLIENT_CAPABILITIES: {"extensions": {TASKS_EXTENSION: {}}}}}}));
        let mut modern = json!({"jsonrpc": "2.0", "id": 1, "result": {"resultType": "task", "taskId": "task-1"}});
        ann.seal_outgoing(&alpha(), &mut modern, &asks_modern);
        assert_eq!(modern["result"]["taskId"], sealed);
        let mut plain = json!({"jsonrpc": "2.0", "id": 1, "result": {"taskId": "not-a-task"}});
        ann.seal_outgoing(&alpha(), &mut plain, &asks);
        assert_eq!(plain["result"]["taskId"], "not-a-task");
        let own = owned(
            json!({"jsonrpc": "2.0", "id": 2, "method": "tasks/result", "params": {"taskId": "task-1"}}),
        );
        let mut status = json!({"jsonrpc": "2.0", "method": "notifications/tasks/status", "params": {"taskId": "task-1"}});
        assert!(ann.seal_outgoing(&alpha(), &mut status, &own));
        assert_eq!(status["params"]["taskId"], sealed);
        let mut result = json!({"jsonrpc": "2.0", "id": 2, "result": {"_meta": {RELATED: {"taskId": "task-1"}}}});
        ann.seal_outgoing(&alpha(), &mut result, &own);
        assert_eq!(result["result"]["_meta"][RELATED]["taskId"], sealed);
    }

    /// The reviewer's finding: a server that names another caller's task on
    /// a stream got that task sealed for whoever's stream it was.
    #[test]
    fn a_task_the_stream_does_not_own_is_never_sealed() {
        let ann = binding("ann");
        let bobs = "task-1";
        let call = owned(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "x", "task": {"ttl": 1000}}}));
        let own = owned(
            json!({"jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"taskId": "task-9"}}),
        );
        for stream in [&call, &Owned::none(), &own] {
            let mut status = json!({"jsonrpc": "2.0", "method": "notifications/tasks/status", "params": {"taskId": bobs}});
            assert!(
                !ann.seal_outgoing(&alpha(), &mut status, stream),
                "{stream:?}"
            );
            for method in [
                "notifications/message",
                "notifications/progress",
                "elicitation/create",
            ] {
                let mut message = json!({"jsonrpc": "2.0", "method": method,
                    "params": {"data": "x", "_meta": {RELATED: {"taskId": bobs}, "other": 1}}});
                assert!(ann.seal_outgoing(&alpha(), &mut message, stream));
                assert_eq!(message["params"]["_meta"], json!({"other": 1}), "{method}");
            }
            let mut result = json!({"jsonrpc": "2.0", "id": 2, "result": {"taskId": bobs,
                "_meta": {RELATED: {"taskId": bobs}},
                "inputRequests": {"a": {"method": "elicitation/create", "params": {"_meta": {RELATED: {"taskId": bobs}}}}}}});
            ann.seal_outgoing(&alpha(), &mut result, stream);
            assert_eq!(result["result"]["taskId"], bobs);
            assert!(result["result"]["_meta"].get(RELATED).is_none());
            assert!(
                result
                    .pointer("/result/inputRequests/a/params/_meta")
                    .unwrap()
                    .get(RELATED)
                    .is_none()
            );
        }
    }

    /// The reviewer's second finding: a tool whose output puts a chosen
    /// string where a CreateTaskResult's task id goes was a sealing oracle.
    #[test]
    fn a_reply_to_a_request_that_asked_for_no_task_seals_nothing() {
        let ann = binding("ann");
        let call = owned(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x"}}),
        );
        let mut reply = json!({"jsonrpc": "2.0", "id": 1, "result": {"task": {"taskId": "task-1"},
            "resultType": "task", "taskId": "task-1", "_meta": {RELATED: {"taskId": "task-1"}}}});
        ann.seal_outgoing(&alpha(), &mut reply, &call);
        assert_eq!(reply["result"]["task"]["taskId"], "task-1");
        assert_eq!(reply["result"]["taskId"], "task-1");
        assert!(reply["result"]["_meta"].get(RELATED).is_none());
        let other = owned(
            json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read",
            "params": {"uri": "x", "task": {}}}),
        );
        let mut read = json!({"jsonrpc": "2.0", "id": 1, "result": {"task": {"taskId": "task-1"}}});
        ann.seal_outgoing(&alpha(), &mut read, &other);
        assert_eq!(read["result"]["task"]["taskId"], "task-1");
    }

    #[test]
    fn an_input_request_loses_its_related_task() {
        let mut ask = json!({"jsonrpc": "2.0", "id": "x", "method": "elicitation/create",
            "params": {"message": "m", "_meta": {RELATED: {"taskId": "task-1"}}}});
        without_related_task(&mut ask);
        assert_eq!(ask["params"]["_meta"], json!({}));
    }

    #[test]
    fn foreign_related_task_meta_and_listen_ids_are_left_out() {
        let ann = binding("ann");
        let bob = binding("bob").seal(&alpha(), "task-2");
        let own = ann.seal(&alpha(), "task-1");
        let mut listen = json!({"jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen",
            "params": {"notifications": {"taskIds": [own, bob]}, "_meta": {RELATED: {"taskId": bob}}}});
        ann.open_incoming(&alpha(), &mut listen).unwrap();
        assert_eq!(
            listen["params"]["notifications"]["taskIds"],
            json!(["task-1"])
        );
        assert!(listen["params"]["_meta"].get(RELATED).is_none());
        let mut ack = json!({"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
            "params": {"notifications": {"taskIds": ["task-1", "task-2"]}}});
        assert!(ann.seal_outgoing(&alpha(), &mut ack, &Owned::of_request(&listen)));
        assert_eq!(
            ack["params"]["notifications"]["taskIds"],
            json!([ann.seal(&alpha(), "task-1")])
        );
    }

    #[test]
    fn the_list_capability_is_taken_out() {
        let mut caps = json!({"tasks": {"list": {}, "cancel": {}}});
        without_list(&mut caps);
        assert_eq!(caps, json!({"tasks": {"cancel": {}}}));
    }
}

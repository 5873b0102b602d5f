//! MCP tasks bound to the caller that created them: two named keys, `ann`
//! and `bob`, share two servers that the gateway reaches as one identity
//! (and whose task ids, `task-1`, `task-2`, ..., are guessable). Whatever
//! route and era, bob is told "task not found" for ann's task, with the id
//! ann was shown or with the server's own id, and the server never sees the
//! request; `tasks/list` is refused to both.

use serde_json::{Value, json};

use super::era_server::{self, EraStandIn, Kind};
use super::eras::{MODERN, modern};
use super::{Answer, Gateway, NEXT, rpc, send};

const ANN: &str = "ann-key-0123456789abcdef";
const BOB: &str = "bob-key-0123456789abcdef";
const SECRET: &str = "tasks-test-secret-0123456789abcdef0123";

struct Setup {
    alpha: EraStandIn,
    beta: EraStandIn,
    config: std::path::PathBuf,
    gateway: Gateway,
}

async fn setup() -> Setup {
    let alpha = era_server::start(Kind::Dual).await;
    let beta = era_server::start(Kind::Dual).await;
    let mut yaml = String::from("mcp_servers:\n");
    for (name, server) in [("alpha", &alpha), ("beta", &beta)] {
        yaml.push_str(&crate::signed_entry(name, &server.url()));
    }
    yaml.push_str(&format!(
        "general_settings:\n  master_key: os.environ/MASTER\n  session_secret: {SECRET}\n  keys:\n    ann:\n      key: {ANN}\n      servers: [alpha, beta]\n    bob:\n      key: {BOB}\n      servers: [alpha, beta]\n"
    ));
    let dir = std::env::temp_dir().join(format!(
        "mcp-sigv4-tasks-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yaml");
    std::fs::write(&config, yaml).unwrap();
    let gateway = Gateway::start(&config, &[]).await;
    Setup {
        alpha,
        beta,
        config,
        gateway,
    }
}

/// The task requests (`tasks/*`) that reached `server`.
fn task_requests(server: &EraStandIn) -> usize {
    server
        .seen()
        .iter()
        .filter(|seen| {
            seen.method
                .as_deref()
                .is_some_and(|m| m.starts_with("tasks/"))
        })
        .count()
}

fn is_unknown_task(answer: &Answer) -> bool {
    let reply = answer.reply();
    reply["error"]["code"] == -32602
        && reply["error"]["message"] == "Failed to retrieve task: Task not found"
}

/// A 2025-era session of `key` at `path`, and a sender of its messages.
struct Legacy<'a> {
    gateway: &'a Gateway,
    path: &'a str,
    auth: String,
    session: String,
}

impl<'a> Legacy<'a> {
    async fn open(gateway: &'a Gateway, path: &'a str, key: &str) -> Self {
        let auth = format!("Bearer {key}");
        let session = super::open(gateway, path, &[("authorization", &auth)]).await;
        Self {
            gateway,
            path,
            auth,
            session,
        }
    }

    async fn send(&self, message: &Value) -> Answer {
        let url = format!("{}{}", self.gateway.base, self.path);
        send(
            "POST",
            &url,
            &[
                ("authorization", &self.auth),
                ("mcp-session-id", &self.session),
            ],
            Some(message),
        )
        .await
    }
}

/// POST a 2026-07-28 request of `key` at `path`, its headers equal to its body.
async fn stateless(gateway: &Gateway, path: &str, key: &str, message: &Value) -> Answer {
    let method = message["method"].as_str().unwrap().to_owned();
    let params = &message["params"];
    let name = params["name"].as_str().or(params["taskId"].as_str());
    let name = name.map(mcp_sigv4::protocol::era::encode_header_value);
    let auth = format!("Bearer {key}");
    let mut headers = vec![
        ("mcp-protocol-version", MODERN),
        ("mcp-method", method.as_str()),
        ("authorization", auth.as_str()),
    ];
    if let Some(name) = &name {
        headers.push(("mcp-name", name));
    }
    send(
        "POST",
        &format!("{}{path}", gateway.base),
        &headers,
        Some(message),
    )
    .await
}

fn start_task(id: i64, name: &str) -> Value {
    rpc(
        id,
        "tools/call",
        json!({"name": name, "arguments": {}, "task": {"ttl": 60000}}),
    )
}

/// A 2026-07-28 `tools/call` of `name` whose per-request capabilities
/// declare the tasks extension (so the server may answer with a task).
fn modern_task_call(id: i64, name: &str) -> Value {
    let mut call = modern(id, "tools/call", json!({"name": name, "arguments": {}}));
    call["params"]["_meta"]["io.modelcontextprotocol/clientCapabilities"]["extensions"] =
        json!({"io.modelcontextprotocol/tasks": {}});
    call
}

/// Every string in `answer`'s messages that looks like a sealed task id.
fn sealed_ids(answer: &Answer) -> Vec<String> {
    fn walk(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::String(s) if s.starts_with("t1.") => found.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            Value::Object(map) => map.values().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    answer.messages.iter().for_each(|m| walk(m, &mut found));
    found
}

/// The task id a `CreateTaskResult` gives: `result.task.taskId` (2025-11-25)
/// or `result.taskId` (2026-07-28).
fn task_of(created: &Answer) -> String {
    let result = &created.reply()["result"];
    result["task"]["taskId"]
        .as_str()
        .or(result["taskId"].as_str())
        .unwrap_or_else(|| panic!("no task id: {created:?}"))
        .to_owned()
}

fn on_task(id: i64, method: &str, task: &str) -> Value {
    rpc(id, method, json!({"taskId": task}))
}

#[tokio::test]
async fn a_2025_task_answers_its_creator_only() {
    let s = setup().await;
    let g = &s.gateway;
    let ann = Legacy::open(g, "/mcp/alpha", ANN).await;
    let bob = Legacy::open(g, "/mcp/alpha", BOB).await;

    // The CreateTaskResult names an id that is not the server's. The status
    // notification before it is left out: until the result, the stream
    // cannot know the task it names is ann's.
    let created = ann.send(&start_task(1, "start_task")).await;
    assert_eq!(s.alpha.task_ids(), ["task-1"]);
    let task = task_of(&created);
    assert!(
        task.starts_with("t1.") && !task.contains("task-1"),
        "{task}"
    );
    assert_eq!(created.messages.len(), 1, "{created:?}");

    let got = ann.send(&on_task(2, "tasks/get", &task)).await;
    assert_eq!(got.reply()["result"]["status"], "working", "{got:?}");
    assert_eq!(got.reply()["result"]["taskId"], task.as_str());
    assert_eq!(
        s.alpha.seen_method("tasks/get")[0].body["params"]["taskId"],
        "task-1",
        "the server is sent its own id"
    );

    // Bob: with ann's id, or with the server's, or with a made-up one.
    let before = task_requests(&s.alpha);
    for (n, method) in ["tasks/get", "tasks/result", "tasks/cancel"]
        .iter()
        .enumerate()
    {
        for id in [task.as_str(), "task-1", "t1.AAAA"] {
            let answer = bob.send(&on_task(10 + n as i64, method, id)).await;
            assert!(is_unknown_task(&answer), "{method} {id}: {answer:?}");
        }
    }
    assert_eq!(
        task_requests(&s.alpha),
        before,
        "bob's requests reached the server"
    );

    // Ann's id on another server's route names no task of it.
    let other = Legacy::open(g, "/mcp/beta", ANN).await;
    let answer = other.send(&on_task(20, "tasks/get", &task)).await;
    assert!(is_unknown_task(&answer), "{answer:?}");
    assert_eq!(task_requests(&s.beta), 0);

    // Ann may have the result (its related-task id sealed as hers) and cancel.
    let result = ann.send(&on_task(3, "tasks/result", &task)).await;
    let reply = result.reply();
    assert_eq!(
        reply["result"]["content"][0]["text"], "done task-1",
        "{result:?}"
    );
    assert_eq!(
        reply["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"],
        task.as_str()
    );
    let cancelled = ann.send(&on_task(4, "tasks/cancel", &task)).await;
    assert_eq!(
        cancelled.reply()["result"]["status"],
        "cancelled",
        "{cancelled:?}"
    );
    assert_eq!(cancelled.reply()["result"]["taskId"], task.as_str());

    // Nobody lists: the server would list every caller's tasks.
    for session in [&ann, &bob] {
        let listed = session.send(&rpc(5, "tasks/list", json!({}))).await;
        assert_eq!(listed.reply()["error"]["code"], -32601, "{listed:?}");
    }
    assert!(s.alpha.seen_method("tasks/list").is_empty());
}

#[tokio::test]
async fn a_2026_task_answers_its_creator_only_on_any_replica_with_the_secret() {
    let s = setup().await;
    let g = &s.gateway;
    let call = modern_task_call(1, "start_task");
    let created = stateless(g, "/mcp/alpha", ANN, &call).await;
    let reply = created.reply();
    assert_eq!(reply["result"]["resultType"], "task", "{created:?}");
    let task = reply["result"]["taskId"].as_str().unwrap().to_owned();
    assert!(
        task.starts_with("t1.") && !task.contains("task-1"),
        "{task}"
    );
    assert_eq!(created.messages.len(), 1, "{created:?}");

    let get = modern(2, "tasks/get", json!({"taskId": task}));
    let got = stateless(g, "/mcp/alpha", ANN, &get).await;
    assert_eq!(got.reply()["result"]["taskId"], task.as_str(), "{got:?}");
    let seen = &s.alpha.seen_method("tasks/get")[0];
    assert_eq!(seen.body["params"]["taskId"], "task-1");
    assert_eq!(
        seen.header("mcp-name"),
        Some("task-1"),
        "Mcp-Name follows the body"
    );

    let before = task_requests(&s.alpha);
    let update = json!({"taskId": task, "inputResponses": {}});
    for (method, params) in [
        ("tasks/get", json!({"taskId": task})),
        ("tasks/update", update.clone()),
        ("tasks/cancel", json!({"taskId": task})),
        ("tasks/get", json!({"taskId": "task-1"})),
    ] {
        let answer = stateless(g, "/mcp/alpha", BOB, &modern(3, method, params)).await;
        assert!(is_unknown_task(&answer), "{method}: {answer:?}");
    }
    assert_eq!(
        task_requests(&s.alpha),
        before,
        "bob's requests reached the server"
    );

    // Another replica with the same session secret knows ann's task.
    let replica = Gateway::start(&s.config, &[]).await;
    let got = stateless(&replica, "/mcp/alpha", ANN, &get).await;
    assert_eq!(got.reply()["result"]["status"], "working", "{got:?}");
    let updated = stateless(
        &replica,
        "/mcp/alpha",
        ANN,
        &modern(4, "tasks/update", update),
    )
    .await;
    assert_eq!(
        updated.reply()["result"]["resultType"],
        "complete",
        "{updated:?}"
    );
    let cancel = modern(5, "tasks/cancel", json!({"taskId": task}));
    let cancelled = stateless(g, "/mcp/alpha", ANN, &cancel).await;
    assert!(cancelled.reply().get("result").is_some(), "{cancelled:?}");
}

#[tokio::test]
async fn the_aggregated_endpoint_routes_a_task_by_the_server_its_id_names() {
    let s = setup().await;
    let g = &s.gateway;
    let ann = Legacy::open(g, "/mcp", ANN).await;
    let bob = Legacy::open(g, "/mcp", BOB).await;
    let created = ann.send(&start_task(1, "beta-start_task")).await;
    let task = task_of(&created);
    assert_eq!(s.beta.task_ids(), ["task-1"]);
    assert!(s.alpha.task_ids().is_empty());

    let answer = bob.send(&on_task(2, "tasks/get", &task)).await;
    assert!(is_unknown_task(&answer), "{answer:?}");
    assert_eq!(task_requests(&s.beta) + task_requests(&s.alpha), 0);

    let got = ann.send(&on_task(3, "tasks/get", &task)).await;
    assert_eq!(got.reply()["result"]["taskId"], task.as_str(), "{got:?}");
    assert_eq!(s.beta.seen_method("tasks/get").len(), 1);
    assert_eq!(task_requests(&s.alpha), 0);

    // The same in 2026-07-28, stateless.
    let call = modern_task_call(4, "alpha-start_task");
    let created = stateless(g, "/mcp", ANN, &call).await;
    let task = task_of(&created);
    let get = modern(5, "tasks/get", json!({"taskId": task}));
    let answer = stateless(g, "/mcp", BOB, &get).await;
    assert!(is_unknown_task(&answer), "{answer:?}");
    assert_eq!(task_requests(&s.alpha), 0);
    let got = stateless(g, "/mcp", ANN, &get).await;
    assert_eq!(got.reply()["result"]["taskId"], task.as_str(), "{got:?}");
    assert_eq!(task_requests(&s.alpha), 1);

    let listed = ann.send(&rpc(6, "tasks/list", json!({}))).await;
    assert_eq!(listed.reply()["error"]["code"], -32601, "{listed:?}");
}

/// A server sees one identity, so it may tell any stream of any caller's
/// task: the gateway passes a task status on only where its task is the
/// caller's by construction.
#[tokio::test]
async fn a_server_that_broadcasts_task_statuses_tells_no_caller_of_anothers_task() {
    let s = setup().await;
    let g = &s.gateway;
    let call = modern_task_call(1, "start_task");
    let created = stateless(g, "/mcp/alpha", ANN, &call).await;
    let ann_task = task_of(&created);
    stateless(g, "/mcp/alpha", BOB, &call).await;
    assert_eq!(s.alpha.task_ids(), ["task-1", "task-2"]);
    let statuses = |answer: &Answer| -> Vec<Value> {
        answer
            .messages
            .iter()
            .filter(|m| m["method"] == "notifications/tasks")
            .map(|m| m["params"]["taskId"].clone())
            .collect()
    };

    // The server sends both tasks' statuses before its reply to tasks/get.
    let get = modern(2, "tasks/get", json!({"taskId": ann_task}));
    let got = stateless(g, "/mcp/alpha", ANN, &get).await;
    assert_eq!(
        got.reply()["result"]["taskId"],
        ann_task.as_str(),
        "{got:?}"
    );
    assert_eq!(statuses(&got), [json!(ann_task)], "{got:?}");

    // And on a subscription, to whoever listens.
    let listen = modern(3, "subscriptions/listen", json!({"tasks": true}));
    let listened = stateless(g, "/mcp/alpha", ANN, &listen).await;
    assert_eq!(s.alpha.listens(), 1);
    assert!(listened.reply().get("result").is_some(), "{listened:?}");
    assert!(statuses(&listened).is_empty(), "{listened:?}");
}

#[tokio::test]
async fn without_a_shared_secret_a_task_id_works_only_on_its_replica() {
    let s = setup().await;
    let yaml = std::fs::read_to_string(&s.config).unwrap();
    let lone: String = yaml
        .lines()
        .filter(|line| !line.contains("session_secret"))
        .map(|line| format!("{line}\n"))
        .collect();
    let config = s.config.with_file_name("lone.yaml");
    std::fs::write(&config, lone).unwrap();
    let (one, two) = (
        Gateway::start(&config, &[]).await,
        Gateway::start(&config, &[]).await,
    );
    let call = modern_task_call(1, "start_task");
    let created = stateless(&one, "/mcp/alpha", ANN, &call).await;
    let task = task_of(&created);
    let get = modern(2, "tasks/get", json!({"taskId": task}));
    let elsewhere = stateless(&two, "/mcp/alpha", ANN, &get).await;
    assert!(is_unknown_task(&elsewhere), "{elsewhere:?}");
    assert_eq!(task_requests(&s.alpha), 0);
    let here = stateless(&one, "/mcp/alpha", ANN, &get).await;
    assert_eq!(here.reply()["result"]["status"], "working", "{here:?}");
}

/// A server that tells any stream of any task (the reviewer's proof of
/// concept): bob's task named on ann's own `tools/call` stream gave ann a
/// sealed id for it, and with it bob's result and a cancel. Ann is now told
/// of no task before her result names her own, in either era.
#[tokio::test]
async fn a_call_stream_names_no_task_but_the_one_its_result_creates() {
    let s = setup().await;
    let g = &s.gateway;
    let ann = Legacy::open(g, "/mcp/alpha", ANN).await;
    let bob = Legacy::open(g, "/mcp/alpha", BOB).await;
    let bobs = bob.send(&start_task(1, "start_task")).await;
    let bobs = task_of(&bobs);

    let created = ann.send(&start_task(1, "start_task_loudly")).await;
    assert_eq!(s.alpha.task_ids(), ["task-1", "task-2"]);
    let mine = task_of(&created);
    // The server sent both statuses and a log line of each task: the log
    // lines go on without the task they name, the statuses not at all.
    let methods: Vec<&str> = created
        .messages
        .iter()
        .filter_map(|m| m["method"].as_str())
        .collect();
    assert_eq!(
        methods,
        ["notifications/message", "notifications/message"],
        "{created:?}"
    );
    for log in created
        .messages
        .iter()
        .filter(|m| m.get("method").is_some())
    {
        assert!(
            log["params"]["_meta"]
                .get("io.modelcontextprotocol/related-task")
                .is_none(),
            "{log:?}"
        );
    }
    assert_eq!(
        sealed_ids(&created),
        std::slice::from_ref(&mine),
        "{created:?}"
    );

    // The same on a 2026-07-28 call.
    let call = modern_task_call(2, "start_task_loudly");
    let modern_created = stateless(g, "/mcp/alpha", ANN, &call).await;
    assert_eq!(s.alpha.task_ids(), ["task-1", "task-2", "task-3"]);
    let modern_mine = task_of(&modern_created);
    assert!(
        modern_created
            .messages
            .iter()
            .all(|m| m["method"] != "notifications/tasks"),
        "{modern_created:?}"
    );
    assert_eq!(
        sealed_ids(&modern_created),
        [modern_mine],
        "{modern_created:?}"
    );

    // Ann's own task answers her; bob's stays his, untouched.
    let before = task_requests(&s.alpha);
    let got = ann.send(&on_task(3, "tasks/get", &mine)).await;
    assert_eq!(got.reply()["result"]["taskId"], mine.as_str(), "{got:?}");
    assert_eq!(
        s.alpha.seen_method("tasks/get")[0].body["params"]["taskId"],
        "task-2"
    );
    let theirs = bob.send(&on_task(4, "tasks/get", &bobs)).await;
    assert_eq!(theirs.reply()["result"]["status"], "working", "{theirs:?}");
    assert_eq!(task_requests(&s.alpha), before + 2);
}

/// A tool whose output the caller chooses, put where a `CreateTaskResult`'s
/// and a related-task `_meta`'s task ids go, was a sealing oracle: ann asked
/// it for bob's raw id and was handed a sealed one. The reply of a call that
/// asked for no task seals nothing, in either era.
#[tokio::test]
async fn a_tool_output_is_no_sealing_oracle() {
    let s = setup().await;
    let g = &s.gateway;
    let ann = Legacy::open(g, "/mcp/alpha", ANN).await;
    let bob = Legacy::open(g, "/mcp/alpha", BOB).await;
    let bobs = bob.send(&start_task(1, "start_task")).await;
    let bobs = task_of(&bobs);
    let reflect = rpc(
        2,
        "tools/call",
        json!({"name": "reflect_task", "arguments": {"taskId": "task-1"}}),
    );
    let legacy = ann.send(&reflect).await;
    let modern_reflect = modern(
        3,
        "tools/call",
        json!({"name": "reflect_task", "arguments": {"taskId": "task-1"}}),
    );
    let modern_answer = stateless(g, "/mcp/alpha", ANN, &modern_reflect).await;
    let before = task_requests(&s.alpha);
    for answer in [&legacy, &modern_answer] {
        let reply = answer.reply();
        assert!(reply.get("result").is_some(), "{answer:?}");
        assert!(sealed_ids(answer).is_empty(), "{answer:?}");
        assert!(
            reply["result"]["_meta"]
                .get("io.modelcontextprotocol/related-task")
                .is_none(),
            "{answer:?}"
        );
        // Whatever ann was handed does not open bob's task.
        for handed in [
            &reply["result"]["task"]["taskId"],
            &reply["result"]["taskId"],
        ] {
            if let Some(handed) = handed.as_str() {
                let cancel = ann.send(&on_task(5, "tasks/cancel", handed)).await;
                assert!(is_unknown_task(&cancel), "{cancel:?}");
            }
        }
    }
    assert_eq!(
        task_requests(&s.alpha),
        before,
        "ann's cancels reached the server"
    );
    let theirs = bob.send(&on_task(6, "tasks/get", &bobs)).await;
    assert_eq!(theirs.reply()["result"]["status"], "working", "{theirs:?}");
}

//! The audit trail: who called which tool, when, and how it ended; and who was
//! refused. One JSON object per line, to the log on stderr or, with
//! `--audit-log PATH`, appended to a file of its own (each line written whole
//! as it happens, never buffered). [`reopen`] opens that file anew, for log
//! rotation (the gateway calls it on SIGHUP).
//!
//! Every line has the same fields: `time` (RFC 3339, UTC), `identity` and
//! `rule` (who was calling and what granted it; `null` when the request
//! carried no valid credential), `route`, `server`, `tool`, `outcome` (see
//! [`Outcome`]), `duration_ms`, `trace_id` (when traces are exported),
//! `client` (the peer's address) and `reason` (why it was refused, or what
//! kind of upstream failure it was). A refusal of a request without a valid
//! credential adds `count`: such refusals are written at most once a second
//! per client address, the line counting every refusal folded into it, so
//! that a scan cannot flood the trail. With `--audit-arguments` a call's
//! line carries its `arguments`; otherwise no argument value is written. No
//! header, key, token or session id is ever written.
//!
//! The gateway sets the [`Scope`] of each request once its caller is known
//! ([`within`]); a `tools/call` observed by the metrics ([`Call`]) and a
//! refusal ([`refused`]) take the caller from it, however deep they happen.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;

/// How a `tools/call`, or a refused request, ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The tool answered with a result.
    Ok,
    /// The tool answered with `isError: true`: it ran and failed.
    ToolError,
    /// The gateway refused the request; it reached no upstream.
    Refused,
    /// The caller was over its `requests_per_minute`; it reached no upstream.
    RateLimited,
    /// The server answered with a JSON-RPC error, failed, did not answer in
    /// time, or the client went away first (`reason` says which).
    UpstreamError,
}

/// Where the trail goes, and what it holds.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Append to this file (`--audit-log`); `None`: to the log on stderr.
    pub file: Option<PathBuf>,
    /// Write each call's arguments (`--audit-arguments`).
    pub arguments: bool,
    /// Whether the log is JSON (`--log-format json`); the trail's lines in
    /// the log then carry the log's `timestamp`, `level` and `target`.
    pub json_log: bool,
}

/// Who is calling and how they came, for every line of one request.
#[derive(Clone, Debug)]
pub struct Scope {
    /// The caller's identity (`master`, a key's name, `{iss} {sub}`, `anonymous`).
    pub identity: String,
    /// What granted access, when anything but the master key or no key did.
    pub rule: Option<String>,
    /// The route the client used, as a template: `/mcp`, `/mcp/{server}`,
    /// `/{server}/mcp`, `/mcp-rest/tools/call`.
    pub route: &'static str,
    /// The client's address.
    pub client: Option<IpAddr>,
}

tokio::task_local! {
    static SCOPE: Scope;
}

/// Run `work` with `scope` as the caller of every line it writes.
pub async fn within<F: Future>(scope: Scope, work: F) -> F::Output {
    SCOPE.scope(scope, work).await
}

/// The target the trail's lines have in the log.
const TARGET: &str = "mcp_sigv4::audit";

/// The longest tool or server name written, in bytes; a longer one is cut.
const MAX_NAME_LEN: usize = 256;

/// The longest refusals of one client address are folded into one line.
const FOLD_FOR: Duration = Duration::from_secs(1);

/// The most client addresses whose refusals are folded apart; refusals from
/// further addresses at once are folded together as `client: "other"`.
const MAX_CLIENTS: usize = 4096;

enum Sink {
    Log {
        json: bool,
    },
    /// The file at `path`, as opened last: a line is written whole while the
    /// lock is held, so a [`reopen`] that swaps the handle under the same lock
    /// puts each line in exactly one file.
    File {
        path: PathBuf,
        file: Mutex<File>,
    },
}

struct Trail {
    sink: Sink,
    arguments: bool,
    throttle: Mutex<Throttle>,
    /// Whether a failed write was already logged (once is enough).
    failed: AtomicBool,
}

static TRAIL: OnceLock<Trail> = OnceLock::new();

/// Start the trail with `settings` (once; later calls change nothing). The
/// file is created if missing (readable by its owner only) and appended to.
/// Inside a Tokio runtime, a task writes the counts of folded refusals each
/// second; [`flush`] writes what is left at shutdown.
pub fn init(settings: Settings) -> Result<(), String> {
    let sink = match &settings.file {
        None => Sink::Log {
            json: settings.json_log,
        },
        Some(path) => {
            let file = open(path).map_err(|e| {
                format!(
                    "cannot open the audit log {}: {e}; choose a writable --audit-log",
                    path.display()
                )
            })?;
            Sink::File {
                path: path.clone(),
                file: Mutex::new(file),
            }
        }
    };
    let trail = Trail {
        sink,
        arguments: settings.arguments,
        throttle: Mutex::new(Throttle::default()),
        failed: AtomicBool::new(false),
    };
    if TRAIL.set(trail).is_ok()
        && let Ok(runtime) = tokio::runtime::Handle::try_current()
    {
        runtime.spawn(async {
            let mut tick = tokio::time::interval(FOLD_FOR);
            loop {
                tick.tick().await;
                sweep(false);
            }
        });
    }
    Ok(())
}

/// Open the `--audit-log` file for appending, created readable by its owner
/// only when missing.
fn open(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Open the `--audit-log` file anew at its path (created readable by its
/// owner only when missing) and write every later line to it, closing the
/// file written until now: once logrotate has moved the file away, the trail
/// goes on in a new one. Each line lands whole in exactly one of the two.
///
/// Returns the path reopened, or `None` when the trail goes to the log. When
/// the path cannot be opened, the lines keep going to the file opened before,
/// and the error says what to fix.
pub fn reopen() -> Result<Option<&'static Path>, String> {
    let Some(Trail {
        sink: Sink::File { path, file },
        failed,
        ..
    }) = TRAIL.get()
    else {
        return Ok(None);
    };
    let fresh = open(path).map_err(|e| {
        format!(
            "cannot reopen the audit log {}: {e}; its lines keep going to the file opened before. Make the directory exist and be writable by the gateway (or point --audit-log elsewhere and restart), then send SIGHUP again",
            path.display()
        )
    })?;
    let old = std::mem::replace(
        &mut *file.lock().unwrap_or_else(PoisonError::into_inner),
        fresh,
    );
    // Closed outside the lock: writers wait only for the swap.
    drop(old);
    // A new file may write where the old one failed: say so again if not.
    failed.store(false, Ordering::Relaxed);
    Ok(Some(path))
}

/// Write the counts of refusals folded and not yet written; call it at shutdown.
pub fn flush() {
    sweep(true);
}

/// One `tools/call` to one server, written when it ends.
#[derive(Debug)]
pub struct Call {
    scope: Option<Scope>,
    server: String,
    tool: String,
    arguments: Option<Value>,
    trace_id: Option<String>,
    started: Instant,
}

impl Call {
    /// Start timing `message` to `server`, when it is a `tools/call` and the
    /// trail is on.
    pub fn start(server: &str, message: &Value) -> Option<Self> {
        let trail = TRAIL.get()?;
        if message.get("method").and_then(Value::as_str) != Some("tools/call") {
            return None;
        }
        let tool = message
            .pointer("/params/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Some(Self {
            scope: current_scope(),
            server: server.to_owned(),
            tool: bounded(tool).to_owned(),
            arguments: trail
                .arguments
                .then(|| message.pointer("/params/arguments").cloned())
                .flatten(),
            trace_id: trace_id(),
            started: Instant::now(),
        })
    }

    /// Write the call's line: it ended with `outcome`, for `reason` if any.
    pub fn finish(self, outcome: Outcome, reason: Option<&str>) {
        let Some(trail) = TRAIL.get() else { return };
        let scope = self.scope.as_ref();
        trail.write(&Line {
            time: now(),
            identity: scope.map(|s| s.identity.as_str()),
            rule: scope.and_then(|s| s.rule.as_deref()),
            route: scope.map(|s| s.route),
            server: Some(&self.server),
            tool: Some(&self.tool),
            outcome,
            duration_ms: Some(millis(self.started.elapsed())),
            trace_id: self.trace_id.clone(),
            client: scope.and_then(|s| s.client).map(|c| c.to_string()),
            reason,
            count: None,
            arguments: self.arguments.as_ref(),
        });
    }
}

/// Write the line of a request of the current [`Scope`]'s caller that the
/// gateway answered itself (`Refused`, `RateLimited`): the `server` and
/// `tool` it named, if any, and why.
pub fn refused(outcome: Outcome, server: Option<&str>, tool: Option<&str>, reason: &str) {
    let Some(trail) = TRAIL.get() else { return };
    let scope = current_scope();
    let scope = scope.as_ref();
    trail.write(&Line {
        time: now(),
        identity: scope.map(|s| s.identity.as_str()),
        rule: scope.and_then(|s| s.rule.as_deref()),
        route: scope.map(|s| s.route),
        server: server.map(bounded),
        tool: tool.map(bounded),
        outcome,
        duration_ms: None,
        trace_id: trace_id(),
        client: scope.and_then(|s| s.client).map(|c| c.to_string()),
        reason: Some(reason),
        count: None,
        arguments: None,
    });
}

/// Note a request refused before any identity was established (no valid
/// credential, a `Host` or `Origin` not allowed): written now when `client`
/// had no line in the last second, otherwise counted into its next line.
pub fn unidentified(client: Option<IpAddr>, route: &'static str, reason: &'static str) {
    let Some(trail) = TRAIL.get() else { return };
    let noted = trail
        .throttle
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .note(client, route, reason, Instant::now());
    if let Some(folded) = noted {
        trail.write_unidentified(&folded, trace_id());
    }
}

/// Write the lines of folded refusals that are due (all of them when `all`).
fn sweep(all: bool) {
    let Some(trail) = TRAIL.get() else { return };
    let due = trail
        .throttle
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .sweep(Instant::now(), all);
    for folded in &due {
        trail.write_unidentified(folded, None);
    }
}

impl Trail {
    fn write_unidentified(&self, folded: &Folded, trace_id: Option<String>) {
        self.write(&Line {
            time: now(),
            identity: None,
            rule: None,
            route: Some(folded.route),
            server: None,
            tool: None,
            outcome: Outcome::Refused,
            duration_ms: None,
            trace_id,
            client: Some(folded.client.to_string()),
            reason: Some(folded.reason),
            count: Some(folded.count),
            arguments: None,
        });
    }

    fn write(&self, line: &Line<'_>) {
        let written = match &self.sink {
            Sink::File { file, .. } => serde_json::to_string(line).map(|mut text| {
                text.push('\n');
                let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
                file.write_all(text.as_bytes()).and_then(|()| file.flush())
            }),
            Sink::Log { json: true } => serde_json::to_string(&Logged {
                timestamp: &line.time,
                level: "INFO",
                target: TARGET,
                line,
            })
            .map(|text| {
                std::io::stderr()
                    .lock()
                    .write_all(format!("{text}\n").as_bytes())
            }),
            Sink::Log { json: false } => serde_json::to_string(line).map(|text| {
                std::io::stderr()
                    .lock()
                    .write_all(format!("{}  INFO {TARGET}: {text}\n", line.time).as_bytes())
            }),
        };
        let failure = match written {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        if !self.failed.swap(true, Ordering::Relaxed) {
            tracing::error!(
                "writing the audit trail failed: {failure}; check the disk and --audit-log (said once)"
            );
        }
    }
}

/// One line of the trail; every field is present, `null` when unknown.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    identity: Option<&'a str>,
    rule: Option<&'a str>,
    route: Option<&'a str>,
    server: Option<&'a str>,
    tool: Option<&'a str>,
    outcome: Outcome,
    duration_ms: Option<f64>,
    trace_id: Option<String>,
    client: Option<String>,
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a Value>,
}

/// A line of the trail in a JSON log, shaped as the log's own lines.
#[derive(Serialize)]
struct Logged<'a> {
    timestamp: &'a str,
    level: &'static str,
    target: &'static str,
    #[serde(flatten)]
    line: &'a Line<'a>,
}

fn current_scope() -> Option<Scope> {
    SCOPE.try_with(Clone::clone).ok()
}

fn trace_id() -> Option<String> {
    super::traces::current_trace_id().map(|id| id.to_string())
}

fn now() -> String {
    aws_smithy_types::DateTime::from(SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_micros() as f64 / 1000.0
}

/// `name`, cut to at most [`MAX_NAME_LEN`] bytes on a character boundary.
fn bounded(name: &str) -> &str {
    if name.len() <= MAX_NAME_LEN {
        return name;
    }
    let mut end = MAX_NAME_LEN;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// A client address whose refusals are folded apart, or the rest together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Client {
    Address(IpAddr),
    Other,
}

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Address(address) => address.fmt(f),
            Self::Other => f.write_str("other"),
        }
    }
}

/// Refusals of one client to write as one line.
#[derive(Debug, PartialEq, Eq)]
struct Folded {
    client: Client,
    count: u64,
    route: &'static str,
    reason: &'static str,
}

/// One client's refusals since its last line.
#[derive(Debug)]
struct Slot {
    written: Instant,
    folded: u64,
    route: &'static str,
    reason: &'static str,
}

/// The clients refused in the last second, at most [`MAX_CLIENTS`] of them
/// apart (and `Other`): a slot is dropped once a second passes without a
/// refusal to write.
#[derive(Debug, Default)]
struct Throttle {
    slots: HashMap<Client, Slot>,
}

impl Throttle {
    /// A refusal of `client` at `now`: the line to write now, if any.
    fn note(
        &mut self,
        client: Option<IpAddr>,
        route: &'static str,
        reason: &'static str,
        now: Instant,
    ) -> Option<Folded> {
        let mut key = client.map_or(Client::Other, Client::Address);
        if !self.slots.contains_key(&key) && self.slots.len() >= MAX_CLIENTS {
            key = Client::Other;
        }
        match self.slots.entry(key) {
            Entry::Vacant(vacant) => {
                vacant.insert(Slot {
                    written: now,
                    folded: 0,
                    route,
                    reason,
                });
                Some(Folded {
                    client: key,
                    count: 1,
                    route,
                    reason,
                })
            }
            Entry::Occupied(mut occupied) => {
                let slot = occupied.get_mut();
                (slot.route, slot.reason) = (route, reason);
                if now.saturating_duration_since(slot.written) < FOLD_FOR {
                    slot.folded += 1;
                    return None;
                }
                let count = std::mem::take(&mut slot.folded) + 1;
                slot.written = now;
                Some(Folded {
                    client: key,
                    count,
                    route,
                    reason,
                })
            }
        }
    }

    /// The lines due at `now` (every folded count when `all`); slots with
    /// nothing to write for a second are dropped.
    fn sweep(&mut self, now: Instant, all: bool) -> Vec<Folded> {
        let mut due = Vec::new();
        self.slots.retain(|client, slot| {
            let quiet = now.saturating_duration_since(slot.written) >= FOLD_FOR;
            if slot.folded > 0 && (quiet || all) {
                due.push(Folded {
                    client: *client,
                    count: std::mem::take(&mut slot.folded),
                    route: slot.route,
                    reason: slot.reason,
                });
                slot.written = now;
                return true;
            }
            !quiet
        });
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const ROUTE: &str = "/mcp";
    const WHY: &str = "no valid key";

    fn address(n: u32) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)))
    }

    #[test]
    fn refusals_within_a_second_are_folded_and_counted() {
        let mut throttle = Throttle::default();
        let start = Instant::now();
        let first = throttle.note(address(1), ROUTE, WHY, start).unwrap();
        assert_eq!(first.count, 1);
        for i in 1..100u64 {
            let at = start + Duration::from_millis(i);
            assert_eq!(throttle.note(address(1), ROUTE, WHY, at), None);
        }
        assert!(
            throttle
                .sweep(start + Duration::from_millis(500), false)
                .is_empty()
        );
        let due = throttle.sweep(start + FOLD_FOR, false);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].count, 99);
        // Nothing more to write: the slot goes once a quiet second has passed.
        assert!(throttle.sweep(start + 3 * FOLD_FOR, false).is_empty());
        assert!(throttle.slots.is_empty());
        // A refusal after a quiet second is written at once.
        let again = start + 4 * FOLD_FOR;
        assert_eq!(
            throttle.note(address(1), ROUTE, WHY, again).unwrap().count,
            1
        );
    }

    #[test]
    fn a_refusal_a_second_later_carries_the_folded_count() {
        let mut throttle = Throttle::default();
        let start = Instant::now();
        throttle.note(address(1), ROUTE, WHY, start);
        throttle.note(address(1), ROUTE, WHY, start);
        throttle.note(address(1), ROUTE, WHY, start);
        let line = throttle
            .note(address(1), ROUTE, WHY, start + FOLD_FOR)
            .unwrap();
        assert_eq!(line.count, 3);
    }

    #[test]
    fn the_table_of_clients_is_bounded_and_the_rest_are_other() {
        let mut throttle = Throttle::default();
        let now = Instant::now();
        let mut written = 0;
        for n in 0..(MAX_CLIENTS as u32 + 500) {
            written += throttle
                .note(address(n), ROUTE, WHY, now)
                .map_or(0, |line| line.count);
        }
        assert_eq!(throttle.slots.len(), MAX_CLIENTS + 1);
        let folded: u64 = throttle.sweep(now, true).iter().map(|l| l.count).sum();
        assert_eq!(
            written + folded,
            MAX_CLIENTS as u64 + 500,
            "every refusal counted"
        );
        assert!(throttle.slots.contains_key(&Client::Other));
    }

    #[test]
    fn flushing_writes_what_is_folded_at_once() {
        let mut throttle = Throttle::default();
        let now = Instant::now();
        throttle.note(None, ROUTE, WHY, now);
        throttle.note(None, ROUTE, WHY, now);
        let due = throttle.sweep(now, true);
        assert_eq!(
            due,
            vec![Folded {
                client: Client::Other,
                count: 1,
                route: ROUTE,
                reason: WHY
            }]
        );
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary() {
        let name = "é".repeat(MAX_NAME_LEN);
        let cut = bounded(&name);
        assert!(cut.len() <= MAX_NAME_LEN && name.starts_with(cut));
        assert_eq!(bounded("echo"), "echo");
    }
}

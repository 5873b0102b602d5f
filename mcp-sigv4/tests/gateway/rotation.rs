//! Rotating the audit file: logrotate moves `--audit-log PATH` away and sends
//! SIGHUP (`postrotate`); the gateway opens PATH anew and goes on serving.
//! Every call carries its number as an argument (`--audit-arguments`), so that
//! each file is checked to hold exactly the calls made while it was the
//! gateway's, each line whole. The gateway says on stderr when it has
//! reopened the file (or could not): the tests wait for that line, never for
//! a time.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use http::StatusCode;
use serde_json::{Value, json};

use super::audit::{audited, eventually, parse_lines, start, stop};
use super::{Gateway, LIMIT, MASTER_KEY, send};

/// What the gateway logs once it has opened the file anew.
const REOPENED: &str = "audit log reopened";
/// What it logs when it could not.
const NOT_REOPENED: &str = "cannot reopen the audit log";

/// A `tools/call` of `echo` on `alpha` carrying `n`, answered.
async fn call(base: &str, n: u64) {
    let bearer = format!("Bearer {MASTER_KEY}");
    let message = json!({"method": "tools/call",
        "params": {"name": "echo", "arguments": {"n": n}}});
    let answer = send(
        "POST",
        &format!("{base}/mcp/alpha"),
        &[("authorization", &bearer)],
        Some(&message),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
}

/// The calls `numbers`, one after another.
async fn calls(gateway: &Gateway, numbers: std::ops::Range<u64>) {
    for n in numbers {
        call(&gateway.base, n).await;
    }
}

/// The numbers of the calls written in the file at `path`, in order; every
/// line must be a whole JSON object of an `ok` call.
fn numbers(path: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    parse_lines(&text)
        .iter()
        .map(|line: &Value| {
            assert_eq!(line["outcome"], "ok", "{line}");
            line.pointer("/arguments/n")
                .and_then(Value::as_u64)
                .unwrap_or_else(|| panic!("no call number in {line}"))
        })
        .collect()
}

fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

/// How many times the gateway's stderr says `what`.
fn said(gateway: &Gateway, what: &str) -> usize {
    gateway.stderr().matches(what).count()
}

/// Wait until the gateway has said `what` `times` times (at most [`LIMIT`]);
/// fail at once if it stops instead.
async fn until_said(gateway: &mut Gateway, what: &str, times: usize) {
    for _ in 0..3000 {
        if said(gateway, what) >= times {
            return;
        }
        assert_running(gateway);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!(
        "`{what}` not said {times} times within {LIMIT:?}:\n{}",
        gateway.stderr()
    );
}

fn assert_running(gateway: &mut Gateway) {
    if let Some(exited) = gateway.child.try_wait().unwrap() {
        panic!("the gateway stopped ({exited}):\n{}", gateway.stderr());
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn sighup_reopens_the_audit_log_that_logrotate_moved_away() {
    const BEFORE: u64 = 3;
    const AFTER: u64 = 4;
    let up = audited().await;
    let path = up.audit_log.clone();
    let rotated = path.with_extension("jsonl.1");
    let mut gateway = start(
        &up,
        &["--audit-log", path.to_str().unwrap(), "--audit-arguments"],
    )
    .await;
    calls(&gateway, 0..BEFORE).await;
    eventually(|| lines_in(&path) == BEFORE as usize).await;

    std::fs::rename(&path, &rotated).unwrap();
    gateway.signal("-HUP");
    until_said(&mut gateway, REOPENED, 1).await;
    calls(&gateway, BEFORE..BEFORE + AFTER).await;
    stop(&mut gateway).await;

    assert_eq!(numbers(&rotated), (0..BEFORE).collect::<Vec<_>>());
    assert_eq!(numbers(&path), (BEFORE..BEFORE + AFTER).collect::<Vec<_>>());
    assert_eq!(mode(&path), 0o600, "the new file is its owner's only");
    let log = gateway.stderr();
    assert_eq!(log.matches(REOPENED).count(), 1, "{log}");
    assert!(log.contains(path.to_str().unwrap()), "{log}");
    assert!(!log.contains(NOT_REOPENED), "{log}");
}

/// Calls from several clients at once while the file is moved and reopened
/// again and again: every call's line is in exactly one file, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_lands_whole_in_exactly_one_file_across_rotations() {
    const ROTATIONS: usize = 4;
    const CLIENTS: usize = 4;
    /// The most calls one client makes, should the rotations never end.
    const MOST: usize = 500;
    let up = audited().await;
    let path = up.audit_log.clone();
    let mut gateway = start(
        &up,
        &["--audit-log", path.to_str().unwrap(), "--audit-arguments"],
    )
    .await;
    let next = Arc::new(AtomicU64::new(0));
    let rotating = Arc::new(AtomicBool::new(true));
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CLIENTS {
        let (base, next, rotating) = (gateway.base.clone(), next.clone(), rotating.clone());
        clients.spawn(async move {
            for _ in 0..MOST {
                if !rotating.load(Ordering::SeqCst) {
                    break;
                }
                call(&base, next.fetch_add(1, Ordering::SeqCst)).await;
            }
        });
    }
    let mut files = Vec::new();
    for rotation in 1..=ROTATIONS {
        // Some lines in each file, and calls going on as it is moved.
        eventually(|| lines_in(&path) >= CLIENTS).await;
        let moved = path.with_extension(format!("jsonl.{rotation}"));
        std::fs::rename(&path, &moved).unwrap();
        files.push(moved);
        gateway.signal("-HUP");
        until_said(&mut gateway, REOPENED, rotation).await;
    }
    rotating.store(false, Ordering::SeqCst);
    while let Some(client) = clients.join_next().await {
        client.unwrap();
    }
    assert_running(&mut gateway);
    stop(&mut gateway).await;
    files.push(path.clone());

    let made = next.load(Ordering::SeqCst);
    let mut written: Vec<u64> = files.iter().flat_map(|file| numbers(file)).collect();
    written.sort_unstable();
    assert_eq!(
        written,
        (0..made).collect::<Vec<_>>(),
        "each of the {made} calls once, in {} files",
        files.len()
    );
    for file in &files[..ROTATIONS] {
        assert!(lines_in(file) >= CLIENTS, "{}", file.display());
    }
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
}

/// Run as root here, so no permission is withheld: the directory of PATH is
/// moved away instead, which stops any user from creating PATH.
#[tokio::test]
async fn a_reopen_that_fails_keeps_the_old_file_and_says_what_to_fix() {
    let up = audited().await;
    let dir = up.audit_log.with_file_name("logs");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("audit.jsonl");
    let moved_dir = up.audit_log.with_file_name("logs.moved");
    let mut gateway = start(
        &up,
        &["--audit-log", path.to_str().unwrap(), "--audit-arguments"],
    )
    .await;
    calls(&gateway, 0..2).await;
    eventually(|| lines_in(&path) == 2).await;

    std::fs::rename(&dir, &moved_dir).unwrap();
    gateway.signal("-HUP");
    until_said(&mut gateway, NOT_REOPENED, 1).await;
    let log = gateway.stderr();
    let warning = log
        .lines()
        .find(|line| line.contains(NOT_REOPENED))
        .unwrap();
    for what in [
        " WARN ",
        path.to_str().unwrap(),
        "No such file or directory",
        "--audit-log",
        "SIGHUP",
    ] {
        assert!(warning.contains(what), "`{what}` not in: {warning}");
    }
    calls(&gateway, 2..4).await;

    // Once the directory is back, the next SIGHUP reopens.
    std::fs::create_dir(&dir).unwrap();
    gateway.signal("-HUP");
    until_said(&mut gateway, REOPENED, 1).await;
    calls(&gateway, 4..5).await;
    stop(&mut gateway).await;

    assert_eq!(numbers(&moved_dir.join("audit.jsonl")), [0, 1, 2, 3]);
    assert_eq!(numbers(&path), [4]);
    assert_eq!(said(&gateway, NOT_REOPENED), 1, "{}", gateway.stderr());
}

#[tokio::test]
async fn sighup_does_not_stop_a_gateway_without_an_audit_file() {
    let up = audited().await;
    let mut gateway = start(&up, &[]).await;
    gateway.signal("-HUP");
    until_said(&mut gateway, "no --audit-log to reopen", 1).await;
    call(&gateway.base, 0).await;
    stop(&mut gateway).await;
}

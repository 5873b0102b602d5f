//! Reading the messages a client gets into the typed results of its era's
//! published schema (issue 27): rust-mcp-schema's types, generated from the
//! specification repository's `schema.json` of each revision (Cargo.toml names
//! the commits). A 2025 reply must also carry none of the 2026-only fields.
//!
//! With `MCP_SIGV4_CONTRACT_DUMP=<file>`, every checked reply is appended to
//! that file as a JSON line `{"era", "method", "reply"}`, for checking against
//! the `schema.json` files themselves outside the tests.

#![allow(dead_code)]

use std::io::Write;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use rust_mcp_schema::mcp_2026_07_28 as modern_schema;
pub use rust_mcp_schema_2025::mcp_2025_11_25 as legacy_schema;

/// The era of a client: what its replies are checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// 2025-11-25 (the `initialize` handshake and sessions).
    Legacy,
    /// 2026-07-28.
    Modern,
}

/// The fields only a 2026-07-28 result has.
const MODERN_ONLY: [&str; 3] = ["resultType", "ttlMs", "cacheScope"];

/// `value` read as a `T`, or a panic that says why it is not one.
fn typed<T: DeserializeOwned>(value: &Value, what: &str) {
    if let Err(e) = serde_json::from_value::<T>(value.clone()) {
        panic!("{what} breaks its schema: {e}\n{value:#}");
    }
}

/// Whether `value` reads as a `T`.
pub fn reads_as<T: DeserializeOwned>(value: Value) -> bool {
    serde_json::from_value::<T>(value).is_ok()
}

/// Check `reply`, the reply to a `method` request, against the schema of
/// `era`: the JSON-RPC envelope, and the method's typed result.
pub fn check(era: Era, method: &str, reply: &Value) {
    dump(era, method, reply);
    let what = format!("the {era:?} reply to {method}");
    if reply.get("error").is_some() {
        match era {
            Era::Legacy => typed::<legacy_schema::JsonrpcErrorResponse>(reply, &what),
            Era::Modern => typed::<modern_schema::JsonrpcErrorResponse>(reply, &what),
        }
        return;
    }
    let result = &reply["result"];
    match era {
        Era::Legacy => {
            typed::<legacy_schema::JsonrpcResultResponse>(reply, &what);
            for field in MODERN_ONLY {
                assert!(
                    result.get(field).is_none(),
                    "{what} carries the 2026-07-28 field {field}: {reply:#}"
                );
            }
            match method {
                "initialize" => typed::<legacy_schema::InitializeResult>(result, &what),
                "tools/list" => typed::<legacy_schema::ListToolsResult>(result, &what),
                "prompts/list" => typed::<legacy_schema::ListPromptsResult>(result, &what),
                "resources/list" => typed::<legacy_schema::ListResourcesResult>(result, &what),
                "resources/templates/list" => {
                    typed::<legacy_schema::ListResourceTemplatesResult>(result, &what)
                }
                "tools/call" => typed::<legacy_schema::CallToolResult>(result, &what),
                "ping" => typed::<legacy_schema::Result>(result, &what),
                other => panic!("no schema check for {other}"),
            }
        }
        Era::Modern => {
            typed::<modern_schema::JsonrpcResultResponse>(reply, &what);
            if result["resultType"] == "input_required" {
                return typed::<modern_schema::InputRequiredResult>(result, &what);
            }
            assert_eq!(result["resultType"], "complete", "{what}: {reply:#}");
            match method {
                "server/discover" => typed::<modern_schema::DiscoverResult>(result, &what),
                "tools/list" => typed::<modern_schema::ListToolsResult>(result, &what),
                "prompts/list" => typed::<modern_schema::ListPromptsResult>(result, &what),
                "resources/list" => typed::<modern_schema::ListResourcesResult>(result, &what),
                "resources/templates/list" => {
                    typed::<modern_schema::ListResourceTemplatesResult>(result, &what)
                }
                "tools/call" => typed::<modern_schema::CallToolResult>(result, &what),
                "subscriptions/listen" => {
                    typed::<modern_schema::SubscriptionsListenResult>(result, &what)
                }
                "ping" => typed::<modern_schema::Result>(result, &what),
                other => panic!("no schema check for {other}"),
            }
        }
    }
}

/// Append the reply to `MCP_SIGV4_CONTRACT_DUMP`, when it names a file.
fn dump(era: Era, method: &str, reply: &Value) {
    let Some(path) = std::env::var_os("MCP_SIGV4_CONTRACT_DUMP") else {
        return;
    };
    let era = match era {
        Era::Legacy => "2025-11-25",
        Era::Modern => "2026-07-28",
    };
    let line = json!({"era": era, "method": method, "reply": reply});
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    // One write per line: tests running at once append whole lines.
    file.write_all(format!("{line}\n").as_bytes()).unwrap();
}

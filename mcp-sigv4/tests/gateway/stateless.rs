//! The gateway's 2026-07-28 front end refuses what a 2026-07-28 server must
//! refuse, as the conformance suite's `server-stateless` scenario checks it
//! (SEP-2575): a request without its `_meta` envelope (-32602, HTTP 400), a
//! `_meta` version the `MCP-Protocol-Version` header does not carry (-32020),
//! the methods 2026-07-28 removed and unknown ones (-32601, HTTP 404), each
//! with the request's id; while a 2025 client on the same routes keeps its
//! `initialize` and `ping`.

use http::StatusCode;
use serde_json::{Value, json};

use crate::eras::{MODERN, eras, modern, post_modern};
use crate::{Gateway, initialize, rpc, send};

/// POST `message` with the 2026-07-28 headers a conforming client sends for it,
/// the protocol version header set to `version`.
async fn post_with_version(
    gateway: &Gateway,
    path: &str,
    message: &Value,
    version: &str,
) -> crate::Answer {
    let method = message["method"].as_str().unwrap();
    let url = format!("{}{path}", gateway.base);
    send(
        "POST",
        &url,
        &[("mcp-protocol-version", version), ("mcp-method", method)],
        Some(message),
    )
    .await
}

fn assert_refused(answer: &crate::Answer, status: StatusCode, code: i64, id: i64) {
    assert_eq!(answer.status, status, "{answer:?}");
    let reply = answer.reply();
    assert_eq!(reply["error"]["code"], code, "{answer:?}");
    assert_eq!(
        reply["id"], id,
        "the error carries the request's id: {answer:?}"
    );
}

#[tokio::test]
async fn a_request_without_its_envelope_is_invalid_params() {
    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;
    let version = "io.modelcontextprotocol/protocolVersion";
    let capabilities = "io.modelcontextprotocol/clientCapabilities";
    for path in ["/mcp/old", "/mcp/dual", "/mcp"] {
        for method in ["server/discover", "tools/list"] {
            let bare = rpc(101, method, json!({}));
            let answer = post_with_version(&gateway, path, &bare, MODERN).await;
            assert_refused(&answer, StatusCode::BAD_REQUEST, -32602, 101);
            for (id, missing) in [(102, version), (104, capabilities)] {
                let mut partial = modern(id, method, json!({}));
                partial["params"]["_meta"]
                    .as_object_mut()
                    .unwrap()
                    .remove(missing);
                let answer = post_with_version(&gateway, path, &partial, MODERN).await;
                assert_refused(&answer, StatusCode::BAD_REQUEST, -32602, id);
                assert!(
                    answer.reply()["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains(missing),
                    "the error names the missing key: {answer:?}"
                );
            }
        }
        // clientInfo is optional.
        let mut anonymous = modern(105, "server/discover", json!({}));
        anonymous["params"]["_meta"]
            .as_object_mut()
            .unwrap()
            .remove("io.modelcontextprotocol/clientInfo");
        let answer = post_modern(&gateway, path, &anonymous).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert!(
            answer.reply()["result"]["supportedVersions"].is_array(),
            "{answer:?}"
        );
    }
    assert!(
        eras.old.seen_method("tools/list").is_empty()
            && eras.dual.seen_method("tools/list").is_empty(),
        "a malformed request reached an upstream"
    );
}

#[tokio::test]
async fn a_meta_version_the_header_does_not_carry_is_a_header_mismatch() {
    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;
    for path in ["/mcp/old", "/mcp"] {
        let mut future = modern(302, "server/discover", json!({}));
        future["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("v999.0.0");
        let answer = post_with_version(&gateway, path, &future, MODERN).await;
        assert_refused(&answer, StatusCode::BAD_REQUEST, -32020, 302);
        // Header and body agree on a version the gateway lacks: unsupported.
        let answer = post_with_version(&gateway, path, &future, "v999.0.0").await;
        assert_refused(&answer, StatusCode::BAD_REQUEST, -32022, 302);
        let data = &answer.reply()["error"]["data"];
        assert_eq!(data["requested"], "v999.0.0", "{answer:?}");
        assert!(
            data["supported"]
                .as_array()
                .unwrap()
                .contains(&json!(MODERN))
        );
    }
}

#[tokio::test]
async fn removed_and_unknown_methods_are_not_found_for_a_modern_client_only() {
    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;
    let removed = [
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
    ];
    for path in ["/mcp/old", "/mcp/dual", "/mcp"] {
        for method in removed {
            let answer = post_modern(&gateway, path, &modern(500, method, json!({}))).await;
            assert_refused(&answer, StatusCode::NOT_FOUND, -32601, 500);
        }
    }
    assert!(
        eras.old.seen().is_empty() && eras.dual.seen().is_empty(),
        "a removed method reached an upstream"
    );
    for path in ["/mcp/old", "/mcp/dual", "/mcp"] {
        // An unknown method: the server's -32601 (the aggregate's on /mcp) is a
        // 404, though the legacy server answers on an SSE stream.
        let answer = post_modern(&gateway, path, &modern(601, "unknown/method", json!({}))).await;
        assert_refused(&answer, StatusCode::NOT_FOUND, -32601, 601);
    }
    // A 2025 client on the same routes: its initialize and ping are served,
    // and an unknown method is an error in a 200, as before.
    for path in ["/mcp/old", "/mcp"] {
        let url = format!("{}{path}", gateway.base);
        let answer = send("POST", &url, &[], Some(&initialize())).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        let session = answer.session.clone().expect("a session id");
        let headers = [
            ("mcp-session-id", session.as_str()),
            ("mcp-protocol-version", "2025-06-18"),
        ];
        let answer = send("POST", &url, &headers, Some(&rpc(2, "ping", json!({})))).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert!(answer.reply()["result"].is_object(), "{answer:?}");
        let answer = send(
            "POST",
            &url,
            &headers,
            Some(&rpc(3, "unknown/method", json!({}))),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        assert_eq!(answer.reply()["error"]["code"], -32601, "{answer:?}");
    }
}

#[tokio::test]
async fn header_values_are_compared_without_their_surrounding_blanks_and_case_sensitively() {
    let eras = eras().await;
    let gateway = Gateway::start(&eras.config, &[]).await;
    let url = format!("{}/mcp/dual", gateway.base);
    let call = modern(
        1,
        "tools/call",
        json!({"name": "echo", "arguments": {"text": "x"}}),
    );
    let answer = send(
        "POST",
        &url,
        &[
            ("MCP-Protocol-Version", MODERN),
            ("MCP-METHOD", "tools/call"),
            ("mcp-name", "  echo  "),
        ],
        Some(&call),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert!(answer.reply()["result"].is_object(), "{answer:?}");
    let list = modern(2, "tools/list", json!({}));
    let answer = send(
        "POST",
        &url,
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "TOOLS/LIST"),
        ],
        Some(&list),
    )
    .await;
    assert_refused(&answer, StatusCode::BAD_REQUEST, -32020, 2);
}

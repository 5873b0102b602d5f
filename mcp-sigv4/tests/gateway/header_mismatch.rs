//! A 2026-07-28 server that answers -32020 (`HeaderMismatch`) because a tool's
//! `x-mcp-header` annotation changed since the gateway listed its tools: the
//! gateway lists them again once and retries the call once, however many
//! calls were refused at once, and drops the list it kept; a second -32020
//! goes back to the client.

use http::StatusCode;
use serde_json::json;

use crate::eras::{modern, post_modern, post_modern_with};
use crate::header_server::{self, HeaderStandIn, Mode};
use crate::{Gateway, text, tool_names};

/// A gateway in front of `server`, named `zones`.
async fn gateway_for(server: &HeaderStandIn) -> Gateway {
    let dir = std::env::temp_dir().join(format!(
        "mcp-sigv4-gateway-headers-{}-{}",
        std::process::id(),
        crate::NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.yaml");
    let yaml = format!(
        "mcp_servers:\n  zones:\n    url: \"{}\"\n    auth_type: none\n",
        server.url()
    );
    std::fs::write(&config, yaml).unwrap();
    Gateway::start(&config, &[]).await
}

/// A 2026-07-28 call of `lookup`, its region sent as the tool was first listed.
async fn call_lookup(gateway: &Gateway, id: i64) -> crate::Answer {
    let call = modern(
        id,
        "tools/call",
        json!({"name": "lookup", "arguments": {"region": "eu-west-1", "key": "k"}}),
    );
    post_modern_with(
        gateway,
        "/mcp/zones",
        &call,
        &[("mcp-param-region", "eu-west-1")],
    )
    .await
}

#[tokio::test]
async fn a_renamed_header_is_listed_again_once_and_the_call_retried_once() {
    let server = header_server::start(Mode::Renamed, 0).await;
    let gateway = gateway_for(&server).await;
    let list = post_modern(&gateway, "/mcp/zones", &modern(1, "tools/list", json!({}))).await;
    assert_eq!(tool_names(&list), ["lookup"], "{list:?}");
    assert_eq!(server.lists(), 1);

    let answer = call_lookup(&gateway, 2).await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert_eq!(text(&answer), "k@eu-west-1");
    assert_eq!(server.lists(), 2, "exactly one more tools/list upstream");
    assert_eq!(
        server.call_params(),
        [
            vec!["mcp-param-region=eu-west-1".to_owned()],
            vec!["mcp-param-zone=eu-west-1".to_owned()],
        ],
        "the call, then its one retry with the header as listed again"
    );
    // The list the gateway kept (fresh for a minute) went stale with the
    // refusal: the client's next list shows the new annotation.
    let list = post_modern(&gateway, "/mcp/zones", &modern(3, "tools/list", json!({}))).await;
    let region = &list.reply()["result"]["tools"][0]["inputSchema"]["properties"]["region"];
    assert_eq!(region["x-mcp-header"], "Zone", "{list:?}");
    assert_eq!(server.lists(), 3);
}

#[tokio::test]
async fn calls_refused_at_once_share_one_listing() {
    const CALLS: usize = 4;
    // The server answers none of the first four calls before all four arrived.
    let server = header_server::start(Mode::Renamed, CALLS).await;
    let gateway = gateway_for(&server).await;
    post_modern(&gateway, "/mcp/zones", &modern(1, "tools/list", json!({}))).await;
    let calls = (0..CALLS as i64).map(|i| call_lookup(&gateway, 10 + i));
    let answers = futures_util::future::join_all(calls).await;
    for answer in &answers {
        assert_eq!(text(answer), "k@eu-west-1", "{answer:?}");
    }
    assert_eq!(server.lists(), 2, "one listing for the four refusals");
    assert_eq!(server.calls(), 2 * CALLS, "each call retried once");
}

#[tokio::test]
async fn a_second_mismatch_is_passed_back_after_one_retry() {
    let server = header_server::start(Mode::RenamedAndRefuses, 0).await;
    let gateway = gateway_for(&server).await;
    post_modern(&gateway, "/mcp/zones", &modern(1, "tools/list", json!({}))).await;
    let answer = call_lookup(&gateway, 2).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
    assert_eq!(answer.reply()["error"]["code"], -32020, "{answer:?}");
    assert_eq!(answer.reply()["id"], 2);
    assert_eq!(server.lists(), 2, "one listing, not a loop");
    assert_eq!(server.calls(), 2, "one retry, not a loop");
}

/// A server that refuses every call while its list asks for the headers sent:
/// sending the call again could not help, and listing again for every call
/// would make each refused call cost a whole listing.
#[tokio::test]
async fn a_mismatch_the_list_does_not_explain_is_the_reply_and_lists_once() {
    let server = header_server::start(Mode::AlwaysRefuses, 0).await;
    let gateway = gateway_for(&server).await;
    post_modern(&gateway, "/mcp/zones", &modern(1, "tools/list", json!({}))).await;
    for id in 2..6 {
        let answer = call_lookup(&gateway, id).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
        assert_eq!(answer.reply()["error"]["code"], -32020, "{answer:?}");
        assert_eq!(answer.reply()["id"], id);
    }
    // Four calls in well under `RELIST_INTERVAL` (10 s): one listing for them.
    assert_eq!(server.lists(), 2, "one listing for the four refusals");
    assert_eq!(
        server.calls(),
        4,
        "no call sent twice with the same headers"
    );
}

//! rmcp's 2026-07-28 client (discover mode) and its auto mode, over
//! `TransportBuilder`, against a signed rmcp server that serves stateless
//! requests (`legacy_session_mode(false)`): every modern header rmcp sets reaches
//! the server, and the signer signs each of them.

use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use rmcp::object;
use rmcp::service::{ClientLifecycleMode, ClientServiceExt};

use crate::server::{self, Options, Seen};
use crate::{LIMIT, text};

const MODERN: &str = "2026-07-28";

fn signed_headers(seen: &Seen) -> Vec<String> {
    let authorization = seen.headers["authorization"].to_str().unwrap();
    let list = authorization
        .split("SignedHeaders=")
        .nth(1)
        .unwrap()
        .split([',', ' '])
        .next()
        .unwrap();
    list.split(';').map(str::to_owned).collect()
}

async fn modern_conversation(lifecycle: ClientLifecycleMode) {
    let endpoint = server::start(Options::SIGNED_STATELESS).await;
    let transport = crate::builder(&endpoint).build().unwrap();
    let client = ().serve_with_lifecycle(transport, lifecycle).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 3);
    let sum = client
        .call_tool(CallToolRequestParams::new("add").with_arguments(object!({ "a": 40, "b": 2 })))
        .await
        .unwrap();
    assert_eq!(text(&sum), "42");
    client.cancel().await.unwrap();

    let seen = endpoint.log.all();
    let posts: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.method == http::Method::POST)
        .collect();
    assert!(
        posts.len() >= 3,
        "discover, tools/list and tools/call: {}",
        posts.len()
    );
    let mut methods = Vec::new();
    for post in &posts {
        assert!(post.status.is_success(), "{:?}", post.status);
        assert_eq!(post.headers["mcp-protocol-version"], MODERN);
        let method = post.headers["mcp-method"].to_str().unwrap().to_owned();
        let signed = signed_headers(post);
        for header in ["mcp-protocol-version", "mcp-method"] {
            assert!(
                signed.contains(&header.to_owned()),
                "{header} unsigned on {method}"
            );
        }
        if method == "tools/call" {
            assert_eq!(post.headers["mcp-name"], "add");
            assert!(signed.contains(&"mcp-name".to_owned()));
        }
        assert!(post.headers.get("mcp-session-id").is_none());
        methods.push(method);
    }
    assert!(
        methods.contains(&"server/discover".to_owned()),
        "{methods:?}"
    );
    assert!(!methods.contains(&"initialize".to_owned()), "{methods:?}");
}

#[tokio::test]
async fn a_2026_07_28_client_over_the_signed_transport() {
    tokio::time::timeout(
        LIMIT,
        modern_conversation(ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        }),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_auto_mode_client_goes_modern_over_the_signed_transport() {
    tokio::time::timeout(
        LIMIT,
        modern_conversation(ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: None,
        }),
    )
    .await
    .unwrap();
}

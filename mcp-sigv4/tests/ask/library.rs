//! The loop used from Rust, with a `ToolServer` of our own.

use std::sync::{Arc, Mutex};

use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use mcp_sigv4::ask::{
    Ask, BoxFuture, CallStatus, McpError, Observer, Stop, ToolCallReport, ToolServer,
};
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool};
use serde_json::json;

use crate::bedrock::{self, Turn, tool_use};
use crate::{ACCESS_KEY, MODEL, REGION, SECRET_KEY, result_for};

/// A server with `echo`, and `broken`, whose every call fails at the MCP level.
struct Fake;

impl ToolServer for Fake {
    fn name(&self) -> &str {
        "fake"
    }

    fn list_tools(&self) -> BoxFuture<'_, Result<Vec<Tool>, McpError>> {
        let schema: JsonObject = serde_json::from_value(
            json!({"type": "object", "properties": {"text": {"type": "string"}}}),
        )
        .unwrap();
        Box::pin(async move {
            Ok(vec![
                Tool::new("echo", "Send the text back", Arc::new(schema.clone())),
                Tool::new("broken", "Unreachable", Arc::new(schema)),
            ])
        })
    }

    fn call_tool(
        &self,
        name: String,
        arguments: Option<JsonObject>,
    ) -> BoxFuture<'_, Result<CallToolResult, McpError>> {
        Box::pin(async move {
            match name.as_str() {
                "echo" => {
                    let text = arguments.unwrap_or_default()["text"].to_string();
                    Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
                }
                _ => Err(McpError::new("connection refused")),
            }
        })
    }
}

#[derive(Default)]
struct Reports(Mutex<Vec<ToolCallReport>>);

impl Observer for Reports {
    fn tool_call(&self, report: &ToolCallReport) {
        self.0.lock().unwrap().push(report.clone());
    }
}

fn client(bedrock: &bedrock::BedrockStandIn) -> aws_sdk_bedrockruntime::Client {
    let config = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(bedrock.url())
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
        .build();
    aws_sdk_bedrockruntime::Client::from_conf(config)
}

#[tokio::test]
async fn the_loop_runs_from_rust_with_any_tool_server() {
    let bedrock = bedrock::scripted(vec![
        Turn::new(
            vec![
                tool_use("tu-echo", "echo", json!({"text": "hi"})),
                tool_use("tu-broken", "broken", json!({})),
                tool_use("tu-none", "no_such_tool", json!({})),
            ],
            "tool_use",
        ),
        Turn::text("Echoed."),
    ])
    .await;
    let reports = Arc::new(Reports::default());
    let answer = Ask::new(client(&bedrock), MODEL)
        .server(Arc::new(Fake))
        .system("Be brief.")
        .observer(reports.clone())
        .run("Echo hi")
        .await
        .unwrap();
    assert_eq!(answer.stop, Stop::EndTurn);
    assert_eq!(answer.text, "Echoed.");
    assert_eq!(answer.turns, 2);
    assert_eq!(answer.messages.len(), 4);

    let received = bedrock.received();
    assert_eq!(received[0].body["system"][0]["text"], "Be brief.");
    let second = &received[1].body;
    assert_eq!(
        result_for(second, "tu-echo"),
        ("success".to_owned(), "\"hi\"".to_owned())
    );
    let (status, text) = result_for(second, "tu-broken");
    assert_eq!(status, "error");
    assert_eq!(
        text,
        "the MCP server `fake` failed to run `broken`: connection refused"
    );
    let (status, text) = result_for(second, "tu-none");
    assert_eq!(status, "error");
    assert!(text.contains("no tool named `no_such_tool`"), "{text}");

    let mut statuses: Vec<(String, CallStatus)> = reports
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|r| (r.tool.clone(), r.status.clone()))
        .collect();
    statuses.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        statuses,
        [
            (
                "broken".to_owned(),
                CallStatus::Failed("connection refused".to_owned())
            ),
            ("echo".to_owned(), CallStatus::Ok),
            ("no_such_tool".to_owned(), CallStatus::UnknownTool),
        ]
    );
}

#[tokio::test]
async fn a_server_that_cannot_list_its_tools_is_named() {
    struct Down;
    impl ToolServer for Down {
        fn name(&self) -> &str {
            "down"
        }
        fn list_tools(&self) -> BoxFuture<'_, Result<Vec<Tool>, McpError>> {
            Box::pin(async { Err(McpError::new("connection refused")) })
        }
        fn call_tool(
            &self,
            _: String,
            _: Option<JsonObject>,
        ) -> BoxFuture<'_, Result<CallToolResult, McpError>> {
            Box::pin(async { Err(McpError::new("unreachable")) })
        }
    }
    let bedrock = bedrock::scripted(vec![Turn::text("unused")]).await;
    let error = Ask::new(client(&bedrock), MODEL)
        .server(Arc::new(Down))
        .run("Hi")
        .await
        .unwrap_err();
    assert_eq!(
        error.origin(),
        &mcp_sigv4::ask::Origin::Mcp("down".to_owned())
    );
    assert_eq!(
        error.to_string(),
        "MCP server `down`: listing its tools failed: connection refused"
    );
    assert!(bedrock.received().is_empty());
}

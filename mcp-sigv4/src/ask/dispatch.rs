//! One turn's `toolUse` blocks, dispatched concurrently to their MCP servers, and
//! their results as Bedrock `toolResult` blocks matched by `toolUseId`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ImageBlock, ImageFormat, ImageSource, ToolResultBlock, ToolResultContentBlock,
    ToolResultStatus, ToolUseBlock,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rmcp::model::{CallToolResult, ContentBlock as McpContent, JsonObject, ResourceContents};
use serde_json::Value;
use tokio::task::JoinSet;

use super::Observer;
use super::tools::{ToolCatalog, to_document, to_json};
use crate::telemetry::traces;
use tracing::Instrument;

/// What became of one tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallStatus {
    /// The tool ran and succeeded.
    Ok,
    /// The tool ran and reported an error (`isError`).
    ToolError,
    /// The tool did not answer within the tool timeout.
    TimedOut,
    /// The MCP request failed; the cause.
    Failed(String),
    /// The model asked for a tool that is not in the catalog.
    UnknownTool,
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallStatus::Ok => f.write_str("ok"),
            CallStatus::ToolError => f.write_str("error (the tool reported isError)"),
            CallStatus::TimedOut => f.write_str("timeout"),
            CallStatus::Failed(cause) => write!(f, "failed ({cause})"),
            CallStatus::UnknownTool => f.write_str("unknown tool"),
        }
    }
}

/// One tool call, as reported to an [`Observer`] when it ends.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ToolCallReport {
    /// The MCP server's name.
    pub server: String,
    /// The tool's name on that server.
    pub tool: String,
    /// The name the model used, when it differs from `tool`.
    pub bedrock_name: String,
    /// Bedrock's id of the `toolUse` block.
    pub tool_use_id: String,
    /// How long the call took.
    pub duration: Duration,
    /// How it ended.
    pub status: CallStatus,
}

impl fmt::Display for ToolCallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tool call: server={} tool={} duration={}ms status={}",
            self.server,
            self.tool,
            self.duration.as_millis(),
            self.status
        )
    }
}

/// Dispatch every `toolUse` concurrently and return one `toolResult` per
/// `toolUseId`, in the order of `uses` (the order the calls finish in does not
/// matter).
pub(crate) async fn dispatch(
    catalog: &Arc<ToolCatalog>,
    uses: Vec<ToolUseBlock>,
    timeout: Duration,
    observer: &Arc<dyn Observer>,
) -> Vec<ContentBlock> {
    let order: Vec<String> = uses.iter().map(|u| u.tool_use_id().to_owned()).collect();
    let mut tasks = JoinSet::new();
    let mut ids = HashMap::new();
    for tool_use in uses {
        let id = tool_use.tool_use_id().to_owned();
        let span = traces::tool_span(tool_use.name(), &id);
        let call = call_one(catalog.clone(), tool_use, timeout, observer.clone());
        let task = tasks.spawn(call.instrument(span));
        ids.insert(task.id(), id);
    }
    let mut results: HashMap<String, ToolResultBlock> = HashMap::new();
    // Bounded: one `join_next` per spawned task.
    while let Some(joined) = tasks.join_next_with_id().await {
        match joined {
            Ok((_, (id, block))) => {
                results.insert(id, block);
            }
            Err(e) => {
                let id = ids.get(&e.id()).cloned().unwrap_or_default();
                tracing::error!(source = "mcp", tool_use_id = %id, "a tool call task failed: {e}");
                let block = result_block(
                    &id,
                    vec![ToolResultContentBlock::Text(format!(
                        "the call did not complete: {e}"
                    ))],
                    true,
                );
                results.insert(id, block);
            }
        }
    }
    order
        .iter()
        .filter_map(|id| results.remove(id))
        .map(ContentBlock::ToolResult)
        .collect()
}

async fn call_one(
    catalog: Arc<ToolCatalog>,
    tool_use: ToolUseBlock,
    timeout: Duration,
    observer: Arc<dyn Observer>,
) -> (String, ToolResultBlock) {
    let id = tool_use.tool_use_id().to_owned();
    let bedrock_name = tool_use.name().to_owned();
    let started = Instant::now();
    let Some(entry) = catalog.resolve(&bedrock_name) else {
        let text = format!("there is no tool named `{bedrock_name}`; use one of the tools listed");
        observer.tool_call(&ToolCallReport {
            server: "-".to_owned(),
            tool: bedrock_name.clone(),
            bedrock_name,
            tool_use_id: id.clone(),
            duration: started.elapsed(),
            status: CallStatus::UnknownTool,
        });
        let block = result_block(&id, vec![ToolResultContentBlock::Text(text)], true);
        return (id, block);
    };
    let server = entry.server.name().to_owned();
    let tool = entry.tool.name.to_string();
    tracing::Span::current().record("mcp.server", server.as_str());
    let (content, status) = match arguments(tool_use.input()) {
        Err(message) => (
            vec![ToolResultContentBlock::Text(message.clone())],
            CallStatus::Failed(message),
        ),
        Ok(arguments) => {
            let call = entry.server.call_tool(tool.clone(), arguments);
            match tokio::time::timeout(timeout, call).await {
                Ok(Ok(result)) => {
                    let status = if result.is_error == Some(true) {
                        CallStatus::ToolError
                    } else {
                        CallStatus::Ok
                    };
                    (convert_result(result), status)
                }
                Ok(Err(e)) => {
                    let cause = e.to_string();
                    tracing::warn!(source = "mcp", server = %server, tool = %tool, "tools/call failed: {cause}");
                    let text = format!("the MCP server `{server}` failed to run `{tool}`: {cause}");
                    (
                        vec![ToolResultContentBlock::Text(text)],
                        CallStatus::Failed(cause),
                    )
                }
                Err(_) => {
                    tracing::warn!(source = "mcp", server = %server, tool = %tool, timeout_secs = timeout.as_secs_f64(), "tools/call timed out");
                    let text = format!(
                        "the tool `{tool}` on the MCP server `{server}` did not answer within {:.3}s (the tool timeout) and was abandoned",
                        timeout.as_secs_f64()
                    );
                    (
                        vec![ToolResultContentBlock::Text(text)],
                        CallStatus::TimedOut,
                    )
                }
            }
        }
    };
    let is_error = status != CallStatus::Ok;
    let report = ToolCallReport {
        server,
        tool,
        bedrock_name,
        tool_use_id: id.clone(),
        duration: started.elapsed(),
        status,
    };
    tracing::debug!(source = "mcp", server = %report.server, tool = %report.tool, duration_ms = report.duration.as_millis() as u64, status = %report.status, "tool call");
    observer.tool_call(&report);
    (id.clone(), result_block(&id, content, is_error))
}

fn arguments(input: &aws_smithy_types::Document) -> Result<Option<JsonObject>, String> {
    match to_json(input) {
        Value::Object(map) => Ok(Some(map)),
        Value::Null => Ok(None),
        other => Err(format!(
            "the tool input must be a JSON object; the model sent {other}"
        )),
    }
}

fn result_block(id: &str, content: Vec<ToolResultContentBlock>, is_error: bool) -> ToolResultBlock {
    let mut block = ToolResultBlock::builder()
        .tool_use_id(id)
        .set_content(Some(content));
    if is_error {
        block = block.status(ToolResultStatus::Error);
    } else {
        block = block.status(ToolResultStatus::Success);
    }
    block
        .build()
        .expect("the two required fields, tool_use_id and content, are set")
}

/// MCP content as Bedrock tool-result content: text, images and structured content
/// have a Bedrock form; the rest is described in text.
pub(crate) fn convert_result(result: CallToolResult) -> Vec<ToolResultContentBlock> {
    let mut blocks: Vec<ToolResultContentBlock> =
        result.content.into_iter().map(convert_content).collect();
    match result.structured_content {
        Some(Value::Object(map)) => blocks.push(ToolResultContentBlock::Json(to_document(
            &Value::Object(map),
        ))),
        Some(Value::Null) | None => {}
        Some(other) => blocks.push(ToolResultContentBlock::Json(to_document(
            &serde_json::json!({ "result": other }),
        ))),
    }
    if blocks.is_empty() {
        blocks.push(ToolResultContentBlock::Text(
            "(the tool returned no content)".to_owned(),
        ));
    }
    blocks
}

fn convert_content(content: McpContent) -> ToolResultContentBlock {
    match content {
        McpContent::Text(text) => ToolResultContentBlock::Text(text.text),
        McpContent::Image(image) => image_block(&image.data, &image.mime_type).unwrap_or_else(|| {
            ToolResultContentBlock::Text(format!(
                "[an image of type {} that Bedrock cannot take: only PNG, JPEG, GIF and WebP in valid base64]",
                image.mime_type
            ))
        }),
        McpContent::Audio(audio) => ToolResultContentBlock::Text(format!(
            "[audio of type {} left out: Bedrock tool results carry no audio]",
            audio.mime_type
        )),
        McpContent::Resource(embedded) => match embedded.resource {
            ResourceContents::TextResourceContents { uri, text, .. } => {
                ToolResultContentBlock::Text(format!("{uri}:\n{text}"))
            }
            ResourceContents::BlobResourceContents {
                uri, mime_type, ..
            } => ToolResultContentBlock::Text(format!(
                "[binary resource {uri} ({}) left out]",
                mime_type.as_deref().unwrap_or("unknown type")
            )),
            _ => ToolResultContentBlock::Text("[a resource of a kind Bedrock cannot take]".to_owned()),
        },
        McpContent::ResourceLink(link) => {
            ToolResultContentBlock::Text(format!("[resource link: {} ({})]", link.uri, link.name))
        }
        _ => ToolResultContentBlock::Text("[content of a kind Bedrock cannot take]".to_owned()),
    }
}

fn image_block(data: &str, mime_type: &str) -> Option<ToolResultContentBlock> {
    let format = match mime_type.to_ascii_lowercase().as_str() {
        "image/png" => ImageFormat::Png,
        "image/jpeg" | "image/jpg" => ImageFormat::Jpeg,
        "image/gif" => ImageFormat::Gif,
        "image/webp" => ImageFormat::Webp,
        _ => return None,
    };
    let bytes = BASE64.decode(data.trim()).ok()?;
    ImageBlock::builder()
        .format(format)
        .source(ImageSource::Bytes(Blob::new(bytes)))
        .build()
        .ok()
        .map(ToolResultContentBlock::Image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ContentBlock as C;

    #[test]
    fn text_image_and_structured_content_get_their_bedrock_forms() {
        let mut result = CallToolResult::success(vec![
            C::text("hello"),
            C::image(BASE64.encode(b"\x89PNG"), "image/png"),
            C::image("AAAA", "image/bmp"),
        ]);
        result.structured_content = Some(serde_json::json!({"temp": 21}));
        let blocks = convert_result(result);
        assert!(matches!(&blocks[0], ToolResultContentBlock::Text(t) if t == "hello"));
        assert!(
            matches!(&blocks[1], ToolResultContentBlock::Image(i) if i.format() == &ImageFormat::Png)
        );
        assert!(matches!(&blocks[2], ToolResultContentBlock::Text(t) if t.contains("image/bmp")));
        assert!(matches!(&blocks[3], ToolResultContentBlock::Json(_)));
    }

    #[test]
    fn an_empty_result_still_has_content() {
        let blocks = convert_result(CallToolResult::success(vec![]));
        assert_eq!(blocks.len(), 1);
    }
}

//! A tool's result as the text of an action group's response body, bounded.

use rmcp::model::{CallToolResult, ContentBlock, ResourceContents};
use serde_json::Value;

/// AWS ties an action group's response to Lambda's synchronous response limit
/// (6 MB); the body is kept well below it, whatever is configured.
pub const MAX_BODY_CEILING: usize = 5 * 1024 * 1024;

/// The default bound on a body: what a model can use is far smaller than what
/// Lambda can carry.
pub const DEFAULT_MAX_BODY: usize = 25_000;

/// The text of a result: text content joined by newlines, structured content
/// as JSON, and every other kind of content described, never dropped silently.
pub fn text_of(result: &CallToolResult) -> String {
    let mut parts: Vec<String> = result.content.iter().map(describe).collect();
    match &result.structured_content {
        None | Some(Value::Null) => {}
        Some(structured) => {
            let json = structured.to_string();
            // A tool that returns structured content usually repeats it as text.
            if !parts.iter().any(|p| p.trim() == json) {
                parts.push(json);
            }
        }
    }
    if parts.is_empty() {
        return "(the tool returned no content)".to_owned();
    }
    parts.join("\n")
}

fn describe(content: &ContentBlock) -> String {
    match content {
        ContentBlock::Text(text) => text.text.clone(),
        ContentBlock::Image(image) => format!(
            "[an image ({}) left out: an action group's response carries text]",
            image.mime_type
        ),
        ContentBlock::Audio(audio) => format!(
            "[audio ({}) left out: an action group's response carries text]",
            audio.mime_type
        ),
        ContentBlock::Resource(embedded) => match &embedded.resource {
            ResourceContents::TextResourceContents { uri, text, .. } => format!("{uri}:\n{text}"),
            ResourceContents::BlobResourceContents { uri, mime_type, .. } => format!(
                "[binary resource {uri} ({}) left out]",
                mime_type.as_deref().unwrap_or("unknown type")
            ),
            _ => "[a resource of a kind that has no text form, left out]".to_owned(),
        },
        ContentBlock::ResourceLink(link) => {
            format!("[resource link: {} ({})]", link.uri, link.name)
        }
        _ => "[content of a kind that has no text form, left out]".to_owned(),
    }
}

/// `body` within `max` bytes: a longer one keeps its start (cut on a character
/// boundary) and ends with a marker that says how much was left out.
pub fn bounded(body: String, max: usize) -> String {
    let max = max.min(MAX_BODY_CEILING);
    if body.len() <= max {
        return body;
    }
    let marker = format!(
        "\n[truncated by mcp-sigv4: the tool returned {} bytes; the first {{}} are shown]",
        body.len()
    );
    let mut end = max.saturating_sub(marker.len() + 8);
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{}", &body[..end], marker.replace("{}", &end.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_structured_content_are_kept_and_the_rest_described() {
        let mut result = CallToolResult::success(vec![
            ContentBlock::text("one"),
            ContentBlock::text("two"),
            ContentBlock::image("AAAA", "image/png"),
        ]);
        result.structured_content = Some(serde_json::json!({"n": 1}));
        assert_eq!(
            text_of(&result),
            "one\ntwo\n[an image (image/png) left out: an action group's response carries text]\n{\"n\":1}"
        );
        assert!(text_of(&CallToolResult::success(vec![])).contains("no content"));
    }

    #[test]
    fn a_long_body_is_cut_with_a_marker_within_the_bound() {
        let body = "é".repeat(10_000);
        let cut = bounded(body, 1_000);
        assert!(cut.len() <= 1_000, "{}", cut.len());
        assert!(cut.contains("[truncated by mcp-sigv4: the tool returned 20000 bytes"));
        assert_eq!(bounded("short".into(), 1_000), "short");
    }
}

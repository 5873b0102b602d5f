//! MCP tools as Bedrock `toolSpec`s: valid, unique names mapped back to the server
//! and the tool's own name, and JSON to and from smithy `Document`s.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use aws_sdk_bedrockruntime::types::{
    Tool as BedrockTool, ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use aws_smithy_types::{Document, Number};
use rmcp::model::Tool;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::ToolServer;

/// Bedrock's limit on a tool name's length (`^[a-zA-Z0-9_-]{1,64}$`).
const MAX_NAME: usize = 64;

/// One tool offered to the model.
pub(crate) struct Entry {
    /// The name the model sees.
    pub(crate) bedrock_name: String,
    /// The tool's own name on its server.
    pub(crate) tool: Tool,
    pub(crate) server: Arc<dyn ToolServer>,
}

/// Every tool of every server, under names Bedrock accepts.
pub(crate) struct ToolCatalog {
    entries: Vec<Entry>,
    by_name: HashMap<String, usize>,
}

impl ToolCatalog {
    /// The catalog of `listed`: each server with its tools, in order.
    pub(crate) fn new(listed: Vec<(Arc<dyn ToolServer>, Vec<Tool>)>) -> Self {
        let pairs: Vec<(&str, &str)> = listed
            .iter()
            .flat_map(|(server, tools)| tools.iter().map(|t| (server.name(), t.name.as_ref())))
            .collect();
        let names = bedrock_names(&pairs);
        let entries: Vec<Entry> = listed
            .iter()
            .flat_map(|(server, tools)| tools.iter().map(|tool| (server.clone(), tool.clone())))
            .zip(names)
            .map(|((server, tool), bedrock_name)| Entry {
                bedrock_name,
                tool,
                server,
            })
            .collect();
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.bedrock_name.clone(), i))
            .collect();
        Self { entries, by_name }
    }

    /// The tool the model calls `bedrock_name`.
    pub(crate) fn resolve(&self, bedrock_name: &str) -> Option<&Entry> {
        self.by_name.get(bedrock_name).map(|&i| &self.entries[i])
    }

    /// The `toolConfig` for Converse, or `None` when there are no tools (Bedrock
    /// refuses an empty list).
    pub(crate) fn tool_config(&self) -> Result<Option<ToolConfiguration>, String> {
        if self.entries.is_empty() {
            return Ok(None);
        }
        let tools = self
            .entries
            .iter()
            .map(|entry| {
                let schema = Value::Object((*entry.tool.input_schema).clone());
                let mut spec = ToolSpecification::builder()
                    .name(&entry.bedrock_name)
                    .input_schema(ToolInputSchema::Json(to_document(&schema)));
                if let Some(description) =
                    entry.tool.description.as_deref().filter(|d| !d.is_empty())
                {
                    spec = spec.description(description);
                }
                spec.build().map(BedrockTool::ToolSpec).map_err(|e| {
                    format!(
                        "tool `{}` cannot be described to Bedrock: {e}",
                        entry.bedrock_name
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        ToolConfiguration::builder()
            .set_tools(Some(tools))
            .build()
            .map(Some)
            .map_err(|e| format!("the tool configuration is incomplete: {e}"))
    }
}

/// Bedrock names for `(server, tool)` pairs, in the same order: a name that is
/// valid and unique across servers is kept; one that is not is made valid (other
/// characters become `_`, a long name is cut and ends with a hash of the
/// original), prefixed with its server's name when several servers have it, and
/// numbered if it still collides.
pub(crate) fn bedrock_names(pairs: &[(&str, &str)]) -> Vec<String> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for (_, tool) in pairs {
        *count.entry(tool).or_default() += 1;
    }
    let kept = |tool: &str| is_valid(tool) && count[tool] == 1;
    let mut taken: HashSet<String> = pairs
        .iter()
        .filter(|(_, tool)| kept(tool))
        .map(|(_, tool)| (*tool).to_owned())
        .collect();
    pairs
        .iter()
        .map(|(server, tool)| {
            if kept(tool) {
                return (*tool).to_owned();
            }
            let candidate = if count[tool] > 1 {
                format!("{}_{}", sanitize(server), sanitize(tool))
            } else {
                sanitize(tool)
            };
            let original = format!("{server}/{tool}");
            let mut name = fit(&candidate, &original, "");
            // Each try adds a distinct suffix, so one more try than there are
            // names always finds a free one.
            for n in 2..=pairs.len() + 1 {
                if !taken.contains(&name) {
                    break;
                }
                name = fit(&candidate, &original, &format!("_{n}"));
            }
            taken.insert(name.clone());
            name
        })
        .collect()
}

fn is_valid(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn sanitize(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "tool".to_owned()
    } else {
        cleaned
    }
}

/// `name` + `suffix` within 64 characters: a longer one keeps its start and ends
/// with 8 hex digits of the original's hash, so two long names that share a
/// prefix still differ.
fn fit(name: &str, original: &str, suffix: &str) -> String {
    if name.len() + suffix.len() <= MAX_NAME {
        return format!("{name}{suffix}");
    }
    let hash = hex::encode(&Sha256::digest(original.as_bytes())[..4]);
    let keep = MAX_NAME - suffix.len() - hash.len() - 1;
    // `name` is ASCII after `sanitize`, so any byte index is a char boundary.
    format!("{}_{hash}{suffix}", &name[..keep])
}

/// JSON as a smithy `Document`.
pub(crate) fn to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap_or_default())
        }),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(to_document).collect()),
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), to_document(v)))
                .collect(),
        ),
    }
}

/// A smithy `Document` as JSON.
pub(crate) fn to_json(document: &Document) -> Value {
    match document {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Document::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        is_valid(name)
    }

    #[test]
    fn valid_unique_names_are_kept() {
        let names = bedrock_names(&[("a", "search"), ("a", "get_weather"), ("b", "lookup-1")]);
        assert_eq!(names, ["search", "get_weather", "lookup-1"]);
    }

    #[test]
    fn invalid_characters_become_underscores() {
        let names = bedrock_names(&[("a", "get.weather"), ("a", "search docs"), ("a", "ünï")]);
        assert_eq!(names, ["get_weather", "search_docs", "_n_"]);
    }

    #[test]
    fn names_shared_across_servers_get_the_server_prefix() {
        let names = bedrock_names(&[("alpha", "search"), ("beta.io", "search"), ("alpha", "x")]);
        assert_eq!(names, ["alpha_search", "beta_io_search", "x"]);
    }

    #[test]
    fn a_cleaned_name_that_meets_a_kept_one_is_numbered() {
        let names = bedrock_names(&[
            ("a", "get_weather"),
            ("a", "get.weather"),
            ("a", "get weather"),
        ]);
        assert_eq!(names, ["get_weather", "get_weather_2", "get_weather_3"]);
    }

    #[test]
    fn long_names_are_cut_with_a_hash_and_stay_distinct() {
        let long_a = format!("{}_a", "x".repeat(80));
        let long_b = format!("{}_b", "x".repeat(80));
        let names = bedrock_names(&[("s", &long_a), ("s", &long_b)]);
        assert!(names.iter().all(|n| valid(n)), "{names:?}");
        assert_ne!(names[0], names[1]);
        assert!(names[0].starts_with("xxxxxxxx"));
    }

    #[test]
    fn every_name_is_valid_and_unique_whatever_the_input() {
        let inputs = [
            ("a", ""),
            ("a", "."),
            ("b", "."),
            ("a", "_"),
            ("a", "tool"),
            ("c", &"é".repeat(40)),
            ("d", &"y".repeat(64)),
            ("e", &"y".repeat(64)),
        ];
        let names = bedrock_names(&inputs);
        let unique: HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert!(names.iter().all(|n| valid(n)), "{names:?}");
    }

    #[test]
    fn json_and_documents_round_trip() {
        let value = serde_json::json!({"a": [1, -2, 2.5, "s", null, true], "b": {"c": {}}});
        assert_eq!(to_json(&to_document(&value)), value);
    }
}

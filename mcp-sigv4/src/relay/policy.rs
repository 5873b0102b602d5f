//! What the relay changes in the traffic it carries: `_meta` it injects into every
//! request, and which tools the host may see and call.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value};
use wildmatch::WildMatch;

/// Tool filtering and metadata injection.
#[derive(Debug, Default)]
pub struct Policy {
    metadata: Map<String, Value>,
    read_only: bool,
    allow: Vec<WildMatch>,
    deny: Vec<WildMatch>,
    // Whether each tool seen in a tools/list is annotated read-only.
    read_only_tools: Mutex<HashMap<String, bool>>,
}

/// Why a tool call was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Matched `--deny-tools` or no `--allow-tools` pattern.
    NotAllowed,
    /// `--read-only` and the tool is not annotated `readOnlyHint: true`.
    NotReadOnly,
}

impl Policy {
    /// A policy that injects `metadata` into `params._meta` of every request (keys
    /// the host set win), lists and allows only read-only tools when `read_only`,
    /// and applies the `allow` and `deny` name patterns (`*` and `?` wildcards).
    pub fn new(
        metadata: Map<String, Value>,
        read_only: bool,
        allow: &[String],
        deny: &[String],
    ) -> Self {
        Self {
            metadata,
            read_only,
            allow: allow.iter().map(|p| WildMatch::new(p)).collect(),
            deny: deny.iter().map(|p| WildMatch::new(p)).collect(),
            read_only_tools: Mutex::default(),
        }
    }

    /// Whether the policy changes tool lists or calls.
    pub fn filters_tools(&self) -> bool {
        self.read_only || !self.allow.is_empty() || !self.deny.is_empty()
    }

    /// Add the configured `_meta` entries to a request's params.
    pub fn inject_metadata(&self, request: &mut Value) {
        if self.metadata.is_empty() {
            return;
        }
        let Some(object) = request.as_object_mut() else {
            return;
        };
        // `ping` takes no params; some servers refuse any.
        if !object.contains_key("params") && object.get("method") == Some(&Value::from("ping")) {
            return;
        }
        let params = object
            .entry("params")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(params) = params.as_object_mut() else {
            return;
        };
        let meta = params
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(meta) = meta.as_object_mut() else {
            return;
        };
        for (key, value) in &self.metadata {
            meta.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }

    fn name_allowed(&self, name: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|p| p.matches(name)))
            && !self.deny.iter().any(|p| p.matches(name))
    }

    /// Remove from a `tools/list` reply the tools the host may not use, and
    /// remember which are read-only.
    pub fn filter_tool_list(&self, reply: &mut Value) {
        let Some(tools) = reply
            .pointer_mut("/result/tools")
            .and_then(Value::as_array_mut)
        else {
            return;
        };
        {
            let mut seen = self
                .read_only_tools
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for tool in tools.iter() {
                if let Some(name) = tool.get("name").and_then(Value::as_str) {
                    seen.insert(name.to_owned(), is_read_only(tool));
                }
            }
        }
        if !self.filters_tools() {
            return;
        }
        tools.retain(|tool| {
            let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
            self.name_allowed(name) && (!self.read_only || is_read_only(tool))
        });
    }

    /// Whether a `tools/call` for `name` may go upstream. With `--read-only`, a tool
    /// is known read-only only from a `tools/list` the relay has seen; `None` means
    /// it has not seen one that lists the tool yet.
    pub fn check_call(&self, name: &str) -> Option<Result<(), Refusal>> {
        if !self.name_allowed(name) {
            return Some(Err(Refusal::NotAllowed));
        }
        if !self.read_only {
            return Some(Ok(()));
        }
        let seen = self
            .read_only_tools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.get(name).map(|&read_only| {
            if read_only {
                Ok(())
            } else {
                Err(Refusal::NotReadOnly)
            }
        })
    }

    /// Forget the tools seen (after `notifications/tools/list_changed`).
    pub fn forget_tools(&self) {
        self.read_only_tools
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

fn is_read_only(tool: &Value) -> bool {
    tool.pointer("/annotations/readOnlyHint") == Some(&Value::Bool(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> Value {
        json!({"jsonrpc":"2.0","id":1,"result":{"tools":[
            {"name":"read_file","annotations":{"readOnlyHint":true}},
            {"name":"write_file","annotations":{"readOnlyHint":false}},
            {"name":"delete_all"},
            {"name":"search_docs","annotations":{"readOnlyHint":true}}
        ]}})
    }

    fn names(reply: &Value) -> Vec<&str> {
        reply["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn read_only_lists_and_allows_only_annotated_tools() {
        let policy = Policy::new(Map::new(), true, &[], &[]);
        assert_eq!(
            policy.check_call("read_file"),
            None,
            "unknown before a list"
        );
        let mut reply = list();
        policy.filter_tool_list(&mut reply);
        assert_eq!(names(&reply), ["read_file", "search_docs"]);
        assert_eq!(policy.check_call("read_file"), Some(Ok(())));
        assert_eq!(
            policy.check_call("write_file"),
            Some(Err(Refusal::NotReadOnly))
        );
        assert_eq!(
            policy.check_call("delete_all"),
            Some(Err(Refusal::NotReadOnly))
        );
    }

    #[test]
    fn allow_and_deny_patterns_apply_to_list_and_call() {
        let policy = Policy::new(
            Map::new(),
            false,
            &["*_file".to_owned(), "search_*".to_owned()],
            &["write_*".to_owned()],
        );
        let mut reply = list();
        policy.filter_tool_list(&mut reply);
        assert_eq!(names(&reply), ["read_file", "search_docs"]);
        assert_eq!(
            policy.check_call("write_file"),
            Some(Err(Refusal::NotAllowed))
        );
        assert_eq!(
            policy.check_call("delete_all"),
            Some(Err(Refusal::NotAllowed))
        );
        assert_eq!(policy.check_call("search_docs"), Some(Ok(())));
    }

    #[test]
    fn metadata_is_injected_and_host_keys_win() {
        let mut metadata = Map::new();
        metadata.insert("tenant".into(), json!("acme"));
        metadata.insert("trace".into(), json!("relay"));
        let policy = Policy::new(metadata, false, &[], &[]);
        let mut request = json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":"x","_meta":{"trace":"host"}}});
        policy.inject_metadata(&mut request);
        assert_eq!(
            request["params"]["_meta"],
            json!({"trace":"host","tenant":"acme"})
        );
        let mut bare = json!({"jsonrpc":"2.0","id":2,"method":"tools/list"});
        policy.inject_metadata(&mut bare);
        assert_eq!(bare["params"]["_meta"]["tenant"], "acme");
        let mut ping = json!({"jsonrpc":"2.0","id":3,"method":"ping"});
        policy.inject_metadata(&mut ping);
        assert!(ping.get("params").is_none());
    }
}

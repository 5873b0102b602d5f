//! What `mcp-sigv4 lambda` parses from Bedrock Agents: the event (either shape,
//! from arbitrary bytes or from well-formed parts with arbitrary values), the
//! string parameters converted by a tool's `inputSchema`, the function-name
//! mapping and the bounded body.
//!
//! Shared by the cargo-fuzz target `fuzz_targets/agent_event.rs` and by
//! `mcp-sigv4/tests/lambda/fuzz.rs`, which runs pseudo-random inputs through it
//! under `cargo test`.

use arbitrary::Arbitrary;
use mcp_sigv4::lambda::event::{AgentEvent, Call, Outcome, Parameter, response};
use mcp_sigv4::lambda::{body, names, params};
use serde_json::{Map, Value, json};

const TYPES: [&str; 8] = [
    "string", "integer", "number", "boolean", "array", "object", "null", "weird",
];

#[derive(Arbitrary, Debug)]
pub struct Input {
    /// Bytes taken as the event's JSON.
    raw: Vec<u8>,
    /// An event of the documented shape, its values arbitrary.
    built: Option<Built>,
    /// The tool's `inputSchema` properties: a name and a type.
    schema: Vec<(String, u8)>,
    /// An `inputSchema` as JSON text, tried when it parses to an object.
    schema_text: String,
    /// A tool's answer, bounded to `max` bytes.
    body: String,
    max: u16,
    /// A server and tool name through the function-name mapping.
    server: String,
    tool: String,
    prefixed: bool,
}

#[derive(Arbitrary, Debug)]
pub struct Built {
    function: Option<String>,
    api_path: Option<String>,
    http_method: Option<String>,
    parameters: Vec<(String, u8, String)>,
    properties: Vec<(String, u8, String)>,
    media_type: Option<String>,
    attributes: Vec<(String, String)>,
}

fn parameter_list(list: &[(String, u8, String)]) -> Value {
    list.iter()
        .map(|(name, kind, value)| {
            json!({"name": name, "type": TYPES[usize::from(*kind) % TYPES.len()], "value": value})
        })
        .collect()
}

impl Built {
    fn event(&self) -> Value {
        let attributes: Map<String, Value> = self
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let media = self.media_type.as_deref().unwrap_or("application/json");
        json!({
            "messageVersion": "1.0",
            "agent": {"name": "a", "id": "AGENT", "alias": "TSTALIASID", "version": "DRAFT"},
            "inputText": "hidden",
            "sessionId": "s",
            "actionGroup": "tools",
            "function": self.function,
            "apiPath": self.api_path,
            "httpMethod": self.http_method,
            "parameters": parameter_list(&self.parameters),
            "requestBody": {"content": {media: {"properties": parameter_list(&self.properties)}}},
            "sessionAttributes": attributes,
            "promptSessionAttributes": attributes,
        })
    }
}

/// Run one input; panics on a violated property.
pub fn check(input: Input) {
    if let Ok(payload) = serde_json::from_slice::<Value>(&input.raw) {
        event(payload, &input);
    }
    if let Some(built) = &input.built {
        event(built.event(), &input);
    }

    let bounded = body::bounded(input.body.clone(), usize::from(input.max));
    if input.body.len() <= usize::from(input.max) {
        assert_eq!(bounded, input.body, "a body within the limit is kept whole");
    } else if input.max >= 200 {
        assert!(
            bounded.len() <= usize::from(input.max),
            "{} > {}",
            bounded.len(),
            input.max
        );
        assert!(bounded.contains("[truncated by mcp-sigv4"), "{bounded}");
    }

    let name = names::function_name(&input.server, &input.tool, input.prefixed);
    assert!(
        names::is_valid(&name),
        "{name:?} from {:?}/{:?}",
        input.server,
        input.tool
    );
    assert_eq!(
        name,
        names::function_name(&input.server, &input.tool, input.prefixed),
        "the mapping is stable"
    );
    if input.prefixed {
        assert!(
            name.starts_with(&names::server_prefix(&input.server)),
            "{name}"
        );
    }
}

/// Decode `payload`; when it is an event, convert its parameters against the
/// input's schema and answer it with every outcome.
fn event(payload: Value, input: &Input) {
    let Ok(event) = AgentEvent::decode(payload) else {
        return;
    };
    let parameters = event.all_parameters();
    for schema in schemas(input) {
        convert(&parameters, &schema);
    }
    let Ok(call) = event.call() else {
        return;
    };
    let _ = call.function();
    for outcome in [
        Outcome::Ok,
        Outcome::Reprompt,
        Outcome::Unknown,
        Outcome::Unreachable,
        Outcome::TimedOut,
    ] {
        let answer = response(&event, &call, outcome, input.body.clone());
        assert!(answer["messageVersion"].is_string(), "{answer}");
        let echo = &answer["response"];
        assert_eq!(echo["actionGroup"], json!(event.action_group), "{answer}");
        match &call {
            Call::Function(function) => assert_eq!(echo["function"], json!(function), "{answer}"),
            Call::Api { path, .. } => assert_eq!(echo["apiPath"], json!(path), "{answer}"),
        }
    }
}

fn schemas(input: &Input) -> Vec<Map<String, Value>> {
    let properties: Map<String, Value> = input
        .schema
        .iter()
        .map(|(name, kind)| {
            (
                name.clone(),
                json!({"type": TYPES[usize::from(*kind) % TYPES.len()]}),
            )
        })
        .collect();
    let mut all = vec![
        json!({"type": "object", "properties": properties})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    ];
    if let Ok(Value::Object(schema)) = serde_json::from_str(&input.schema_text) {
        all.push(schema);
    }
    all
}

/// Convert `parameters`: every one converted to its declared type, or a
/// refusal that names a parameter.
fn convert(parameters: &[Parameter], schema: &Map<String, Value>) {
    match params::arguments(parameters, schema) {
        Ok(arguments) => {
            for parameter in parameters {
                let value = arguments.get(&parameter.name);
                assert!(value.is_some(), "{:?} lost", parameter.name);
                let declared = schema
                    .get("properties")
                    .and_then(|p| p.get(&parameter.name))
                    .and_then(|p| p.get("type"))
                    .and_then(Value::as_str);
                let value = value.unwrap_or(&Value::Null);
                let held = match declared {
                    // A later parameter of the same name replaces an earlier one.
                    _ if parameters
                        .iter()
                        .filter(|p| p.name == parameter.name)
                        .count()
                        > 1 =>
                    {
                        true
                    }
                    Some("integer") => value.is_i64() || value.is_u64(),
                    Some("number") => value.is_number(),
                    Some("boolean") => value.is_boolean(),
                    Some("array") => value.is_array(),
                    Some("object") => value.is_object(),
                    _ => true,
                };
                assert!(held, "{:?} as {declared:?} gave {value}", parameter.value);
            }
        }
        Err(refusal) => {
            assert!(
                parameters
                    .iter()
                    .any(|p| refusal.contains(&format!("`{}`", p.name))),
                "{refusal}"
            );
        }
    }
}

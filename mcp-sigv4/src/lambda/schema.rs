//! An action group's schema from the tools MCP servers list: the
//! `functionSchema` of `aws bedrock-agent create-agent-action-group
//! --function-schema`, or an OpenAPI 3.0.0 document for `--api-schema`, with
//! the function names [`names`] gives (the ones the Lambda maps
//! back).
//!
//! The constraints it keeps, and where each comes from:
//!
//! | constraint | source |
//! |---|---|
//! | function and parameter names `^([0-9a-zA-Z][_-]?){1,100}$` (at most 100 letters and digits) | the `bedrock-agent` service model (`Name`) |
//! | parameter types `string`, `number`, `integer`, `boolean`, `array` | the `bedrock-agent` service model (`ParameterDetail.type`, shape `Type`) |
//! | at most [`MAX_OPERATIONS`] operations per action group | "An action group can contain up to 11 API operations" (Bedrock user guide, `agents-lambda`) |
//! | OpenAPI version `3.0.0`, no `enum` | the reading of the Bedrock user guide (`agents-api-schema`) |
//! | tool names within `^[a-zA-Z0-9_-]{1,64}$` as the model sees them (`httpVerb__actionGroup__apiName`) | Anthropic's tool-name rule; names kept within [`MAX_FUNCTION_NAME`](super::names::MAX_FUNCTION_NAME) |
//! | descriptions of 1 to [`MAX_FUNCTION_DESCRIPTION`] and 1 to [`MAX_PARAMETER_DESCRIPTION`] characters (a tool without one is described by its name; a parameter's empty description is left out) | the `bedrock-agent` service model (`FunctionDescription`, `ParameterDescription`) |
//!
//! The service model's constraints are checked against botocore 1.44.18's
//! copy of the model by `tests/lambda/bedrock_model.rs`, on tools with awkward
//! names and schemas.
//!
//! A tool that cannot be expressed is left out with a note saying why (a
//! parameter name outside the rule, a name that collides after mapping, past
//! the operation limit); an `object` parameter becomes a `string` holding JSON
//! text, which the Lambda converts back.

use std::collections::BTreeMap;
use std::collections::HashSet;

use rmcp::model::Tool;
use serde_json::{Map, Value, json};

use super::{input_schema, names};

/// Operations (functions or API paths) an action group may hold.
pub const MAX_OPERATIONS: usize = 11;
/// A function's description is cut to this many characters.
pub const MAX_FUNCTION_DESCRIPTION: usize = 1_200;
/// A parameter's description is cut to this many characters.
pub const MAX_PARAMETER_DESCRIPTION: usize = 500;

/// The output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The `functionSchema` (`{"functions": [...]}`).
    #[default]
    Functions,
    /// An OpenAPI 3.0.0 document, one `POST /{function}` per tool.
    Openapi,
}

/// One function, ready for either format.
#[derive(Clone, Debug)]
struct Function {
    name: String,
    description: String,
    /// Name → (type, description, required).
    parameters: BTreeMap<String, (String, String, bool)>,
}

/// The schema of `listed` (each server's name and its tools, already
/// filtered); `prefixed` when the Lambda serves several servers. The notes say
/// which tools were changed or left out, and why.
pub fn build(
    listed: &[(String, Vec<Tool>)],
    prefixed: bool,
    format: Format,
) -> (Value, Vec<String>) {
    let mut notes = Vec::new();
    let mut taken = HashSet::new();
    let mut functions = Vec::new();
    for (server, tools) in listed {
        for tool in tools {
            let name = names::function_name(server, &tool.name, prefixed);
            if !taken.insert(name.clone()) {
                notes.push(format!(
                    "`{}` on `{server}` left out: its function name `{name}` is another tool's",
                    tool.name
                ));
                continue;
            }
            if functions.len() == MAX_OPERATIONS {
                notes.push(format!(
                    "`{}` on `{server}` left out: an action group holds at most {MAX_OPERATIONS} operations; split the tools over action groups with --server or allowed_tools",
                    tool.name
                ));
                continue;
            }
            match function(server, tool, name, &mut notes) {
                Some(f) => functions.push(f),
                None => continue,
            }
        }
    }
    let schema = match format {
        Format::Functions => functions_schema(&functions),
        Format::Openapi => openapi(&functions),
    };
    (schema, notes)
}

fn function(server: &str, tool: &Tool, name: String, notes: &mut Vec<String>) -> Option<Function> {
    if name != tool.name.as_ref() {
        notes.push(format!(
            "`{}` on `{server}` is the function `{name}` (Bedrock's name rule)",
            tool.name
        ));
    }
    // The service model's `FunctionDescription` has at least one character.
    let description = [tool.description.as_deref(), Some(tool.name.as_ref())]
        .into_iter()
        .flatten()
        .find(|d| !d.trim().is_empty())
        .unwrap_or(&name);
    let description = cut(description, MAX_FUNCTION_DESCRIPTION);
    let schema = &tool.input_schema;
    let required = input_schema::required(schema);
    let empty = Map::new();
    let properties = input_schema::properties(schema).unwrap_or(&empty);
    let mut parameters = BTreeMap::new();
    for (parameter, property) in properties {
        if !names::follows_rule(parameter) {
            notes.push(format!(
                "`{}` on `{server}` left out: its parameter `{parameter}` breaks Bedrock's name rule ([0-9a-zA-Z][_-]?){{1,100}}",
                tool.name
            ));
            return None;
        }
        let (kind, mut text) = parameter_type(property);
        if kind == "string" && input_schema::property_type(property) == Some("object") {
            text = format!("{text} (a JSON object, as text)").trim().to_owned();
        }
        parameters.insert(
            parameter.clone(),
            (
                kind,
                cut(&text, MAX_PARAMETER_DESCRIPTION),
                required.contains(parameter.as_str()),
            ),
        );
    }
    Some(Function {
        name,
        description,
        parameters,
    })
}

/// Bedrock's parameter type for a property, and its description.
fn parameter_type(property: &Value) -> (String, String) {
    let description = property
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let kind = match input_schema::property_type(property) {
        Some(k @ ("number" | "integer" | "boolean" | "array")) => k.to_owned(),
        _ => "string".to_owned(),
    };
    (kind, description)
}

/// `text` within `max` characters.
fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn functions_schema(functions: &[Function]) -> Value {
    let functions: Vec<Value> = functions
        .iter()
        .map(|f| {
            let parameters: Map<String, Value> = f
                .parameters
                .iter()
                .map(|(name, (kind, description, required))| {
                    let mut detail = json!({"type": kind, "required": required});
                    if !description.is_empty() {
                        detail["description"] = json!(description);
                    }
                    (name.clone(), detail)
                })
                .collect();
            json!({"name": f.name, "description": f.description, "parameters": parameters})
        })
        .collect();
    json!({ "functions": functions })
}

fn openapi(functions: &[Function]) -> Value {
    let paths: Map<String, Value> = functions
        .iter()
        .map(|f| {
            let properties: Map<String, Value> = f
                .parameters
                .iter()
                .map(|(name, (kind, description, _))| {
                    let mut schema = json!({ "type": kind });
                    if kind == "array" {
                        schema["items"] = json!({"type": "string"});
                    }
                    if !description.is_empty() {
                        schema["description"] = json!(description);
                    }
                    (name.clone(), schema)
                })
                .collect();
            let required: Vec<&String> = f
                .parameters
                .iter()
                .filter(|(_, (_, _, r))| *r)
                .map(|(n, _)| n)
                .collect();
            let mut body_schema = json!({"type": "object", "properties": properties});
            if !required.is_empty() {
                body_schema["required"] = json!(required);
            }
            let operation = json!({"post": {
                "operationId": f.name,
                "description": f.description,
                "requestBody": {"required": true, "content": {"application/json": {"schema": body_schema}}},
                "responses": {"200": {"description": "The tool's result as text",
                    "content": {"application/json": {"schema": {"type": "string"}}}}}
            }});
            (format!("/{}", f.name), operation)
        })
        .collect();
    json!({
        "openapi": "3.0.0",
        "info": {"title": "MCP tools", "version": "1.0.0",
                 "description": "MCP tools served by mcp-sigv4 lambda"},
        "paths": paths
    })
}

/// The differences between a saved schema and the current one, one line each
/// (`+` a new function, `-` a function gone, `~` a function changed).
pub fn drift(saved: &Value, now: &Value) -> Vec<String> {
    let saved = operations(saved);
    let now = operations(now);
    let mut lines = Vec::new();
    for (name, value) in &now {
        match saved.get(name) {
            None => lines.push(format!(
                "+ {name}: listed by the servers, not in the saved schema"
            )),
            Some(old) if old != value => {
                lines.push(format!("~ {name}: changed since the schema was saved"))
            }
            Some(_) => {}
        }
    }
    for name in saved.keys().filter(|n| !now.contains_key(*n)) {
        lines.push(format!("- {name}: in the saved schema, no longer listed"));
    }
    lines
}

/// Each operation of either format, by function name.
fn operations(schema: &Value) -> BTreeMap<String, Value> {
    if let Some(functions) = schema.get("functions").and_then(Value::as_array) {
        return functions
            .iter()
            .map(|f| (f["name"].as_str().unwrap_or_default().to_owned(), f.clone()))
            .collect();
    }
    schema
        .get("paths")
        .and_then(Value::as_object)
        .map(|paths| {
            paths
                .iter()
                .map(|(p, v)| (p.trim_start_matches('/').to_owned(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// The format a saved schema is in.
pub fn format_of(schema: &Value) -> Format {
    if schema.get("openapi").is_some() {
        Format::Openapi
    } else {
        Format::Functions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn tool(name: &str, schema: Value) -> Tool {
        Tool::new(
            name.to_owned(),
            "a tool".to_owned(),
            Arc::new(schema.as_object().cloned().unwrap()),
        )
    }

    /// The constraints of the module docs, checked on a schema.
    fn assert_accepted(schema: &Value) {
        let functions = schema["functions"].as_array().unwrap();
        assert!(functions.len() <= MAX_OPERATIONS);
        for f in functions {
            let name = f["name"].as_str().unwrap();
            assert!(names::is_valid(name), "{name}");
            assert!(f["description"].as_str().unwrap().chars().count() <= MAX_FUNCTION_DESCRIPTION);
            for (p, detail) in f["parameters"].as_object().unwrap() {
                assert!(names::follows_rule(p), "{p}");
                let kind = detail["type"].as_str().unwrap();
                assert!(["string", "number", "integer", "boolean", "array"].contains(&kind));
                assert!(detail["required"].is_boolean());
                assert!(detail.get("enum").is_none());
            }
        }
    }

    #[test]
    fn awkward_tools_give_a_schema_bedrock_accepts() {
        let mut tools = vec![
            tool(
                "get.weather",
                json!({"type": "object", "properties": {
                "city": {"type": "string", "description": "d".repeat(900), "enum": ["a"]},
                "opts": {"type": "object"}, "days": {"type": ["integer", "null"]}},
                "required": ["city"]}),
            ),
            tool("get_weather", json!({"type": "object"})),
            tool(
                "bad-param",
                json!({"type": "object", "properties": {"a b": {"type": "string"}}}),
            ),
        ];
        for n in 0..12 {
            tools.push(tool(&format!("t{n}"), json!({"type": "object"})));
        }
        let (schema, notes) = build(&[("s".to_owned(), tools)], false, Format::Functions);
        assert_accepted(&schema);
        let functions = schema["functions"].as_array().unwrap();
        assert_eq!(functions.len(), MAX_OPERATIONS);
        assert_eq!(functions[0]["parameters"]["opts"]["type"], "string");
        assert_eq!(functions[0]["parameters"]["days"]["type"], "integer");
        assert_eq!(functions[0]["parameters"]["city"]["required"], true);
        assert_eq!(functions[1]["name"], "get_weather");
        assert!(
            notes
                .iter()
                .any(|n| n.contains("`bad-param`") && n.contains("`a b`"))
        );
        assert!(notes.iter().any(|n| n.contains("at most 11")));
        assert!(
            notes
                .iter()
                .any(|n| n.contains("`get.weather`") && n.contains("name rule"))
        );
    }

    #[test]
    fn openapi_is_3_0_0_with_one_post_per_tool_and_drift_is_found() {
        let tools = vec![tool(
            "add",
            json!({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}),
        )];
        let (schema, _) = build(&[("s".to_owned(), tools.clone())], false, Format::Openapi);
        assert_eq!(schema["openapi"], "3.0.0");
        assert_eq!(
            schema["paths"]["/add"]["post"]["requestBody"]["content"]["application/json"]["schema"]
                ["required"],
            json!(["a"])
        );
        assert_eq!(format_of(&schema), Format::Openapi);
        assert!(drift(&schema, &schema).is_empty());
        let (more, _) = build(
            &[(
                "s".to_owned(),
                vec![tools[0].clone(), tool("sub", json!({"type": "object"}))],
            )],
            false,
            Format::Openapi,
        );
        assert_eq!(
            drift(&schema, &more),
            ["+ sub: listed by the servers, not in the saved schema"]
        );
        assert_eq!(
            drift(&more, &schema),
            ["- sub: in the saved schema, no longer listed"]
        );
    }
}

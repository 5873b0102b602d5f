//! Reading a tool's `inputSchema` (JSON Schema): its properties, the type of
//! one, and which are required. The conversion of values ([`params`]) and the
//! action group's schema ([`schema`]) read it the same way.
//!
//! [`params`]: super::params
//! [`schema`]: super::schema

use std::collections::HashSet;

use serde_json::{Map, Value};

/// The schema's `properties`, if it has an object there.
pub fn properties(schema: &Map<String, Value>) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

/// The JSON Schema type of a property: `type` as a string, or the first
/// non-`null` one of a list.
pub fn property_type(property: &Value) -> Option<&str> {
    match property.get("type")? {
        Value::String(kind) => Some(kind),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null"),
        _ => None,
    }
}

/// The names the schema's `required` lists.
pub fn required(schema: &Map<String, Value>) -> HashSet<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

//! The constraints `CreateAgentActionGroup` puts on a `functionSchema`, as the
//! `bedrock-agent` service model states them, and a check of a schema against
//! them.
//!
//! Copied by hand (the model file is not committed) from botocore 1.44.18
//! (`pip download botocore==1.44.18`),
//! `botocore/data/bedrock-agent/2023-06-05/service-2.json.gz`, the shapes
//! named beside each constant: `CreateAgentActionGroupRequest.functionSchema`
//! is a `FunctionSchema` (a union of `functions`, a `Functions` list of
//! `Function`), whose `parameters` is a `ParameterMap` from `Name` to
//! `ParameterDetail`. The model's patterns are not anchored; Bedrock applies
//! them to the whole value, and so does this check.
//!
//! Limits the model does not state (at most 11 operations per action group,
//! the model's own 64-character tool names) come from the user guide and are
//! checked by `mcp_sigv4::lambda::schema`'s constants.

use serde_json::Value;

/// `Name` (`{"type": "string", "pattern": "([0-9a-zA-Z][_-]?){1,100}"}`): a
/// `Function`'s `name` and every key of its `ParameterMap`.
pub const NAME_PATTERN: &str = "([0-9a-zA-Z][_-]?){1,100}";
/// `FunctionDescription` (`min` 1, `max` 1200).
pub const FUNCTION_DESCRIPTION: (usize, usize) = (1, 1200);
/// `ParameterDescription` (`min` 1, `max` 500).
pub const PARAMETER_DESCRIPTION: (usize, usize) = (1, 500);
/// `Type` (the enum of `ParameterDetail.type`).
pub const PARAMETER_TYPES: [&str; 5] = ["string", "number", "integer", "boolean", "array"];
/// The members of `Function`; `name` is its only `required` one.
pub const FUNCTION_MEMBERS: [&str; 4] =
    ["name", "description", "parameters", "requireConfirmation"];
/// The members of `ParameterDetail`; `type` is its only `required` one, and
/// `required` is a `Boolean`.
pub const PARAMETER_MEMBERS: [&str; 3] = ["description", "type", "required"];

/// Every way `schema` breaks the model, one line each (empty: it would be
/// accepted).
pub fn violations(schema: &Value) -> Vec<String> {
    let name = regex_lite::Regex::new(&format!("^(?:{NAME_PATTERN})$")).unwrap();
    let mut found = Vec::new();
    let mut broke = |what: String| found.push(what);
    let Some(object) = schema.as_object() else {
        return vec!["the schema is not an object".to_owned()];
    };
    if object.keys().ne(["functions"].iter()) {
        broke(format!(
            "a FunctionSchema is a union with the one member `functions`: {:?}",
            object.keys().collect::<Vec<_>>()
        ));
    }
    let Some(functions) = object.get("functions").and_then(Value::as_array) else {
        broke("`functions` is not a list".to_owned());
        return found;
    };
    let length = |value: &Value| value.as_str().map(|s| s.chars().count());
    for function in functions {
        let Some(function) = function.as_object() else {
            broke(format!("a Function is not an object: {function}"));
            continue;
        };
        let label = function.get("name").cloned().unwrap_or(Value::Null);
        for key in function.keys() {
            if !FUNCTION_MEMBERS.contains(&key.as_str()) {
                broke(format!("{label}: Function has no member `{key}`"));
            }
        }
        match function.get("name").and_then(Value::as_str) {
            Some(n) if name.is_match(n) => {}
            _ => broke(format!("{label}: the name breaks Name {NAME_PATTERN}")),
        }
        if let Some(description) = function.get("description") {
            let (min, max) = FUNCTION_DESCRIPTION;
            if !length(description).is_some_and(|n| (min..=max).contains(&n)) {
                broke(format!(
                    "{label}: FunctionDescription must be {min} to {max} characters"
                ));
            }
        }
        let Some(parameters) = function.get("parameters") else {
            continue;
        };
        let Some(parameters) = parameters.as_object() else {
            broke(format!("{label}: the ParameterMap is not an object"));
            continue;
        };
        for (parameter, detail) in parameters {
            if !name.is_match(parameter) {
                broke(format!(
                    "{label}: the parameter `{parameter}` breaks Name {NAME_PATTERN}"
                ));
            }
            let Some(detail) = detail.as_object() else {
                broke(format!(
                    "{label}.{parameter}: ParameterDetail is not an object"
                ));
                continue;
            };
            for key in detail.keys() {
                if !PARAMETER_MEMBERS.contains(&key.as_str()) {
                    broke(format!(
                        "{label}.{parameter}: ParameterDetail has no member `{key}`"
                    ));
                }
            }
            if !detail
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| PARAMETER_TYPES.contains(&t))
            {
                broke(format!(
                    "{label}.{parameter}: the type is not one of {PARAMETER_TYPES:?}"
                ));
            }
            if detail.get("required").is_some_and(|r| !r.is_boolean()) {
                broke(format!("{label}.{parameter}: `required` is not a Boolean"));
            }
            if let Some(description) = detail.get("description") {
                let (min, max) = PARAMETER_DESCRIPTION;
                if !length(description).is_some_and(|n| (min..=max).contains(&n)) {
                    broke(format!(
                        "{label}.{parameter}: ParameterDescription must be {min} to {max} characters"
                    ));
                }
            }
        }
    }
    found
}

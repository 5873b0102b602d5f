//! Bedrock Agents hands every parameter over as a string; a tool's
//! `inputSchema` says what it takes. The conversion, and a refusal the model can
//! act on when a value does not convert.

use serde_json::{Map, Value};

use super::event::Parameter;
use super::input_schema;

/// The tool's arguments from the event's parameters, each converted to the
/// type its property in `input_schema` gives (`integer`, `number`, `boolean`,
/// `array` and `object` as JSON text, `string`). A property without a type
/// falls back to the type Bedrock sent (`integer`, `number`, `boolean`,
/// `array`), then to a string.
///
/// The error says which parameter, what it should be, and what came.
pub fn arguments(
    parameters: &[Parameter],
    input_schema: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let properties = input_schema::properties(input_schema);
    let mut arguments = Map::new();
    for parameter in parameters {
        let kind = properties
            .and_then(|p| p.get(&parameter.name))
            .and_then(input_schema::property_type)
            .unwrap_or_else(|| bedrock_type(&parameter.r#type));
        let value = convert(&parameter.value, kind).map_err(|expected| {
            format!(
                "parameter `{}` must be {expected}; got {}. Call the function again with a valid value",
                parameter.name,
                shown(&parameter.value),
            )
        })?;
        arguments.insert(parameter.name.clone(), value);
    }
    Ok(arguments)
}

/// The function schema's parameter types (`string`, `number`, `integer`,
/// `boolean`, `array`) as JSON Schema types.
fn bedrock_type(kind: &str) -> &str {
    match kind.to_ascii_lowercase().as_str() {
        "integer" => "integer",
        "number" => "number",
        "boolean" => "boolean",
        "array" => "array",
        _ => "string",
    }
}

/// `raw` as a `kind`; the error is what was expected.
fn convert(raw: &str, kind: &str) -> Result<Value, &'static str> {
    let text = raw.trim();
    match kind {
        "integer" => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<u64>().map(Value::from))
            .or_else(|_| {
                // `3.0` is an integer to JSON Schema.
                text.parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| Value::from(f as i64))
                    .ok_or(())
            })
            .map_err(|_| "an integer, such as 42"),
        // An integer stays one (`2`, not `2.0`), as the model wrote it.
        "number" => match text.parse::<i64>() {
            Ok(integer) => Ok(Value::from(integer)),
            Err(_) => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or("a number, such as 2.5"),
        },
        "boolean" => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("true or false"),
        },
        "array" => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => Ok(Value::Array(items)),
            _ => Err("a JSON array, such as [\"a\", \"b\"]"),
        },
        "object" => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Ok(Value::Object(map)),
            _ => Err("a JSON object, such as {\"key\": \"value\"}"),
        },
        "null" => Ok(Value::Null),
        _ => Ok(Value::String(raw.to_owned())),
    }
}

/// A value as quoted in a refusal: short, so the model sees what it sent.
fn shown(value: &str) -> String {
    const MAX: usize = 80;
    let mut end = value.len().min(MAX);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let cut = if end < value.len() { "…" } else { "" };
    format!("{:?}{cut}", &value[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(name: &str, kind: &str, value: &str) -> Parameter {
        Parameter {
            name: name.into(),
            r#type: kind.into(),
            value: value.into(),
        }
    }

    fn schema() -> Map<String, Value> {
        json!({"type": "object", "properties": {
            "n": {"type": "integer"}, "x": {"type": "number"}, "flag": {"type": "boolean"},
            "tags": {"type": "array"}, "opts": {"type": "object"}, "s": {"type": "string"},
            "maybe": {"type": ["null", "integer"]}
        }})
        .as_object()
        .cloned()
        .unwrap()
    }

    #[test]
    fn each_type_converts() {
        let args = arguments(
            &[
                p("n", "string", "42"),
                p("x", "string", "2.5"),
                p("flag", "string", "True"),
                p("tags", "string", "[\"a\", 1]"),
                p("opts", "string", "{\"k\": \"v\"}"),
                p("s", "integer", "007"),
                p("maybe", "string", "3.0"),
                p("unknown", "number", "1.5"),
                p("other", "string", "text"),
            ],
            &schema(),
        )
        .unwrap();
        assert_eq!(
            Value::Object(args),
            json!({"n": 42, "x": 2.5, "flag": true, "tags": ["a", 1], "opts": {"k": "v"},
                   "s": "007", "maybe": 3, "unknown": 1.5, "other": "text"})
        );
    }

    #[test]
    fn a_value_that_does_not_convert_is_refused_with_what_to_send() {
        let err = arguments(&[p("n", "string", "forty")], &schema()).unwrap_err();
        assert!(err.contains("`n` must be an integer"), "{err}");
        assert!(err.contains("\"forty\""), "{err}");
        for (name, value) in [
            ("x", "NaN"),
            ("flag", "yes"),
            ("tags", "{}"),
            ("opts", "[1]"),
        ] {
            assert!(
                arguments(&[p(name, "string", value)], &schema()).is_err(),
                "{name}"
            );
        }
        let long = "é".repeat(100);
        assert!(arguments(&[p("n", "string", &long)], &schema()).is_err());
    }
}

//! The two input events Bedrock Agents sends an action group's Lambda, and the
//! response each expects, as AWS documents them ("Configure Lambda functions to
//! send information that an Amazon Bedrock agent elicits from the user",
//! `bedrock/latest/userguide/agents-lambda.html`):
//!
//! - **function details**: `actionGroup`, `function`, `parameters` (each
//!   `name`, `type`, `value`, the value always a string); answered with
//!   `response.functionResponse.responseBody.TEXT.body` and, on failure,
//!   `responseState` `REPROMPT` or `FAILURE`;
//! - **API schema** (OpenAPI): `actionGroup`, `apiPath`, `httpMethod`,
//!   `parameters` and `requestBody.content."application/json".properties`;
//!   answered with `response.apiPath`, `httpMethod`, `httpStatusCode` and
//!   `responseBody."application/json".body`.
//!
//! Both carry `messageVersion`, `agent` (`name`, `id`, `alias`, `version`),
//! `inputText`, `sessionId`, `sessionAttributes` and `promptSessionAttributes`;
//! the last two are passed back unchanged.

use serde::Deserialize;
use serde_json::{Map, Value, json};

/// One input event, either shape.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AgentEvent {
    /// `messageVersion`, `1.0`.
    #[serde(default)]
    pub message_version: String,
    /// `agent`: which agent called.
    #[serde(default)]
    pub agent: Agent,
    /// `sessionId`.
    #[serde(default)]
    pub session_id: String,
    /// `actionGroup`.
    #[serde(default)]
    pub action_group: String,
    /// `function` (function-details events).
    #[serde(default)]
    pub function: Option<String>,
    /// `apiPath` (API-schema events).
    #[serde(default)]
    pub api_path: Option<String>,
    /// `httpMethod` (API-schema events), upper case.
    #[serde(default)]
    pub http_method: Option<String>,
    /// `parameters`.
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    /// `requestBody` (API-schema events).
    #[serde(default)]
    pub request_body: Option<RequestBody>,
    /// `sessionAttributes`, passed back.
    #[serde(default)]
    pub session_attributes: Map<String, Value>,
    /// `promptSessionAttributes`, passed back.
    #[serde(default)]
    pub prompt_session_attributes: Map<String, Value>,
}

/// `agent` of an event. (`inputText`, the user's words, is not kept: it never
/// reaches a log.)
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct Agent {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `id`.
    #[serde(default)]
    pub id: String,
    /// `alias`.
    #[serde(default)]
    pub alias: String,
    /// `version`.
    #[serde(default)]
    pub version: String,
}

/// One entry of `parameters` or of a request body's `properties`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct Parameter {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `type`, as the action group's schema declares it.
    #[serde(default)]
    pub r#type: String,
    /// `value`, always a string.
    #[serde(default, deserialize_with = "string_or_json")]
    pub value: String,
}

/// Bedrock documents `value` as a string; a test console may send a number or
/// a list, taken as its JSON text.
fn string_or_json<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// `requestBody` of an API-schema event.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct RequestBody {
    /// `content`, by media type.
    #[serde(default)]
    pub content: Map<String, Value>,
}

/// What the event asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// A function-details event: the function's name.
    Function(String),
    /// An API-schema event: the operation.
    Api {
        /// `apiPath`.
        path: String,
        /// `httpMethod`.
        method: String,
    },
}

impl Call {
    /// The action-group function name the call maps to: the function, or the
    /// API path without its leading `/` (`agent-schema --format openapi` makes
    /// one `POST /{function}` operation per tool).
    pub fn function(&self) -> &str {
        match self {
            Call::Function(name) => name,
            Call::Api { path, .. } => path.trim_start_matches('/'),
        }
    }
}

impl AgentEvent {
    /// Decode an event; the error says what is missing.
    pub fn decode(payload: Value) -> Result<Self, String> {
        serde_json::from_value(payload)
            .map_err(|e| format!("the event is not a Bedrock Agents action group event: {e}"))
    }

    /// The function or operation called.
    pub fn call(&self) -> Result<Call, String> {
        match (&self.function, &self.api_path) {
            (Some(function), _) => Ok(Call::Function(function.clone())),
            (None, Some(path)) => Ok(Call::Api {
                path: path.clone(),
                method: self.http_method.clone().unwrap_or_else(|| "POST".into()),
            }),
            (None, None) => Err(
                "the event has neither `function` (function details) nor `apiPath` (API schema)"
                    .to_owned(),
            ),
        }
    }

    /// Every parameter: `parameters`, then the request body's `properties`
    /// (`application/json` first, then any other media type's).
    pub fn all_parameters(&self) -> Vec<Parameter> {
        let mut all = self.parameters.clone();
        if let Some(body) = &self.request_body {
            let json_first = body.content.get("application/json").into_iter().chain(
                body.content
                    .iter()
                    .filter(|(k, _)| *k != "application/json")
                    .map(|(_, v)| v),
            );
            for content in json_first {
                if let Some(properties) = content.get("properties")
                    && let Ok(list) = serde_json::from_value::<Vec<Parameter>>(properties.clone())
                {
                    all.extend(list);
                }
            }
        }
        all
    }
}

/// How an invocation ended, as Bedrock is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The tool answered.
    Ok,
    /// The model can correct its call: a value that did not convert, or the
    /// tool reported `isError` (`REPROMPT`; HTTP 400).
    Reprompt,
    /// The function is not a tool of any configured server (`FAILURE`; 404).
    Unknown,
    /// The server could not be reached, refused or failed the request
    /// (`FAILURE`; 502).
    Unreachable,
    /// The call did not finish in time (`FAILURE`; 504).
    TimedOut,
}

impl Outcome {
    /// The word in the invocation's log line.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Reprompt => "reprompt",
            Outcome::Unknown => "unknown_function",
            Outcome::Unreachable => "unreachable",
            Outcome::TimedOut => "timeout",
        }
    }

    fn response_state(self) -> Option<&'static str> {
        match self {
            Outcome::Ok => None,
            Outcome::Reprompt => Some("REPROMPT"),
            Outcome::Unknown | Outcome::Unreachable | Outcome::TimedOut => Some("FAILURE"),
        }
    }

    fn status(self) -> u16 {
        match self {
            Outcome::Ok => 200,
            Outcome::Reprompt => 400,
            Outcome::Unknown => 404,
            Outcome::Unreachable => 502,
            Outcome::TimedOut => 504,
        }
    }
}

/// The response to `event` for `call`, with `body` as its text.
pub fn response(event: &AgentEvent, call: &Call, outcome: Outcome, body: String) -> Value {
    let version = if event.message_version.is_empty() {
        "1.0"
    } else {
        &event.message_version
    };
    let inner = match call {
        Call::Function(function) => {
            let mut function_response = json!({"responseBody": {"TEXT": {"body": body}}});
            if let Some(state) = outcome.response_state() {
                function_response["responseState"] = json!(state);
            }
            json!({
                "actionGroup": event.action_group,
                "function": function,
                "functionResponse": function_response,
            })
        }
        Call::Api { path, method } => json!({
            "actionGroup": event.action_group,
            "apiPath": path,
            "httpMethod": method,
            "httpStatusCode": outcome.status(),
            "responseBody": {"application/json": {"body": body}},
        }),
    };
    json!({
        "messageVersion": version,
        "response": inner,
        "sessionAttributes": event.session_attributes,
        "promptSessionAttributes": event.prompt_session_attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_function_details_event_decodes_and_answers() {
        let event = AgentEvent::decode(json!({
            "messageVersion": "1.0",
            "agent": {"name": "a", "id": "AGENT1", "alias": "TSTALIASID", "version": "DRAFT"},
            "inputText": "add 40 and 2", "sessionId": "s1", "actionGroup": "tools",
            "function": "add",
            "parameters": [{"name": "a", "type": "integer", "value": "40"}],
            "sessionAttributes": {"k": "v"}, "promptSessionAttributes": {}
        }))
        .unwrap();
        let call = event.call().unwrap();
        assert_eq!(call, Call::Function("add".into()));
        let answer = response(&event, &call, Outcome::Reprompt, "try again".into());
        assert_eq!(
            answer,
            json!({"messageVersion": "1.0", "response": {"actionGroup": "tools", "function": "add",
                "functionResponse": {"responseBody": {"TEXT": {"body": "try again"}}, "responseState": "REPROMPT"}},
                "sessionAttributes": {"k": "v"}, "promptSessionAttributes": {}})
        );
    }

    #[test]
    fn an_api_event_merges_parameters_and_body_properties() {
        let event = AgentEvent::decode(json!({
            "messageVersion": "1.0", "actionGroup": "tools", "apiPath": "/add", "httpMethod": "POST",
            "parameters": [{"name": "a", "type": "integer", "value": "40"}],
            "requestBody": {"content": {"application/json": {"properties": [
                {"name": "b", "type": "integer", "value": "2"}]}}}
        }))
        .unwrap();
        let call = event.call().unwrap();
        assert_eq!(call.function(), "add");
        let names: Vec<_> = event.all_parameters().into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["a", "b"]);
        let answer = response(&event, &call, Outcome::TimedOut, "late".into());
        assert_eq!(answer["response"]["httpStatusCode"], 504);
        assert_eq!(
            answer["response"]["responseBody"]["application/json"]["body"],
            "late"
        );
    }

    #[test]
    fn an_event_of_neither_shape_is_refused() {
        let event = AgentEvent::decode(json!({"actionGroup": "x"})).unwrap();
        assert!(event.call().is_err());
        assert!(AgentEvent::decode(json!([1, 2])).is_err());
        assert!(AgentEvent::decode(json!({"parameters": "no"})).is_err());
    }
}

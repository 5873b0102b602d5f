//! The Bedrock side of the loop: `Converse` and `ConverseStream` through the SDK,
//! the stream gathered back into one assistant message.

use std::collections::BTreeMap;

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ContentBlockStart, ConversationRole, ConverseOutput,
    ConverseStreamOutput, Message, ReasoningContentBlock, ReasoningContentBlockDelta,
    ReasoningTextBlock, StopReason, SystemContentBlock, ToolConfiguration, ToolUseBlock,
};
use serde_json::Value;

use super::tools::to_document;
use super::{AskError, Observer};
use crate::telemetry::traces;
use tracing::Instrument;

/// One model turn.
pub(crate) struct Turn {
    pub(crate) message: Message,
    pub(crate) stop_reason: StopReason,
}

/// What every call of one conversation shares.
pub(crate) struct Request<'a> {
    pub(crate) client: &'a Client,
    pub(crate) model: &'a str,
    pub(crate) system: &'a [SystemContentBlock],
    pub(crate) tool_config: Option<&'a ToolConfiguration>,
}

impl Request<'_> {
    fn system(&self) -> Option<Vec<SystemContentBlock>> {
        (!self.system.is_empty()).then(|| self.system.to_vec())
    }

    /// The error is returned, and logged only at debug level: the command prints
    /// it once. AWS's answer is its code and message; a failure to reach Bedrock
    /// is the chain of causes.
    fn failed<E>(&self, operation: &str, error: E) -> AskError
    where
        E: std::error::Error + ProvideErrorMetadata,
    {
        let detail = match (error.code(), error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => chain(&error),
        };
        let message = format!("{operation} on model `{}` failed: {detail}", self.model);
        tracing::debug!(source = "bedrock", model = %self.model, operation, "{message}");
        AskError::bedrock(message)
    }

    /// `Converse`: the whole reply at once.
    pub(crate) async fn converse(&self, messages: &[Message]) -> Result<Turn, AskError> {
        let span = traces::chat_span(self.model);
        self.converse_once(messages).instrument(span).await
    }

    async fn converse_once(&self, messages: &[Message]) -> Result<Turn, AskError> {
        let output = self
            .client
            .converse()
            .model_id(self.model)
            .set_system(self.system())
            .set_messages(Some(messages.to_vec()))
            .set_tool_config(self.tool_config.cloned())
            .send()
            .await
            .map_err(|e| self.failed("Converse", e))?;
        let stop_reason = output.stop_reason().clone();
        let usage = output
            .usage()
            .map(|u| (u.input_tokens(), u.output_tokens()));
        traces::record_turn(stop_reason.as_str(), usage);
        match output.output {
            Some(ConverseOutput::Message(message)) => Ok(Turn {
                message,
                stop_reason,
            }),
            _ => Err(AskError::bedrock(format!(
                "Converse on model `{}` returned no message (stop reason {})",
                self.model,
                stop_reason.as_str()
            ))),
        }
    }

    /// `ConverseStream`: text goes to `observer` as it arrives; each block is
    /// gathered until it stops, so a `toolUse` is complete before it is used.
    pub(crate) async fn converse_stream(
        &self,
        messages: &[Message],
        observer: &dyn Observer,
    ) -> Result<Turn, AskError> {
        let span = traces::chat_span(self.model);
        self.converse_streamed(messages, observer)
            .instrument(span)
            .await
    }

    async fn converse_streamed(
        &self,
        messages: &[Message],
        observer: &dyn Observer,
    ) -> Result<Turn, AskError> {
        let mut output = self
            .client
            .converse_stream()
            .model_id(self.model)
            .set_system(self.system())
            .set_messages(Some(messages.to_vec()))
            .set_tool_config(self.tool_config.cloned())
            .send()
            .await
            .map_err(|e| self.failed("ConverseStream", e))?;
        let mut gathered = Gathered::default();
        let mut stop_reason = None;
        let mut usage = None;
        // Bounded by the stream: `recv` returns `None` when Bedrock ends it.
        while let Some(event) = output
            .stream
            .recv()
            .await
            .map_err(|e| self.failed("ConverseStream", e))?
        {
            match event {
                ConverseStreamOutput::ContentBlockStart(event) => {
                    gathered.start(event.content_block_index(), event.start())
                }
                ConverseStreamOutput::ContentBlockDelta(event) => {
                    if let Some(ContentBlockDelta::Text(text)) = event.delta() {
                        observer.text(text);
                    }
                    gathered.delta(event.content_block_index(), event.delta());
                }
                ConverseStreamOutput::ContentBlockStop(event) => gathered
                    .stop(event.content_block_index())
                    .map_err(|message| self.malformed(message))?,
                ConverseStreamOutput::MessageStop(event) => {
                    stop_reason = Some(event.stop_reason().clone())
                }
                ConverseStreamOutput::Metadata(event) => {
                    usage = event.usage().map(|u| (u.input_tokens(), u.output_tokens()))
                }
                _ => {}
            }
        }
        let stop_reason = stop_reason.ok_or_else(|| {
            self.malformed("the stream ended without a messageStop event".to_owned())
        })?;
        traces::record_turn(stop_reason.as_str(), usage);
        Ok(Turn {
            message: gathered.into_message()?,
            stop_reason,
        })
    }

    fn malformed(&self, message: String) -> AskError {
        let message = format!("ConverseStream on model `{}`: {message}", self.model);
        tracing::debug!(source = "bedrock", model = %self.model, "{message}");
        AskError::bedrock(message)
    }
}

/// An error and its sources on one line, `a: b: c`, each message once. The SDK's
/// `DisplayErrorContext` ends with the whole `Debug` tree, which is no message.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        let text = error.to_string();
        if !text.is_empty() && !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        next = error.source();
    }
    parts.join(": ")
}

/// Content blocks of a streamed message, by index, as they are built.
#[derive(Default)]
struct Gathered {
    open: BTreeMap<i32, Partial>,
    done: BTreeMap<i32, ContentBlock>,
}

enum Partial {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        input: String,
    },
    Reasoning {
        text: String,
        signature: Option<String>,
        redacted: Option<Vec<u8>>,
    },
}

impl Gathered {
    fn start(&mut self, index: i32, start: Option<&ContentBlockStart>) {
        if let Some(ContentBlockStart::ToolUse(tool_use)) = start {
            self.open.insert(
                index,
                Partial::ToolUse {
                    id: tool_use.tool_use_id().to_owned(),
                    name: tool_use.name().to_owned(),
                    input: String::new(),
                },
            );
        }
    }

    fn delta(&mut self, index: i32, delta: Option<&ContentBlockDelta>) {
        let Some(delta) = delta else { return };
        let partial = self.open.entry(index).or_insert_with(|| match delta {
            ContentBlockDelta::ReasoningContent(_) => Partial::Reasoning {
                text: String::new(),
                signature: None,
                redacted: None,
            },
            _ => Partial::Text(String::new()),
        });
        match (partial, delta) {
            (Partial::Text(text), ContentBlockDelta::Text(more)) => text.push_str(more),
            (Partial::ToolUse { input, .. }, ContentBlockDelta::ToolUse(more)) => {
                input.push_str(more.input())
            }
            (
                Partial::Reasoning {
                    text,
                    signature,
                    redacted,
                },
                ContentBlockDelta::ReasoningContent(more),
            ) => match more {
                ReasoningContentBlockDelta::Text(more) => text.push_str(more),
                ReasoningContentBlockDelta::Signature(s) => {
                    signature.get_or_insert_with(String::new).push_str(s)
                }
                ReasoningContentBlockDelta::RedactedContent(blob) => redacted
                    .get_or_insert_with(Vec::new)
                    .extend_from_slice(blob.as_ref()),
                _ => {}
            },
            _ => {}
        }
    }

    fn stop(&mut self, index: i32) -> Result<(), String> {
        let Some(partial) = self.open.remove(&index) else {
            return Ok(());
        };
        let block = match partial {
            // Bedrock refuses an empty text block when the message is sent back.
            Partial::Text(text) if text.is_empty() => return Ok(()),
            Partial::Text(text) => ContentBlock::Text(text),
            Partial::ToolUse { id, name, input } => {
                let value: Value = if input.trim().is_empty() {
                    Value::Object(Default::default())
                } else {
                    serde_json::from_str(&input).map_err(|e| {
                        format!("the input of toolUse `{name}` ({id}) is not JSON: {e}")
                    })?
                };
                let tool_use = ToolUseBlock::builder()
                    .tool_use_id(id)
                    .name(name)
                    .input(to_document(&value))
                    .build()
                    .map_err(|e| format!("an incomplete toolUse block: {e}"))?;
                ContentBlock::ToolUse(tool_use)
            }
            Partial::Reasoning {
                text,
                signature,
                redacted,
            } => match redacted {
                Some(bytes) => ContentBlock::ReasoningContent(
                    ReasoningContentBlock::RedactedContent(Blob::new(bytes)),
                ),
                None => {
                    let text = ReasoningTextBlock::builder()
                        .text(text)
                        .set_signature(signature)
                        .build()
                        .map_err(|e| format!("an incomplete reasoning block: {e}"))?;
                    ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(text))
                }
            },
        };
        self.done.insert(index, block);
        Ok(())
    }

    fn into_message(mut self) -> Result<Message, AskError> {
        // A block the stream never stopped (a cut answer) is kept as it is, except
        // an unfinished toolUse, whose input may be partial JSON.
        let open: Vec<i32> = self.open.keys().copied().collect();
        for index in open {
            if matches!(self.open.get(&index), Some(Partial::ToolUse { .. })) {
                self.open.remove(&index);
            } else {
                let _ = self.stop(index);
            }
        }
        let content: Vec<ContentBlock> = self.done.into_values().collect();
        let content = if content.is_empty() {
            vec![ContentBlock::Text(String::new())]
        } else {
            content
        };
        Message::builder()
            .role(ConversationRole::Assistant)
            .set_content(Some(content))
            .build()
            .map_err(|e| AskError::bedrock(format!("the streamed message is incomplete: {e}")))
    }
}

/// The text blocks of `message`, joined.
pub(crate) fn text_of(message: &Message) -> String {
    message
        .content()
        .iter()
        .filter_map(|block| match block {
            ContentBlock::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("")
}

/// The `toolUse` blocks of `message`.
pub(crate) fn tool_uses(message: &Message) -> Vec<ToolUseBlock> {
    message
        .content()
        .iter()
        .filter_map(|block| match block {
            ContentBlock::ToolUse(tool_use) => Some(tool_use.clone()),
            _ => None,
        })
        .collect()
}

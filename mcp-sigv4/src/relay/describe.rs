//! Upstream failures as JSON-RPC errors whose message says what happened and what
//! the user can do, in the terms of the front-end they use (CLI flags, or config
//! keys).

use rmcp::transport::streamable_http_client::StreamableHttpError;
use serde_json::{Value, json};
use tower_sigv4::endpoint::Endpoint;
use tower_sigv4::rejection::{AwsErrorReply, RejectionKind};
use tower_sigv4::rmcp::HttpClientError;
use tower_sigv4::unstable::ErrorChain;

use crate::upstream::UpstreamError;

/// Where the user sets what a hint asks them to change.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How to set the signing service: `--service`, or a config key.
    pub service: String,
    /// How to set the region.
    pub region: String,
    /// How to choose other credentials.
    pub credentials: String,
    /// How to allow more retries.
    pub retries: String,
    /// How to raise the request body limit.
    pub max_body_size: String,
}

impl Settings {
    /// The `mcp-sigv4 proxy` flags.
    pub fn cli() -> Self {
        Self {
            service: "--service".into(),
            region: "--region".into(),
            credentials: "--profile NAME (or AWS_PROFILE), or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN in the environment".into(),
            retries: "--retries".into(),
            max_body_size: "--max-body-size".into(),
        }
    }
}

/// What the relay signs with, to explain refusals.
#[derive(Clone, Debug)]
pub struct SigningContext {
    /// The SigV4 service signed for (`None` when requests are not signed).
    pub service: Option<String>,
    /// The region signed for.
    pub region: Option<String>,
    /// The service and region the endpoint's host belongs to.
    pub inferred: Option<Endpoint>,
    /// Where the credentials come from, in words.
    pub credentials: String,
    /// Where the user changes things.
    pub settings: Settings,
}

/// The message and `data` of the JSON-RPC error for a failed exchange.
pub fn describe(error: &UpstreamError, context: &SigningContext) -> (String, Value) {
    let status_error = match error {
        StreamableHttpError::Client(e) => e.status_error(),
        _ => None,
    };
    let Some(status_error) = status_error else {
        let message = match error {
            StreamableHttpError::Client(e) if let Some(signing) = e.signing_error() => {
                not_signed(signing, &context.settings)
            }
            StreamableHttpError::Client(HttpClientError::Transport(_)) => format!(
                "cannot reach the MCP endpoint: {}; check the URL, the network, and HTTPS_PROXY/NO_PROXY",
                ErrorChain(error)
            ),
            _ => format!("MCP endpoint request failed: {}", ErrorChain(error)),
        };
        return (message, json!({"source": "relay"}));
    };
    let reply = &status_error.reply;
    let kind = reply.kind();
    // Name the provider that supplied the credentials when the recovery layer
    // knows it ("EnvironmentVariable", "ProfileFile", "Sso", "Imds"...).
    let named;
    let context = match status_error
        .diagnosis
        .as_ref()
        .and_then(|d| d.credentials_provider.as_deref())
    {
        Some(provider) => {
            named = SigningContext {
                credentials: format!("the `{provider}` provider of {}", context.credentials),
                ..context.clone()
            };
            &named
        }
        None => context,
    };
    let hint = hint(reply, kind, context);
    let signed = match (&context.service, &context.region) {
        (Some(service), Some(region)) if matches!(reply.status.as_u16(), 401 | 403) => format!(
            " Signed for service `{service}` in region `{region}` with credentials from {}.",
            context.credentials
        ),
        _ => String::new(),
    };
    let reply_text = reply.to_string();
    let message = format!("{}.{signed} Hint: {hint}", reply_text.trim_end_matches('.'));
    let data = json!({
        "source": "upstream",
        "status": reply.status.as_u16(),
        "aws_error_type": reply.error_type,
        "aws_message": reply.message,
        "kind": format!("{kind:?}"),
        "hint": hint,
        "signing_service": context.service,
        "signing_region": context.region,
        "credentials": context.credentials,
    });
    (message, data)
}

/// Why a request could not be signed (so nothing was sent), and what to do, in
/// the front-end's terms rather than the library builder's.
fn not_signed(error: &tower_sigv4::Error, settings: &Settings) -> String {
    let what = match error {
        tower_sigv4::Error::Credentials(e) => crate::advice::credentials(e).unwrap_or_else(|| {
            let cause = std::error::Error::source(e)
                .map(|cause| format!(": {}", ErrorChain(cause)))
                .unwrap_or_default();
            format!(
                "no AWS credentials from {}{}{cause}; choose them with {} (run `aws sso login` for SSO profiles)",
                e.source_name(),
                crate::advice::load_timeout(e),
                settings.credentials
            )
        }),
        tower_sigv4::Error::BodyTooLarge { limit, .. } => format!(
            "the request body is over the signing limit of {limit} bytes; raise it with {}",
            settings.max_body_size
        ),
        other => other.to_string(),
    };
    format!("the request could not be signed, so nothing was sent: {what}")
}

/// What to do about one refusal.
fn hint(reply: &AwsErrorReply, kind: RejectionKind, context: &SigningContext) -> String {
    let settings = &context.settings;
    let message = reply.message.as_deref().unwrap_or_default();
    if kind == RejectionKind::Throttling {
        return format!(
            "the endpoint is throttling; send fewer requests at once or allow more retries with {}",
            settings.retries
        );
    }
    if !matches!(reply.status.as_u16(), 401 | 403) {
        return kind.hint().into_owned();
    }
    let (Some(service), Some(region)) = (&context.service, &context.region) else {
        return "the endpoint requires SigV4 signing, but requests are sent unsigned; remove --skip-auth"
            .to_owned();
    };
    if let Some(expected) = quoted_after(message, "correct service: '") {
        return format!(
            "AWS expects service `{expected}`, but the request was signed for `{service}`: set {} {expected}",
            settings.service
        );
    }
    if message.contains("scoped to a valid region") || expected_region(message).is_some() {
        let expected = expected_region(message)
            .or_else(|| context.inferred.as_ref().map(|e| e.region.clone()));
        return match expected {
            Some(expected) => format!(
                "AWS expects region `{expected}`, but the request was signed for `{region}`: set {} {expected}",
                settings.region
            ),
            None => format!(
                "the request was signed for region `{region}`, which this endpoint does not accept: set {} to the endpoint's region",
                settings.region
            ),
        };
    }
    if let Some(inferred) = context
        .inferred
        .as_ref()
        .filter(|e| e.service.as_str() != service || e.region != *region)
    {
        return format!(
            "the request was signed for service `{service}` in `{region}`, but the endpoint's host belongs to `{}` in `{}`: set {} and {} to match",
            inferred.service, inferred.region, settings.service, settings.region
        );
    }
    match kind {
        RejectionKind::InvalidSignature => format!(
            "the service and region match the endpoint, so the secret access key most likely does not belong to the access key id (credentials from {}), or something changed the request after signing; check the credentials, or choose others with {}",
            context.credentials, settings.credentials
        ),
        RejectionKind::ExpiredToken => format!(
            "the credentials from {} have expired; refresh them (`aws sso login` for SSO profiles) or choose others with {}",
            context.credentials, settings.credentials
        ),
        RejectionKind::UnrecognizedClient => format!(
            "AWS does not know the access key or session token from {}; check that it was not rotated or deleted, or choose other credentials with {}",
            context.credentials, settings.credentials
        ),
        RejectionKind::AccessDenied => format!(
            "the identity from {} is not allowed to do this; grant it the action in IAM (for AgentCore: bedrock-agentcore:InvokeAgentRuntime), or choose other credentials with {}",
            context.credentials, settings.credentials
        ),
        other => other.hint().into_owned(),
    }
}

/// The region AWS says it expected, from messages such as "... expecting
/// 'eu-west-1'" or "... expected 'eu-west-1'".
fn expected_region(message: &str) -> Option<String> {
    [
        "expecting '",
        "expected '",
        "expected region '",
        "should be '",
    ]
    .iter()
    .find_map(|marker| quoted_after(message, marker))
}

/// The text between `marker` (found case-insensitively) and the next `'`.
fn quoted_after(message: &str, marker: &str) -> Option<String> {
    // ASCII lowercasing keeps byte offsets, so the position applies to `message`.
    let start = message
        .to_ascii_lowercase()
        .find(&marker.to_ascii_lowercase())?
        + marker.len();
    let value = message.get(start..)?.split('\'').next()?;
    (!value.is_empty()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn context() -> SigningContext {
        SigningContext {
            service: Some("bedrock-agentcore".into()),
            region: Some("us-east-1".into()),
            inferred: tower_sigv4::endpoint::infer(
                "https://bedrock-agentcore.us-east-1.amazonaws.com/x",
            ),
            credentials: "profile `dev`".into(),
            settings: Settings::cli(),
        }
    }

    fn reply_with(status: StatusCode, error_type: &str, message: &str) -> AwsErrorReply {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-amzn-errortype", error_type.parse().unwrap());
        let body = serde_json::json!({ "message": message }).to_string();
        AwsErrorReply::parse(status, &headers, body.as_bytes())
    }

    fn reply(error_type: &str, message: &str) -> AwsErrorReply {
        reply_with(StatusCode::FORBIDDEN, error_type, message)
    }

    #[test]
    fn a_wrong_secret_is_not_blamed_on_service_or_region() {
        let r = reply(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        );
        let hint = hint(&r, r.kind(), &context());
        assert!(hint.contains("secret access key"), "{hint}");
        assert!(hint.contains("profile `dev`"), "{hint}");
        assert!(hint.contains("--profile"), "{hint}");
        assert!(!hint.contains("--service"), "{hint}");
    }

    #[test]
    fn a_wrong_region_names_the_region_aws_expects() {
        let r = reply(
            "InvalidSignatureException",
            "Credential should be scoped to a valid region, not 'us-west-2'. Expecting 'us-east-1'",
        );
        let r2 = reply(
            "InvalidSignatureException",
            "Credential should be scoped to a valid region. The region 'us-west-2' is wrong; expecting 'eu-central-1'",
        );
        let hint2 = hint(&r2, r2.kind(), &context());
        assert!(
            hint2.contains("AWS expects region `eu-central-1`"),
            "{hint2}"
        );
        assert!(hint2.contains("--region eu-central-1"), "{hint2}");
        let hint1 = hint(&r, r.kind(), &context());
        assert!(hint1.contains("--region us-east-1"), "{hint1}");
    }

    #[test]
    fn a_wrong_service_names_the_service_aws_expects() {
        let r = reply(
            "InvalidSignatureException",
            "Credential should be scoped to correct service: 'aws-mcp'. ",
        );
        let hint = hint(&r, r.kind(), &context());
        assert!(hint.contains("--service aws-mcp"), "{hint}");
    }

    #[test]
    fn throttling_points_at_retries() {
        let r = reply_with(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "Rate exceeded",
        );
        assert!(hint(&r, r.kind(), &context()).contains("--retries"));
    }
}

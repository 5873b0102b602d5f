//! AWS error replies: parsing and classification, shared by the recovery layer,
//! the rmcp client and the CLI.
//!
//! ```
//! use http::{HeaderMap, StatusCode};
//! use tower_sigv4::rejection::{AwsErrorReply, RejectionKind};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("x-amzn-errortype", "ExpiredTokenException:http://internal.amazon.com/".parse().unwrap());
//! let body = br#"{"message":"The security token included in the request is expired"}"#;
//! let reply = AwsErrorReply::parse(StatusCode::FORBIDDEN, &headers, body);
//! assert_eq!(reply.kind(), RejectionKind::ExpiredToken);
//! assert_eq!(reply.error_type.as_deref(), Some("ExpiredTokenException"));
//! ```

use std::borrow::Cow;
use std::fmt;

use http::{HeaderMap, StatusCode};

/// What AWS said in an error reply.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AwsErrorReply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The error type, from `x-amzn-errortype` or the body's `__type`/`code`,
    /// without namespace or URL (e.g. `InvalidSignatureException`).
    pub error_type: Option<String>,
    /// The message from the body's `message`/`Message` field (or a short plain-text
    /// body), with session-token values replaced by `…`: some services echo the
    /// canonical request, `x-amz-security-token` line included, in the message.
    pub message: Option<String>,
}

/// The classes of AWS rejections that call for different actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// The signature does not match: usually a wrong service name or region, or a
    /// request changed after signing.
    InvalidSignature,
    /// The signature's date is too far from AWS's clock.
    SignatureExpired,
    /// The session token has expired.
    ExpiredToken,
    /// The access key or token is not known to AWS.
    UnrecognizedClient,
    /// The identity is not allowed to do this.
    AccessDenied,
    /// The request carried no signature.
    MissingAuthentication,
    /// AWS is throttling.
    Throttling,
    /// The service is temporarily unavailable.
    ServiceUnavailable,
    /// Anything else.
    Other,
}

impl RejectionKind {
    /// One line that says what to do. Every `hint()` of the crate returns a
    /// `Cow<'static, str>`: borrowed where the advice is fixed, owned where it
    /// names what was signed.
    pub fn hint(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            RejectionKind::InvalidSignature => {
                "check that the signing service and region match the endpoint (aws-mcp for aws-mcp.*.api.aws, bedrock-agentcore for AgentCore) and that nothing changes the request after signing"
            }
            RejectionKind::SignatureExpired => {
                "the system clock is off; sync it (e.g. with NTP) or let the signer correct skew from the server's Date header"
            }
            RejectionKind::ExpiredToken => {
                "the credentials have expired; refresh them (`aws sso login`, a new session, or new keys)"
            }
            RejectionKind::UnrecognizedClient => {
                "AWS does not know this access key or token; check the profile and that the keys were not rotated or deleted"
            }
            RejectionKind::AccessDenied => {
                "the identity lacks permission; check its IAM policy allows this action on this resource"
            }
            RejectionKind::MissingAuthentication => {
                "the request was not signed; configure credentials instead of sending unsigned"
            }
            RejectionKind::Throttling => {
                "the endpoint is throttling; lower the request rate or concurrency, or allow more retries"
            }
            RejectionKind::ServiceUnavailable => {
                "the service is temporarily unavailable; retry later"
            }
            RejectionKind::Other => "see the error message from AWS",
        })
    }

    /// Whether the rejection is about the signature or the credentials behind it.
    pub fn is_signature_problem(self) -> bool {
        matches!(
            self,
            RejectionKind::InvalidSignature
                | RejectionKind::SignatureExpired
                | RejectionKind::ExpiredToken
                | RejectionKind::UnrecognizedClient
                | RejectionKind::MissingAuthentication
        )
    }
}

impl AwsErrorReply {
    /// Parse a reply from its status, headers and (possibly partial) body.
    pub fn parse(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let from_json = |keys: &[&str]| {
            let object = json.as_ref()?.as_object()?;
            keys.iter()
                .find_map(|k| object.get(*k).and_then(|v| v.as_str()))
                .map(str::to_owned)
        };
        let error_type = headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| from_json(&["__type", "code", "Code"]))
            .map(|t| clean_type(&t).to_owned())
            .filter(|t| !t.is_empty());
        let message = from_json(&["message", "Message", "errorMessage"]).or_else(|| {
            // A short text body (some gateways answer in plain text).
            let text = std::str::from_utf8(body).ok()?.trim();
            (json.is_none() && !text.is_empty() && text.len() <= 512).then(|| text.to_owned())
        });
        let message = message.map(|m| redact_tokens(&m));
        Self {
            status,
            error_type,
            message,
        }
    }

    /// One line that says what to do about this reply.
    pub fn hint(&self) -> Cow<'static, str> {
        self.kind().hint()
    }

    /// Whether AWS refused the signature or the credentials behind it.
    pub fn is_signature_problem(&self) -> bool {
        self.kind().is_signature_problem()
    }

    /// The classification.
    pub fn kind(&self) -> RejectionKind {
        let error_type = self.error_type.as_deref().unwrap_or_default();
        let message = self
            .message
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let type_is = |names: &[&str]| names.iter().any(|n| error_type.eq_ignore_ascii_case(n));
        if message.contains("signature expired")
            || message.contains("signature not yet current")
            || type_is(&["RequestTimeTooSkewed", "SignatureExpired", "RequestExpired"])
        {
            RejectionKind::SignatureExpired
        } else if type_is(&["ExpiredTokenException", "ExpiredToken"])
            || message.contains("security token included in the request is expired")
        {
            RejectionKind::ExpiredToken
        } else if type_is(&["UnrecognizedClientException", "InvalidClientTokenId"])
            || message.contains("security token included in the request is invalid")
        {
            RejectionKind::UnrecognizedClient
        } else if type_is(&["InvalidSignatureException", "SignatureDoesNotMatch"])
            || message.contains("signature we calculated does not match")
        {
            RejectionKind::InvalidSignature
        } else if type_is(&[
            "MissingAuthenticationTokenException",
            "MissingAuthenticationToken",
            "IncompleteSignatureException",
        ]) || message.contains("missing authentication token")
        {
            RejectionKind::MissingAuthentication
        } else if type_is(&["AccessDeniedException", "AccessDenied"]) {
            RejectionKind::AccessDenied
        } else if self.status == StatusCode::TOO_MANY_REQUESTS
            || type_is(&[
                "ThrottlingException",
                "TooManyRequestsException",
                "Throttling",
                "SlowDown",
            ])
        {
            RejectionKind::Throttling
        } else if self.status == StatusCode::SERVICE_UNAVAILABLE
            || type_is(&["ServiceUnavailableException", "ServiceUnavailable"])
        {
            RejectionKind::ServiceUnavailable
        } else {
            RejectionKind::Other
        }
    }
}

impl fmt::Display for AwsErrorReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(t) = &self.error_type {
            write!(f, ": {t}")?;
        }
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

/// `text` with the value after every `x-amz-security-token:` or
/// `X-Amz-Security-Token=` (any case) replaced by `…`.
fn redact_tokens(text: &str) -> String {
    const NAME: &str = "x-amz-security-token";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = lower[search..].find(NAME) {
        let after_name = search + found + NAME.len();
        search = after_name;
        let rest = &text[after_name..];
        let Some(separator) = rest.chars().next().filter(|c| matches!(c, ':' | '=')) else {
            continue;
        };
        let after_separator = &rest[separator.len_utf8()..];
        let value_start = text.len() - after_separator.trim_start_matches(' ').len();
        let value_len = text[value_start..]
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '&' | '\'' | '"' | ',' | ';' | '<' | '>')
            })
            .unwrap_or(text.len() - value_start);
        if value_len == 0 {
            continue;
        }
        out.push_str(&text[copied..value_start]);
        out.push('…');
        copied = value_start + value_len;
        search = copied;
    }
    out.push_str(&text[copied..]);
    out
}

/// `Type:http://...` → `Type`; `com.amazon.coral.service#Type` → `Type`.
fn clean_type(t: &str) -> &str {
    let t = t.split(':').next().unwrap_or_default();
    t.rsplit('#').next().unwrap_or_default().trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, header: Option<&str>, body: &str) -> AwsErrorReply {
        let mut headers = HeaderMap::new();
        if let Some(h) = header {
            headers.insert("x-amzn-errortype", h.parse().unwrap());
        }
        AwsErrorReply::parse(
            StatusCode::from_u16(status).unwrap(),
            &headers,
            body.as_bytes(),
        )
    }

    #[test]
    fn classifies_realistic_aws_replies() {
        let cases = [
            (
                reply(
                    403,
                    Some(
                        "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/",
                    ),
                    r#"{"message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."}"#,
                ),
                RejectionKind::InvalidSignature,
            ),
            (
                reply(
                    403,
                    None,
                    r#"{"__type":"com.amazon.coral.service#InvalidSignatureException","Message":"Credential should be scoped to correct service: 'aws-mcp'. "}"#,
                ),
                RejectionKind::InvalidSignature,
            ),
            (
                reply(
                    403,
                    Some("InvalidSignatureException"),
                    r#"{"message":"Signature expired: 20150830T123600Z is now earlier than 20150830T124100Z (20150830T125100Z - 5 min.)"}"#,
                ),
                RejectionKind::SignatureExpired,
            ),
            (
                reply(
                    403,
                    None,
                    r#"{"message":"Signature not yet current: 20150830T133600Z is still later than 20150830T124100Z"}"#,
                ),
                RejectionKind::SignatureExpired,
            ),
            (
                reply(
                    403,
                    Some("ExpiredTokenException"),
                    r#"{"message":"The security token included in the request is expired"}"#,
                ),
                RejectionKind::ExpiredToken,
            ),
            (
                reply(
                    403,
                    Some("UnrecognizedClientException"),
                    r#"{"message":"The security token included in the request is invalid."}"#,
                ),
                RejectionKind::UnrecognizedClient,
            ),
            (
                reply(
                    403,
                    Some("AccessDeniedException"),
                    r#"{"Message":"User: arn:aws:iam::123456789012:user/x is not authorized to perform: bedrock-agentcore:InvokeAgentRuntime"}"#,
                ),
                RejectionKind::AccessDenied,
            ),
            (
                reply(403, None, r#"{"message":"Missing Authentication Token"}"#),
                RejectionKind::MissingAuthentication,
            ),
            (
                reply(429, None, "Too Many Requests"),
                RejectionKind::Throttling,
            ),
            (
                reply(
                    400,
                    Some("ThrottlingException"),
                    r#"{"message":"Rate exceeded"}"#,
                ),
                RejectionKind::Throttling,
            ),
            (reply(503, None, ""), RejectionKind::ServiceUnavailable),
            (
                reply(404, None, "<html>not found</html>"),
                RejectionKind::Other,
            ),
        ];
        for (reply, kind) in cases {
            assert_eq!(reply.kind(), kind, "{reply}");
        }
    }

    #[test]
    fn classifies_more_variants_of_the_same_problems() {
        let cases = [
            (
                reply(
                    403,
                    Some("RequestTimeTooSkewed"),
                    r#"{"message":"The difference between the request time and the current time is too large."}"#,
                ),
                RejectionKind::SignatureExpired,
            ),
            (
                reply(
                    403,
                    None,
                    r#"{"__type":"com.amazon.coral.service#ExpiredTokenException","message":"The security token included in the request is expired"}"#,
                ),
                RejectionKind::ExpiredToken,
            ),
            (
                reply(
                    403,
                    None,
                    r#"{"Message":"The security token included in the request is invalid."}"#,
                ),
                RejectionKind::UnrecognizedClient,
            ),
            (
                reply(
                    403,
                    Some("IncompleteSignatureException"),
                    r#"{"message":"Authorization header requires 'Credential' parameter."}"#,
                ),
                RejectionKind::MissingAuthentication,
            ),
            (
                reply(
                    429,
                    Some("TooManyRequestsException"),
                    r#"{"message":"Too Many Requests"}"#,
                ),
                RejectionKind::Throttling,
            ),
            (
                reply(
                    503,
                    Some("ServiceUnavailableException"),
                    r#"{"message":"Service unavailable"}"#,
                ),
                RejectionKind::ServiceUnavailable,
            ),
            (
                reply(
                    400,
                    Some("ValidationException"),
                    r#"{"message":"1 validation error detected"}"#,
                ),
                RejectionKind::Other,
            ),
        ];
        for (reply, kind) in cases {
            assert_eq!(reply.kind(), kind, "{reply}");
            assert_eq!(reply.hint(), kind.hint());
        }
    }

    #[test]
    fn hints_are_one_line_and_signature_problems_are_the_auth_ones() {
        use RejectionKind::*;
        for kind in [
            InvalidSignature,
            SignatureExpired,
            ExpiredToken,
            UnrecognizedClient,
            AccessDenied,
            MissingAuthentication,
            Throttling,
            ServiceUnavailable,
            Other,
        ] {
            assert!(
                !kind.hint().is_empty() && !kind.hint().contains('\n'),
                "{kind:?}"
            );
            let expected = !matches!(kind, AccessDenied | Throttling | ServiceUnavailable | Other);
            assert_eq!(kind.is_signature_problem(), expected, "{kind:?}");
        }
        assert!(RejectionKind::ExpiredToken.hint().contains("aws sso login"));
        assert!(RejectionKind::SignatureExpired.hint().contains("clock"));
        assert!(
            RejectionKind::InvalidSignature
                .hint()
                .contains("service and region")
        );
    }

    #[test]
    fn error_type_header_wins_and_empty_values_are_none() {
        let r = reply(
            403,
            Some(
                "AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/",
            ),
            r#"{"__type":"com.amazon.coral.service#Other","message":"m"}"#,
        );
        assert_eq!(r.error_type.as_deref(), Some("AccessDeniedException"));
        let r = reply(403, Some(""), "");
        assert_eq!((r.error_type, r.message), (None, None));
    }

    #[test]
    fn extracts_type_and_message() {
        let r = reply(
            403,
            None,
            r#"{"__type":"com.amazon.coral.service#AccessDeniedException","Message":"no"}"#,
        );
        assert_eq!(r.error_type.as_deref(), Some("AccessDeniedException"));
        assert_eq!(r.message.as_deref(), Some("no"));
        assert_eq!(
            r.to_string(),
            "HTTP 403 Forbidden: AccessDeniedException: no"
        );
        let garbage = reply(403, None, "\u{0}\u{1}{{{");
        assert_eq!(garbage.kind(), RejectionKind::Other);
    }

    #[test]
    fn token_values_echoed_in_a_message_are_redacted() {
        let canonical = "POST\n/mcp\nX-Amz-Security-Token=QUERYSECRET%2Fx&qualifier=DEFAULT\ncontent-type:application/json\nhost:example.com\nx-amz-date:20250101T000000Z\nx-amz-security-token:SECRET+/abc==\n\ncontent-type;host;x-amz-date;x-amz-security-token\nabc";
        let message = format!(
            "The request signature we calculated does not match the signature you provided.\n\nThe Canonical String for this request should have been\n'{canonical}'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20250101T000000Z'\n"
        );
        let body = serde_json::json!({ "message": message }).to_string();
        let r = reply(403, Some("InvalidSignatureException"), &body);
        assert_eq!(r.kind(), RejectionKind::InvalidSignature);
        for text in [r.to_string(), format!("{r:?}")] {
            assert!(!text.contains("SECRET"), "{text}");
            assert!(text.contains("x-amz-security-token:…"), "{text}");
            assert!(
                text.contains("X-Amz-Security-Token=…&qualifier=DEFAULT"),
                "{text}"
            );
        }
        // The signed-headers line names the header without a value: kept.
        assert!(
            r.to_string()
                .contains("content-type;host;x-amz-date;x-amz-security-token\nabc")
        );
        let plain = reply(403, None, "x-amz-security-token: SECRET");
        assert_eq!(plain.message.as_deref(), Some("x-amz-security-token: …"));
    }
}

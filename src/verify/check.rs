use std::fmt;
use std::time::{Duration, SystemTime};

use http::{HeaderName, StatusCode, request};
use subtle::ConstantTimeEq;

use crate::canonical::{self, CanonicalOptions, CredentialScope, ParsedAuthorization};
use crate::clock::amz_date::{format_amz_date, parse_amz_date};

/// The secret for one access key id, and the session token it must come with.
#[derive(Clone)]
pub struct VerifyingKey {
    secret: String,
    session_token: Option<String>,
    token_expired: bool,
}

impl VerifyingKey {
    /// A key with this secret access key.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            session_token: None,
            token_expired: false,
        }
    }

    /// Require this session token, signed, in `x-amz-security-token`.
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }

    /// Refuse this key's session token as expired (`ExpiredTokenException`).
    pub fn expired(mut self) -> Self {
        self.token_expired = true;
        self
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("secret", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .field("token_expired", &self.token_expired)
            .finish()
    }
}

/// Who signed an accepted request, and which of its headers the signature
/// covers: inserted into its extensions.
///
/// A header that is not in [`signed_headers`](Self::signed_headers) reached the
/// inner service as the client (or anything on the way) set it, unchecked. Refuse
/// such requests with [`VerifySigV4Layer::require_signed`](super::VerifySigV4Layer::require_signed),
/// or drop the headers with [`VerifySigV4Layer::strip_unsigned_headers`](super::VerifySigV4Layer::strip_unsigned_headers).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedIdentity {
    /// The access key id that signed the request.
    pub access_key_id: String,
    /// The names of the signed headers: lowercase, sorted, as in the canonical
    /// request. `host` is among them, also when it came from HTTP/2's `:authority`.
    pub signed_headers: Vec<String>,
}

impl VerifiedIdentity {
    /// Whether the signature covers the header `name` (any case).
    pub fn is_signed(&self, name: &str) -> bool {
        self.signed_headers
            .iter()
            .any(|signed| signed.eq_ignore_ascii_case(name))
    }
}

/// Why a request was refused: the status, the AWS error type and a message that
/// says which part did not match.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// The HTTP status (403, or 413 for a body over the limit, 400 for an unreadable body).
    pub status: StatusCode,
    /// The AWS error type, e.g. `InvalidSignatureException`.
    pub error_type: &'static str,
    /// What did not match.
    pub message: String,
}

impl Refusal {
    pub(crate) fn new(
        status: StatusCode,
        error_type: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error_type,
            message: message.into(),
        }
    }

    fn forbidden(error_type: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, error_type, message)
    }

    fn invalid_signature(message: impl Into<String>) -> Self {
        Self::forbidden("InvalidSignatureException", message)
    }

    /// The JSON body AWS sends: `{"__type": ..., "message": ...}`.
    pub fn body(&self) -> String {
        serde_json::json!({ "__type": self.error_type, "message": self.message }).to_string()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.error_type,
            self.message
        )
    }
}

pub(crate) struct Expectations<'a> {
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
    pub(crate) max_skew: Duration,
    pub(crate) now: SystemTime,
    /// Headers that must be signed whenever a request carries them.
    pub(crate) require_signed: &'a [HeaderName],
}

/// Headers a request must not repeat: with two, the first would silently win
/// here while another reader of the request may take the other.
const SINGLE: [&str; 5] = [
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "host",
];

/// What the headers alone showed good: the parsed `Authorization`, the key it
/// names, and the date it was signed at.
pub(crate) struct HeadersChecked {
    auth: ParsedAuthorization,
    key: VerifyingKey,
    amz_date: String,
}

/// Every check the headers allow, before the body is read: a request with no
/// or a malformed `Authorization`, an unknown key, a wrong scope, a stale date
/// or a wrong session token is refused without reading a byte of its body.
pub(crate) fn check_headers(
    parts: &request::Parts,
    lookup: &(dyn Fn(&str) -> Option<VerifyingKey> + Send + Sync),
    expect: &Expectations<'_>,
) -> Result<HeadersChecked, Refusal> {
    for name in SINGLE {
        let count = parts.headers.get_all(name).iter().count();
        if count > 1 {
            return Err(Refusal::forbidden(
                "IncompleteSignatureException",
                format!("The request has {count} '{name}' headers; send exactly one."),
            ));
        }
    }
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let Some(authorization) = header("authorization") else {
        return Err(Refusal::forbidden(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let auth = ParsedAuthorization::parse(authorization)
        .map_err(|e| Refusal::forbidden("IncompleteSignatureException", e.to_string()))?;
    let amz_date = header("x-amz-date").ok_or_else(|| {
        Refusal::forbidden(
            "IncompleteSignatureException",
            "Authorization header requires an X-Amz-Date header",
        )
    })?;
    let signed_at = parse_amz_date(amz_date).ok_or_else(|| {
        Refusal::forbidden(
            "IncompleteSignatureException",
            format!("X-Amz-Date `{amz_date}` is not YYYYMMDDTHHMMSSZ"),
        )
    })?;
    let key = lookup(&auth.access_key_id).ok_or_else(|| {
        Refusal::forbidden(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    })?;

    if auth.scope.service != expect.service {
        return Err(Refusal::invalid_signature(format!(
            "Credential should be scoped to correct service: '{}'. The credential scope names service '{}'.",
            expect.service, auth.scope.service
        )));
    }
    if auth.scope.region != expect.region {
        return Err(Refusal::invalid_signature(format!(
            "Credential should be scoped to a valid region, not '{}'. The endpoint is in '{}'.",
            auth.scope.region, expect.region
        )));
    }
    if auth.scope.date != amz_date[..8] {
        return Err(Refusal::invalid_signature(format!(
            "Date in Credential scope does not match YYYYMMDD from X-Amz-Date: '{}' != '{}'.",
            auth.scope.date,
            &amz_date[..8]
        )));
    }
    check_skew(signed_at, amz_date, expect)?;

    let is_signed = |name: &str| {
        auth.signed_headers
            .iter()
            .any(|h| h.trim().eq_ignore_ascii_case(name))
    };
    for required in ["host", "x-amz-date"] {
        if !is_signed(required) {
            return Err(Refusal::invalid_signature(format!(
                "'{required}' must be a signed header. SignedHeaders: {}",
                auth.signed_headers.join(";")
            )));
        }
    }
    for required in expect.require_signed {
        if parts.headers.contains_key(required) && !is_signed(required.as_str()) {
            return Err(Refusal::invalid_signature(format!(
                "'{required}' must be a signed header when the request has it. SignedHeaders: {}",
                auth.signed_headers.join(";")
            )));
        }
    }
    if let Some(expected_token) = &key.session_token {
        let sent = parts.headers.get("x-amz-security-token");
        // Constant time: how much of a token matched must not show in the timing.
        let matches =
            sent.is_some_and(|token| bool::from(token.as_bytes().ct_eq(expected_token.as_bytes())));
        if !matches {
            return Err(Refusal::forbidden(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ));
        }
        if !is_signed("x-amz-security-token") {
            return Err(Refusal::invalid_signature(
                "'x-amz-security-token' must be a signed header.",
            ));
        }
        if key.token_expired {
            return Err(Refusal::forbidden(
                "ExpiredTokenException",
                "The security token included in the request is expired",
            ));
        }
    }
    Ok(HeadersChecked {
        auth,
        key,
        amz_date: amz_date.to_owned(),
    })
}

/// The checks that need the body: its hash, and the signature itself.
pub(crate) fn check_signature(
    parts: &request::Parts,
    body: &[u8],
    checked: HeadersChecked,
    expect: &Expectations<'_>,
) -> Result<VerifiedIdentity, Refusal> {
    let HeadersChecked {
        auth,
        key,
        amz_date,
    } = checked;
    let amz_date = amz_date.as_str();
    let payload_hash = crate::signer::sha256_hex(body);
    // The body is always signed here: an unsigned payload is refused too.
    let claimed = parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok());
    if claimed.is_some_and(|claimed| claimed != payload_hash) {
        return Err(Refusal::invalid_signature(
            "The body does not match X-Amz-Content-SHA256: the body was changed after signing.",
        ));
    }

    let signed: Vec<&str> = auth.signed_headers.iter().map(String::as_str).collect();
    let creq = canonical::canonical_request(
        parts.method.as_str(),
        &parts.uri,
        &parts.headers,
        &signed,
        &payload_hash,
        CanonicalOptions::default(),
    )
    .map_err(|e| Refusal::invalid_signature(e.to_string()))?;
    let scope = CredentialScope::new(&auth.scope.date, expect.region, expect.service);
    let string_to_sign = canonical::string_to_sign(amz_date, &scope, &creq);
    let expected = canonical::signature(
        &canonical::signing_key(&key.secret, &scope),
        &string_to_sign,
    );
    if !bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes())) {
        return Err(Refusal::invalid_signature(format!(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. The canonical request over the signed headers {} and the body hash {} did not match (method, path, query, a signed header's value or the body changed, or the secret differs).",
            creq.signed_headers, payload_hash
        )));
    }
    Ok(VerifiedIdentity {
        access_key_id: auth.access_key_id,
        signed_headers: creq.signed_headers.split(';').map(str::to_owned).collect(),
    })
}

/// Refuse a date outside `now ± max_skew`. A bound past what `SystemTime` can
/// hold (a huge `max_skew`) is no bound.
fn check_skew(
    signed_at: SystemTime,
    amz_date: &str,
    expect: &Expectations<'_>,
) -> Result<(), Refusal> {
    let now = expect.now;
    let skew_minutes = expect.max_skew.as_secs() / 60;
    if let Some(earliest) = now.checked_sub(expect.max_skew)
        && signed_at < earliest
    {
        return Err(Refusal::invalid_signature(format!(
            "Signature expired: {amz_date} is now earlier than {} ({} - {skew_minutes} min.)",
            format_amz_date(earliest),
            format_amz_date(now)
        )));
    }
    if let Some(latest) = now.checked_add(expect.max_skew)
        && signed_at > latest
    {
        return Err(Refusal::invalid_signature(format!(
            "Signature not yet current: {amz_date} is still later than {} ({} + {skew_minutes} min.)",
            format_amz_date(latest),
            format_amz_date(now)
        )));
    }
    Ok(())
}

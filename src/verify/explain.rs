use http::request;

use crate::canonical::{
    self, CanonicalError, CanonicalOptions, CredentialScope, ParsedAuthorization,
};

/// What a signed request was signed over, rebuilt from the request as it is by
/// the crate's independent SigV4 implementation: for a person debugging a 403,
/// and for tests that check what a signer put on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Explanation {
    /// The request's `Authorization` header, parsed.
    pub authorization: ParsedAuthorization,
    /// The canonical request, in AWS's exact text. A header value with bytes that
    /// are not UTF-8 (obs-text, signed as they are) shows them as U+FFFD here;
    /// `string_to_sign` holds the hash of the exact bytes.
    pub canonical_request: String,
    /// The string to sign, in AWS's exact text.
    pub string_to_sign: String,
}

/// Rebuild the canonical request and string to sign of a signed request from its
/// head and the hex SHA-256 of its body, with the region and service of its
/// credential scope. Paths are normalised and encoded twice, as every service but
/// S3 wants; see [`explain_with`] for S3.
///
/// The canonical request holds the signed header values as they are, a session
/// token included: redact `x-amz-security-token` before showing it.
///
/// ```
/// # #[cfg(feature = "unstable")] {
/// use tower_sigv4::unstable::explain;
///
/// let (parts, ()) = http::Request::get("https://example.amazonaws.com/")
///     .header("host", "example.amazonaws.com")
///     .header("x-amz-date", "20150830T123600Z")
///     .header(
///         "authorization",
///         "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
///          SignedHeaders=host;x-amz-date, \
///          Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
///     )
///     .body(())
///     .unwrap()
///     .into_parts();
/// let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// let explained = explain(&parts, empty).unwrap();
/// assert_eq!(
///     explained.canonical_request,
///     format!("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n{empty}")
/// );
/// assert!(explained.string_to_sign.starts_with("AWS4-HMAC-SHA256\n20150830T123600Z\n"));
/// # }
/// ```
pub fn explain(
    parts: &request::Parts,
    payload_sha256_hex: &str,
) -> Result<Explanation, CanonicalError> {
    explain_with(parts, payload_sha256_hex, PathHandling::Normalized)
}

/// How [`explain_with`] canonicalises the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathHandling {
    /// Remove `.`, `..` and empty segments, then encode the wire path again: every
    /// service but S3.
    Normalized,
    /// Encode the wire path again without normalising it.
    Unnormalized,
    /// The path as S3 wants it: decoded once, encoded once, not normalised.
    S3,
}

/// Like [`explain`], with the path handled as `path` says.
pub fn explain_with(
    parts: &request::Parts,
    payload_sha256_hex: &str,
    path: PathHandling,
) -> Result<Explanation, CanonicalError> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| CanonicalError::MissingHeader(name.to_owned()))
    };
    let authorization = ParsedAuthorization::parse(header("authorization")?)?;
    let amz_date = header("x-amz-date")?;
    let signed: Vec<&str> = authorization
        .signed_headers
        .iter()
        .map(String::as_str)
        .collect();
    let options = CanonicalOptions {
        double_encode_path: path != PathHandling::S3,
        normalize_path: path == PathHandling::Normalized,
    };
    let creq = canonical::canonical_request(
        parts.method.as_str(),
        &parts.uri,
        &parts.headers,
        &signed,
        payload_sha256_hex,
        options,
    )?;
    let scope = CredentialScope::new(
        amz_date.get(..8).unwrap_or_default(),
        authorization.scope.region.as_str(),
        authorization.scope.service.as_str(),
    );
    let string_to_sign = canonical::string_to_sign(amz_date, &scope, &creq);
    Ok(Explanation {
        authorization,
        canonical_request: creq.to_string(),
        string_to_sign,
    })
}

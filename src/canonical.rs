//! An independent SigV4 implementation of the canonical request, string to sign and
//! signature, written from AWS's specification (not aws-sigv4's code). The
//! verifying layer uses it, and [`verify::explain`](crate::verify::explain) exposes
//! what it rebuilds; the signer asks it which queries aws-sigv4 reads differently.

use std::fmt;

use hmac::{Hmac, Mac};
use http::HeaderMap;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str};
use sha2::{Digest, Sha256};

/// The SigV4 algorithm name.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How the path is canonicalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CanonicalOptions {
    /// Encode each path segment twice (every service but S3).
    pub(crate) double_encode_path: bool,
    /// Remove `.` and `..` segments and empty segments (every service but S3).
    pub(crate) normalize_path: bool,
}

impl Default for CanonicalOptions {
    fn default() -> Self {
        Self {
            double_encode_path: true,
            normalize_path: true,
        }
    }
}

/// A canonical request; `Display` gives AWS's exact text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CanonicalRequest {
    /// The method.
    pub(crate) method: String,
    /// The canonical URI.
    pub(crate) canonical_uri: String,
    /// The canonical query string.
    pub(crate) canonical_query: String,
    /// `name:value` lines, sorted, each ending in `\n`.
    pub(crate) canonical_headers: String,
    /// Signed header names joined by `;`.
    pub(crate) signed_headers: String,
    /// The hex SHA-256 of the payload.
    pub(crate) payload_hash: String,
}

impl fmt::Display for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.method,
            self.canonical_uri,
            self.canonical_query,
            self.canonical_headers,
            self.signed_headers,
            self.payload_hash
        )
    }
}

impl CanonicalRequest {
    /// Hex SHA-256 of the canonical request's text.
    pub(crate) fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.to_string().as_bytes()))
    }
}

/// Why a canonical request could not be built or an Authorization header parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CanonicalError {
    /// A signed header is not on the request.
    MissingHeader(String),
    /// A signed header's value is not visible ASCII.
    InvalidHeaderValue(String),
    /// The Authorization header is not a SigV4 one.
    MalformedAuthorization(String),
}

impl fmt::Display for CanonicalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CanonicalError::MissingHeader(name) => write!(
                f,
                "signed header `{name}` is not on the request; send every header listed in SignedHeaders"
            ),
            CanonicalError::InvalidHeaderValue(name) => write!(
                f,
                "signed header `{name}` has a value that is not visible ASCII"
            ),
            CanonicalError::MalformedAuthorization(why) => write!(
                f,
                "the Authorization header is not a SigV4 header ({why}); expected `AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX`"
            ),
        }
    }
}

impl std::error::Error for CanonicalError {}

/// Build the canonical request for `method`, the path and query of `uri` exactly
/// as on the wire, the `signed_headers` (lowercase names) taken from `headers`,
/// and the hex SHA-256 of the payload.
pub(crate) fn canonical_request(
    method: &str,
    uri: &http::Uri,
    headers: &HeaderMap,
    signed_headers: &[&str],
    payload_sha256_hex: &str,
    options: CanonicalOptions,
) -> Result<CanonicalRequest, CanonicalError> {
    let mut names: Vec<String> = signed_headers
        .iter()
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    let mut canonical_headers = String::new();
    for name in &names {
        let mut values = Vec::new();
        for value in headers.get_all(name.as_str()) {
            let value = value
                .to_str()
                .map_err(|_| CanonicalError::InvalidHeaderValue(name.clone()))?;
            values.push(trim_all(value));
        }
        if values.is_empty() {
            return Err(CanonicalError::MissingHeader(name.clone()));
        }
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(&values.join(","));
        canonical_headers.push('\n');
    }
    Ok(CanonicalRequest {
        method: method.to_owned(),
        canonical_uri: canonical_uri(uri.path(), options),
        canonical_query: canonical_query(uri.query().unwrap_or_default()),
        canonical_headers,
        signed_headers: names.join(";"),
        payload_hash: payload_sha256_hex.to_owned(),
    })
}

/// Trim and collapse runs of spaces to one, as SigV4 wants header values.
fn trim_all(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical URI of a wire path.
pub(crate) fn canonical_uri(path: &str, options: CanonicalOptions) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let segments: Vec<&str> = if options.normalize_path {
        let mut out: Vec<&str> = Vec::new();
        for segment in path.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    out.pop();
                }
                s => out.push(s),
            }
        }
        out
    } else {
        path.split('/').skip(1).collect()
    };
    // RFC 3986 5.2.4 keeps the slash a final `/.` or `/..` stands for: `/a/b/.` is
    // `/a/b/` (aws-sigv4 agrees; botocore's `normpath` drops it).
    let trailing = options.normalize_path
        && path.len() > 1
        && ["/", "/.", "/.."].iter().any(|end| path.ends_with(end))
        && !segments.is_empty();
    let mut result = String::with_capacity(path.len() + 8);
    for segment in &segments {
        result.push('/');
        let encoded = if options.double_encode_path {
            // The wire form is already encoded once: encode it again.
            encode(segment.as_bytes())
        } else {
            encode(&percent_decode(segment))
        };
        result.push_str(&encoded);
    }
    if result.is_empty() || trailing {
        result.push('/');
    }
    result
}

/// The canonical query string of a wire query.
pub(crate) fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (encode(&percent_decode(k)), encode(&percent_decode(v)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Why aws-sigv4 would build a different canonical query for `query` than the
/// SigV4 rules (and botocore) do, if it would. `None` for every query made only
/// of unreserved characters, `=` and `&`, such as AgentCore's `qualifier=DEFAULT`.
///
/// aws-sigv4 1.6 form-decodes the query before encoding it again: a raw `+`
/// becomes a space (`%20`, where botocore keeps a plus), and an escape that is
/// not UTF-8 becomes U+FFFD (`%EF%BF%BD`, where the rules keep the bytes).
pub(crate) fn query_ambiguity(query: &str) -> Option<&'static str> {
    let plain =
        |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'=' | b'&');
    if query.bytes().all(plain) {
        return None;
    }
    if query.contains('+') {
        return Some("it has a raw `+`, which aws-sigv4 signs as a space and botocore as a plus");
    }
    let not_utf8 = query
        .split(['&', '='])
        .any(|part| std::str::from_utf8(&percent_decode(part)).is_err());
    if not_utf8 {
        return Some(
            "it has a percent-escape that is not UTF-8, which aws-sigv4 replaces with U+FFFD",
        );
    }
    None
}

/// Everything but the SigV4 unreserved set `A-Z a-z 0-9 - _ . ~` is encoded.
const SIGV4_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encode bytes the SigV4 way (uppercase hex).
fn encode(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, SIGV4_ENCODE).to_string()
}

/// Decode `%XX` escapes; an invalid escape stays as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    percent_decode_str(s).collect()
}

/// A credential scope: `YYYYMMDD/region/service/aws4_request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialScope {
    /// `YYYYMMDD`.
    pub date: String,
    /// The region.
    pub region: String,
    /// The service.
    pub service: String,
}

impl CredentialScope {
    /// A scope.
    pub fn new(
        date: impl Into<String>,
        region: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        Self {
            date: date.into(),
            region: region.into(),
            service: service.into(),
        }
    }
}

impl fmt::Display for CredentialScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// The string to sign.
pub(crate) fn string_to_sign(
    amz_date: &str,
    scope: &CredentialScope,
    creq: &CanonicalRequest,
) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", creq.hash())
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The signing key for `secret` and `scope`.
pub(crate) fn signing_key(secret: &str, scope: &CredentialScope) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), scope.date.as_bytes());
    let k_region = hmac(&k_date, scope.region.as_bytes());
    let k_service = hmac(&k_region, scope.service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// The hex signature of `string_to_sign`.
pub(crate) fn signature(key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac(key, string_to_sign.as_bytes()))
}

/// A parsed `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedAuthorization {
    /// The access key id.
    pub access_key_id: String,
    /// The credential scope.
    pub scope: CredentialScope,
    /// Signed header names, as listed.
    pub signed_headers: Vec<String>,
    /// The hex signature.
    pub signature: String,
}

impl ParsedAuthorization {
    /// Parse the header's value.
    pub fn parse(value: &str) -> Result<Self, CanonicalError> {
        let bad = |why: &str| CanonicalError::MalformedAuthorization(why.to_owned());
        let rest = value
            .trim()
            .strip_prefix(ALGORITHM)
            .ok_or_else(|| bad("it does not start with AWS4-HMAC-SHA256"))?;
        if !rest.starts_with(' ') {
            return Err(bad("no space after the algorithm"));
        }
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            let (key, val) = part
                .split_once('=')
                .ok_or_else(|| bad("a part is not KEY=VALUE"))?;
            let slot = match key {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => return Err(bad("unknown part")),
            };
            if slot.replace(val).is_some() {
                return Err(bad("a part appears twice"));
            }
        }
        let credential = credential.ok_or_else(|| bad("no Credential"))?;
        let signed = signed.ok_or_else(|| bad("no SignedHeaders"))?;
        let signature = signature.ok_or_else(|| bad("no Signature"))?;
        let fields: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, terminator] = fields.as_slice() else {
            return Err(bad(
                "Credential is not AKID/DATE/REGION/SERVICE/aws4_request",
            ));
        };
        if *terminator != "aws4_request"
            || access_key_id.is_empty()
            || region.is_empty()
            || service.is_empty()
        {
            return Err(bad(
                "Credential is not AKID/DATE/REGION/SERVICE/aws4_request",
            ));
        }
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the credential date is not YYYYMMDD"));
        }
        if signed.is_empty() {
            return Err(bad("SignedHeaders is empty"));
        }
        if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("Signature is not 64 hex digits"));
        }
        Ok(Self {
            access_key_id: (*access_key_id).to_owned(),
            scope: CredentialScope::new(*date, *region, *service),
            signed_headers: signed.split(';').map(str::to_owned).collect(),
            signature: signature.to_ascii_lowercase(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_queries_are_not_ambiguous() {
        for query in [
            "",
            "qualifier=DEFAULT",
            "a=1&b=2",
            "b=2&a=1",
            "x",
            "a-b_c.d~e=f",
        ] {
            assert_eq!(query_ambiguity(query), None, "{query}");
        }
        // Encoded and valid UTF-8, in any order: both sort after encoding (AWS's
        // suite case get-vanilla-query-order-encoded has `%E1%88%B4` and `Param`).
        for query in [
            "q=a%20b",
            "q=a%2Bb",
            "k=%C3%A9",
            "a=1&%7B=2",
            "Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
            "k=%zz",
        ] {
            assert_eq!(query_ambiguity(query), None, "{query}");
        }
    }

    #[test]
    fn queries_aws_sigv4_reads_differently_are_flagged() {
        assert!(query_ambiguity("+uW").unwrap().contains("raw `+`"));
        assert!(query_ambiguity("q=a+b").unwrap().contains("raw `+`"));
        assert!(query_ambiguity("k=%FF").unwrap().contains("UTF-8"));
        assert!(query_ambiguity("%C3=x").unwrap().contains("UTF-8"));
    }

    #[test]
    fn normalized_paths_keep_the_slash_of_a_final_dot_segment() {
        let normalized = CanonicalOptions {
            normalize_path: true,
            double_encode_path: true,
        };
        for (path, canonical) in [
            ("/ew-/sasp-w7a/.", "/ew-/sasp-w7a/"),
            ("/a/b/..", "/a/"),
            ("/a/b/", "/a/b/"),
            ("/a/b", "/a/b"),
            ("/a.", "/a."),
            ("/./", "/"),
            ("/a/..", "/"),
            ("", "/"),
        ] {
            assert_eq!(canonical_uri(path, normalized), canonical, "{path}");
        }
    }

    #[test]
    fn canonical_query_sorts_after_encoding() {
        assert_eq!(canonical_query("a=1&%7B=2"), "%7B=2&a=1");
        assert_eq!(canonical_query("b=2&a=1"), "a=1&b=2");
    }
}

//! An independent SigV4 implementation of the canonical request, string to sign and
//! signature, written from AWS's specification (not aws-sigv4's code). The
//! verifying layer uses it, and `unstable::explain` exposes
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

/// A canonical request. [`hash`](Self::hash) covers AWS's exact bytes; `Display`
/// gives the same text, with any byte that is not UTF-8 (obs-text in a header
/// value) shown as U+FFFD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CanonicalRequest {
    /// The method.
    pub(crate) method: String,
    /// The canonical URI.
    pub(crate) canonical_uri: String,
    /// The canonical query string.
    pub(crate) canonical_query: String,
    /// `name:value` lines, sorted, each ending in `\n`. Bytes: a header value may
    /// hold obs-text that is not UTF-8, and is signed as it is.
    pub(crate) canonical_headers: Vec<u8>,
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
            String::from_utf8_lossy(&self.canonical_headers),
            self.signed_headers,
            self.payload_hash
        )
    }
}

impl CanonicalRequest {
    /// Hex SHA-256 of the canonical request's bytes.
    pub(crate) fn hash(&self) -> String {
        let mut hasher = Sha256::new();
        for (i, part) in [
            self.method.as_bytes(),
            self.canonical_uri.as_bytes(),
            self.canonical_query.as_bytes(),
            &self.canonical_headers,
            self.signed_headers.as_bytes(),
            self.payload_hash.as_bytes(),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                hasher.update(b"\n");
            }
            hasher.update(part);
        }
        hex::encode(hasher.finalize())
    }
}

/// Why a canonical request could not be built or an Authorization header parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CanonicalError {
    /// A signed header is not on the request.
    MissingHeader(String),
    /// A signed header's value holds a control character (CR, LF, NUL, ...), which
    /// HTTP forbids in a field value.
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
                "signed header `{name}` has a control character in its value, which HTTP forbids in a field value"
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
///
/// A signed `host` that is not among the headers is taken from the URI's
/// authority: HTTP/2 carries it in `:authority`, and hyper does not turn that
/// into a `host` header.
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
    let mut canonical_headers = Vec::new();
    for name in &names {
        canonical_headers.extend_from_slice(name.as_bytes());
        canonical_headers.push(b':');
        let mut values = headers.get_all(name.as_str()).iter().peekable();
        if values.peek().is_none() {
            match uri.authority() {
                Some(authority) if name == "host" => {
                    canonical_headers.extend_from_slice(host_of(authority).as_bytes());
                }
                _ => return Err(CanonicalError::MissingHeader(name.clone())),
            }
        }
        for (i, value) in values.enumerate() {
            if i > 0 {
                canonical_headers.push(b',');
            }
            if !push_canonical_value(&mut canonical_headers, value.as_bytes()) {
                return Err(CanonicalError::InvalidHeaderValue(name.clone()));
            }
        }
        canonical_headers.push(b'\n');
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

/// The host of an authority as a client sends it in HTTP/2's `:authority`: the
/// host and port as given, without user info.
pub(crate) fn host_of(authority: &http::uri::Authority) -> &str {
    let text = authority.as_str();
    text.rsplit_once('@').map_or(text, |(_, host)| host)
}

/// Append the canonical form of a header value, the rule botocore and AWS CRT
/// apply: SP and HT (RFC 9110's OWS) trimmed at both ends, each inner run of them
/// turned into one SP, every other byte kept, obs-text (0x80 to 0xFF, UTF-8 or not)
/// included. False, with `out` part-written, for a control character other than HT.
///
/// Written on bytes, apart from the signer's `canonical_value`, so that the fuzz
/// targets compare two implementations of the rule.
fn push_canonical_value(out: &mut Vec<u8>, value: &[u8]) -> bool {
    let is_ows = |b: u8| b == b' ' || b == b'\t';
    let Some(first) = value.iter().position(|&b| !is_ows(b)) else {
        return true;
    };
    let last = value.iter().rposition(|&b| !is_ows(b)).unwrap_or(first);
    let mut in_run = false;
    for &b in &value[first..=last] {
        if (b < 0x20 && b != b'\t') || b == 0x7f {
            return false;
        }
        if is_ows(b) {
            if !in_run {
                out.push(b' ');
            }
            in_run = true;
        } else {
            out.push(b);
            in_run = false;
        }
    }
    true
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

    fn canonical(value: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        push_canonical_value(&mut out, value).then_some(out)
    }

    #[test]
    fn header_values_fold_sp_and_ht_only() {
        for (value, folded) in [
            (&b"a\tb"[..], &b"a b"[..]),
            (b"a \t  \t\tb  c", b"a b c"),
            (b" \t a b \t ", b"a b"),
            (b"", b""),
            (b" \t \t", b""),
            (
                b"application/json;\tcharset=utf-8",
                b"application/json; charset=utf-8",
            ),
            ("caf\u{e9}".as_bytes(), "caf\u{e9}".as_bytes()),
            // U+00A0 is not HTTP whitespace: kept as its bytes, as AWS CRT does.
            ("a\u{a0}b \u{a0}c".as_bytes(), "a\u{a0}b \u{a0}c".as_bytes()),
            // Not UTF-8: signed as the bytes, as AWS CRT does.
            (b"caf\xe9 \t cr\xe8me", b"caf\xe9 cr\xe8me"),
        ] {
            assert_eq!(canonical(value).as_deref(), Some(folded), "{value:?}");
        }
        for value in [&b"a\rb"[..], b"a\nb", b"\0", b"a\x0bb", b"a\x7fb"] {
            assert_eq!(canonical(value), None, "{value:?}");
        }
    }

    #[test]
    fn a_missing_host_is_taken_from_the_authority() {
        let uri: http::Uri = "https://user@example.com:8443/a".parse().unwrap();
        let creq = canonical_request(
            "GET",
            &uri,
            &HeaderMap::new(),
            &["host"],
            "e3b0",
            CanonicalOptions::default(),
        )
        .unwrap();
        assert_eq!(creq.canonical_headers, b"host:example.com:8443\n");
        let relative: http::Uri = "/a".parse().unwrap();
        let err = canonical_request(
            "GET",
            &relative,
            &HeaderMap::new(),
            &["host"],
            "e3b0",
            CanonicalOptions::default(),
        )
        .unwrap_err();
        assert_eq!(err, CanonicalError::MissingHeader("host".into()));
    }

    #[test]
    fn the_hash_covers_the_bytes() {
        let mut headers = HeaderMap::new();
        headers.insert("x-note", http::HeaderValue::from_bytes(b"caf\xe9").unwrap());
        let uri: http::Uri = "/".parse().unwrap();
        let creq = canonical_request(
            "GET",
            &uri,
            &headers,
            &["x-note"],
            "e3b0",
            CanonicalOptions::default(),
        )
        .unwrap();
        let bytes = b"GET\n/\n\nx-note:caf\xe9\n\nx-note\ne3b0";
        assert_eq!(creq.hash(), hex::encode(Sha256::digest(bytes)));
        assert_eq!(
            creq.to_string(),
            "GET\n/\n\nx-note:caf\u{fffd}\n\nx-note\ne3b0"
        );
    }

    #[test]
    fn canonical_query_sorts_after_encoding() {
        assert_eq!(canonical_query("a=1&%7B=2"), "%7B=2&a=1");
        assert_eq!(canonical_query("b=2&a=1"), "a=1&b=2");
    }
}

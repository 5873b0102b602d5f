//! The signing core shared by the tower layer, the reqwest middleware and the CLI.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignableBody, SignableRequest,
    SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderName, HeaderValue, Uri, request};
use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use crate::clock::{Clock, SharedClock, SkewCorrection};
use crate::credentials::CredentialsCache;
use crate::error::Error;
use crate::{ServiceName, SignedHeaders, endpoint};

const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");

/// What to do when no credentials can be loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MissingCredentials {
    /// Fail the request with [`Error::Credentials`] (the default).
    #[default]
    Fail,
    /// Send the request unsigned and log a warning: for public endpoints such as
    /// the unauthenticated AWS Knowledge MCP server during local development.
    SendUnsigned,
}

/// Put in a request's extensions by the recovery layer: the signer records in it
/// the generation of the credentials it signed the request with.
#[derive(Clone, Debug)]
pub(crate) struct SignedWith(Arc<AtomicU64>);

impl SignedWith {
    const UNSIGNED: u64 = u64::MAX;

    /// The generation, if the request was signed.
    pub(crate) fn generation(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Acquire)).filter(|g| *g != Self::UNSIGNED)
    }
}

impl Default for SignedWith {
    fn default() -> Self {
        Self(Arc::new(AtomicU64::new(Self::UNSIGNED)))
    }
}

/// Signs requests: the configuration of one [`SigV4Layer`](crate::SigV4Layer),
/// usable on its own where a tower service does not fit.
///
/// Cheap to clone; clones share the credentials cache and clock.
#[derive(Clone)]
pub struct Signer {
    inner: Arc<Config>,
}

pub(crate) struct Config {
    pub(crate) region: String,
    pub(crate) service: ServiceName,
    pub(crate) credentials: CredentialsCache,
    pub(crate) headers: SignedHeaders,
    pub(crate) max_body_size: usize,
    pub(crate) clock: SharedClock,
    pub(crate) skew: SkewCorrection,
    pub(crate) content_sha256_header: bool,
    pub(crate) normalize_path: bool,
    pub(crate) missing_credentials: MissingCredentials,
    pub(crate) allow_plain_http: bool,
    pub(crate) checked_host: OnceLock<String>,
    pub(crate) warned_unsigned: AtomicBool,
}

/// What a signature covered, returned by [`Signer::sign`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signature {
    /// The hex signature.
    pub signature: String,
    /// The `x-amz-date` value, `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    /// Signed header names, lowercase, sorted, joined by `;`.
    pub signed_headers: String,
}

impl Signer {
    pub(crate) fn from_config(config: Config) -> Self {
        Self {
            inner: Arc::new(config),
        }
    }

    /// The region signed for.
    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// The service signed for.
    pub fn service(&self) -> &ServiceName {
        &self.inner.service
    }

    /// The credentials cache.
    pub fn credentials(&self) -> &CredentialsCache {
        &self.inner.credentials
    }

    /// Whether requests over plain `http://` to hosts that are not loopback are
    /// signed ([`allow_plain_http`](crate::SigV4Builder::allow_plain_http)).
    pub fn allows_plain_http(&self) -> bool {
        self.inner.allow_plain_http
    }

    /// The maximum body size, in bytes.
    pub fn max_body_size(&self) -> usize {
        self.inner.max_body_size
    }

    /// The clock-skew correction learned from AWS replies; shared by clones.
    pub(crate) fn skew(&self) -> &SkewCorrection {
        &self.inner.skew
    }

    /// The configured clock's time, without skew correction.
    pub(crate) fn clock_now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// The time signatures are dated with: the clock plus any learned skew.
    pub fn now(&self) -> SystemTime {
        self.inner.skew.apply(self.inner.clock.now())
    }

    /// Sign a request whose body is `body`: hash it, get credentials from the cache
    /// and set `authorization`, `x-amz-date`, `host` and, with a session token,
    /// `x-amz-security-token` on `parts`.
    ///
    /// Returns `Ok(None)` when no credentials could be loaded and the layer is
    /// configured to send unsigned.
    ///
    /// A request to plain `http://` on a host that is not loopback is refused with
    /// [`Error::Config`] before credentials are loaded, unless the signer was
    /// built with [`allow_plain_http`](crate::SigV4Builder::allow_plain_http):
    /// the session token would cross the network in clear text.
    ///
    /// ```
    /// # async fn demo() -> Result<(), tower_sigv4::Error> {
    /// use aws_credential_types::Credentials;
    /// use tower_sigv4::SigV4Layer;
    ///
    /// let layer = SigV4Layer::builder()
    ///     .region("us-east-1")
    ///     .credentials(Credentials::new("AKIDEXAMPLE", "SECRET", None, None, "example"))
    ///     .build()?;
    /// let (mut parts, body) = http::Request::post("https://aws-mcp.us-east-1.api.aws/mcp")
    ///     .body(b"{}".to_vec())
    ///     .unwrap()
    ///     .into_parts();
    /// layer.signer().sign(&mut parts, &body).await?;
    /// assert!(parts.headers.contains_key("authorization"));
    /// # Ok(()) }
    /// ```
    pub async fn sign(
        &self,
        parts: &mut request::Parts,
        body: &[u8],
    ) -> Result<Option<Signature>, Error> {
        let span = tracing::debug_span!(
            target: crate::SPANS,
            "sign",
            sigv4.service = %self.inner.service,
            sigv4.region = %self.inner.region,
        );
        self.sign_in_span(parts, body).instrument(span).await
    }

    async fn sign_in_span(
        &self,
        parts: &mut request::Parts,
        body: &[u8],
    ) -> Result<Option<Signature>, Error> {
        check_signable(&parts.uri)?;
        if !self.inner.allow_plain_http {
            endpoint::refuse_plain_http(&parts.uri)?;
        }
        let payload_hash = sha256_hex(body);
        let credentials = match self.inner.credentials.get_with_generation().await {
            Ok((credentials, generation)) => {
                if let Some(slot) = parts.extensions.get::<SignedWith>() {
                    slot.0.store(generation, Ordering::Release);
                }
                credentials
            }
            Err(err) if self.inner.missing_credentials == MissingCredentials::SendUnsigned => {
                if !self.inner.warned_unsigned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %err, "no AWS credentials; sending requests unsigned as configured");
                }
                strip_signature(parts);
                return Ok(None);
            }
            Err(err) => return Err(err.into()),
        };
        let signature = self.sign_with(parts, &payload_hash, &credentials, self.now())?;
        tracing::debug!(
            method = %parts.method,
            host = parts.headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or_default(),
            service = %self.inner.service,
            region = %self.inner.region,
            signed_headers = %signature.signed_headers,
            body_len = body.len(),
            credentials = self.inner.credentials.source_name(),
            "signed request"
        );
        Ok(Some(signature))
    }

    /// Sign with the given credentials and time and a precomputed hex SHA-256 of
    /// the body. Pure and synchronous: used by [`sign`](Self::sign) and, through
    /// `tower_sigv4::unstable::sign_with`, the CLI's `sign` command. It sends
    /// nothing, so unlike `sign` it signs plain `http://` URIs to any host.
    pub(crate) fn sign_with(
        &self,
        parts: &mut request::Parts,
        payload_sha256_hex: &str,
        credentials: &Credentials,
        time: SystemTime,
    ) -> Result<Signature, Error> {
        let config = &*self.inner;
        check_signable(&parts.uri)?;
        strip_signature(parts);
        if !parts.headers.contains_key(HOST) {
            let host = wire_host(&parts.uri)?;
            parts.headers.insert(HOST, host);
        }
        self.warn_on_service_mismatch(&parts.headers);
        if config.content_sha256_header {
            let value = HeaderValue::from_str(payload_sha256_hex)
                .map_err(|_| Error::Signing(Arc::new(InvalidPayloadHash)))?;
            parts.headers.insert(X_AMZ_CONTENT_SHA256, value);
        }

        // aws-sigv4 gets each signed value in canonical form; the request keeps the
        // value as the caller set it.
        let mut signed: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(parts.headers.len());
        for (name, value) in &parts.headers {
            if !config.headers.signs_name(name) {
                continue;
            }
            let value =
                canonical_value(value.as_bytes()).map_err(|reason| Error::InvalidHeader {
                    name: name.as_str().to_owned(),
                    reason,
                })?;
            signed.push((name.as_str(), value));
        }

        let mut settings = SigningSettings::default();
        // The policy above already chose the headers.
        settings.excluded_headers = None;
        settings.session_token_mode = SessionTokenMode::Include;
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        settings.percent_encoding_mode = if config.service.as_str() == "s3" {
            PercentEncodingMode::Single
        } else {
            PercentEncodingMode::Double
        };
        settings.uri_path_normalization_mode = if config.normalize_path {
            UriPathNormalizationMode::Enabled
        } else {
            UriPathNormalizationMode::Disabled
        };
        let identity = credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&config.region)
            .name(config.service.as_str())
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| Error::Signing(Arc::new(e)))?
            .into();
        let uri = parts.uri.to_string();
        let signable = SignableRequest::new(
            parts.method.as_str(),
            uri.as_str(),
            signed.iter().map(|(name, value)| (*name, value.as_ref())),
            SignableBody::Precomputed(payload_sha256_hex.to_owned()),
        )
        .map_err(|e| Error::Signing(Arc::new(e)))?;
        let (instructions, signature) = sign(signable, &params)
            .map_err(|e| Error::Signing(Arc::new(e)))?
            .into_parts();

        let (headers, _) = instructions.into_parts();
        let mut amz_date = String::new();
        let mut signed_headers = String::new();
        for header in headers {
            let mut value =
                HeaderValue::from_str(header.value()).map_err(|e| Error::Signing(Arc::new(e)))?;
            if header.sensitive() {
                value.set_sensitive(true);
            }
            if header.name() == X_AMZ_DATE.as_str() {
                amz_date = header.value().to_owned();
            } else if header.name() == AUTHORIZATION.as_str() {
                signed_headers = signed_headers_of(header.value()).to_owned();
            }
            parts
                .headers
                .insert(signing_header_name(header.name()), value);
        }
        Ok(Signature {
            signature,
            amz_date,
            signed_headers,
        })
    }

    fn warn_on_service_mismatch(&self, headers: &http::HeaderMap) {
        let Some(host) = headers.get(HOST).and_then(|h| h.to_str().ok()) else {
            return;
        };
        let config = &*self.inner;
        if config.checked_host.get().is_some_and(|h| h == host) {
            return;
        }
        let _ = config.checked_host.set(host.to_owned());
        let Some(inferred) = endpoint::infer_host(endpoint::host_of(host).unwrap_or(host)) else {
            return;
        };
        if inferred.service != config.service || inferred.region != config.region {
            tracing::warn!(
                host,
                signing_service = %config.service,
                signing_region = %config.region,
                inferred_service = %inferred.service,
                inferred_region = %inferred.region,
                "signing for service `{}` in `{}`, but the host belongs to service `{}` in `{}`; AWS will answer 401/403. Set the service and region to match the endpoint",
                config.service, config.region, inferred.service, inferred.region
            );
        }
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &*self.inner;
        f.debug_struct("Signer")
            .field("region", &c.region)
            .field("service", &c.service)
            .field("credentials", &c.credentials)
            .field("headers", &c.headers)
            .field("max_body_size", &c.max_body_size)
            .field("clock", &c.clock)
            .field("content_sha256_header", &c.content_sha256_header)
            .field("missing_credentials", &c.missing_credentials)
            .field("allow_plain_http", &c.allow_plain_http)
            .finish()
    }
}

/// Lowercase hex SHA-256 of `bytes`. `hex::encode` builds its `String` a `char` at
/// a time; encoding into a stack buffer first is several times faster.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let mut out = [0u8; 64];
    // A 32-byte digest always fits 64 hex digits, and hex digits are ASCII.
    match hex::encode_to_slice(Sha256::digest(bytes), &mut out) {
        Ok(()) => std::str::from_utf8(&out).map_or_else(|_| hex::encode(out), str::to_owned),
        Err(_) => hex::encode(Sha256::digest(bytes)),
    }
}

/// The canonical form of a signed header value, as botocore and AWS CRT compute
/// it: SP and HT trimmed at both ends, each inner run of SP and HT turned into one
/// SP (RFC 9110's OWS is SP and HTAB). Other bytes are kept as they are, obs-text
/// (bytes 0x80 to 0xFF) included: U+00A0 and other Unicode whitespace are not HTTP
/// whitespace, so they are not folded (CRT's rule; botocore folds them).
///
/// aws-sigv4 folds runs of spaces only and would sign a tab as it is, so it is
/// given this form instead of the value on the wire. It takes values as `&str`, so
/// a value that is not UTF-8 cannot be handed to it: refused, as botocore refuses
/// it. A control character other than HT is refused because HTTP forbids it in a
/// field value (`HeaderValue` refuses most of them already).
///
/// The verifying layer has its own implementation of this rule on bytes
/// (`canonical::push_canonical_value`), written separately so that the
/// `sign_request` fuzz target compares two implementations, not one with itself.
fn canonical_value(value: &[u8]) -> Result<Cow<'_, str>, &'static str> {
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(
            "its value holds a control character (CR, LF, NUL or another byte HTTP forbids in a field value); remove it, or exclude the header from signing",
        );
    }
    let text = std::str::from_utf8(value).map_err(|_| {
        "its value has bytes that are not UTF-8 (obs-text such as latin-1), which aws-sigv4 cannot be given and botocore refuses to sign; send the value as UTF-8 or percent-encoded, or exclude the header from signing"
    })?;
    let text = text.trim_matches([' ', '\t']);
    if !text.contains('\t') && !text.contains("  ") {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut in_run = false;
    for c in text.chars() {
        if c == ' ' || c == '\t' {
            if !in_run {
                out.push(' ');
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    Ok(Cow::Owned(out))
}

/// Refuse what cannot be signed unambiguously: a relative URI (the host is part
/// of the signature) and a query aws-sigv4 would canonicalise against the rules.
fn check_signable(uri: &Uri) -> Result<(), Error> {
    if uri.scheme().is_none() || uri.authority().is_none() {
        return Err(Error::RelativeUri {
            uri: endpoint::redact_query(&uri.to_string()),
        });
    }
    if let Some(query) = uri.query()
        && let Some(reason) = crate::canonical::query_ambiguity(query)
    {
        return Err(Error::AmbiguousQuery {
            query: endpoint::redact_query_values(query),
            reason,
        });
    }
    Ok(())
}

/// The `Host` header value that goes on the wire: the authority without user info,
/// and without the port when it is the scheme's default.
fn wire_host(uri: &Uri) -> Result<HeaderValue, Error> {
    let authority = uri.authority().ok_or_else(|| Error::RelativeUri {
        uri: endpoint::redact_query(&uri.to_string()),
    })?;
    let default_port = match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    };
    let host = authority.host();
    let value = match authority.port_u16() {
        Some(port) if Some(port) != default_port => HeaderValue::try_from(format!("{host}:{port}")),
        _ => HeaderValue::from_str(host),
    };
    value.map_err(|_| Error::RelativeUri {
        uri: endpoint::redact_query(&uri.to_string()),
    })
}

fn strip_signature(parts: &mut request::Parts) {
    for name in [AUTHORIZATION, X_AMZ_DATE, X_AMZ_SECURITY_TOKEN] {
        parts.headers.remove(name);
    }
}

/// The header names aws-sigv4 sets, as constants: `HeaderName::from_static` would
/// validate the name again on every request.
fn signing_header_name(name: &'static str) -> HeaderName {
    match name {
        "authorization" => AUTHORIZATION,
        "x-amz-date" => X_AMZ_DATE,
        "x-amz-security-token" => X_AMZ_SECURITY_TOKEN,
        "x-amz-content-sha256" => X_AMZ_CONTENT_SHA256,
        other => HeaderName::from_static(other),
    }
}

/// The `SignedHeaders=` part of `AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=..`.
/// Splits on `,` (a byte search) rather than searching for the substring.
fn signed_headers_of(authorization: &str) -> &str {
    authorization
        .split(',')
        .find_map(|part| part.trim_start().strip_prefix("SignedHeaders="))
        .unwrap_or_default()
}

#[derive(Debug)]
struct InvalidPayloadHash;

impl fmt::Display for InvalidPayloadHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the payload hash is not a hex string")
    }
}

impl std::error::Error for InvalidPayloadHash {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_matches_the_reference_encoding() {
        for input in [&b""[..], b"abc", &[0xffu8; 1000]] {
            assert_eq!(sha256_hex(input), hex::encode(Sha256::digest(input)));
        }
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn signed_headers_are_read_from_the_authorization_value() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        assert_eq!(signed_headers_of(auth), "host;x-amz-date");
        assert_eq!(signed_headers_of("AWS4-HMAC-SHA256 Credential=x"), "");
        assert_eq!(signed_headers_of(""), "");
    }

    #[test]
    fn signed_values_fold_sp_and_ht_as_botocore_and_crt() {
        for (value, canonical) in [
            (&b"plain"[..], "plain"),
            (b"a\tb", "a b"),
            (b"a \t  \t\tb  c", "a b c"),
            (b" \t a b \t ", "a b"),
            (b"", ""),
            (b" \t ", ""),
            ("caf\u{e9}  au\tlait".as_bytes(), "caf\u{e9} au lait"),
            ("a\u{a0}b \u{a0}c".as_bytes(), "a\u{a0}b \u{a0}c"),
        ] {
            assert_eq!(canonical_value(value).unwrap(), canonical, "{value:?}");
        }
        assert!(matches!(
            canonical_value(b" a b "),
            Ok(Cow::Borrowed("a b"))
        ));
        assert!(
            canonical_value(b"caf\xe9")
                .unwrap_err()
                .contains("not UTF-8")
        );
        for value in [&b"a\rb"[..], b"a\nb", b"\0", b"a\x1cb", b"a\x7f"] {
            assert!(
                canonical_value(value)
                    .unwrap_err()
                    .contains("control character")
            );
        }
    }

    #[test]
    fn wire_host_drops_default_ports_only() {
        let host = |uri: &str| wire_host(&uri.parse().unwrap()).unwrap();
        assert_eq!(host("https://example.com:443/x"), "example.com");
        assert_eq!(host("http://example.com:80/x"), "example.com");
        assert_eq!(host("https://example.com:8443/x"), "example.com:8443");
        assert_eq!(host("http://127.0.0.1:3000/mcp"), "127.0.0.1:3000");
        assert_eq!(host("https://user@example.com/"), "example.com");
    }
}

//! The client of an OAuth2 token request, as the token endpoints the tests stand
//! up read it: `Authorization: Basic` of the form-encoded client id and secret
//! (`client_secret_basic`, RFC 6749 section 2.3.1).

use base64::Engine;

/// The client id and secret of the request's `Authorization: Basic`, decoded;
/// `None` when it has none or it is malformed.
pub(crate) fn credentials(headers: &http::HeaderMap) -> Option<(String, String)> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let (id, secret) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    let form_decode = |part: &str| {
        percent_encoding::percent_decode_str(&part.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|text| text.into_owned())
    };
    Some((form_decode(id)?, form_decode(secret)?))
}

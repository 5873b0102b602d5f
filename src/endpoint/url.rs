//! Checking and redacting URLs: which endpoints a signed request may go to, and
//! how a URL is shown in errors and logs. The crate's own helpers; the
//! application reaches them through `tower_sigv4::unstable` (feature `unstable`).

use crate::Error;
use crate::error::{ConfigErrorKind, config};

/// Check that `url` is one a signed request may go to: an absolute `https://` URL
/// with a host, or plain `http://` to a loopback host (127.0.0.0/8, `::1`,
/// `localhost`) for local servers and tests. SigV4 signs a request but does not
/// hide it, and AWS endpoints are HTTPS only.
///
/// ```
/// # #[cfg(feature = "unstable")] {
/// use tower_sigv4::unstable::check_url;
///
/// assert!(check_url("https://aws-mcp.us-east-1.api.aws/mcp").is_ok());
/// assert!(check_url("http://127.0.0.1:8080/mcp").is_ok());
/// let err = check_url("aws-mcp.us-east-1.api.aws/mcp").unwrap_err();
/// assert!(err.to_string().contains("add https://"));
/// # }
/// ```
pub fn check_url(url: &str) -> Result<http::Uri, Error> {
    check_url_with(url, false)
}

/// [`check_url`], with plain `http://` to any host allowed when
/// `allow_plain_http` is set.
pub(crate) fn check_url_with(url: &str, allow_plain_http: bool) -> Result<http::Uri, Error> {
    let shown = redact_query(url);
    let example = "e.g. https://aws-mcp.us-east-1.api.aws/mcp";
    let uri: http::Uri = match url.parse() {
        Ok(uri) => uri,
        Err(_) if !url.contains("://") && !url.trim().is_empty() => {
            return Err(config(
                ConfigErrorKind::InvalidUrl,
                format!("`{shown}` has no scheme; add https:// in front of it ({example})"),
            ));
        }
        Err(e) => {
            return Err(config(
                ConfigErrorKind::InvalidUrl,
                format!("`{shown}` is not a valid URL ({e}); give the full endpoint, {example}"),
            ));
        }
    };
    let host = uri.host().unwrap_or_default();
    match uri.scheme_str() {
        Some("https") if !host.is_empty() => Ok(uri),
        Some("http") if is_loopback(host) || (allow_plain_http && !host.is_empty()) => Ok(uri),
        Some("http") if !host.is_empty() => Err(plain_http_error(&shown)),
        None if !url.contains("://") => Err(config(
            ConfigErrorKind::InvalidUrl,
            format!("`{shown}` has no scheme; add https:// in front of it ({example})"),
        )),
        _ => Err(config(
            ConfigErrorKind::InvalidUrl,
            format!("`{shown}` is not an absolute https:// URL; give the full endpoint, {example}"),
        )),
    }
}

/// Refuse a request URI with plain `http://` to a host that is not loopback,
/// with the same error as [`check_url`].
pub(crate) fn refuse_plain_http(uri: &http::Uri) -> Result<(), Error> {
    match (uri.scheme_str(), uri.host()) {
        (Some(scheme), Some(host)) if scheme.eq_ignore_ascii_case("http") && !is_loopback(host) => {
            Err(plain_http_error(&redact_query(&uri.to_string())))
        }
        _ => Ok(()),
    }
}

fn plain_http_error(shown: &str) -> Error {
    config(
        ConfigErrorKind::PlainHttp,
        format!(
            "`{shown}` uses plain http://; use https:// (plain http is allowed only for loopback hosts, 127.0.0.0/8, ::1 and localhost: elsewhere it shows the session token to the network; a builder's `allow_plain_http()` opts out)"
        ),
    )
}

/// `url` as it may be shown in errors and logs: every query value replaced by
/// `…` and a password in the user info by `…`. A query can carry a secret (a
/// presigned URL's `X-Amz-Security-Token`, an API key), and the library prints
/// URLs only through this.
///
/// ```
/// # #[cfg(feature = "unstable")] {
/// use tower_sigv4::unstable::redact_query;
///
/// assert_eq!(
///     redact_query("https://h.example/mcp?qualifier=DEFAULT&X-Amz-Security-Token=abc"),
///     "https://h.example/mcp?qualifier=…&X-Amz-Security-Token=…"
/// );
/// assert_eq!(redact_query("http://user:pw@proxy:3128"), "http://user:…@proxy:3128");
/// assert_eq!(redact_query("https://h.example/mcp"), "https://h.example/mcp");
/// # }
/// ```
pub fn redact_query(url: &str) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (url, None),
    };
    let (base, query) = match before_fragment.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (before_fragment, None),
    };
    let mut out = redact_password(base);
    if let Some(query) = query {
        out.push('?');
        out.push_str(&redact_query_values(query));
    }
    if fragment.is_some() {
        out.push_str("#…");
    }
    out
}

/// `query` (without `?`) with every value replaced by `…`.
pub(crate) fn redact_query_values(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}=…"),
            None => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `scheme://user:password@host...` → `scheme://user:…@host...`.
fn redact_password(base: &str) -> String {
    let (scheme, rest) = match base.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, base),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:…@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{authority}{path}"),
        None => format!("{authority}{path}"),
    }
}

/// Whether `host` (as in a URL, IPv6 in brackets or not) is a loopback host.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The host part of a URL (or of a bare `host[:port]`), without port or brackets.
pub(crate) fn host_of(url: &str) -> Option<&str> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    (!host.is_empty()).then_some(host)
}

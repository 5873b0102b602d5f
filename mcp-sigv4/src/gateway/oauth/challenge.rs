//! The refusals of the resource server: 401 with a `WWW-Authenticate: Bearer`
//! challenge (RFC 6750 §3, with RFC 9728's `resource_metadata`), 403
//! `insufficient_scope`, and 503 with `Retry-After` while the issuer's keys are
//! not known.

use std::time::Duration;

use ::http::{HeaderValue, Response, StatusCode, header};

use crate::gateway::http::{self, Body};

/// What went wrong with the request's credentials.
#[derive(Debug)]
pub enum Problem<'a> {
    /// No credentials at all: the challenge carries no error code (RFC 6750 §3.1).
    Missing,
    /// A credential that is neither a key nor a valid token.
    InvalidToken(&'a str),
    /// A valid token without the required scopes.
    InsufficientScope,
}

/// The response to a request refused for `problem`; `metadata` is the URL of
/// the route's resource metadata, `scope` the scopes to ask for (if any).
pub fn refusal(problem: &Problem<'_>, metadata: &str, scope: Option<&str>) -> Response<Body> {
    let mut params = Vec::new();
    let (status, message) = match problem {
        Problem::Missing => (
            StatusCode::UNAUTHORIZED,
            "this gateway needs an access token: send `Authorization: Bearer <token>` with a token from the authorization server named in the resource metadata".to_owned(),
        ),
        Problem::InvalidToken(why) => {
            params.push(r#"error="invalid_token""#.to_owned());
            params.push(format!("error_description=\"{}\"", quotable(why)));
            (
                StatusCode::UNAUTHORIZED,
                format!("{why}; get a new token from the authorization server named in the resource metadata"),
            )
        }
        Problem::InsufficientScope => {
            params.push(r#"error="insufficient_scope""#.to_owned());
            (
                StatusCode::FORBIDDEN,
                format!(
                    "the token lacks a required scope; ask for a token with scope \"{}\"",
                    scope.unwrap_or_default()
                ),
            )
        }
    };
    params.push(format!("resource_metadata=\"{}\"", quotable(metadata)));
    if let Some(scope) = scope {
        params.push(format!("scope=\"{}\"", quotable(scope)));
    }
    let mut response = http::error(status, &message);
    if let Ok(value) = HeaderValue::from_str(&format!("Bearer {}", params.join(", "))) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// 503 with `Retry-After` for a token that cannot be checked yet.
pub fn unavailable(retry_after: Duration) -> Response<Body> {
    let seconds = retry_after.as_secs().max(1);
    let mut response = http::error(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!(
            "the gateway cannot check access tokens yet: the issuer's signing keys are not known (general_settings.oauth.issuer unreachable); retry in {seconds} s"
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// `text` without what would end an RFC 7230 quoted string.
fn quotable(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '"' && *c != '\\' && (' '..='~').contains(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(response: &Response<Body>) -> &str {
        response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
    }

    #[test]
    fn no_credentials_carries_no_error_code() {
        let r = refusal(
            &Problem::Missing,
            "https://m/.well-known/oauth-protected-resource/mcp",
            Some("mcp:tools"),
        );
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenge(&r),
            r#"Bearer resource_metadata="https://m/.well-known/oauth-protected-resource/mcp", scope="mcp:tools""#
        );
    }

    #[test]
    fn an_invalid_token_and_a_missing_scope_say_so() {
        let r = refusal(
            &Problem::InvalidToken("the token has \"expired\""),
            "u",
            None,
        );
        assert!(challenge(&r).starts_with(
            r#"Bearer error="invalid_token", error_description="the token has expired""#
        ));
        let r = refusal(&Problem::InsufficientScope, "u", Some("a b"));
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            challenge(&r),
            r#"Bearer error="insufficient_scope", resource_metadata="u", scope="a b""#
        );
    }
}

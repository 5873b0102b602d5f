//! Server-side SigV4 verification for the test endpoint: recompute the signature
//! with aws-sigv4 from what arrived (the headers the client listed as signed, the
//! body, the date it claims) and compare.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

pub const REGION: &str = "us-east-1";
pub const SERVICE: &str = "bedrock-agentcore";

pub fn credentials() -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session-token".to_owned()),
        None,
        "test",
    )
}

/// `Ok` when the request carries a valid signature by [`credentials`] for
/// [`SERVICE`] in [`REGION`]; otherwise AWS's error type and message.
pub fn verify(parts: &http::request::Parts, body: &[u8]) -> Result<(), (&'static str, String)> {
    if !parts.headers.contains_key("authorization") {
        return Err((
            "MissingAuthenticationTokenException",
            "Missing Authentication Token".to_owned(),
        ));
    }
    check(parts, body).map_err(|message| ("InvalidSignatureException", message))
}

fn check(parts: &http::request::Parts, body: &[u8]) -> Result<(), String> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("Authorization header requires '{name}'"))
    };
    let authorization = header("authorization")?;
    let amz_date = header("x-amz-date")?;
    let credentials = credentials();
    let date = amz_date.get(..8).unwrap_or_default();
    let scope = format!(
        "AWS4-HMAC-SHA256 Credential={}/{date}/{REGION}/{SERVICE}/aws4_request, ",
        credentials.access_key_id()
    );
    if !authorization.starts_with(&scope) {
        return Err(format!(
            "Credential should be scoped to {date}/{REGION}/{SERVICE}: {authorization}"
        ));
    }
    if header("x-amz-security-token")? != "session-token" {
        return Err("The security token included in the request is invalid".to_owned());
    }
    let signed_headers: Vec<&str> = field(authorization, "SignedHeaders=").split(';').collect();
    if !signed_headers.contains(&"host") || !signed_headers.contains(&"x-amz-date") {
        return Err(format!(
            "host and x-amz-date must be signed: {authorization}"
        ));
    }
    let mut headers = Vec::new();
    for name in &signed_headers {
        headers.push((*name, header(name)?));
    }
    let time = parse_amz_date(amz_date).ok_or("invalid x-amz-date")?;
    let uri = format!(
        "http://{}{}",
        header("host")?,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable = SignableRequest::new(
        parts.method.as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (_, expected) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    if field(authorization, "Signature=") != expected {
        return Err("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.".to_owned());
    }
    Ok(())
}

fn field<'a>(authorization: &'a str, name: &str) -> &'a str {
    authorization
        .split(name)
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_default()
}

/// `20150830T123600Z` → a time.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let num = |range: std::ops::Range<usize>| s.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3_600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

#[test]
fn parses_amz_dates() {
    assert_eq!(
        parse_amz_date("20150830T123600Z"),
        Some(UNIX_EPOCH + Duration::from_secs(1_440_938_160))
    );
}

//! `mcp-sigv4 sign`: JSON lines in, one JSON line out per line, so other SigV4
//! implementations can be compared with this one line by line.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use aws_credential_types::Credentials;
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower_sigv4::SigV4Layer;
use tower_sigv4::verify::{self, PathHandling};

use tower_sigv4::clock::parse_amz_date;

/// Arguments of `mcp-sigv4 sign`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Input, one JSON object per line:
  {\"id\": any, \"method\": \"POST\", \"url\": \"https://host/path?query\", \"headers\": [[\"name\",\"value\"], ...],
   \"body_b64\": \"...\", \"access_key\": \"...\", \"secret_key\": \"...\", \"session_token\": null,
   \"region\": \"us-east-1\", \"service\": \"bedrock-agentcore\", \"timestamp\": \"20150830T123600Z\"}
  (\"headers_b64\": [[\"name\", \"base64 of the value's bytes\"], ...] replaces \"headers\" when present)
Output, one line per input line:
  {\"id\": same, \"ok\": true, \"authorization\": \"...\", \"x_amz_date\": \"...\", \"x_amz_security_token\": null,
   \"signed_headers\": \"a;b\", \"signature\": \"...\", \"canonical_request\": \"...\", \"string_to_sign\": \"...\",
   \"headers\": [[\"name\",\"value\"], ...]}
  or {\"id\": same, \"ok\": false, \"error\": \"...\"}")]
pub(crate) struct Args {}

pub(crate) fn main(_args: Args) -> ExitCode {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else {
            eprintln!("mcp-sigv4 sign: stdin is not UTF-8 text; stopping");
            return ExitCode::FAILURE;
        };
        if line.trim().is_empty() {
            continue;
        }
        let reply = sign_line(&line);
        if writeln!(out, "{reply}").and_then(|()| out.flush()).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Sign one input line; never panics, always answers.
pub(crate) fn sign_line(line: &str) -> Value {
    let input: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            return json!({"id": null, "ok": false, "error": format!("not a JSON object: {e}")});
        }
    };
    let id = input.get("id").cloned().unwrap_or(Value::Null);
    match sign_value(&input) {
        Ok(mut reply) => {
            reply["id"] = id;
            reply
        }
        Err(error) => json!({"id": id, "ok": false, "error": error}),
    }
}

fn field<'a>(input: &'a Value, name: &str) -> Result<&'a str, String> {
    input
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string field `{name}`"))
}

/// The `[name, value]` pairs of `headers`, or of `headers_b64` (values as base64
/// of their exact bytes, for values that are not UTF-8) when it is there.
fn header_pairs(input: &Value) -> Result<Vec<(String, Vec<u8>)>, String> {
    let (field, base64) = match input.get("headers_b64") {
        Some(Value::Null) | None => ("headers", false),
        Some(_) => ("headers_b64", true),
    };
    let mut pairs = Vec::new();
    for pair in input
        .get(field)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let (Some(name), Some(value)) = (
            pair.get(0).and_then(Value::as_str),
            pair.get(1).and_then(Value::as_str),
        ) else {
            return Err(format!(
                "{field}: {pair} is not a [\"name\", \"value\"] pair"
            ));
        };
        let value = if base64 {
            base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|e| format!("{field}: the value of `{name}` is not base64: {e}"))?
        } else {
            value.as_bytes().to_vec()
        };
        pairs.push((name.to_owned(), value));
    }
    Ok(pairs)
}

fn sign_value(input: &Value) -> Result<Value, String> {
    let method = field(input, "method")?;
    let url = field(input, "url")?;
    let region = field(input, "region")?;
    let service = field(input, "service")?;
    let timestamp = field(input, "timestamp")?;
    let time = parse_amz_date(timestamp)
        .ok_or_else(|| format!("`timestamp` `{timestamp}` is not YYYYMMDDTHHMMSSZ"))?;
    let access_key = field(input, "access_key")?;
    let secret_key = field(input, "secret_key")?;
    let session_token = match input.get("session_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("`session_token` must be a string or null".into()),
    };
    let body = match input.get("body_b64") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("`body_b64` is not base64: {e}"))?,
        Some(_) => return Err("`body_b64` must be a string".into()),
    };

    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in header_pairs(input)? {
        let value = http::HeaderValue::from_bytes(&value)
            .map_err(|_| format!("header `{name}` has a value HTTP does not allow"))?;
        request = request.header(name, value);
    }
    let (mut parts, ()) = request
        .body(())
        .map_err(|e| format!("invalid request: {e}"))?
        .into_parts();

    let credentials = Credentials::new(
        access_key,
        secret_key,
        session_token,
        None,
        "mcp-sigv4 sign",
    );
    let signer = SigV4Layer::builder()
        .region(region)
        .service(service)
        .credentials(credentials.clone())
        .build_signer()
        .map_err(|e| e.to_string())?;
    let payload_hash = hex::encode(Sha256::digest(&body));
    let signature = signer
        .sign_with(&mut parts, &payload_hash, &credentials, time)
        .map_err(|e| e.to_string())?;
    let path = if service == "s3" {
        PathHandling::S3
    } else {
        PathHandling::Normalized
    };
    let explained = verify::explain_with(&parts, &payload_hash, path).map_err(|e| e.to_string())?;

    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let headers: Vec<Value> = parts
        .headers
        .iter()
        .map(|(k, v)| json!([k.as_str(), String::from_utf8_lossy(v.as_bytes())]))
        .collect();
    Ok(json!({
        "ok": true,
        "authorization": header("authorization"),
        "x_amz_date": signature.amz_date,
        "x_amz_security_token": header("x-amz-security-token"),
        "signed_headers": signature.signed_headers,
        "signature": signature.signature,
        "canonical_request": explained.canonical_request,
        "string_to_sign": explained.string_to_sign,
        "headers": headers,
    }))
}

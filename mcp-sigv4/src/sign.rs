//! `mcp-sigv4 sign`: JSON lines in, one JSON line out per line, so other SigV4
//! implementations can be compared with this one line by line.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use aws_credential_types::Credentials;
use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower_sigv4::SigV4Layer;
use tower_sigv4::unstable::{self, PathHandling};

/// Arguments of `mcp-sigv4 sign`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Input, one JSON object per line:
  {\"id\": any, \"method\": \"POST\", \"url\": \"https://host/path?query\", \"headers\": [[\"name\",\"value\"], ...],
   \"body_b64\": \"...\", \"access_key\": \"...\", \"secret_key\": \"...\", \"session_token\": null,
   \"region\": \"us-east-1\", \"service\": \"bedrock-agentcore\", \"timestamp\": \"20150830T123600Z\"}
  (\"headers_b64\": [[\"name\", \"base64 of the value's bytes\"], ...] replaces \"headers\" when present)
  Left out: service and region come from the URL's host, access_key, secret_key and session_token from
  --profile, else AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, timestamp is now.
Output, one line per input line:
  {\"id\": same, \"ok\": true, \"authorization\": \"...\", \"x_amz_date\": \"...\", \"x_amz_security_token\": null,
   \"signed_headers\": \"a;b\", \"signature\": \"...\", \"canonical_request\": \"...\", \"string_to_sign\": \"...\",
   \"headers\": [[\"name\",\"value\"], ...]}
  or {\"id\": same, \"ok\": false, \"error\": \"...\"}")]
pub(crate) struct Args {
    /// An AWS profile (keys, SSO, assumed role or credential_process) whose
    /// credentials sign the lines that carry none.
    #[arg(long, value_name = "NAME")]
    profile: Option<String>,
}

pub(crate) fn main(args: Args) -> ExitCode {
    let from_profile = match args.profile.as_deref().map(profile_credentials) {
        None => None,
        Some(Ok(credentials)) => Some(credentials),
        Some(Err(message)) => {
            eprintln!("mcp-sigv4 sign: {message}");
            return ExitCode::from(2);
        }
    };
    // The profile's credentials stand in for the AWS_* variables.
    let env = |name: &str| match (&from_profile, name) {
        (Some(c), "AWS_ACCESS_KEY_ID") => Some(c.access_key_id().to_owned()),
        (Some(c), "AWS_SECRET_ACCESS_KEY") => Some(c.secret_access_key().to_owned()),
        (Some(c), "AWS_SESSION_TOKEN") => c.session_token().map(str::to_owned),
        _ => std::env::var(name).ok(),
    };
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
        let reply = sign_line_with(&line, &env);
        if writeln!(out, "{reply}").and_then(|()| out.flush()).is_err() {
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// The credentials of `profile`, loaded once, or what went wrong on one line.
fn profile_credentials(profile: &str) -> Result<Credentials, String> {
    use aws_credential_types::provider::ProvideCredentials;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        aws_config::profile::ProfileFileCredentialsProvider::builder()
            .profile_name(profile)
            .build()
            .provide_credentials()
            .await
            .map_err(|e| {
                let env = |name: &str| std::env::var(name).ok();
                if !mcp_sigv4::aws_profile::exists(profile, &env) {
                    return format!(
                        "{}, or name one that exists",
                        mcp_sigv4::aws_profile::not_found(profile, "", &env)
                    );
                }
                let mut causes = vec![e.to_string()];
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    causes.push(cause.to_string());
                    source = cause.source();
                }
                format!(
                    "no credentials from profile `{profile}`: {}; check ~/.aws/config and ~/.aws/credentials (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE), or run `aws sso login --profile {profile}`",
                    causes.join(": ").split_whitespace().collect::<Vec<_>>().join(" ")
                )
            })
    })
}

/// Sign one input line, credentials left out taken from the AWS_* variables;
/// never panics, always answers.
pub(crate) fn sign_line(line: &str) -> Value {
    sign_line_with(line, &|name| std::env::var(name).ok())
}

/// Sign one input line, with `env` for what the line leaves out.
fn sign_line_with(line: &str, env: &dyn Fn(&str) -> Option<String>) -> Value {
    let input: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            return json!({"id": null, "ok": false, "error": format!("not a JSON object: {e}")});
        }
    };
    let id = input.get("id").cloned().unwrap_or(Value::Null);
    match sign_value(&input, env) {
        Ok(mut reply) => {
            reply["id"] = id;
            reply
        }
        Err(error) => json!({"id": id, "ok": false, "error": error}),
    }
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

/// A string field, `None` when absent or null, an error when of another type.
fn optional<'a>(input: &'a Value, name: &str) -> Result<Option<&'a str>, String> {
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{name}` must be a string or null")),
    }
}

/// The fields that say what to sign, with what an input line may leave out
/// filled in: service and region from the URL's host, credentials from
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, the time
/// from the clock. Every field still missing is named in one error.
struct Fields {
    method: String,
    url: String,
    region: String,
    service: String,
    time: std::time::SystemTime,
    access_key: String,
    secret_key: String,
    session_token: Option<String>,
}

impl Fields {
    fn read(input: &Value, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let method = optional(input, "method")?;
        let url = optional(input, "url")?;
        let inferred = url.and_then(tower_sigv4::endpoint::infer);
        let region = optional(input, "region")?
            .map(str::to_owned)
            .or_else(|| inferred.as_ref().map(|e| e.region.clone()));
        let service = optional(input, "service")?
            .map(str::to_owned)
            .or_else(|| inferred.as_ref().map(|e| e.service.as_str().to_owned()));
        let time = match optional(input, "timestamp")? {
            Some(timestamp) => unstable::parse_amz_date(timestamp)
                .ok_or_else(|| format!("`timestamp` `{timestamp}` is not YYYYMMDDTHHMMSSZ"))?,
            None => std::time::SystemTime::now(),
        };
        let from_line = optional(input, "access_key")?.is_some();
        let (access_key, secret_key, session_token) = if from_line {
            (
                optional(input, "access_key")?.map(str::to_owned),
                optional(input, "secret_key")?.map(str::to_owned),
                optional(input, "session_token")?.map(str::to_owned),
            )
        } else {
            (
                env("AWS_ACCESS_KEY_ID"),
                optional(input, "secret_key")?
                    .map(str::to_owned)
                    .or_else(|| env("AWS_SECRET_ACCESS_KEY")),
                optional(input, "session_token")?
                    .map(str::to_owned)
                    .or_else(|| env("AWS_SESSION_TOKEN")),
            )
        };
        let host_names_none = "the URL's host names none";
        let mut missing = Vec::new();
        let mut need = |present: bool, what: String| {
            if !present {
                missing.push(what);
            }
        };
        need(method.is_some(), "`method`".to_owned());
        need(url.is_some(), "`url`".to_owned());
        need(
            service.is_some(),
            format!(
                "`service` ({})",
                if url.is_some() {
                    host_names_none
                } else {
                    "or a `url` that names it"
                }
            ),
        );
        need(
            region.is_some(),
            format!(
                "`region` ({})",
                if url.is_some() {
                    host_names_none
                } else {
                    "or a `url` that names it"
                }
            ),
        );
        need(
            access_key.is_some(),
            "`access_key` (or --profile, or AWS_ACCESS_KEY_ID)".to_owned(),
        );
        need(
            secret_key.is_some(),
            "`secret_key` (or --profile, or AWS_SECRET_ACCESS_KEY)".to_owned(),
        );
        match (method, url, region, service, access_key, secret_key) {
            (
                Some(method),
                Some(url),
                Some(region),
                Some(service),
                Some(access_key),
                Some(secret_key),
            ) => Ok(Self {
                method: method.to_owned(),
                url: url.to_owned(),
                region,
                service,
                time,
                access_key,
                secret_key,
                session_token,
            }),
            _ => Err(format!("missing {}", missing.join(", "))),
        }
    }
}

fn sign_value(input: &Value, env: &dyn Fn(&str) -> Option<String>) -> Result<Value, String> {
    let fields = Fields::read(input, env)?;
    let Fields {
        method,
        url,
        region,
        service,
        time,
        access_key,
        secret_key,
        session_token,
    } = &fields;
    let (method, url, region, service, time) = (
        method.as_str(),
        url.as_str(),
        region.as_str(),
        service.as_str(),
        *time,
    );
    let session_token = session_token.clone();
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
        access_key.as_str(),
        secret_key.as_str(),
        session_token,
        None,
        "mcp-sigv4 sign",
    );
    let signer = SigV4Layer::builder()
        .region(region)
        .service(service)
        .credentials(credentials.clone())
        .build_signer()
        .map_err(|e| mcp_sigv4::advice::library(&e))?;
    let payload_hash = hex::encode(Sha256::digest(&body));
    let signature = unstable::sign_with(&signer, &mut parts, &payload_hash, &credentials, time)
        .map_err(|e| mcp_sigv4::advice::library(&e))?;
    let path = if service == "s3" {
        PathHandling::S3
    } else {
        PathHandling::Normalized
    };
    let explained =
        unstable::explain_with(&parts, &payload_hash, path).map_err(|e| e.to_string())?;

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

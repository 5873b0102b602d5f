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
  (\"headers_b64\": [[\"name\", \"base64 of the value's bytes\"], ...] replaces \"headers\" when present;
  \"body\": \"text\" gives a text body instead of \"body_b64\", the body's bytes base64-encoded: one or the other)
  A line with any other field is answered with an error naming it, and nothing is signed.
  Left out: service and region come from the URL's host, access_key, secret_key and session_token from
  --profile, else AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, timestamp is now.
Output, one line per input line:
  {\"id\": same, \"ok\": true, \"authorization\": \"...\", \"x_amz_date\": \"...\", \"x_amz_security_token\": null,
   \"signed_headers\": \"a;b\", \"signature\": \"...\", \"canonical_request\": \"...\", \"string_to_sign\": \"...\",
   \"headers\": [[\"name\",\"value\"], ...]}
  or {\"id\": same, \"ok\": false, \"error\": \"...\"}
Examples (AWS's documented example key; no AWS account needed):
  export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
  echo '{\"id\":1,\"method\":\"POST\",\"url\":\"https://aws-mcp.us-east-1.api.aws/mcp\",\"body\":\"{}\",\"timestamp\":\"20250101T000000Z\"}' | mcp-sigv4 sign
  # the same body base64-encoded, with the credential scope given rather than taken from the URL
  echo '{\"id\":2,\"method\":\"POST\",\"url\":\"https://aws-mcp.us-east-1.api.aws/mcp\",\"body_b64\":\"e30=\",\"region\":\"us-east-1\",\"service\":\"aws-mcp\"}' | mcp-sigv4 sign")]
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
    let fallback = Fallback {
        env: &env,
        access_key: "--profile, or AWS_ACCESS_KEY_ID",
        secret_key: "--profile, or AWS_SECRET_ACCESS_KEY",
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
        let reply = sign_line(&line, &fallback);
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

/// The fields of an input line, in the order `--help` shows them.
const FIELDS: [&str; 13] = [
    "id",
    "method",
    "url",
    "headers",
    "headers_b64",
    "body",
    "body_b64",
    "access_key",
    "secret_key",
    "session_token",
    "region",
    "service",
    "timestamp",
];

/// Where the credentials an input line leaves out come from, and how the
/// command reading the line names those sources to its user.
pub(crate) struct Fallback<'a> {
    /// The AWS_* variables, or what stands in for them (`sign --profile`'s
    /// credentials, `explain --access-key`).
    pub(crate) env: &'a dyn Fn(&str) -> Option<String>,
    /// What else gives `access_key`, e.g. `--profile, or AWS_ACCESS_KEY_ID`.
    pub(crate) access_key: &'static str,
    /// What else gives `secret_key`.
    pub(crate) secret_key: &'static str,
}

/// Sign one input line; never panics, always answers.
fn sign_line(line: &str, fallback: &Fallback<'_>) -> Value {
    let input: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => {
            return json!({"id": null, "ok": false, "error": format!("not a JSON object: {e}")});
        }
    };
    let id = input.get("id").cloned().unwrap_or(Value::Null);
    match sign_request(&input, fallback) {
        Ok(mut reply) => {
            reply["id"] = id;
            reply
        }
        Err(error) => json!({"id": id, "ok": false, "error": error}),
    }
}

/// Sign one request in the input format (a JSON object of [`FIELDS`]), with
/// `fallback` for the credentials it leaves out: the reply's fields but `id`.
/// A field of another name is refused, so that nothing is signed other than
/// what the input says: a misspelt `body_b64` would sign an empty body.
pub(crate) fn sign_request(input: &Value, fallback: &Fallback<'_>) -> Result<Value, String> {
    let Value::Object(object) = input else {
        let kind = match input {
            Value::Array(_) => "a list",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            _ => "null",
        };
        return Err(format!(
            "not a JSON object but {kind}; give one object per request, with the fields {}",
            FIELDS.join(", ")
        ));
    };
    let unknown: Vec<String> = object
        .keys()
        .filter(|name| !FIELDS.contains(&name.as_str()))
        .map(|name| match mcp_sigv4::advice::nearest(name, &FIELDS) {
            Some(meant) => format!("`{name}` (did you mean `{meant}`?)"),
            None => format!("`{name}`"),
        })
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "unknown field{} {}: nothing was signed; the fields are {} (the body goes in `body` as text, or in `body_b64` base64-encoded; `mcp-sigv4 sign --help` describes each)",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.join(", "),
            FIELDS.join(", ")
        ));
    }
    sign_value(input, fallback)
}

/// The bytes of the body: `body` as UTF-8 text, or `body_b64` decoded;
/// empty when neither is there.
fn body(input: &Value) -> Result<Vec<u8>, String> {
    match (optional(input, "body")?, optional(input, "body_b64")?) {
        (Some(_), Some(_)) => Err(
            "both `body` and `body_b64` are given; give the body once, as text in `body` or base64-encoded in `body_b64`"
                .to_owned(),
        ),
        (Some(text), None) => Ok(text.as_bytes().to_vec()),
        (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| format!("`body_b64` is not base64: {e}; for a text body use `body`")),
        (None, None) => Ok(Vec::new()),
    }
}

/// The `[name, value]` pairs of `headers`, or of `headers_b64` (values as base64
/// of their exact bytes, for values that are not UTF-8) when it is there.
fn header_pairs(input: &Value) -> Result<Vec<(String, Vec<u8>)>, String> {
    let (field, base64) = match input.get("headers_b64") {
        Some(Value::Null) | None => ("headers", false),
        Some(_) => ("headers_b64", true),
    };
    let pairs_in = match input.get(field) {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(pairs)) => pairs.as_slice(),
        Some(_) => {
            return Err(format!(
                "`{field}` must be a list of [\"name\", \"value\"] pairs"
            ));
        }
    };
    let mut pairs = Vec::new();
    for pair in pairs_in {
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
    fn read(input: &Value, fallback: &Fallback<'_>) -> Result<Self, String> {
        let env = fallback.env;
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
            format!("`access_key` (or {})", fallback.access_key),
        );
        need(
            secret_key.is_some(),
            format!("`secret_key` (or {})", fallback.secret_key),
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

fn sign_value(input: &Value, fallback: &Fallback<'_>) -> Result<Value, String> {
    let fields = Fields::read(input, fallback)?;
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
    let body = body(input)?;

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

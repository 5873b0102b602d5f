//! `mcp-sigv4 explain`: what a person debugging a 403 needs to see.

use std::io::Read;
use std::process::ExitCode;

use aws_credential_types::Credentials;
use http::request;
use sha2::{Digest, Sha256};
use tower_sigv4::SigV4Layer;
use tower_sigv4::canonical::{
    self, CanonicalOptions, CredentialScope, ParsedAuthorization, format_amz_date, parse_amz_date,
};

/// Arguments of `mcp-sigv4 explain`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  mcp-sigv4 explain --url https://aws-mcp.us-east-1.api.aws/mcp --body '{}' \\
      --header content-type=application/json --timestamp 20250101T000000Z \\
      --compare 'AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/bedrock-agentcore/aws4_request, SignedHeaders=..., Signature=...'
  echo '{\"method\":\"POST\",\"url\":...}' | mcp-sigv4 explain --json -")]
pub(crate) struct Args {
    /// One request as a JSON object in the `sign` input format (`-` for stdin).
    #[arg(long, conflicts_with_all = ["url", "method", "header", "body", "body_file"])]
    json: Option<String>,
    /// HTTP method.
    #[arg(long, default_value = "POST")]
    method: String,
    /// The full URL with path and query as sent on the wire.
    #[arg(long)]
    url: Option<String>,
    /// A request header as NAME=VALUE (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    header: Vec<String>,
    /// The request body.
    #[arg(long)]
    body: Option<String>,
    /// Read the request body from this file.
    #[arg(long)]
    body_file: Option<std::path::PathBuf>,
    /// SigV4 service name (inferred from the URL when absent).
    #[arg(long)]
    service: Option<String>,
    /// AWS region (inferred from the URL when absent).
    #[arg(long)]
    region: Option<String>,
    /// Signing time, YYYYMMDDTHHMMSSZ (default: now). Use the failing request's x-amz-date.
    #[arg(long)]
    timestamp: Option<String>,
    /// Access key id (default: AWS_ACCESS_KEY_ID).
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    access_key: Option<String>,
    /// Secret access key (default: AWS_SECRET_ACCESS_KEY).
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Session token (default: AWS_SESSION_TOKEN).
    #[arg(long, env = "AWS_SESSION_TOKEN", hide_env_values = true)]
    session_token: Option<String>,
    /// An Authorization header copied from a failing request, to compare with.
    #[arg(long)]
    compare: Option<String>,
}

/// The canonical request and string to sign behind a signed request.
pub(crate) struct Explained {
    pub(crate) canonical_request: String,
    pub(crate) string_to_sign: String,
}

/// Rebuild the canonical request and string to sign from a request the signer
/// signed, with the independent implementation in `tower_sigv4::canonical`.
pub(crate) fn explain_signed(
    parts: &request::Parts,
    payload_hash: &str,
    region: &str,
    service: &str,
) -> Result<Explained, String> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| format!("the signed request has no `{name}` header"))
    };
    let authorization =
        ParsedAuthorization::parse(header("authorization")?).map_err(|e| e.to_string())?;
    let amz_date = header("x-amz-date")?;
    let signed: Vec<&str> = authorization
        .signed_headers
        .iter()
        .map(String::as_str)
        .collect();
    let options = CanonicalOptions {
        double_encode_path: service != "s3",
        normalize_path: service != "s3",
    };
    let creq = canonical::canonical_request(
        parts.method.as_str(),
        &parts.uri,
        &parts.headers,
        &signed,
        payload_hash,
        options,
    )
    .map_err(|e| e.to_string())?;
    let scope = CredentialScope {
        date: amz_date.get(..8).unwrap_or_default().to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    };
    let string_to_sign = canonical::string_to_sign(amz_date, &scope, &creq);
    Ok(Explained {
        canonical_request: creq.to_string(),
        string_to_sign,
    })
}

pub(crate) fn main(args: Args) -> ExitCode {
    match run(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("mcp-sigv4 explain: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<ExitCode, String> {
    let input = match &args.json {
        Some(source) => read_json(source)?,
        None => from_flags(&args)?,
    };
    let reply = crate::sign::sign_line(&input.to_string());
    if reply["ok"] != serde_json::Value::Bool(true) {
        return Err(reply["error"]
            .as_str()
            .unwrap_or("signing failed")
            .to_owned());
    }
    let text = |k: &str| reply[k].as_str().unwrap_or_default().to_owned();
    println!("Canonical request:\n{}\n", text("canonical_request"));
    println!(
        "Hash of the canonical request: {}\n",
        hex::encode(Sha256::digest(text("canonical_request")))
    );
    println!("String to sign:\n{}\n", text("string_to_sign"));
    let scope = text("string_to_sign")
        .lines()
        .nth(2)
        .unwrap_or_default()
        .to_owned();
    println!("Credential scope: {scope}");
    println!("Signed headers:   {}", text("signed_headers"));
    println!("Signature:        {}", text("signature"));
    println!("Authorization:    {}", text("authorization"));

    let Some(theirs) = &args.compare else {
        return Ok(ExitCode::SUCCESS);
    };
    let ours = ParsedAuthorization::parse(&text("authorization")).map_err(|e| e.to_string())?;
    let theirs =
        ParsedAuthorization::parse(theirs.trim().trim_start_matches("Authorization:").trim())
            .map_err(|e| format!("--compare: {e}"))?;
    let differences = canonical::compare_authorization(&ours, &theirs);
    println!();
    if differences.is_empty() {
        println!("The Authorization header matches: the request was signed as shown above.");
        return Ok(ExitCode::SUCCESS);
    }
    println!("The Authorization header differs:");
    for difference in &differences {
        println!("  - {difference}");
    }
    Ok(ExitCode::from(1))
}

fn read_json(source: &str) -> Result<serde_json::Value, String> {
    let text = if source == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("reading stdin: {e}"))?;
        text
    } else {
        source.to_owned()
    };
    serde_json::from_str(&text).map_err(|e| format!("--json is not a JSON object: {e}"))
}

fn from_flags(args: &Args) -> Result<serde_json::Value, String> {
    use base64::Engine;
    let url = args.url.as_deref().ok_or("give --url (or --json)")?;
    let inferred = tower_sigv4::endpoint::infer(url);
    let region = args
        .region
        .clone()
        .or_else(|| inferred.as_ref().map(|e| e.region.clone()))
        .ok_or("cannot infer the region from the URL; give --region")?;
    let service = args
        .service
        .clone()
        .or_else(|| inferred.as_ref().map(|e| e.service.to_string()))
        .ok_or("cannot infer the service from the URL; give --service")?;
    let body = match (&args.body, &args.body_file) {
        (Some(body), _) => body.as_bytes().to_vec(),
        (None, Some(path)) => {
            std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?
        }
        (None, None) => Vec::new(),
    };
    let headers: Vec<[String; 2]> = args
        .header
        .iter()
        .map(|h| {
            h.split_once('=')
                .map(|(k, v)| [k.trim().to_owned(), v.trim().to_owned()])
                .ok_or_else(|| format!("--header `{h}` is not NAME=VALUE"))
        })
        .collect::<Result<_, _>>()?;
    let timestamp = match &args.timestamp {
        Some(t) => {
            parse_amz_date(t)
                .ok_or_else(|| format!("--timestamp `{t}` is not YYYYMMDDTHHMMSSZ"))?;
            t.clone()
        }
        None => format_amz_date(std::time::SystemTime::now()),
    };
    let (access_key, secret_key) = match (&args.access_key, &args.secret_key) {
        (Some(a), Some(s)) => (a.clone(), s.clone()),
        _ => {
            return Err(
                "give --access-key and --secret-key (or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY): recomputing a signature needs the secret key".to_owned(),
            );
        }
    };
    // Validate the signer accepts the configuration before printing anything.
    SigV4Layer::builder()
        .region(&region)
        .service(service.as_str())
        .credentials(Credentials::new(
            &access_key,
            &secret_key,
            None,
            None,
            "explain",
        ))
        .build_signer()
        .map_err(|e| e.to_string())?;
    Ok(serde_json::json!({
        "id": "explain",
        "method": args.method,
        "url": url,
        "headers": headers,
        "body_b64": base64::engine::general_purpose::STANDARD.encode(body),
        "access_key": access_key,
        "secret_key": secret_key,
        "session_token": args.session_token,
        "region": region,
        "service": service,
        "timestamp": timestamp,
    }))
}

//! `mcp-sigv4 explain`: what a person debugging a 403 needs to see.

use std::io::Read;
use std::process::ExitCode;

use aws_credential_types::Credentials;
use sha2::{Digest, Sha256};
use tower_sigv4::SigV4Layer;
use tower_sigv4::unstable::{ParsedAuthorization, format_amz_date, parse_amz_date};

use crate::compare::compare_authorization;

/// Arguments of `mcp-sigv4 explain`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples (AWS's documented example key; no AWS account needed):
  export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
  mcp-sigv4 explain --url https://aws-mcp.us-east-1.api.aws/mcp --body '{}' \\
      --header content-type=application/json --timestamp 20250101T000000Z
  # the same request against a failing one's header (signed for us-west-2): names the difference, exits 1
  mcp-sigv4 explain --url https://aws-mcp.us-east-1.api.aws/mcp --body '{}' \\
      --header content-type=application/json --timestamp 20250101T000000Z \\
      --compare 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-west-2/aws-mcp/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=645e7199f8e19e64e0433cf70c94eca8f59b1bbcab77b57e0455fed3e88af404'
  # one request as a JSON line, as `sign` reads them
  echo '{\"method\":\"POST\",\"url\":\"https://aws-mcp.us-east-1.api.aws/mcp\",\"body\":\"{}\"}' | mcp-sigv4 explain --json -"
)]
pub(crate) struct Args {
    /// One request as a JSON object in the `sign` input format (`-` for stdin;
    /// `mcp-sigv4 sign --help` lists the fields, and any other is refused).
    #[arg(
        long,
        conflicts_with_all = ["url", "method", "header", "body", "body_file", "service", "region", "timestamp"]
    )]
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
    /// Refused: a secret on the command line is visible to every user in `ps`.
    /// Set AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) instead.
    #[arg(long, hide = true)]
    secret_key: Option<String>,
    /// Refused, like --secret-key: set AWS_SESSION_TOKEN instead.
    #[arg(long, hide = true)]
    session_token: Option<String>,
    /// An Authorization header copied from a failing request, to compare with.
    #[arg(long)]
    compare: Option<String>,
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
    if args.secret_key.is_some() || args.session_token.is_some() {
        return Err("--secret-key and --session-token are refused: a secret on the command line is visible to other users in `ps` and stays in shell history. Set AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN in the environment instead (`eval \"$(aws configure export-credentials --profile NAME --format env)\"` exports a profile's)".to_owned());
    }
    let input = match &args.json {
        Some(source) => {
            let input = read_json(source)?;
            if source != "-"
                && let Some(field) = ["secret_key", "session_token"]
                    .into_iter()
                    .find(|field| input.get(field).is_some())
            {
                return Err(format!(
                    "--json on the command line holds `{field}`, refused like --secret-key: a secret on the command line is visible to other users in `ps` and stays in shell history. Give the JSON on stdin (`--json -`), or leave the field out and set AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN in the environment"
                ));
            }
            input
        }
        None => from_flags(&args)?,
    };
    // --access-key (or AWS_ACCESS_KEY_ID) for a --json request that has no `access_key`.
    let env = |name: &str| match name {
        "AWS_ACCESS_KEY_ID" => args.access_key.clone(),
        _ => std::env::var(name).ok(),
    };
    let fallback = crate::sign::Fallback {
        env: &env,
        access_key: "--access-key, or AWS_ACCESS_KEY_ID",
        secret_key: "AWS_SECRET_ACCESS_KEY",
    };
    let reply = crate::sign::sign_request(&input, &fallback)?;
    let text = |k: &str| reply[k].as_str().unwrap_or_default().to_owned();
    println!(
        "Canonical request:\n{}\n",
        redact_token(&text("canonical_request"))
    );
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
    let differences = compare_authorization(&ours, &theirs);
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
    let secret_key = std::env::var("AWS_SECRET_ACCESS_KEY").ok();
    let session_token = std::env::var("AWS_SESSION_TOKEN").ok();
    let (access_key, secret_key) = match (&args.access_key, secret_key) {
        (Some(a), Some(s)) => (a.clone(), s),
        _ => {
            return Err(
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials) in the environment, e.g. with `eval \"$(aws configure export-credentials --profile NAME --format env)\"`: recomputing a signature needs the secret key".to_owned(),
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
        "session_token": session_token,
        "region": region,
        "service": service,
        "timestamp": timestamp,
    }))
}

/// The canonical request with the session token's value replaced: it is a
/// credential, and a person pastes this output into tickets and chats.
fn redact_token(canonical_request: &str) -> String {
    canonical_request
        .split('\n')
        .map(|line| match line.strip_prefix("x-amz-security-token:") {
            Some(_) => "x-amz-security-token:<redacted>",
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_line_is_redacted() {
        let creq =
            "POST\n/\n\nhost:h\nx-amz-security-token:SECRETTOKEN\n\nhost;x-amz-security-token\nabc";
        let shown = redact_token(creq);
        assert!(!shown.contains("SECRETTOKEN"));
        assert!(shown.contains("x-amz-security-token:<redacted>\n"));
    }
}

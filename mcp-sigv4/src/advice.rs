//! The application's edge: what the library and rmcp say, said again in the
//! terms a command-line user acts on.
//!
//! `tower-sigv4`'s errors advise builder calls (`allow_plain_http()`, "pass
//! credentials to the layer's builder"), which is right for code that calls the
//! library; rmcp wraps a failure in its transport's layers ("Send message error
//! Transport error: Client error: …, when send discover request"). Every
//! command turns those into flags, config keys and environment variables here,
//! and only here: [`library`] is the one place a library error is matched.
//! [`nearest`] names the key or field a misspelt one most likely means.

use std::error::Error as StdError;

use tower_sigv4::credentials::CredentialsError;
use tower_sigv4::rmcp::HttpClientError;
use tower_sigv4::unstable::{self, ErrorChain};
use tower_sigv4::{ConfigError, ConfigErrorKind, endpoint};

/// What a CLI user can do about an endpoint that plain http:// would expose.
const NO_PLAIN_HTTP_OPT_OUT: &str = "mcp-sigv4 has no flag or config key to allow it; reach such an endpoint over https://, or through a tunnel to 127.0.0.1 (e.g. `ssh -L`)";

/// The URL of an endpoint the application signs for or sends a secret to (an
/// MCP server, Bedrock, a token endpoint), checked with the library's rules
/// (a scheme and host; plain `http://` only to 127.0.0.0/8, ::1 or localhost)
/// before anything is opened, the refusal in the command line's terms.
///
/// ```
/// let refused = mcp_sigv4::advice::check_url("http://10.1.2.3:8081").unwrap_err();
/// assert!(refused.contains("uses plain http://"), "{refused}");
/// assert!(refused.contains("no flag or config key"), "{refused}");
/// assert!(mcp_sigv4::advice::check_url("http://127.0.0.1:8081").is_ok());
/// ```
pub fn check_url(url: &str) -> Result<http::Uri, String> {
    if let Some(encoded) = with_runtime_arn_encoded(url) {
        return Err(format!(
            "`{}` has an AgentCore runtime ARN in its path that is not URL-encoded, which AgentCore answers with 404; use {}",
            unstable::redact_query(url),
            unstable::redact_query(&encoded)
        ));
    }
    unstable::check_url(url).map_err(|e| library(&e))
}

/// `url` with the runtime ARN of its `/runtimes/{ARN}/invocations` path
/// URL-encoded, when it is written raw (`arn:aws:…:runtime/NAME`): its `/`
/// would make the path one AgentCore does not know.
///
/// ```
/// let raw = "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/a-1/invocations?qualifier=DEFAULT";
/// assert_eq!(
///     mcp_sigv4::advice::with_runtime_arn_encoded(raw).unwrap(),
///     "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fa-1/invocations?qualifier=DEFAULT"
/// );
/// ```
pub fn with_runtime_arn_encoded(url: &str) -> Option<String> {
    let start = url.find("/runtimes/arn:")? + "/runtimes/".len();
    let end = start + url[start..].rfind("/invocations")?;
    let arn = &url[start..end];
    arn.parse::<endpoint::RuntimeArn>().ok()?;
    let encoded = arn.replace(':', "%3A").replace('/', "%2F");
    Some(format!("{}{encoded}{}", &url[..start], &url[end..]))
}

/// A library error in the command line's terms.
///
/// The one function that matches on [`tower_sigv4::Error`] and its
/// configuration kinds ([`ConfigErrorKind`]).
pub fn library(error: &tower_sigv4::Error) -> String {
    match error {
        tower_sigv4::Error::Config(e) => config_message(e),
        tower_sigv4::Error::Credentials(e) => credentials(e).unwrap_or_else(|| {
            let env = |name: &str| std::env::var(name).ok();
            format!("{}{}", no_credentials(None, &env), load_timeout(e))
        }),
        tower_sigv4::Error::BodyTooLarge { limit, .. } => format!(
            "the request body is over the signing limit of {limit} bytes; raise it with --max-body-size"
        ),
        other => other.to_string(),
    }
}

/// What the library calls the default credential chain, at the start of a
/// [`CredentialsError`]'s source name (`…, profile `NAME`` after it when the
/// chain was given a profile).
const DEFAULT_CHAIN: &str = "the default credential chain";

/// The default credential chain found nothing, in one line: [`no_credentials`]
/// (the sources tried, by file path, and the next step, for the profile the
/// chain was given) and the load timeout when there was one, rather than the
/// SDK's "Attempted: …" list. `None` for another source (static keys, a role),
/// whose own error says what failed.
pub fn credentials(error: &CredentialsError) -> Option<String> {
    let rest = error.source_name().strip_prefix(DEFAULT_CHAIN)?;
    let profile = rest
        .rsplit_once(", profile `")
        .and_then(|(_, name)| name.strip_suffix('`'));
    let env = |name: &str| std::env::var(name).ok();
    Some(format!(
        "{}{}",
        no_credentials(profile, &env),
        load_timeout(error)
    ))
}

/// ` (loading took longer than N s)` when loading `error`'s credentials
/// timed out, else nothing.
pub fn load_timeout(error: &CredentialsError) -> String {
    error
        .timed_out()
        .map(|t| format!(" (loading took longer than {} s)", t.as_secs_f64()))
        .unwrap_or_default()
}

/// A configuration error of the library, its builder advice replaced by the
/// flag or config key that does the same.
fn config_message(error: &ConfigError) -> String {
    let text = error.to_string();
    let (builder, cli) = match error.kind() {
        ConfigErrorKind::PlainHttp => (
            "a builder's `allow_plain_http()` opts out",
            NO_PLAIN_HTTP_OPT_OUT,
        ),
        ConfigErrorKind::NoRegion => (
            "set it explicitly or with AWS_REGION",
            "give --region (or the server's aws_region_name), or set AWS_REGION",
        ),
        ConfigErrorKind::NoService => (
            "set it explicitly (",
            "give --service (or the server's aws_service_name: ",
        ),
        _ => return text,
    };
    text.replace(builder, cli)
}

/// Why connecting to an MCP server or exchanging a message with it failed, in
/// one line: the library's error in the command line's terms when the request
/// could not be signed, else the innermost causes without rmcp's wrapping.
pub fn mcp_failure(error: &(dyn StdError + 'static)) -> String {
    let Some(http) = HttpClientError::find_in(error) else {
        return without_wrapping(&ErrorChain(error).to_string());
    };
    if let Some(signing) = http.signing_error() {
        return format!("nothing was sent: {}", library(signing));
    }
    match http {
        HttpClientError::Transport(_) => format!(
            "cannot reach it: {}; check the URL, the network, and HTTPS_PROXY/NO_PROXY",
            without_wrapping(&http.to_string())
        ),
        _ => without_wrapping(&http.to_string()),
    }
}

/// `message` without rmcp's wrapping phrases, which name its layers, not the
/// problem.
fn without_wrapping(message: &str) -> String {
    const WRAPPING: [&str; 5] = [
        "Send message error ",
        "Transport error: ",
        "Client error: ",
        ", when send discover request",
        ", when send initialize request",
    ];
    WRAPPING
        .iter()
        .fold(message.to_owned(), |text, phrase| text.replace(phrase, ""))
}

/// One line for "the default credential chain found nothing": the sources it
/// tried, the profile files by path, and the next step. `profile` is the one
/// chosen by a flag; `AWS_PROFILE` is read through `env` otherwise.
///
/// ```
/// let env = |name: &str| (name == "HOME").then(|| "/home/me".to_owned());
/// let line = mcp_sigv4::advice::no_credentials(None, &env);
/// assert!(line.starts_with("no AWS credentials found: tried the environment"), "{line}");
/// assert!(line.contains("profile `default` in /home/me/.aws/config"), "{line}");
/// assert!(line.contains("instance metadata"), "{line}");
/// ```
pub fn no_credentials(profile: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> String {
    let (chosen, origin) = match profile {
        Some(name) => (Some(name.to_owned()), " (--profile)"),
        None => (env("AWS_PROFILE"), " (AWS_PROFILE)"),
    };
    let chosen = chosen
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty());
    if let Some(name) = &chosen
        && !crate::aws_profile::exists(name, env)
    {
        return format!(
            "no AWS credentials found: {}, or choose one that exists",
            crate::aws_profile::not_found(name, origin, env)
        );
    }
    let (config, credentials) = crate::aws_profile::files(env);
    let name = chosen.as_deref().unwrap_or("default");
    let next = match &chosen {
        Some(name) => format!(
            "give profile `{name}` keys, a role or an SSO session (for SSO run `aws sso login --profile {name}`)"
        ),
        None => "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or choose a profile with --profile NAME or AWS_PROFILE (after `aws sso login --profile NAME` for SSO)".to_owned(),
    };
    format!(
        "no AWS credentials found: tried the environment (AWS_ACCESS_KEY_ID), profile `{name}` in {config} and {credentials} (keys, role, SSO), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), the container endpoint and EC2 instance metadata; {next}"
    )
}

/// The name of `known` that `key` most likely misspells (a config key, a field
/// of `sign`'s input): at most two edits away (a swap of neighbours counts as
/// one), and fewer than a third of its length.
///
/// ```
/// let known = ["body", "body_b64", "url"];
/// assert_eq!(mcp_sigv4::advice::nearest("bodyy_b64", &known), Some("body_b64"));
/// assert_eq!(mcp_sigv4::advice::nearest("payload", &known), None);
/// ```
pub fn nearest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let key = key.trim().to_ascii_lowercase();
    known
        .iter()
        .map(|candidate| (distance(&key, candidate), *candidate))
        .filter(|(d, candidate)| *d <= 2 && *d * 3 < candidate.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, candidate)| candidate)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and
/// swaps of neighbouring characters.
pub fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_advice_becomes_flags() {
        let plain = unstable::check_url("http://example.com/mcp").unwrap_err();
        let said = library(&plain);
        assert!(!said.contains("builder"), "{said}");
        assert!(said.contains(NO_PLAIN_HTTP_OPT_OUT), "{said}");
    }

    #[test]
    fn rmcp_wrapping_goes() {
        let said = without_wrapping(
            "Send message error Transport error: Client error: no AWS credentials, when send discover request",
        );
        assert_eq!(said, "no AWS credentials");
    }

    #[test]
    fn a_named_profile_that_does_not_exist_is_said() {
        let env = |name: &str| match name {
            "HOME" => Some("/nonexistent-home".to_owned()),
            "AWS_PROFILE" => Some("dev".to_owned()),
            _ => None,
        };
        let said = no_credentials(None, &env);
        assert!(
            said.contains("profile `dev` (AWS_PROFILE) was not found"),
            "{said}"
        );
    }
}

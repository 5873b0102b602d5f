//! Inferring the signing service and region from an endpoint URL, and building
//! AgentCore Runtime invocation URLs from runtime ARNs.
//!
//! ```
//! use tower_sigv4::ServiceName;
//! use tower_sigv4::endpoint::{self, RuntimeArn};
//!
//! let inferred = endpoint::infer("https://aws-mcp.us-east-1.api.aws/mcp").unwrap();
//! assert_eq!(inferred.service, ServiceName::AWS_MCP);
//! assert_eq!(inferred.region, "us-east-1");
//!
//! let arn: RuntimeArn = "arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/my_agent-Ab12"
//!     .parse()
//!     .unwrap();
//! assert_eq!(
//!     arn.invocation_url(None),
//!     "https://bedrock-agentcore.us-west-2.amazonaws.com/runtimes/\
//!      arn%3Aaws%3Abedrock-agentcore%3Aus-west-2%3A123456789012%3Aruntime%2Fmy_agent-Ab12\
//!      /invocations?qualifier=DEFAULT"
//! );
//! ```

use std::fmt;
use std::str::FromStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::ServiceName;

#[cfg_attr(not(feature = "unstable"), allow(unreachable_pub, dead_code))]
pub(crate) mod url;
pub(crate) use url::{
    check_url_with, host_of, is_loopback, redact_query, redact_query_values, refuse_plain_http,
};

/// The service and region a URL's host belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoint {
    /// The SigV4 signing name.
    pub service: ServiceName,
    /// The region, e.g. `us-east-1`.
    pub region: String,
}

/// Infer the signing service and region from a URL (or a bare host).
///
/// Knows AgentCore Runtime (`bedrock-agentcore.{region}.amazonaws.com`) and Gateway
/// (`{id}.gateway.bedrock-agentcore.{region}.amazonaws.com`), the AWS MCP Server
/// (`aws-mcp.{region}.api.aws`), the generic `{service}.{region}.amazonaws.com` and
/// `{service}.{region}.api.aws` forms with their FIPS and dual-stack variants, China
/// (`amazonaws.com.cn`), API Gateway (`{id}.execute-api.{region}.amazonaws.com`) and
/// Lambda function URLs (`{id}.lambda-url.{region}.on.aws`).
///
/// A loopback host (a local server, a test stand-in, a port forward) names
/// neither, except when the path is an AgentCore Runtime invocation path
/// (`/runtimes/{ARN}/invocations`): then the service is `bedrock-agentcore` and
/// the region the ARN's. Anything else is `None`.
///
/// ```
/// use tower_sigv4::{ServiceName, endpoint::infer};
///
/// let gw = infer("https://mygw-1a2b.gateway.bedrock-agentcore.eu-central-1.amazonaws.com/mcp").unwrap();
/// assert_eq!((gw.service, gw.region.as_str()), (ServiceName::BEDROCK_AGENTCORE, "eu-central-1"));
/// assert_eq!(infer("http://127.0.0.1:8080/mcp"), None);
///
/// let local = infer("http://127.0.0.1:8080/runtimes/\
///     arn%3Aaws%3Abedrock-agentcore%3Aeu-west-1%3A123456789012%3Aruntime%2Fagent-1\
///     /invocations?qualifier=DEFAULT").unwrap();
/// assert_eq!((local.service, local.region.as_str()), (ServiceName::BEDROCK_AGENTCORE, "eu-west-1"));
/// ```
pub fn infer(url: &str) -> Option<Endpoint> {
    let host = host_of(url)?;
    if is_loopback(host) {
        return infer_loopback_runtime(url);
    }
    infer_host(host)
}

/// The service and region of an AgentCore Runtime invocation URL on a loopback
/// host: its path names the runtime's ARN, and so its region.
fn infer_loopback_runtime(url: &str) -> Option<Endpoint> {
    let (arn, _) = RuntimeArn::from_invocation_url(url)?;
    Some(endpoint("bedrock-agentcore", arn.region()))
}

/// Like [`infer`], for a host name without scheme, port or path.
pub(crate) fn infer_host(host: &str) -> Option<Endpoint> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(rest) = host.strip_suffix(".on.aws") {
        return match labels(rest).as_slice() {
            [_id, "lambda-url", region] if is_region(region) => Some(endpoint("lambda", region)),
            _ => None,
        };
    }
    let rest = [".amazonaws.com.cn", ".amazonaws.com", ".api.aws"]
        .iter()
        .find_map(|suffix| host.strip_suffix(suffix))?;
    let labels = labels(rest);
    let (region, before) = labels.split_last()?;
    if !is_region(region) {
        return None;
    }
    let service = match before {
        [.., "gateway", "bedrock-agentcore"] => "bedrock-agentcore",
        [_, "execute-api"] => "execute-api",
        [service] | [service, "dualstack"] => service.strip_suffix("-fips").unwrap_or(service),
        _ => return None,
    };
    let service = match service {
        // The control plane signs with the same name as the data plane.
        "bedrock-agentcore-control" => "bedrock-agentcore",
        other => other,
    };
    if service.is_empty()
        || !service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return None;
    }
    Some(endpoint(service, region))
}

fn endpoint(service: &str, region: &str) -> Endpoint {
    Endpoint {
        service: ServiceName::new(service),
        region: region.to_owned(),
    }
}

fn labels(s: &str) -> Vec<&str> {
    s.split('.').collect()
}

/// Whether `s` looks like an AWS region name, e.g. `us-east-1` or `us-gov-west-1`.
fn is_region(s: &str) -> bool {
    let mut parts = s.split('-');
    let first = parts.next().unwrap_or_default();
    let last = s.rsplit('-').next().unwrap_or_default();
    s.split('-').count() >= 3
        && first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Characters left as they are when a path segment is percent-encoded: RFC 3986
/// unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The qualifier AgentCore uses when none is given.
pub const DEFAULT_QUALIFIER: &str = "DEFAULT";

/// An AgentCore Runtime ARN, e.g.
/// `arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/my_agent-abc123`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeArn {
    arn: String,
    partition: String,
    region: String,
    account: String,
    runtime_id: String,
}

impl RuntimeArn {
    /// The full ARN.
    pub fn as_str(&self) -> &str {
        &self.arn
    }

    /// The partition: `aws`, `aws-cn` or `aws-us-gov`.
    pub fn partition(&self) -> &str {
        &self.partition
    }

    /// The region the runtime lives in; its endpoint signs for this region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The 12-digit account id.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The runtime id after `runtime/`.
    pub fn runtime_id(&self) -> &str {
        &self.runtime_id
    }

    /// The data-plane host for the runtime's region and partition.
    pub fn host(&self) -> String {
        let suffix = if self.partition == "aws-cn" {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("bedrock-agentcore.{}.{suffix}", self.region)
    }

    /// The invocation URL: `https://bedrock-agentcore.{region}.amazonaws.com/runtimes/{encoded ARN}/invocations?qualifier={qualifier}`,
    /// with `qualifier` defaulting to [`DEFAULT_QUALIFIER`].
    pub fn invocation_url(&self, qualifier: Option<&str>) -> String {
        let qualifier = qualifier.unwrap_or(DEFAULT_QUALIFIER);
        format!(
            "https://{}/runtimes/{}/invocations?qualifier={}",
            self.host(),
            utf8_percent_encode(&self.arn, SEGMENT),
            utf8_percent_encode(qualifier, SEGMENT),
        )
    }

    /// The ARN and qualifier of an AgentCore Runtime invocation URL, if `url` is one.
    ///
    /// ```
    /// use tower_sigv4::endpoint::RuntimeArn;
    ///
    /// let arn: RuntimeArn = "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/a-1".parse().unwrap();
    /// let (back, qualifier) = RuntimeArn::from_invocation_url(&arn.invocation_url(Some("prod"))).unwrap();
    /// assert_eq!((back, qualifier.as_deref()), (arn, Some("prod")));
    /// ```
    pub fn from_invocation_url(url: &str) -> Option<(RuntimeArn, Option<String>)> {
        let after_scheme = url.split_once("://")?.1;
        let (_, path_and_query) = after_scheme.split_once('/')?;
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let encoded = path
            .strip_prefix("runtimes/")?
            .strip_suffix("/invocations")?;
        let arn: RuntimeArn = percent_decode_str(encoded)
            .decode_utf8()
            .ok()?
            .parse()
            .ok()?;
        let qualifier = query.and_then(|q| {
            q.split('&')
                .find_map(|pair| pair.strip_prefix("qualifier="))
                .and_then(|v| percent_decode_str(v).decode_utf8().ok())
                .map(|v| v.into_owned())
        });
        Some((arn, qualifier))
    }
}

impl fmt::Display for RuntimeArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

impl FromStr for RuntimeArn {
    type Err = ArnError;

    fn from_str(arn: &str) -> Result<Self, ArnError> {
        let err = |reason: &'static str| ArnError {
            arn: arn.chars().take(256).collect(),
            reason,
        };
        let mut parts = arn.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        )
        else {
            return Err(err(
                "expected arn:PARTITION:bedrock-agentcore:REGION:ACCOUNT:runtime/ID",
            ));
        };
        if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
            return Err(err("the partition must be aws, aws-cn or aws-us-gov"));
        }
        if service != "bedrock-agentcore" {
            return Err(err("the service must be bedrock-agentcore"));
        }
        if !is_region(region) {
            return Err(err("the region is not a region name such as us-east-1"));
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("the account must be 12 digits"));
        }
        let runtime_id = resource
            .strip_prefix("runtime/")
            .ok_or_else(|| err("the resource must be runtime/ID"))?;
        if runtime_id.is_empty()
            || !runtime_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(err(
                "the runtime id must be non-empty letters, digits, '_' or '-'",
            ));
        }
        Ok(RuntimeArn {
            arn: arn.to_owned(),
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            runtime_id: runtime_id.to_owned(),
        })
    }
}

/// A string that is not an AgentCore Runtime ARN.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArnError {
    arn: String,
    reason: &'static str,
}

impl fmt::Display for ArnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not an AgentCore runtime ARN: {}; copy the ARN from the AgentCore console or `aws bedrock-agentcore-control list-agent-runtimes`",
            self.arn, self.reason
        )
    }
}

impl std::error::Error for ArnError {}

#[cfg(test)]
mod tests {
    use super::url::check_url;
    use super::*;

    #[test]
    fn redacted_urls_keep_names_and_hide_values() {
        let cases = [
            (
                "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws/invocations?qualifier=DEFAULT&X-Amz-Security-Token=abc%2Fdef",
                "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws/invocations?qualifier=…&X-Amz-Security-Token=…",
            ),
            ("https://h/p?flag&a=1#frag", "https://h/p?flag&a=…#…"),
            ("http://u:p%40ss@proxy:3128/", "http://u:…@proxy:3128/"),
            ("http://u@proxy:3128", "http://u@proxy:3128"),
            ("proxy.internal:3128", "proxy.internal:3128"),
            ("https://h/p?", "https://h/p?"),
            ("", ""),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_query(url), shown, "{url}");
        }
    }

    #[test]
    fn config_errors_never_show_query_values() {
        let err = check_url("http://example.com/mcp?X-Amz-Security-Token=SECRET").unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(err.to_string().contains("X-Amz-Security-Token=…"), "{err}");
    }

    #[test]
    fn https_required_except_on_loopback() {
        for ok in [
            "https://aws-mcp.us-east-1.api.aws/mcp",
            "http://127.0.0.1:8080/mcp",
            "http://127.1.2.3:8080/mcp",
            "http://localhost/mcp",
            "http://[::1]:3000/mcp",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://aws-mcp.us-east-1.api.aws/mcp",
            "http://10.0.0.1/mcp",
            "/mcp",
            "ftp://localhost/x",
            "not a url",
            "",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        for no_scheme in ["aws-mcp.us-east-1.api.aws/mcp", "localhost:8080/mcp"] {
            let message = check_url(no_scheme).unwrap_err().to_string();
            assert!(message.contains("add https://"), "{no_scheme}: {message}");
        }
    }

    fn inferred(url: &str) -> Option<(String, String)> {
        infer(url).map(|e| (e.service.to_string(), e.region))
    }

    fn pair(s: &str, r: &str) -> Option<(String, String)> {
        Some((s.to_owned(), r.to_owned()))
    }

    #[test]
    fn infers_known_endpoints() {
        let cases = [
            (
                "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/x/invocations",
                pair("bedrock-agentcore", "us-east-1"),
            ),
            (
                "https://abc-123.gateway.bedrock-agentcore.us-west-2.amazonaws.com/mcp",
                pair("bedrock-agentcore", "us-west-2"),
            ),
            (
                "https://bedrock-agentcore-control.eu-west-1.amazonaws.com/",
                pair("bedrock-agentcore", "eu-west-1"),
            ),
            (
                "https://aws-mcp.us-east-1.api.aws/mcp",
                pair("aws-mcp", "us-east-1"),
            ),
            (
                "https://sts.ap-southeast-2.amazonaws.com",
                pair("sts", "ap-southeast-2"),
            ),
            (
                "https://bedrock-agentcore-fips.us-gov-west-1.amazonaws.com/x",
                pair("bedrock-agentcore", "us-gov-west-1"),
            ),
            (
                "https://bedrock-agentcore.dualstack.us-east-1.amazonaws.com/x",
                pair("bedrock-agentcore", "us-east-1"),
            ),
            (
                "https://lambda-fips.dualstack.us-east-2.amazonaws.com",
                pair("lambda", "us-east-2"),
            ),
            (
                "https://aws-mcp-fips.us-east-1.api.aws/mcp",
                pair("aws-mcp", "us-east-1"),
            ),
            (
                "https://bedrock-agentcore.cn-north-1.amazonaws.com.cn/x",
                pair("bedrock-agentcore", "cn-north-1"),
            ),
            (
                "https://a1b2c3.execute-api.us-east-1.amazonaws.com/prod/mcp",
                pair("execute-api", "us-east-1"),
            ),
            (
                "https://abcdefg.lambda-url.eu-north-1.on.aws/",
                pair("lambda", "eu-north-1"),
            ),
            (
                "HTTPS://AWS-MCP.US-EAST-1.API.AWS./mcp",
                pair("aws-mcp", "us-east-1"),
            ),
            (
                "aws-mcp.us-east-1.api.aws:443",
                pair("aws-mcp", "us-east-1"),
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(inferred(url), expected, "{url}");
        }
    }

    #[test]
    fn loopback_runtime_paths_name_agentcore_and_the_arns_region() {
        let path = "/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aap-south-1%3A123456789012%3Aruntime%2Fa-1/invocations";
        for base in [
            "http://127.0.0.1:9000",
            "http://localhost",
            "http://[::1]:3000",
        ] {
            let url = format!("{base}{path}?qualifier=DEFAULT");
            assert_eq!(
                inferred(&url),
                pair("bedrock-agentcore", "ap-south-1"),
                "{url}"
            );
        }
        // Other paths on loopback, and runtime paths on other unknown hosts, stay unknown.
        for url in [
            "http://127.0.0.1:9000/mcp",
            "http://127.0.0.1:9000/runtimes/not-an-arn/invocations",
            &format!("https://example.com{path}"),
        ] {
            assert_eq!(inferred(url), None, "{url}");
        }
    }

    #[test]
    fn unknown_hosts_are_none() {
        for url in [
            "http://127.0.0.1:8080/mcp",
            "http://localhost/mcp",
            "https://example.com/mcp",
            "https://iam.amazonaws.com/",
            "https://s3.amazonaws.com/bucket",
            "https://amazonaws.com",
            "https://.us-east-1.amazonaws.com",
            "https://x.y.z.us-east-1.amazonaws.com",
            "https://evil.com/?x=aws-mcp.us-east-1.api.aws",
            "https://[::1]:3000/mcp",
            "",
            "://",
        ] {
            assert_eq!(inferred(url), None, "{url}");
        }
    }

    #[test]
    fn runtime_arn_round_trips_through_url() {
        let arn: RuntimeArn =
            "arn:aws-cn:bedrock-agentcore:cn-north-1:123456789012:runtime/agent_1-x"
                .parse()
                .unwrap();
        let url = arn.invocation_url(Some("v 2"));
        assert_eq!(
            url,
            "https://bedrock-agentcore.cn-north-1.amazonaws.com.cn/runtimes/arn%3Aaws-cn%3Abedrock-agentcore%3Acn-north-1%3A123456789012%3Aruntime%2Fagent_1-x/invocations?qualifier=v%202"
        );
        let (back, qualifier) = RuntimeArn::from_invocation_url(&url).unwrap();
        assert_eq!(back, arn);
        assert_eq!(qualifier.as_deref(), Some("v 2"));
        assert_eq!(inferred(&url), pair("bedrock-agentcore", "cn-north-1"));
    }

    #[test]
    fn malformed_arns_are_rejected_with_a_reason() {
        for bad in [
            "",
            "arn:aws:bedrock-agentcore:us-east-1:123456789012",
            "arn:aws:s3:us-east-1:123456789012:runtime/x",
            "arn:aws:bedrock-agentcore:useast1:123456789012:runtime/x",
            "arn:aws:bedrock-agentcore:us-east-1:1234:runtime/x",
            "arn:aws:bedrock-agentcore:us-east-1:123456789012:gateway/x",
            "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/",
            "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/a/b",
            "arn:foo:bedrock-agentcore:us-east-1:123456789012:runtime/x",
        ] {
            let err = bad.parse::<RuntimeArn>().unwrap_err();
            assert!(
                err.to_string().contains("is not an AgentCore runtime ARN"),
                "{err}"
            );
        }
    }
}

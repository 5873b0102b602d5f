//! How two SigV4 `Authorization` headers differ, for `explain --compare`.

use std::fmt;

use tower_sigv4::unstable::ParsedAuthorization;

/// One way two Authorization headers differ.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Difference {
    /// Different access keys.
    AccessKey {
        /// Ours.
        expected: String,
        /// Theirs.
        actual: String,
    },
    /// A credential-scope field differs: `date`, `region` or `service`.
    Scope {
        /// Which field.
        field: &'static str,
        /// Ours.
        expected: String,
        /// Theirs.
        actual: String,
    },
    /// The signed header lists differ.
    SignedHeaders {
        /// Signed here, not there.
        missing: Vec<String>,
        /// Signed there, not here.
        extra: Vec<String>,
    },
    /// Everything above matches but the signature does not: the canonical requests
    /// differ (path, query, header values or body) or the secret key does.
    Signature {
        /// Ours.
        expected: String,
        /// Theirs.
        actual: String,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::AccessKey { expected, actual } => {
                write!(f, "access key: expected {expected}, got {actual}")
            }
            Difference::Scope {
                field,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "credential scope {field}: expected `{expected}`, got `{actual}`"
                )?;
                if *field == "service" {
                    write!(
                        f,
                        " (the service name is part of the signature: aws-mcp for the AWS MCP Server, bedrock-agentcore for AgentCore)"
                    )?;
                }
                Ok(())
            }
            Difference::SignedHeaders { missing, extra } => write!(
                f,
                "signed headers: missing [{}], extra [{}] (a header added, removed or renamed between signing and sending)",
                missing.join(", "),
                extra.join(", ")
            ),
            Difference::Signature { expected, actual } => write!(
                f,
                "signature: expected {expected}, got {actual}: the canonical request (method, path, query, signed header values or body) or the secret key differs"
            ),
        }
    }
}

/// How `actual` differs from `expected`.
pub fn compare_authorization(
    expected: &ParsedAuthorization,
    actual: &ParsedAuthorization,
) -> Vec<Difference> {
    let mut out = Vec::new();
    if expected.access_key_id != actual.access_key_id {
        out.push(Difference::AccessKey {
            expected: expected.access_key_id.clone(),
            actual: actual.access_key_id.clone(),
        });
    }
    for (field, e, a) in [
        ("date", &expected.scope.date, &actual.scope.date),
        ("region", &expected.scope.region, &actual.scope.region),
        ("service", &expected.scope.service, &actual.scope.service),
    ] {
        if e != a {
            out.push(Difference::Scope {
                field,
                expected: e.clone(),
                actual: a.clone(),
            });
        }
    }
    let missing: Vec<String> = expected
        .signed_headers
        .iter()
        .filter(|h| !actual.signed_headers.contains(h))
        .cloned()
        .collect();
    let extra: Vec<String> = actual
        .signed_headers
        .iter()
        .filter(|h| !expected.signed_headers.contains(h))
        .cloned()
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        out.push(Difference::SignedHeaders { missing, extra });
    }
    if expected.signature != actual.signature {
        out.push(Difference::Signature {
            expected: expected.signature.clone(),
            actual: actual.signature.clone(),
        });
    }
    out
}

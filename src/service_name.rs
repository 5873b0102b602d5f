//! The SigV4 signing name of the AWS service a request goes to.

use std::borrow::Cow;
use std::fmt;

/// The service name that goes into a SigV4 credential scope.
///
/// Bedrock AgentCore Runtime and Gateway sign as `bedrock-agentcore` (the default);
/// the AWS MCP Server signs as `aws-mcp`. Any other name is allowed.
///
/// The default is what [`SigV4Layer::builder`](crate::SigV4Layer::builder) signs
/// for when no service is set; [`SigV4Layer::for_endpoint`](crate::SigV4Layer::for_endpoint)
/// infers the service instead and refuses a host it does not know. See "Which
/// service is signed for" in the crate docs.
///
/// ```
/// use tower_sigv4::ServiceName;
///
/// assert_eq!(ServiceName::default(), ServiceName::BEDROCK_AGENTCORE);
/// assert_eq!(ServiceName::from("aws-mcp"), ServiceName::AWS_MCP);
/// assert_eq!(ServiceName::new("execute-api").as_str(), "execute-api");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceName(Cow<'static, str>);

impl ServiceName {
    /// `bedrock-agentcore`: Bedrock AgentCore Runtime and Gateway.
    pub const BEDROCK_AGENTCORE: ServiceName = ServiceName(Cow::Borrowed("bedrock-agentcore"));
    /// `aws-mcp`: the AWS MCP Server.
    pub const AWS_MCP: ServiceName = ServiceName(Cow::Borrowed("aws-mcp"));
    /// `execute-api`: API Gateway.
    pub const EXECUTE_API: ServiceName = ServiceName(Cow::Borrowed("execute-api"));
    /// `lambda`: Lambda function URLs.
    pub const LAMBDA: ServiceName = ServiceName(Cow::Borrowed("lambda"));

    /// A service name; well-known names are interned.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        match name.as_str() {
            "bedrock-agentcore" => Self::BEDROCK_AGENTCORE,
            "aws-mcp" => Self::AWS_MCP,
            "execute-api" => Self::EXECUTE_API,
            "lambda" => Self::LAMBDA,
            _ => ServiceName(Cow::Owned(name)),
        }
    }

    /// The name as it appears in the credential scope.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `bedrock-agentcore`, the crate's main target.
impl Default for ServiceName {
    fn default() -> Self {
        Self::BEDROCK_AGENTCORE
    }
}

impl fmt::Debug for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for ServiceName {
    fn from(name: &str) -> Self {
        Self::new(name)
    }
}

impl From<String> for ServiceName {
    fn from(name: String) -> Self {
        Self::new(name)
    }
}

impl AsRef<str> for ServiceName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

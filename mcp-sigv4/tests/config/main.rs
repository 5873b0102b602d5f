//! The configuration file: a LiteLLM `config.yaml` loads unchanged, every bad
//! value is reported with the file, the key and what was expected, and secrets
//! never show.

use std::collections::HashMap;

use mcp_sigv4::config::{Auth, Config, ConfigErrorKind, CredentialsSource, Secret, Transport};

const ARN_URL: &str = "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fmy-mcp-server/invocations";

/// LiteLLM's documented `config.yaml` (the MCP overview's config tab and its auth
/// examples), with the `<url-encoded-ARN>` placeholder filled in. The oauth2 and
/// stdio servers of those pages are left out: this app refuses them (tested below).
fn litellm_config() -> String {
    format!(
        r#"
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY

litellm_settings:
  # MCP Aliases - Map aliases to server names for easier tool access
  mcp_aliases:
    "github": "github_mcp_server"
    "zapier": "zapier_mcp_server"
    "deepwiki": "deepwiki_mcp_server"

router_settings:
  routing_strategy: simple-shuffle

mcp_servers:
  # HTTP Streamable Server
  deepwiki_mcp:
    url: "https://mcp.deepwiki.com/mcp"

  # Full configuration with all optional fields
  my_http_server:
    url: "https://my-mcp-server.com/mcp"
    transport: "http"
    description: "My custom MCP server"
    auth_type: "api_key"
    auth_value: "abc123"

  bearer_example:
    url: "https://my-mcp-server.com/mcp"
    auth_type: "bearer_token"
    auth_value: os.environ/BEARER_TOKEN

  basic_example:
    url: "https://my-mcp-server.com/mcp"
    auth_type: "basic"
    auth_value: "dXNlcjpwYXNz"  # headers={{"Authorization": "Basic dXNlcjpwYXNz"}}

  custom_auth_example:
    url: "https://my-mcp-server.com/mcp"
    auth_type: "authorization"
    auth_value: "Token example123"  # headers={{"Authorization": "Token example123"}}

  # AWS SigV4 for Bedrock AgentCore MCP servers
  agentcore_mcp:
    url: "{ARN_URL}"
    transport: "http"
    auth_type: "aws_sigv4"
    aws_role_name: os.environ/AWS_ROLE_ARN          # optional — IAM role to assume
    aws_access_key_id: os.environ/AWS_ACCESS_KEY_ID  # optional — falls back to IAM role
    aws_secret_access_key: os.environ/AWS_SECRET_ACCESS_KEY
    aws_region_name: us-east-1
    aws_service_name: bedrock-agentcore

  # Example with extra headers forwarding
  github_mcp:
    url: "https://api.githubcopilot.com/mcp"
    auth_type: "bearer_token"
    auth_value: "ghp_example_token"
    extra_headers: ["custom_key", "x-custom-header"]  # These headers will be forwarded from client

  # Example with static headers
  my_mcp_server:
    url: "https://my-mcp-server.com/mcp"
    static_headers: # These headers will be requested to the MCP server
      X-API-Key: "abc123"
      X-Custom-Header: "some-value"

general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
"#
    )
}

const SECRETS: [(&str, &str); 5] = [
    ("BEARER_TOKEN", "bearer-secret-0001"),
    ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/McpSigner"),
    ("AWS_ACCESS_KEY_ID", "AKIDCONFIGEXAMPLE"),
    ("AWS_SECRET_ACCESS_KEY", "aws-secret-key-0002/EXAMPLE"),
    ("LITELLM_MASTER_KEY", "sk-master-0003"),
];

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name: &str| vars.get(name).cloned()
}

fn load(yaml: &str) -> Result<Config, mcp_sigv4::config::ConfigError> {
    Config::from_yaml(yaml, "config.yaml", env_of(&SECRETS))
}

fn error_of(yaml: &str) -> String {
    load(yaml)
        .expect_err("the configuration should be refused")
        .to_string()
}

#[test]
fn a_litellm_config_loads_unchanged() {
    // OPENAI_API_KEY is not set: model_list is not read.
    let config = load(&litellm_config()).unwrap();
    let names: Vec<&str> = config.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "deepwiki_mcp",
            "my_http_server",
            "bearer_example",
            "basic_example",
            "custom_auth_example",
            "agentcore_mcp",
            "github_mcp",
            "my_mcp_server"
        ]
    );
    let server = |name: &str| config.server(name).unwrap();
    assert_eq!(server("deepwiki_mcp").auth, Auth::None);
    assert_eq!(
        server("my_http_server").description.as_deref(),
        Some("My custom MCP server")
    );
    assert!(matches!(&server("my_http_server").auth, Auth::ApiKey(k) if k.expose() == "abc123"));
    assert!(
        matches!(&server("bearer_example").auth, Auth::Bearer(t) if t.expose() == "bearer-secret-0001")
    );
    assert!(
        matches!(&server("basic_example").auth, Auth::Basic { user, password } if user == "user" && password.expose() == "pass")
    );
    assert!(
        matches!(&server("custom_auth_example").auth, Auth::Authorization(v) if v.expose() == "Token example123")
    );
    match &server("agentcore_mcp").auth {
        Auth::SigV4 {
            region,
            service,
            credentials:
                CredentialsSource::AssumeRole {
                    role_arn,
                    session_name,
                    base,
                },
        } => {
            assert_eq!(
                (region.as_str(), service.as_str()),
                ("us-east-1", "bedrock-agentcore")
            );
            assert_eq!(role_arn, "arn:aws:iam::123456789012:role/McpSigner");
            assert_eq!(session_name, &None);
            assert!(
                matches!(&**base, CredentialsSource::Static { access_key_id, secret_access_key, session_token: None }
                if access_key_id == "AKIDCONFIGEXAMPLE" && secret_access_key.expose() == "aws-secret-key-0002/EXAMPLE")
            );
        }
        other => panic!("{other:?}"),
    }
    let statics: Vec<(&str, &str)> = server("my_mcp_server")
        .static_headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.expose()))
        .collect();
    assert_eq!(
        statics,
        [("x-api-key", "abc123"), ("x-custom-header", "some-value")]
    );
    assert!(
        config
            .master_key
            .as_ref()
            .unwrap()
            .matches("sk-master-0003")
    );
    assert_eq!(config.session_secret, None);
}

#[test]
fn headers_carry_each_auth_type() {
    let config = load(&litellm_config()).unwrap();
    let header = |server: &str, name: &'static str| {
        let headers = config.server(server).unwrap().headers().unwrap();
        headers.get(&http::HeaderName::from_static(name)).map(|v| {
            assert!(v.is_sensitive());
            v.to_str().unwrap().to_owned()
        })
    };
    assert_eq!(
        header("my_http_server", "x-api-key").as_deref(),
        Some("abc123")
    );
    assert_eq!(
        header("bearer_example", "authorization").as_deref(),
        Some("Bearer bearer-secret-0001")
    );
    assert_eq!(
        header("basic_example", "authorization").as_deref(),
        Some("Basic dXNlcjpwYXNz")
    );
    assert_eq!(
        header("custom_auth_example", "authorization").as_deref(),
        Some("Token example123")
    );
    assert_eq!(header("agentcore_mcp", "authorization"), None);
    assert_eq!(
        header("my_mcp_server", "x-custom-header").as_deref(),
        Some("some-value")
    );
}

#[tokio::test]
async fn every_server_builds_its_transport() {
    // No service or region is needed for a header-authenticated server.
    let config = load(&litellm_config()).unwrap();
    for server in &config.servers {
        server
            .transport()
            .unwrap_or_else(|e| panic!("{}: {e}", server.name));
    }
}

#[test]
fn basic_takes_user_and_password_in_clear_too() {
    let config = load(
        "mcp_servers:\n  s:\n    url: https://x.example/mcp\n    auth_type: basic\n    auth_value: 'alice:pa:ss'\n",
    )
    .unwrap();
    let headers = config.servers[0].headers().unwrap();
    // base64("alice:pa:ss")
    assert_eq!(
        headers[&http::header::AUTHORIZATION],
        "Basic YWxpY2U6cGE6c3M="
    );
}

#[test]
fn sigv4_region_and_service_are_inferred_from_the_url() {
    let config = load(
        "mcp_servers:\n  aws:\n    url: https://aws-mcp.us-west-2.api.aws/mcp\n    auth_type: aws_sigv4\n    aws_profile: dev\n  local:\n    url: http://127.0.0.1:9000/mcp\n    auth_type: aws_sigv4\n    aws_region_name: eu-west-1\n",
    )
    .unwrap();
    assert_eq!(
        config.servers[0].auth,
        Auth::SigV4 {
            region: "us-west-2".into(),
            service: "aws-mcp".into(),
            credentials: CredentialsSource::DefaultChain {
                profile: Some("dev".into())
            },
        }
    );
    // Nothing to infer from: the service defaults to bedrock-agentcore.
    assert!(
        matches!(&config.servers[1].auth, Auth::SigV4 { region, service, .. } if region == "eu-west-1" && service == "bedrock-agentcore")
    );
}

#[test]
fn the_session_secret_comes_from_the_file_or_the_environment() {
    let from_env = Config::from_yaml(
        "general_settings: {}\n",
        "config.yaml",
        env_of(&[("MCP_SIGV4_SESSION_SECRET", "hmac-key-0004")]),
    )
    .unwrap();
    assert!(from_env.session_secret.unwrap().matches("hmac-key-0004"));
    let from_file = Config::from_yaml(
        "general_settings:\n  session_secret: os.environ/MY_HMAC\n",
        "config.yaml",
        env_of(&[
            ("MY_HMAC", "file-key"),
            ("MCP_SIGV4_SESSION_SECRET", "env-key"),
        ]),
    )
    .unwrap();
    assert!(from_file.session_secret.unwrap().matches("file-key"));
    // An empty file is an empty configuration.
    assert!(load("").unwrap().servers.is_empty());
}

#[test]
fn list_cache_ttl_is_seconds_and_a_bad_value_says_what_is_expected() {
    let ttl = |yaml: &str| load(yaml).unwrap().list_cache_ttl;
    assert_eq!(ttl("general_settings: {}\n"), None);
    assert_eq!(
        ttl("general_settings:\n  list_cache_ttl: 30\n"),
        Some(std::time::Duration::from_secs(30))
    );
    assert_eq!(
        ttl("general_settings:\n  list_cache_ttl: \"0.5\"\n"),
        Some(std::time::Duration::from_millis(500))
    );
    assert_eq!(
        ttl("general_settings:\n  list_cache_ttl: 0\n"),
        Some(std::time::Duration::ZERO)
    );
    for bad in ["-1", "soon", "[1]"] {
        let message = error_of(&format!("general_settings:\n  list_cache_ttl: {bad}\n"));
        assert!(
            message.contains("general_settings.list_cache_ttl")
                && (message.contains("expected seconds") || message.contains("expected a string")),
            "{message}"
        );
    }
}

#[test]
fn probe_interval_is_seconds_and_0_turns_the_probes_off() {
    let every = |yaml: &str| load(yaml).unwrap().probe_interval;
    assert_eq!(every("general_settings: {}\n"), None);
    assert_eq!(
        every("general_settings:\n  probe_interval: 15\n"),
        Some(std::time::Duration::from_secs(15))
    );
    assert_eq!(
        every("general_settings:\n  probe_interval: 0\n"),
        Some(std::time::Duration::ZERO)
    );
    let message = error_of("general_settings:\n  probe_interval: often\n");
    assert!(
        message.contains("general_settings.probe_interval")
            && message.contains("0 turns the probes off"),
        "{message}"
    );
}

#[test]
fn an_unknown_auth_type_is_refused_with_the_expected_values() {
    assert_eq!(
        error_of(
            "mcp_servers:\n  weather:\n    url: https://x.example/mcp\n    auth_type: oauth\n"
        ),
        r#"config.yaml: mcp_servers.weather.auth_type: expected one of none, api_key, bearer_token, basic, authorization, token, oauth2, aws_sigv4; got "oauth""#
    );
    let other =
        error_of("mcp_servers:\n  w:\n    url: https://x.example/mcp\n    transport: websocket\n");
    assert!(
        other.ends_with(r#"transport: expected one of http, sse, stdio; got "websocket""#),
        "{other}"
    );
}

/// The servers of LiteLLM's pages this app once refused: stdio, SSE, `token`,
/// OAuth2 client credentials, tool filters and forwarded client headers.
const LITELLM_MORE: &str = r#"
mcp_servers:
  circleci_mcp:
    transport: "stdio"
    command: "npx"
    args: ["-y", "@circleci/mcp-server-circleci"]
    env:
      CIRCLECI_TOKEN: os.environ/CIRCLECI_TOKEN
      CIRCLECI_BASE_URL: "https://circleci.com"
  implied_stdio:
    command: "uvx"
    args: ["mcp-server-time"]
  zapier_mcp:
    url: "https://actions.zapier.com/mcp/sk-ak-2ew3bofIeQIkNoeKIdXrF1Hhldo/sse"
    transport: sse
  github_classic:
    url: "https://api.githubcopilot.com/mcp"
    auth_type: "token"
    auth_value: os.environ/GITHUB_TOKEN
    extra_headers: ["X-GitHub-Api-Version", "custom_key"]
    allowed_tools: ["list_issues", "get_issue"]
    disallowed_tools: ["delete_repo"]
  m2m_server:
    url: "https://my-mcp-server.com/mcp"
    auth_type: oauth2
    oauth2_flow: client_credentials
    client_id: os.environ/MCP_CLIENT_ID
    client_secret: os.environ/MCP_CLIENT_SECRET
    token_url: "https://auth.example.com/oauth/token"
    scopes: ["mcp:read", "mcp:write"]
  implied_m2m:
    url: "https://my-mcp-server.com/mcp"
    auth_type: oauth2
    client_id: "gateway"
    client_secret: "implied-secret-EXAMPLE"
    token_url: "https://auth.example.com/oauth/token"
    scopes: "mcp:read mcp:write"
"#;

#[test]
fn stdio_sse_token_oauth2_filters_and_extra_headers_load() {
    let env = env_of(&[
        ("CIRCLECI_TOKEN", "circle-secret-0004"),
        ("GITHUB_TOKEN", "ghp-secret-0005"),
        ("MCP_CLIENT_ID", "gateway-client"),
        ("MCP_CLIENT_SECRET", "oauth-secret-0006"),
    ]);
    let config = Config::from_yaml(LITELLM_MORE, "config.yaml", env).unwrap();
    let server = |name: &str| config.server(name).unwrap();
    match &server("circleci_mcp").transport {
        Transport::Stdio(stdio) => {
            assert_eq!(stdio.command, "npx");
            assert_eq!(stdio.args, ["-y", "@circleci/mcp-server-circleci"]);
            let env: Vec<(&str, &str)> = stdio
                .env
                .iter()
                .map(|(k, v)| (k.as_str(), v.expose()))
                .collect();
            assert_eq!(
                env,
                [
                    ("CIRCLECI_TOKEN", "circle-secret-0004"),
                    ("CIRCLECI_BASE_URL", "https://circleci.com")
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&server("implied_stdio").transport, Transport::Stdio(s) if s.command == "uvx")
    );
    assert_eq!(server("zapier_mcp").transport, Transport::Sse);
    let github = server("github_classic");
    assert_eq!(github.transport, Transport::Http);
    let authorization = github.headers().unwrap()[&http::header::AUTHORIZATION].clone();
    assert_eq!(authorization.to_str().unwrap(), "token ghp-secret-0005");
    assert!(authorization.is_sensitive());
    let extra: Vec<&str> = github.extra_headers.iter().map(|h| h.as_str()).collect();
    assert_eq!(extra, ["x-github-api-version", "custom_key"]);
    assert!(github.tools.allows("list_issues"));
    assert!(!github.tools.allows("create_issue"), "not in allowed_tools");
    assert!(!github.tools.allows("delete_repo"));
    match &server("m2m_server").auth {
        Auth::OAuth2(grant) => {
            assert_eq!(grant.token_url, "https://auth.example.com/oauth/token");
            assert_eq!(grant.client_id, "gateway-client");
            assert_eq!(grant.client_secret.expose(), "oauth-secret-0006");
            assert_eq!(grant.scopes, ["mcp:read", "mcp:write"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&server("implied_m2m").auth, Auth::OAuth2(g) if g.scopes == ["mcp:read", "mcp:write"])
    );
    assert_eq!(server("circleci_mcp").url, "stdio://circleci_mcp");
    // Secrets never show.
    let debug = format!("{config:?}");
    for secret in [
        "circle-secret-0004",
        "ghp-secret-0005",
        "oauth-secret-0006",
        "implied-secret-EXAMPLE",
    ] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
}

#[test]
fn interactive_oauth_and_passthrough_are_refused_with_what_to_do() {
    // LiteLLM's interactive example: a client id and secret, no token URL.
    let interactive = error_of(
        "mcp_servers:\n  github_mcp:\n    url: https://api.githubcopilot.com/mcp\n    auth_type: oauth2\n    client_id: a\n    client_secret: b\n",
    );
    assert!(
        interactive.starts_with(
            "config.yaml: mcp_servers.github_mcp.oauth2_flow: the interactive OAuth flow"
        ) && interactive.contains("client_credentials"),
        "{interactive}"
    );
    let code = error_of(
        "mcp_servers:\n  g:\n    url: https://x.example/mcp\n    auth_type: oauth2\n    oauth2_flow: authorization_code\n",
    );
    assert!(code.contains("not supported yet"), "{code}");
    let no_secret = error_of(
        "mcp_servers:\n  g:\n    url: https://x.example/mcp\n    auth_type: oauth2\n    oauth2_flow: client_credentials\n    token_url: https://auth.example.com/token\n    client_id: a\n",
    );
    assert!(
        no_secret.starts_with("config.yaml: mcp_servers.g.client_secret: missing"),
        "{no_secret}"
    );
    let passthrough = error_of(
        "mcp_servers:\n  g:\n    url: https://x.example/mcp\n    auth_type: true_passthrough\n",
    );
    assert!(
        passthrough.contains("x-mcp-g-authorization"),
        "{passthrough}"
    );
    let stdio_auth = error_of(
        "mcp_servers:\n  s:\n    transport: stdio\n    command: npx\n    auth_type: bearer_token\n    auth_value: x\n",
    );
    assert!(
        stdio_auth.contains("a stdio server is not reached over HTTP"),
        "{stdio_auth}"
    );
}

#[test]
fn an_unset_variable_names_the_variable_and_the_server() {
    let error = load("mcp_servers:\n  weather:\n    url: https://x.example/mcp\n    auth_type: bearer_token\n    auth_value: os.environ/WEATHER_TOKEN\n").unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::MissingVariable);
    assert_eq!(error.key(), Some("mcp_servers.weather.auth_value"));
    let message = error.to_string();
    assert!(
        message.starts_with("config.yaml: mcp_servers.weather.auth_value: "),
        "{message}"
    );
    assert!(message.contains("WEATHER_TOKEN is not set"), "{message}");
    assert!(message.contains("server `weather`"), "{message}");
}

#[test]
fn missing_and_malformed_values_say_what_was_expected() {
    let cases: &[(&str, &str)] = &[
        (
            "mcp_servers:\n  w:\n    auth_type: none\n",
            "config.yaml: mcp_servers.w.url: missing; expected the server's streamable-HTTP URL",
        ),
        (
            "mcp_servers:\n  w:\n    url: http://mcp.example.com/mcp\n",
            "config.yaml: mcp_servers.w.url: the URL uses plain http://; use https://",
        ),
        (
            "mcp_servers:\n  w:\n    url: https://x.example/mcp\n    auth_type: api_key\n",
            "config.yaml: mcp_servers.w.auth_value: missing; auth_type api_key needs the API key",
        ),
        (
            "mcp_servers:\n  w:\n    url: https://x.example/mcp\n    auth_type: basic\n    auth_value: '***'\n",
            "config.yaml: mcp_servers.w.auth_value: expected user:password, or its base64",
        ),
        (
            "mcp_servers:\n  w:\n    url: https://x.example/mcp\n    auth_type: aws_sigv4\n",
            "config.yaml: mcp_servers.w.aws_region_name: missing, and the URL's host names no region",
        ),
        (
            "mcp_servers:\n  w:\n    url: https://aws-mcp.us-east-1.api.aws/mcp\n    auth_type: aws_sigv4\n    aws_access_key_id: AKID\n",
            "config.yaml: mcp_servers.w.aws_secret_access_key: missing; aws_access_key_id needs its secret key",
        ),
        (
            "mcp_servers:\n  w:\n    url: https://aws-mcp.us-east-1.api.aws/mcp\n    auth_type: aws_sigv4\n    aws_role_name: McpSigner\n",
            "config.yaml: mcp_servers.w.aws_role_name: expected a role ARN",
        ),
        (
            "mcp_servers:\n  w:\n    url: [https://x.example/mcp]\n",
            "config.yaml: mcp_servers.w.url: expected a string; got a list",
        ),
        (
            "mcp_servers: [a, b]\n",
            "config.yaml: mcp_servers: expected a mapping of server names to servers; got a list",
        ),
        (
            "mcp_servers:\n  w:\n    url: https://x.example/mcp\n    static_headers:\n      Authorization: x\n    auth_type: bearer_token\n    auth_value: t\n",
            "config.yaml: mcp_servers.w.static_headers.Authorization: cannot be set here",
        ),
        ("mcp_servers: {w: [\n", "config.yaml: not valid YAML"),
    ];
    for (yaml, expected) in cases {
        let message = error_of(yaml);
        assert!(
            message.starts_with(expected),
            "{yaml}\n  got: {message}\n  expected: {expected}"
        );
    }
}

#[test]
fn an_unreadable_file_is_named() {
    let error = Config::load("/nonexistent/mcp-sigv4/config.yaml").unwrap_err();
    assert_eq!(error.kind(), ConfigErrorKind::Read);
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/mcp-sigv4/config.yaml: cannot read"),
        "{error}"
    );
}

#[test]
fn secrets_never_show_in_debug_display_or_errors() {
    let config = load(&litellm_config()).unwrap();
    let shown = format!("{config:?} {config:#?}");
    for secret in [
        "bearer-secret-0001",
        "aws-secret-key-0002/EXAMPLE",
        "sk-master-0003",
        "abc123",
        "example123",
        "ghp_example_token",
        "some-value",
        "dXNlcjpwYXNz",
        "pass\"",
    ] {
        assert!(!shown.contains(secret), "{secret} shows in {shown}");
    }
    for server in &config.servers {
        let headers = format!("{:?}", server.headers().unwrap());
        assert!(
            !headers.contains("abc123") && !headers.contains("bearer-secret"),
            "{headers}"
        );
    }
    assert_eq!(Secret::new("s3cr3t").to_string(), "***");

    // A secret that is not a valid header value is refused without being repeated.
    let message = Config::from_yaml(
        "mcp_servers:\n  w:\n    url: https://x.example/mcp\n    auth_type: bearer_token\n    auth_value: os.environ/T\n",
        "config.yaml",
        env_of(&[("T", "tok-0005\nInjected: yes")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        message.contains("not a valid HTTP header value"),
        "{message}"
    );
    assert!(!message.contains("tok-0005"), "{message}");
    // A URL that may carry a key is not repeated either.
    let message =
        error_of("mcp_servers:\n  z:\n    url: http://actions.example.com/mcp/sk-url-0006/mcp\n");
    assert!(!message.contains("sk-url-0006"), "{message}");
}

#[test]
fn a_misspelt_key_is_a_warning_with_the_key_it_means_and_its_default_applies() {
    for (yaml, key, meant) in [
        (
            "mcp_servers:\n  w:\n    url: https://aws-mcp.us-east-1.api.aws/mcp\n    auth_type: aws_sigv4\n    aws_srevice_name: bedrock\n",
            "mcp_servers.w.aws_srevice_name",
            "aws_service_name",
        ),
        (
            "mcp_servers:\n  w:\n    url: https://x.example/mcp\n    auth_tpye: bearer_token\n",
            "mcp_servers.w.auth_tpye",
            "auth_type",
        ),
        (
            "mcp_server:\n  w:\n    url: https://x.example/mcp\n",
            "mcp_server",
            "mcp_servers",
        ),
        (
            "general_settings:\n  mastr_key: k\n",
            "general_settings.mastr_key",
            "master_key",
        ),
        (
            "general_settings:\n  allowed_host: [gw.example]\n",
            "general_settings.allowed_host",
            "allowed_hosts",
        ),
    ] {
        let config = load(yaml).unwrap_or_else(|e| panic!("{key}: refused: {e}"));
        assert_eq!(config.warnings.len(), 1, "{key}: {:?}", config.warnings);
        assert_eq!(
            config.warnings[0],
            format!(
                "config.yaml: {key}: unknown key, ignored; did you mean `{meant}`? (until it is spelt so, `{meant}` keeps its default)"
            )
        );
        assert!(config.ignored.is_empty(), "{key}: {:?}", config.ignored);
    }
    // The misspelt key's default is what applies: the service inferred from the
    // URL, not the value under the typo; no master key.
    let config = load(
        "mcp_servers:\n  w:\n    url: https://aws-mcp.us-east-1.api.aws/mcp\n    auth_type: aws_sigv4\n    aws_srevice_name: bedrock\ngeneral_settings:\n  mastr_key: k\n",
    )
    .unwrap();
    match &config.servers[0].auth {
        mcp_sigv4::config::Auth::SigV4 { service, .. } => assert_eq!(service, "aws-mcp"),
        other => panic!("{other:?}"),
    }
    assert!(config.master_key.is_none());
}

#[test]
fn keys_litellm_uses_are_listed_once_and_other_unknown_keys_warned_about() {
    // Every key of the LiteLLM file is one this application reads.
    let config = load(&litellm_config()).unwrap();
    assert_eq!(
        config.ignored,
        ["model_list", "litellm_settings", "router_settings"]
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);

    let config = load(
        "mcp_servers:\n  w:\n    url: https://x.example/mcp\n    allowed_tools: [a]\n    access_groups: [dev]\n    colour: blue\ngeneral_settings:\n  database_url: postgres://x\n  master_key: sk-1\n",
    )
    .unwrap();
    // Read keys are not listed; LiteLLM's server keys and general settings are.
    assert_eq!(
        config.ignored,
        [
            "mcp_servers.w.access_groups",
            "general_settings.database_url"
        ]
    );
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    assert!(
        config.warnings[0].starts_with("config.yaml: mcp_servers.w.colour: unknown key, ignored"),
        "{:?}",
        config.warnings
    );
}

fn with_general(general: &str) -> String {
    format!(
        "mcp_servers:\n  github:\n    url: https://api.githubcopilot.com/mcp\n  weather:\n    url: https://weather.example.com/mcp\ngeneral_settings:\n{general}"
    )
}

#[test]
fn named_keys_and_access_rules_load() {
    let digest = "a".repeat(64);
    let config = Config::from_yaml(
        &with_general(&format!(
            r#"  keys:
    ci-bot:
      key: os.environ/CI_BOT_KEY
      servers: [github]
      allowed_tools: [github-list_*]
      requests_per_minute: 120
      expires: 2099-03-01T12:00:00Z
    hashed:
      key_sha256: {digest}
      servers: weather
  access:
    - claim: groups
      value: support
      servers: [weather]
      requests_per_minute: 60
"#
        )),
        "config.yaml",
        env_of(&[("CI_BOT_KEY", "ci-bot-key-0123456789")]),
    )
    .unwrap();
    // The rules are for OAuth identities; without `oauth` they say so.
    assert!(
        config
            .warnings
            .iter()
            .all(|w| w.contains("general_settings.oauth is not set")),
        "{:?}",
        config.warnings
    );
    let ci = &config.keys[0];
    assert_eq!(ci.name, "ci-bot");
    assert_eq!(ci.servers, ["github"]);
    assert_eq!(ci.allowed_tools, ["github-list_*"]);
    assert_eq!(ci.requests_per_minute, Some(120));
    assert_eq!(
        ci.expires,
        mcp_sigv4::config::parse_expiry("2099-03-01T12:00:00Z")
    );
    assert_eq!(
        config.keys[1].allowed_tools,
        ["*"],
        "no allowed_tools: every tool"
    );
    assert_eq!(config.keys[1].key_sha256, [0xaa; 32]);
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("ci-bot-key-0123456789") && !debug.contains(&digest),
        "{debug}"
    );
    let rule = &config.access[0];
    assert_eq!(
        (rule.name().as_str(), rule.requests_per_minute),
        ("groups=support", Some(60))
    );
}

#[test]
fn bad_keys_and_rules_name_their_path() {
    for (general, expected) in [
        (
            "  keys:\n    ci:\n      key: short\n      servers: [github]\n",
            "general_settings.keys.ci.key: has 5 characters; it must have at least 16",
        ),
        (
            "  keys:\n    ci:\n      servers: [github]\n",
            "general_settings.keys.ci.key: missing; give `key`",
        ),
        (
            "  keys:\n    ci:\n      key_sha256: xyz\n      servers: [github]\n",
            "general_settings.keys.ci.key_sha256: expected 64 hexadecimal digits",
        ),
        (
            "  keys:\n    ci:\n      key: ci-key-0123456789abc\n      servers: [gitlab]\n",
            "general_settings.keys.ci.servers[0]: no server `gitlab` in mcp_servers; known servers: github, weather",
        ),
        (
            "  keys:\n    ci:\n      key: ci-key-0123456789abc\n",
            "general_settings.keys.ci.servers: missing or empty",
        ),
        (
            "  keys:\n    ci:\n      key: ci-key-0123456789abc\n      servers: [github]\n      requests_per_minute: 0\n",
            "general_settings.keys.ci.requests_per_minute: expected a whole number of 1 or more",
        ),
        (
            "  keys:\n    ci:\n      key: ci-key-0123456789abc\n      servers: [github]\n      expires: next week\n",
            "general_settings.keys.ci.expires: expected an RFC 3339 date-time",
        ),
        (
            "  keys:\n    a:\n      key: ci-key-0123456789abc\n      servers: [github]\n    b:\n      key: ci-key-0123456789abc\n      servers: [github]\n",
            "general_settings.keys.b.key: is the same key as general_settings.keys.a",
        ),
        (
            "  access:\n    - value: support\n      servers: [weather]\n",
            "general_settings.access[0].claim: missing",
        ),
        (
            "  access:\n    - claim: groups\n      value: support\n      servers: [nope]\n",
            "general_settings.access[0].servers[0]: no server `nope`",
        ),
        (
            "  access: {}\n",
            "general_settings.access: expected a list of rules",
        ),
        ("  keys: [a]\n", "general_settings.keys: expected a mapping"),
        (
            "  keys:\n    master:\n      key: ci-key-0123456789abc\n      servers: [github]\n",
            "general_settings.keys.master: `master` is the name of the gateway's own identity",
        ),
        (
            "  keys:\n    anonymous:\n      key: ci-key-0123456789abc\n      servers: [github]\n",
            "general_settings.keys.anonymous: `anonymous` is the name",
        ),
    ] {
        let error = error_of(&with_general(general));
        assert!(error.contains(expected), "{general}: {error}");
        assert!(!error.contains("ci-key-0123456789abc"), "{error}");
    }
}

#[test]
fn an_expired_key_or_a_glob_that_matches_nothing_is_a_warning() {
    let config = load(&with_general(
        "  keys:\n    old:\n      key: old-key-0123456789ab\n      servers: [github]\n      allowed_tools: [list_*]\n      expires: 2001-01-01\n",
    ))
    .unwrap();
    let warnings = config.warnings.join("\n");
    assert!(
        warnings.contains("general_settings.keys.old.expires: the key has expired"),
        "{warnings}"
    );
    assert!(
        warnings.contains("general_settings.keys.old.allowed_tools[0]: `list_*` can match no tool"),
        "{warnings}"
    );
}

#[test]
fn oauth_reads_issuer_audience_scopes_and_defaults() {
    let config = load(
        "general_settings:\n  public_url: https://mcp.example.com/\n  oauth:\n    issuer: https://login.example.com/realms/agents\n    scopes_supported: [\"mcp:tools\", \"mcp:admin\"]\n    required_scopes: mcp:tools\n    require_at_jwt: true\n    jwks_refetch_floor: 30\n",
    )
    .unwrap();
    assert_eq!(
        config.public_url.as_deref(),
        Some("https://mcp.example.com")
    );
    let oauth = config.oauth.unwrap();
    assert_eq!(oauth.issuer, "https://login.example.com/realms/agents");
    assert_eq!(oauth.audience, "https://mcp.example.com/mcp");
    assert_eq!(oauth.scopes_supported, ["mcp:tools", "mcp:admin"]);
    assert_eq!(oauth.required_scopes, ["mcp:tools"]);
    assert!(oauth.require_at_jwt);
    assert_eq!(oauth.jwks_refetch_floor, std::time::Duration::from_secs(30));
    let defaults = load(
        "general_settings:\n  public_url: https://mcp.example.com\n  oauth:\n    issuer: https://login.example.com\n    audience: api://mcp\n",
    )
    .unwrap()
    .oauth
    .unwrap();
    assert_eq!(defaults.audience, "api://mcp");
    assert!(defaults.scopes_supported.is_empty() && !defaults.require_at_jwt);
    assert_eq!(
        defaults.jwks_refetch_floor,
        mcp_sigv4::config::DEFAULT_JWKS_REFETCH_FLOOR
    );
}

#[test]
fn bad_oauth_settings_name_the_key_and_what_to_do() {
    let cases = [
        (
            "  oauth:\n    issuer: https://login.example.com\n",
            "general_settings.public_url",
        ),
        (
            "  public_url: https://mcp.example.com\n  oauth:\n    audience: x\n",
            "general_settings.oauth.issuer",
        ),
        (
            "  public_url: https://mcp.example.com\n  oauth:\n    issuer: http://login.example.com\n",
            "general_settings.oauth.issuer",
        ),
        (
            "  public_url: https://mcp.example.com/gateway\n",
            "general_settings.public_url",
        ),
        (
            "  public_url: https://mcp.example.com\n  oauth: yes\n",
            "general_settings.oauth",
        ),
        (
            "  public_url: https://mcp.example.com\n  oauth:\n    issuer: https://l.example.com\n    require_at_jwt: maybe\n",
            "general_settings.oauth.require_at_jwt",
        ),
        (
            "  public_url: https://mcp.example.com\n  oauth:\n    issuer: https://l.example.com\n    jwks_refetch_floor: soon\n",
            "general_settings.oauth.jwks_refetch_floor",
        ),
        (
            "  public_url: https://mcp.example.com\n  oauth:\n    issuer: https://l.example.com\n    required_scopes: [1]\n",
            "general_settings.oauth.required_scopes[0]",
        ),
    ];
    for (general, key) in cases {
        let message = error_of(&format!("general_settings:\n{general}"));
        assert!(message.contains(key), "{key}: {message}");
    }
    // http:// is fine on loopback (a local issuer in tests and demos).
    assert!(
        load("general_settings:\n  public_url: http://127.0.0.1:4000\n  oauth:\n    issuer: http://localhost:8080/realms/x\n")
            .is_ok()
    );
}

#[test]
fn access_rules_without_oauth_and_oauth_without_rules_are_warnings() {
    let rules_alone = load(
        "mcp_servers:\n  weather:\n    url: https://weather.example.com/mcp\ngeneral_settings:\n  access:\n    - claim: groups\n      value: support\n      servers: [weather]\n",
    )
    .unwrap();
    assert!(
        rules_alone
            .warnings
            .iter()
            .any(|w| w.contains("general_settings.oauth is not set")),
        "{:?}",
        rules_alone.warnings
    );
    let oauth_alone = load(
        "general_settings:\n  public_url: https://mcp.example.com\n  oauth:\n    issuer: https://login.example.com\n",
    )
    .unwrap();
    assert!(
        oauth_alone
            .warnings
            .iter()
            .any(|w| w.contains("every access token will be refused")),
        "{:?}",
        oauth_alone.warnings
    );
}

//! `mcp-sigv4 agent-schema` against the stand-ins: the schema it prints keeps
//! Bedrock's constraints, its names are the ones the Lambda maps back, and
//! `--check` finds drift.

use serde_json::{Value, json};

use crate::era_server::{self, Kind};
use crate::runtime::RuntimeApi;
use crate::{Function, TempDir, credentials, server, tools};
use crate::{awkward, bedrock_model};

async fn agent_schema(args: &[&str]) -> (i32, String, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-sigv4"));
    command
        .arg("agent-schema")
        .args(args)
        .env_remove("MCP_SIGV4_CONFIG")
        .env_remove("MCP_SERVER_URL")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(credentials())
        .kill_on_drop(true);
    let output = tokio::time::timeout(crate::LIMIT, command.output())
        .await
        .expect("agent-schema ends within the limit")
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn write_config(dir: &TempDir, tools_url: &str, modern_url: &str, extra: &str) -> String {
    let yaml = format!(
        "mcp_servers:\n  tools:\n    url: \"{tools_url}\"\n    auth_type: aws_sigv4\n    aws_region_name: {r}\n    aws_service_name: {s}\n{extra}  modern:\n    url: \"{modern_url}\"\n    auth_type: aws_sigv4\n    aws_region_name: {r}\n    aws_service_name: {s}\n",
        r = server::REGION,
        s = server::SERVICE
    );
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    path.display().to_string()
}

/// Bedrock's constraints on a `functionSchema`: the service model's
/// ([`bedrock_model`]) and the operation limit of the user guide.
fn assert_accepted(schema: &Value) {
    assert_eq!(
        bedrock_model::violations(schema),
        Vec::<String>::new(),
        "{schema:#}"
    );
    let functions = schema["functions"].as_array().unwrap();
    assert!(functions.len() <= mcp_sigv4::lambda::schema::MAX_OPERATIONS);
    for f in functions {
        let name = f["name"].as_str().unwrap();
        assert!(mcp_sigv4::lambda::names::is_valid(name), "{name}");
    }
}

#[tokio::test]
async fn the_schema_keeps_bedrocks_rules_and_its_names_reach_the_tools() {
    let tools = tools::start(false).await;
    let modern = era_server::start(Kind::ModernOnly).await;
    let dir = TempDir::new("schema");
    let path = write_config(&dir, &tools.url(), &modern.url(), "");

    let (code, stdout, stderr) = agent_schema(&["--config", &path]).await;
    assert_eq!(code, 0, "{stderr}");
    let schema: Value = serde_json::from_str(&stdout).unwrap();
    assert_accepted(&schema);
    let names: Vec<&str> = schema["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"tools-typed") && names.contains(&"modern-echo"),
        "{names:?}"
    );
    // `opts` is an object: a JSON-text string parameter.
    let typed = schema["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "tools-typed")
        .unwrap();
    assert_eq!(typed["parameters"]["opts"]["type"], "string");
    assert_eq!(
        typed["parameters"]["n"],
        json!({"type": "integer", "required": true})
    );
    assert!(
        stderr.contains("`wetter-ä` on `modern` is the function"),
        "{stderr}"
    );

    // The mapped name, taken from the schema, is the one the Lambda resolves.
    let wetter = names
        .iter()
        .find(|n| n.starts_with("modern-wetter"))
        .unwrap();
    let runtime = RuntimeApi::start().await;
    let env: Vec<(&str, &str)> = credentials()
        .into_iter()
        .chain([("MCP_SIGV4_CONFIG", path.as_str())])
        .collect();
    let function = Function::start(&runtime, &env, TempDir::new("schema-fn"));
    let event = json!({"messageVersion": "1.0", "actionGroup": "mcp", "function": wetter, "parameters": []});
    let answer = runtime
        .invoke(event, std::time::Duration::from_secs(20))
        .await;
    assert_eq!(
        answer.body["response"]["functionResponse"]["responseBody"]["TEXT"]["body"],
        "sonnig"
    );
    function.stop().await;

    // OpenAPI: 3.0.0, one POST per function.
    let (code, stdout, _) = agent_schema(&[
        "--config", &path, "--format", "openapi", "--server", "tools",
    ])
    .await;
    assert_eq!(code, 0);
    let openapi: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(openapi["openapi"], "3.0.0");
    assert!(
        openapi["paths"]["/tools-fail"]["post"].is_object(),
        "{openapi}"
    );
    assert!(openapi["paths"].get("/modern-echo").is_none());
}

#[tokio::test]
async fn check_finds_the_drift_a_config_change_makes() {
    let tools = tools::start(false).await;
    let modern = era_server::start(Kind::ModernOnly).await;
    let dir = TempDir::new("drift");
    let path = write_config(&dir, &tools.url(), &modern.url(), "");
    let (code, stdout, _) = agent_schema(&["--config", &path]).await;
    assert_eq!(code, 0);
    let saved = dir.path().join("saved.json");
    std::fs::write(&saved, &stdout).unwrap();
    let saved = saved.display().to_string();

    let (code, stdout, stderr) = agent_schema(&["--config", &path, "--check", &saved]).await;
    assert_eq!((code, stdout.as_str()), (0, ""), "{stderr}");

    // A tool no longer offered: drift, exit 1, named.
    let path = write_config(
        &dir,
        &tools.url(),
        &modern.url(),
        "    disallowed_tools: [\"fail\"]\n",
    );
    let (code, stdout, stderr) = agent_schema(&["--config", &path, "--check", &saved]).await;
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stdout.trim(),
        "- tools-fail: in the saved schema, no longer listed"
    );
}

/// Tools whose names and input schemas Bedrock would refuse as they are: the
/// schema `agent-schema` prints from them keeps every constraint of the
/// `bedrock-agent` service model, in both formats, and says on stderr what it
/// changed or left out.
#[tokio::test]
async fn awkward_tools_give_a_schema_the_service_model_accepts() {
    let object = json!({"type": "object"});
    let tools = [
        // No name, no description: the function needs both.
        json!({"name": "", "inputSchema": object}),
        json!({"name": "get.weather", "description": "w".repeat(1_500), "inputSchema": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "c".repeat(900), "enum": ["Oslo"]},
                "opts": {"type": "object", "properties": {"deep": object}},
                "days": {"type": ["integer", "null"], "description": ""},
                "when": {"type": "null"},
                "any": {},
                "tags": {"type": "array", "items": object},
                "a-": {"type": "boolean"}
            },
            "required": ["city"]}}),
        json!({"name": "blank", "description": "   ", "inputSchema": object}),
        json!({"name": "wetter-ä", "description": "sonnig", "inputSchema": object}),
        json!({"name": "x".repeat(120), "description": "long", "inputSchema": object}),
        // 150 letters follow the pattern's characters but not its {1,100}.
        json!({"name": "long_param", "description": "p", "inputSchema": {
            "type": "object", "properties": {"p".repeat(150): {"type": "string"}}}}),
        json!({"name": "double_sep", "description": "d", "inputSchema": {
            "type": "object", "properties": {"a__b": {"type": "string"}}}}),
    ];
    let server = awkward::start(&tools).await;
    let dir = TempDir::new("awkward");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "mcp_servers:\n  awkward:\n    url: \"{}\"\n    auth_type: aws_sigv4\n    aws_region_name: {}\n    aws_service_name: {}\n",
            server.url(),
            server::REGION,
            server::SERVICE
        ),
    )
    .unwrap();
    let config = config.display().to_string();

    let (code, stdout, stderr) = agent_schema(&["--config", &config]).await;
    assert_eq!(code, 0, "{stderr}");
    let schema: Value = serde_json::from_str(&stdout).unwrap();
    assert_accepted(&schema);
    let functions = schema["functions"].as_array().unwrap();
    // All but the two tools whose parameter names break the rule.
    assert_eq!(functions.len(), tools.len() - 2, "{schema:#}\n{stderr}");
    for left_out in ["`long_param`", "`double_sep`"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(left_out) && l.contains("left out")),
            "{stderr}"
        );
    }
    let weather = functions
        .iter()
        .find(|f| f["name"].as_str().unwrap().starts_with("get_weather_"))
        .unwrap();
    assert_eq!(weather["parameters"]["opts"]["type"], "string");
    assert_eq!(weather["parameters"]["days"]["type"], "integer");
    assert_eq!(weather["parameters"]["city"]["required"], true);

    let (code, stdout, stderr) = agent_schema(&["--config", &config, "--format", "openapi"]).await;
    assert_eq!(code, 0, "{stderr}");
    let openapi: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(openapi["openapi"], "3.0.0");
    assert!(!stdout.contains("\"enum\""), "{stdout}");
    let paths = openapi["paths"].as_object().unwrap();
    assert_eq!(paths.len(), tools.len() - 2);
    for path in paths.keys() {
        assert!(
            mcp_sigv4::lambda::names::is_valid(path.trim_start_matches('/')),
            "{path}"
        );
    }
}

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::binary;

/// The fields of a `sign` reply that a vector's `expected` gives.
const SIGNED_FIELDS: [&str; 7] = [
    "authorization",
    "signature",
    "signed_headers",
    "canonical_request",
    "string_to_sign",
    "x_amz_date",
    "x_amz_security_token",
];

#[tokio::test]
async fn sign_reproduces_every_botocore_vector_line_for_line() {
    let cases = vector_cases("botocore_mcp.json");
    let mut input = String::new();
    for (i, case) in cases.iter().enumerate() {
        input.push_str(&input_line(case));
        // Malformed lines between the good ones: answered, and the next still processed.
        if i == 3 {
            input.push_str("{not json\n");
        }
        if i == 7 {
            input.push_str(r#"{"id": "bad-url", "method": "POST", "url": "/relative", "headers": [], "body_b64": "", "access_key": "A", "secret_key": "S", "session_token": null, "region": "us-east-1", "service": "aws-mcp", "timestamp": "20250101T000000Z"}"#);
            input.push('\n');
            input.push_str(r#"{"id": 99, "method": "POST", "url": "https://x.test/", "timestamp": "yesterday"}"#);
            input.push('\n');
        }
    }
    let output = run(Command::new(binary()).arg("sign"), &input).await;
    assert!(output.status.success());
    let lines = replies(output.stdout);
    assert_eq!(lines.len(), cases.len() + 3, "one line out per line in");

    let mut replies = lines.iter();
    for (i, case) in cases.iter().enumerate() {
        let reply = replies.next().unwrap();
        let expected = &case["expected"];
        assert_eq!(reply["id"], case["id"]);
        assert_eq!(reply["ok"], true, "{}: {reply}", case["id"]);
        for field in SIGNED_FIELDS {
            assert_eq!(reply[field], expected[field], "{}: {field}", case["id"]);
        }
        assert!(
            reply["headers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h[0] == "host")
        );
        if i == 3 {
            let bad = replies.next().unwrap();
            assert_eq!(bad["ok"], false);
            assert!(bad["error"].as_str().unwrap().contains("not a JSON object"));
        }
        if i == 7 {
            let bad = replies.next().unwrap();
            assert_eq!(
                (bad["id"].as_str(), bad["ok"].as_bool()),
                (Some("bad-url"), Some(false))
            );
            assert!(
                bad["error"]
                    .as_str()
                    .unwrap()
                    .contains("needs a scheme and host"),
                "{bad}"
            );
            let bad = replies.next().unwrap();
            assert_eq!(
                (bad["id"].as_i64(), bad["ok"].as_bool()),
                (Some(99), Some(false))
            );
        }
    }
}

/// AWS CRT's vectors through `mcp-sigv4 sign`: 52 reproduced line for line,
/// canonical request and string to sign included; the latin-1 one (given as
/// `headers_b64`) answered with the typed refusal and its reason.
#[tokio::test]
async fn sign_reproduces_the_crt_vectors_and_refuses_the_latin1_one() {
    let cases = vector_cases("crt_mcp.json");
    assert_eq!(cases.len(), 53);
    let input: String = cases.iter().map(input_line).collect();
    let output = run(Command::new(binary()).arg("sign"), &input).await;
    assert!(output.status.success());
    let replies = replies(output.stdout);
    assert_eq!(replies.len(), cases.len());
    let (mut reproduced, mut refused) = (0, Vec::new());
    for (case, reply) in cases.iter().zip(&replies) {
        assert_eq!(reply["id"], case["id"]);
        if case.get("headers_b64").is_some() {
            assert_eq!(reply["ok"], false, "{reply}");
            let error = reply["error"].as_str().unwrap();
            assert!(
                error.contains("cannot sign header `x-mcp-note`") && error.contains("not UTF-8"),
                "{error}"
            );
            refused.push(case["id"].as_str().unwrap().to_owned());
            continue;
        }
        assert_eq!(reply["ok"], true, "{}: {reply}", case["id"]);
        let expected = &case["expected"];
        for field in SIGNED_FIELDS {
            assert!(
                !expected[field].is_null() || field == "x_amz_security_token",
                "{}: {field}",
                case["id"]
            );
            assert_eq!(reply[field], expected[field], "{}: {field}", case["id"]);
        }
        reproduced += 1;
    }
    assert_eq!(
        (reproduced, refused.as_slice()),
        (52, &["obs-text-latin1".to_owned()][..])
    );
}

/// The cases of `tests/vectors/{name}`.
fn vector_cases(name: &str) -> Vec<serde_json::Value> {
    let path = format!("{}/../tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut file: serde_json::Value = serde_json::from_str(&text).unwrap();
    match file["cases"].take() {
        serde_json::Value::Array(cases) => cases,
        other => panic!("{path}: no array of cases but {other}"),
    }
}

/// `case` as a line of input for `mcp-sigv4 sign`: all but its `expected`.
fn input_line(case: &serde_json::Value) -> String {
    let mut line = case.clone();
    line.as_object_mut().unwrap().remove("expected");
    format!("{line}\n")
}

/// Run `command` with `input` on stdin, in bounded time.
async fn run(command: &mut Command, input: &str) -> std::process::Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    tokio::time::timeout(crate::LIMIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap()
}

/// The JSON value of each line of `stdout`.
fn replies(stdout: Vec<u8>) -> Vec<serde_json::Value> {
    String::from_utf8(stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `mcp-sigv4 sign` with these lines on stdin and only these AWS variables set;
/// the reply of each line.
async fn sign_lines(lines: &[&str], env: &[(&str, &str)]) -> Vec<serde_json::Value> {
    sign_lines_with(&[], lines, env).await.1
}

/// `mcp-sigv4 sign ARGS`: the exit code and the reply of each line.
async fn sign_lines_with(
    args: &[&str],
    lines: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let mut command = Command::new(binary());
    command.arg("sign").args(args).stderr(Stdio::piped());
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    let output = run(&mut command, &lines.join("\n")).await;
    (
        output.status.code(),
        replies(output.stdout),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn sign_infers_service_and_region_from_the_url_and_credentials_from_the_environment() {
    let replies = sign_lines(
        &[
            r#"{"id": 1, "method": "POST", "url": "https://bedrock-agentcore.us-west-2.amazonaws.com/runtimes/x/invocations", "timestamp": "20250101T000000Z"}"#,
            r#"{"id": 2, "method": "POST", "url": "https://aws-mcp.eu-central-1.api.aws/mcp"}"#,
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDFROMENV"),
            ("AWS_SECRET_ACCESS_KEY", "secret-from-env"),
            ("AWS_SESSION_TOKEN", "token-from-env"),
        ],
    )
    .await;
    let first = &replies[0];
    assert_eq!(first["ok"], true, "{first}");
    assert!(
        first["string_to_sign"]
            .as_str()
            .unwrap()
            .contains("20250101/us-west-2/bedrock-agentcore/aws4_request"),
        "{first}"
    );
    assert!(
        first["authorization"]
            .as_str()
            .unwrap()
            .contains("Credential=AKIDFROMENV/"),
        "{first}"
    );
    assert_eq!(first["x_amz_security_token"], "token-from-env");
    // No timestamp: now.
    let second = &replies[1];
    assert_eq!(second["ok"], true, "{second}");
    assert!(
        second["string_to_sign"]
            .as_str()
            .unwrap()
            .contains("/eu-central-1/aws-mcp/aws4_request"),
        "{second}"
    );
    assert_eq!(second["x_amz_date"].as_str().unwrap().len(), 16);
}

#[tokio::test]
async fn sign_names_every_missing_field_at_once() {
    let replies = sign_lines(
        &[
            r#"{"id": 1}"#,
            r#"{"id": 2, "method": "POST", "url": "https://mcp.example.com/mcp"}"#,
        ],
        &[],
    )
    .await;
    let error = replies[0]["error"].as_str().unwrap();
    for field in [
        "`method`",
        "`url`",
        "`service`",
        "`region`",
        "`access_key` (or --profile, or AWS_ACCESS_KEY_ID)",
        "`secret_key` (or --profile, or AWS_SECRET_ACCESS_KEY)",
    ] {
        assert!(error.contains(field), "{field} missing from {error}");
    }
    let error = replies[1]["error"].as_str().unwrap();
    assert!(
        error.starts_with("missing `service` (the URL's host names none), `region` (the URL's host names none), `access_key`"),
        "{error}"
    );
}

#[tokio::test]
async fn sign_takes_credentials_from_a_profile_and_names_an_unknown_one() {
    let dir = std::env::temp_dir().join(format!("mcp-sigv4-sign-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let credentials = dir.join("credentials");
    std::fs::write(
        &credentials,
        "[dev]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = secret-from-profile\n",
    )
    .unwrap();
    let config = dir.join("config");
    std::fs::write(&config, "").unwrap();
    let env = [
        ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
        ("AWS_CONFIG_FILE", config.to_str().unwrap()),
        // The profile wins over the variables.
        ("AWS_ACCESS_KEY_ID", "AKIDFROMENV"),
        ("AWS_SECRET_ACCESS_KEY", "secret-from-env"),
    ];
    let line = r#"{"id": 1, "method": "POST", "url": "https://aws-mcp.us-east-1.api.aws/mcp"}"#;
    let (code, replies, stderr) = sign_lines_with(&["--profile", "dev"], &[line], &env).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        replies[0]["authorization"]
            .as_str()
            .unwrap_or_default()
            .contains("Credential=AKIDFROMPROFILE/"),
        "{}",
        replies[0]
    );
    let (code, replies, stderr) = sign_lines_with(&["--profile", "nope"], &[line], &env).await;
    assert_eq!(code, Some(2));
    assert!(replies.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("mcp-sigv4 sign: profile `nope` was not found in "),
        "{stderr}"
    );
}

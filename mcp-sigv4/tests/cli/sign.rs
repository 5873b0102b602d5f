use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::binary;
use crate::docs::{flags, help};

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
    // What the vector holds beside `sign`'s input: `sign` refuses other fields.
    for field in ["expected", "differs_from_botocore", "note"] {
        line.as_object_mut().unwrap().remove(field);
    }
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
    // A command that exits before reading stdin (a refused flag) closes it.
    let _ = stdin.write_all(input.as_bytes()).await;
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
    let command: Vec<&str> = ["sign"].iter().chain(args).copied().collect();
    let output = run_with_stdin(&command, &lines.join("\n"), env).await;
    (
        output.status.code(),
        replies(output.stdout),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `mcp-sigv4 ARGS` with `stdin`, and of the AWS variables and profile files
/// only those of `env`.
async fn run_with_stdin(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(binary());
    command
        .args(args)
        .stderr(Stdio::piped())
        .env("AWS_EC2_METADATA_DISABLED", "true");
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
    run(&mut command, stdin).await
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

/// The AWS example key, as `sign --help` and `explain --help` use it.
const EXAMPLE_KEYS: [(&str, &str); 2] = [
    ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
    (
        "AWS_SECRET_ACCESS_KEY",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    ),
];

/// The payload hash of `body`, the last line of a canonical request.
fn hash_of(body: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

/// A field `sign` does not read is refused, named with the one it most likely
/// means and the list of fields, and nothing is signed: a misspelt `body_b64`
/// signed an empty body. `body` is the body as text; with `body_b64` too it is
/// refused.
#[tokio::test]
async fn sign_refuses_unknown_fields_and_takes_a_text_body() {
    let request = r#""method": "POST", "url": "https://aws-mcp.us-east-1.api.aws/mcp", "timestamp": "20250101T000000Z""#;
    let lines = [
        format!(r#"{{"id": 1, {request}, "bodyy_b64": "e30="}}"#),
        format!(r#"{{"id": 2, {request}, "payload": "{{}}", "sevrice": "aws-mcp"}}"#),
        format!(r#"{{"id": 3, {request}, "body": "{{}}", "body_b64": "e30="}}"#),
        format!(r#"{{"id": 4, {request}, "body": "{{}}"}}"#),
        format!(r#"{{"id": 5, {request}, "body_b64": "e30="}}"#),
        format!(r#"{{"id": 6, {request}, "headers": "content-type: application/json"}}"#),
        format!(r#"[{{"id": 7, {request}}}]"#),
    ];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let replies = sign_lines(&lines, &EXAMPLE_KEYS).await;
    assert_eq!(replies.len(), lines.len(), "one reply per line");
    let error = |i: usize| {
        assert_eq!(replies[i]["ok"], false, "{}", replies[i]);
        assert!(replies[i].get("authorization").is_none(), "{}", replies[i]);
        replies[i]["error"].as_str().unwrap().to_owned()
    };
    let first = error(0);
    assert_eq!(replies[0]["id"], 1);
    for needle in [
        "unknown field `bodyy_b64` (did you mean `body_b64`?)",
        "nothing was signed",
        "the fields are id, method, url, headers, headers_b64, body, body_b64, access_key, secret_key, session_token, region, service, timestamp",
        "`mcp-sigv4 sign --help`",
    ] {
        assert!(first.contains(needle), "`{needle}` missing from {first}");
    }
    let second = error(1);
    assert!(
        second.starts_with("unknown fields ")
            && second.contains("`payload`")
            && second.contains("`sevrice` (did you mean `service`?)"),
        "{second}"
    );
    let third = error(2);
    assert!(
        third.contains("both `body` and `body_b64` are given"),
        "{third}"
    );
    // `body` and `body_b64` sign the same bytes.
    for reply in &replies[3..5] {
        assert_eq!(reply["ok"], true, "{reply}");
        let canonical = reply["canonical_request"].as_str().unwrap();
        assert!(
            canonical.ends_with(&format!("\n{}", hash_of("{}"))),
            "{canonical}"
        );
    }
    assert_eq!(replies[3]["signature"], replies[4]["signature"]);
    let sixth = error(5);
    assert!(
        sixth.contains("`headers` must be a list of [\"name\", \"value\"] pairs"),
        "{sixth}"
    );
    let seventh = error(6);
    assert!(
        seventh.starts_with("not a JSON object but a list"),
        "{seventh}"
    );
}

/// `explain --json` reads `sign`'s format with the same refusals, prints
/// nothing for a refused request, signs a `body` as given, takes the access
/// key from --access-key, and refuses the flags that the JSON replaces.
#[tokio::test]
async fn explain_json_refuses_unknown_fields_and_signs_the_body_given() {
    let url = "https://aws-mcp.us-east-1.api.aws/mcp";
    let misspelt = format!(r#"{{"method": "POST", "url": "{url}", "bodyy_b64": "e30="}}"#);
    let output = run_with_stdin(&["explain", "--json", "-"], &misspelt, &EXAMPLE_KEYS).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing signed, nothing printed");
    assert!(
        stderr.starts_with(
            "mcp-sigv4 explain: unknown field `bodyy_b64` (did you mean `body_b64`?): nothing was signed"
        ),
        "{stderr}"
    );

    let text_body = format!(r#"{{"method": "POST", "url": "{url}", "body": "{{}}"}}"#);
    let output = run_with_stdin(&["explain", "--json", "-"], &text_body, &EXAMPLE_KEYS).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("\n{}\n", hash_of("{}"))),
        "{stdout}"
    );
    assert!(!stdout.contains(&hash_of("")), "{stdout}");

    // --access-key stands in for AWS_ACCESS_KEY_ID with --json too.
    let output = run_with_stdin(
        &["explain", "--json", "-", "--access-key", "AKIDFROMFLAG"],
        &text_body,
        &EXAMPLE_KEYS[1..],
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Credential=AKIDFROMFLAG/"), "{stdout}");

    // The JSON says the region, service and time: a flag for them would be ignored.
    for flag in [
        &["--region", "us-west-2"][..],
        &["--service", "aws-mcp"],
        &["--timestamp", "20250101T000000Z"],
    ] {
        let args: Vec<&str> = ["explain", "--json", "-"]
            .iter()
            .chain(flag)
            .copied()
            .collect();
        let output = run_with_stdin(&args, &text_body, &EXAMPLE_KEYS).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag:?}: {stderr}");
        assert!(stderr.contains("cannot be used with"), "{flag:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
}

/// Every `--flag` an error of `sign` or `explain` names is one that command
/// has (in its `--help`, or a hidden flag the user just typed and is told is
/// refused); flags inside a quoted command of another program (`aws …`,
/// `eval …`) are that program's.
#[tokio::test]
async fn sign_and_explain_errors_name_only_their_own_flags() {
    let url = "https://aws-mcp.us-east-1.api.aws/mcp";
    let request = format!(r#"{{"method": "POST", "url": "{url}"}}"#);
    let bad_lines = [
        r#"{"id": 1}"#,
        r#"{"id": 2, "method": "POST", "url": "https://mcp.example.com/mcp"}"#,
        r#"{"id": 3, "bodyy_b64": "e30="}"#,
        r#"{"id": 4, "body": "{}", "body_b64": "e30="}"#,
        r#"{"id": 5, "body_b64": "not base64!"}"#,
        r#"{"id": 6, "timestamp": "yesterday"}"#,
        r#"{"id": 7, "headers": [["x"]]}"#,
        "[]",
        "{not json",
    ];
    let mut said: Vec<(&str, String)> = Vec::new();
    for reply in sign_lines(&bad_lines, &[]).await {
        assert_eq!(reply["ok"], false, "{reply}");
        said.push(("sign", reply["error"].as_str().unwrap().to_owned()));
    }
    let (code, _, stderr) = sign_lines_with(&["--profile", "nope"], &[&request], &[]).await;
    assert_eq!(code, Some(2));
    said.push(("sign", stderr));

    let secret_only = [EXAMPLE_KEYS[1]];
    // Each: the arguments, stdin, and the AWS variables set.
    type Run<'a> = (&'a [&'a str], &'a str, &'a [(&'a str, &'a str)]);
    let explains: [Run<'_>; 12] = [
        (&["explain"], "", &EXAMPLE_KEYS),
        (&["explain", "--url", url], "", &[]),
        (&["explain", "--json", "-"], &request, &secret_only),
        (&["explain", "--json", "-"], &request, &[]),
        (
            &["explain", "--json", "-"],
            r#"{"id": 1, "bodyy_b64": ""}"#,
            &EXAMPLE_KEYS,
        ),
        (&["explain", "--json", "-"], "{not json", &EXAMPLE_KEYS),
        (&["explain", "--json", "-"], "[]", &EXAMPLE_KEYS),
        (
            &["explain", "--url", "https://mcp.example.com/mcp"],
            "",
            &EXAMPLE_KEYS,
        ),
        (
            &["explain", "--url", url, "--timestamp", "yesterday"],
            "",
            &EXAMPLE_KEYS,
        ),
        (
            &["explain", "--url", url, "--header", "x"],
            "",
            &EXAMPLE_KEYS,
        ),
        (
            &["explain", "--url", url, "--secret-key", "s"],
            "",
            &EXAMPLE_KEYS,
        ),
        (
            &["explain", "--url", url, "--compare", "Bearer x"],
            "",
            &EXAMPLE_KEYS,
        ),
    ];
    for (args, stdin, env) in explains {
        let output = run_with_stdin(args, stdin, env).await;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("mcp-sigv4 explain: "),
            "{args:?}: {stderr}"
        );
        said.push(("explain", stderr));
    }

    // Hidden from `explain --help`: refused, and named when the user typed one.
    let hidden: &[&str] = &["--secret-key", "--session-token"];
    let mut helps = std::collections::BTreeMap::new();
    let mut wrong = Vec::new();
    for (command, message) in &said {
        // Outside backquotes the flags are the command's own; inside, a quoted
        // `mcp-sigv4 OTHER …` line's are OTHER's, and another program's
        // (`aws …`, `eval …`) are not checked.
        for (i, span) in message.split('`').enumerate() {
            let of = if i % 2 == 0 {
                *command
            } else {
                match span.strip_prefix("mcp-sigv4 ") {
                    Some(rest) => rest.split_whitespace().next().unwrap_or_default(),
                    None => continue,
                }
            };
            let own = helps.entry(of).or_insert_with(|| help(of));
            for flag in flags(span) {
                let listed =
                    own.contains(&format!("{flag} ")) || own.contains(&format!("{flag}\n"));
                let refused = of == "explain" && hidden.contains(&flag.as_str());
                if !listed && !refused {
                    wrong.push(format!("{command}: {flag} is not `{of}`'s, in: {message}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The messages name flags at all: the check above is not vacuous.
    assert!(
        said.iter()
            .any(|(c, m)| *c == "sign" && m.contains("--profile"))
    );
    assert!(
        said.iter()
            .any(|(c, m)| *c == "explain" && m.contains("--access-key"))
    );
}

/// A secret in `--json`'s argument shows in `ps` like `--secret-key` would: refused
/// there, and taken on stdin.
#[tokio::test]
async fn explain_json_on_the_command_line_refuses_secrets() {
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    for field in ["secret_key", "session_token"] {
        let line = format!(
            r#"{{"method": "POST", "url": "https://aws-mcp.us-east-1.api.aws/mcp", "access_key": "AKIDEXAMPLE", "{field}": "{secret}"}}"#
        );
        let output = run_with_stdin(&["explain", "--json", &line], "", &[]).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(output.stdout.is_empty(), "nothing signed, nothing printed");
        assert!(
            stderr.contains(&format!("holds `{field}`")) && stderr.contains("--json -"),
            "{stderr}"
        );
        assert!(
            !stderr.contains(secret),
            "the secret is not echoed: {stderr}"
        );
    }
    let line = format!(
        r#"{{"method": "POST", "url": "https://aws-mcp.us-east-1.api.aws/mcp", "access_key": "AKIDEXAMPLE", "secret_key": "{secret}", "timestamp": "20250101T000000Z"}}"#
    );
    let output = run_with_stdin(&["explain", "--json", "-"], &line, &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

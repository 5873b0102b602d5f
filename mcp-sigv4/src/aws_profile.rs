//! Whether an AWS profile exists, so that "no credentials" can say "no such
//! profile" when that is the reason: the SDK's chain only says its profile
//! provider was "not enabled".

/// The shared config and credentials files, as the SDK finds them:
/// `AWS_CONFIG_FILE` and `AWS_SHARED_CREDENTIALS_FILE`, else under `~/.aws/`.
pub fn files(env: &dyn Fn(&str) -> Option<String>) -> (String, String) {
    let home = env("HOME")
        .or_else(|| env("USERPROFILE"))
        .unwrap_or_default();
    let config = env("AWS_CONFIG_FILE").unwrap_or_else(|| format!("{home}/.aws/config"));
    let credentials =
        env("AWS_SHARED_CREDENTIALS_FILE").unwrap_or_else(|| format!("{home}/.aws/credentials"));
    (config, credentials)
}

/// Whether `[profile NAME]` (or `[NAME]`) heads a section of the config file, or
/// `[NAME]` one of the credentials file.
pub fn exists(name: &str, env: &dyn Fn(&str) -> Option<String>) -> bool {
    let (config, credentials) = files(env);
    let sections = |path: &str| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let section = line.trim().strip_prefix('[')?.strip_suffix(']')?;
                Some(section.trim().to_owned())
            })
            .collect()
    };
    let in_config = sections(&config).iter().any(|section| {
        section.as_str() == name
            || section
                .strip_prefix("profile")
                .is_some_and(|rest| rest.starts_with(char::is_whitespace) && rest.trim() == name)
    });
    in_config || sections(&credentials).iter().any(|section| section == name)
}

/// `profile NAME (ORIGIN) was not found in FILES; create it (...)`, for a
/// command told to use a profile that [`exists`] says is not there; `origin`
/// (` (AWS_PROFILE)`, or empty) says where the name came from.
pub fn not_found(name: &str, origin: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let (config, credentials) = files(env);
    format!(
        "profile `{name}`{origin} was not found in {config} or {credentials}; create it (`aws configure --profile {name}` or `aws configure sso`)"
    )
}

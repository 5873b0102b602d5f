//! RFC 9728 Protected Resource Metadata: which URL is the resource of a route,
//! where its document is, and the document.
//!
//! Each MCP route is a resource of its own, named by the URL the client used
//! (RFC 9728 §3.3): `/mcp`, `/mcp/{server}` and `/{server}/mcp`; the REST API,
//! readiness and metrics belong to the gateway's own resource, `public_url`.
//! The document of a resource at `public_url` + `PATH` is served at
//! `/.well-known/oauth-protected-resource` + `PATH`.

use serde_json::{Value, json};

/// Where the documents are served.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The path of the resource a request to `path` is for: the MCP route itself,
/// or `""` (the gateway's own resource) for any other.
pub fn resource_path(path: &str) -> &str {
    let path = path.trim_end_matches('/');
    let one_segment = |s: &str| !s.is_empty() && !s.contains('/');
    let is_route = path == "/mcp"
        || path.strip_prefix("/mcp/").is_some_and(one_segment)
        || path
            .strip_suffix("/mcp")
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(one_segment);
    if is_route { path } else { "" }
}

/// The resource path a metadata request names, when it names a route of a
/// configured server (or the gateway's own resource); `None` for another path.
pub fn requested(path: &str, servers: &[&str]) -> Option<String> {
    let rest = path.strip_prefix(WELL_KNOWN)?.trim_end_matches('/');
    if rest.is_empty() || rest == "/mcp" {
        return Some(rest.to_owned());
    }
    let server = rest
        .strip_prefix("/mcp/")
        .or_else(|| rest.strip_suffix("/mcp").and_then(|r| r.strip_prefix('/')))?;
    servers.contains(&server).then(|| rest.to_owned())
}

/// The document of the resource at `public_url` + `resource_path`.
pub fn document(
    public_url: &str,
    resource_path: &str,
    issuer: &str,
    scopes_supported: &[String],
) -> Value {
    let mut document = json!({
        "resource": format!("{public_url}{resource_path}"),
        "authorization_servers": [issuer],
        "bearer_methods_supported": ["header"],
        "resource_name": "mcp-sigv4 gateway",
    });
    if !scopes_supported.is_empty() {
        document["scopes_supported"] = json!(scopes_supported);
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mcp_route_is_its_own_resource_and_the_rest_is_the_gateway() {
        assert_eq!(resource_path("/mcp"), "/mcp");
        assert_eq!(resource_path("/mcp/"), "/mcp");
        assert_eq!(resource_path("/mcp/github"), "/mcp/github");
        assert_eq!(resource_path("/github/mcp"), "/github/mcp");
        assert_eq!(resource_path("/mcp-rest/tools/list"), "");
        assert_eq!(resource_path("/mcp/a/b"), "");
        assert_eq!(resource_path("/health/readiness"), "");
    }

    #[test]
    fn documents_exist_for_configured_servers_only() {
        let servers = ["github"];
        let at = |p: &str| requested(&format!("{WELL_KNOWN}{p}"), &servers);
        assert_eq!(at("").as_deref(), Some(""));
        assert_eq!(at("/mcp").as_deref(), Some("/mcp"));
        assert_eq!(at("/mcp/github").as_deref(), Some("/mcp/github"));
        assert_eq!(at("/github/mcp").as_deref(), Some("/github/mcp"));
        assert_eq!(at("/mcp/other"), None);
        assert_eq!(
            requested("/.well-known/oauth-protected-resourcex", &servers),
            None
        );
    }
}

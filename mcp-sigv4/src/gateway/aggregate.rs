//! Several servers behind one endpoint: merged `initialize`, lists fanned out
//! to every server, calls routed by their `{server}{separator}` prefix.

use std::sync::Arc;

use ::http::{Response, StatusCode};
use rmcp::transport::streamable_http_client::StreamableHttpClient;
use serde_json::{Value, json};
use tower_sigv4::rmcp::HttpClientError;

use super::forward::refuse_unnamed;
use super::http::{self, Body, Budget, collect_reply};
use super::modern::merged_capabilities;
use super::server::{Gateway, Server, Via};
use super::tasks::{self, Binding};
use crate::protocol::era::{self, Era};
use crate::protocol::jsonrpc::{self, Kind};
use crate::telemetry::audit;

/// The `_meta` key of an aggregated list that misses a server's items: a list of
/// `{"server", "cause"}`.
pub const PARTIAL_META: &str = "mcp-sigv4/failures";

/// Pages read from one server for one aggregated list.
const MAX_LIST_PAGES: usize = 100;

/// An id for a request the gateway makes on a client's upstream session, unique
/// so that it never collides with the client's ids or another such request.
pub(super) fn internal_id(purpose: &str) -> Value {
    Value::String(format!(
        "mcp-sigv4-{purpose}-{}",
        uuid::Uuid::new_v4().simple()
    ))
}

impl<C> Gateway<C>
where
    C: StreamableHttpClient<Error = HttpClientError> + Sync,
{
    /// One `initialize` result for several servers.
    pub(super) fn merged_initialize(
        &self,
        id: &Value,
        replies: &[(Arc<Server<C>>, Value)],
    ) -> Value {
        let capabilities = merged_capabilities(
            replies
                .iter()
                .filter_map(|(_, reply)| reply.pointer("/result/capabilities")),
        );
        // A server whose reply names no version (it broke the protocol) leaves
        // the client with the one the gateway bridges to.
        let version = replies
            .iter()
            .find_map(|(_, reply)| reply.pointer("/result/protocolVersion"))
            .filter(|version| version.is_string())
            .cloned()
            .unwrap_or_else(|| json!(era::LEGACY_VERSION));
        let names: Vec<&str> = replies.iter().map(|(s, _)| s.name.as_str()).collect();
        let separator = &self.inner.options.separator;
        let result = json!({
            "protocolVersion": version,
            "capabilities": capabilities,
            "serverInfo": {"name": "mcp-sigv4 gateway", "version": env!("CARGO_PKG_VERSION")},
            "instructions": format!(
                "Tools, prompts and resources of the MCP servers {} are named {{server}}{separator}{{name}}.",
                names.join(", ")
            ),
        });
        Era::Legacy.reply("initialize", id, result)
    }

    /// Several servers behind one endpoint.
    pub(super) async fn aggregate(
        &self,
        servers: &[Arc<Server<C>>],
        mut message: Value,
        via: Via<'_>,
    ) -> Response<Body> {
        let separator = self.inner.options.separator.clone();
        let id = message.get("id").cloned().unwrap_or(Value::Null);
        match jsonrpc::kind(&message) {
            Kind::Request => {}
            Kind::Response => {
                // A reply to a server's request: its id says which server asked.
                let Some((server, original)) = untag_id(servers, &separator, &id) else {
                    return http::error(
                        StatusCode::BAD_REQUEST,
                        "a response whose id names no server of this gateway",
                    );
                };
                message["id"] = original;
                return self.forward(&server, message, via, true).await;
            }
            _ => {
                for server in servers {
                    let response = self.forward(server, message.clone(), via, true).await;
                    drop(response);
                }
                return http::empty(StatusCode::ACCEPTED);
            }
        }
        let method = jsonrpc::method(&message).unwrap_or_default().to_owned();
        match method.as_str() {
            "ping" => http::json(StatusCode::OK, &via.era().reply(&method, &id, json!({}))),
            "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
                self.fan_out_list(servers, &method, &id, via).await
            }
            "tools/call" | "prompts/get" => {
                if let Some(refusal) = refuse_unnamed(&message) {
                    return refusal;
                }
                let name = message
                    .pointer("/params/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let Some((server, inner)) = split_prefixed(servers, &separator, name) else {
                    if method == "tools/call" {
                        audit::refused(
                            audit::Outcome::Refused,
                            None,
                            Some(name),
                            "names no server",
                        );
                    }
                    let error = jsonrpc::error(
                        &id,
                        jsonrpc::INVALID_PARAMS,
                        &format!(
                            "`{name}` names no server of this gateway; names are {{server}}{separator}{{name}} with a server among {}",
                            servers
                                .iter()
                                .map(|s| s.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        None,
                    );
                    return http::json(StatusCode::OK, &error);
                };
                message["params"]["name"] = Value::String(inner);
                self.forward(&server, message, via, true).await
            }
            "tasks/list" => tasks::list_refused(&message, via.era()),
            m if tasks::ADDRESSED.contains(&m) => {
                // The sealed task id names its server; `forward` opens it.
                let server = Binding::current(&self.inner.sealer)
                    .server_of(&message)
                    .and_then(|name| servers.iter().find(|s| s.name == name));
                match server {
                    Some(server) => self.forward(server, message, via, true).await,
                    None => tasks::unknown_task(&message, None, via.era()),
                }
            }
            "resources/read" => {
                let budget = Budget::new();
                for server in servers {
                    let response = self.forward(server, message.clone(), via, true).await;
                    let reply = match collect_reply(response, &budget).await {
                        Ok(reply) => reply,
                        Err(over) => {
                            return http::json(
                                StatusCode::OK,
                                &jsonrpc::error(
                                    &id,
                                    jsonrpc::UPSTREAM_ERROR,
                                    &over.to_string(),
                                    None,
                                ),
                            );
                        }
                    };
                    if let Some(reply) = reply
                        && reply.get("result").is_some()
                    {
                        return http::json(StatusCode::OK, &reply);
                    }
                }
                http::json(
                    StatusCode::OK,
                    &jsonrpc::error(
                        &id,
                        jsonrpc::INVALID_PARAMS,
                        "no server of this gateway has that resource",
                        message
                            .pointer("/params/uri")
                            .map(|uri| json!({"uri": uri})),
                    ),
                )
            }
            other => {
                let error = jsonrpc::error(
                    &id,
                    jsonrpc::METHOD_NOT_FOUND,
                    &format!(
                        "`{other}` is not served when several servers are aggregated; address one server at /mcp/{{server}}"
                    ),
                    None,
                );
                http::json(via.era().status_of(&error), &error)
            }
        }
    }

    /// List from every server, names prefixed with the server's.
    pub(super) async fn fan_out_list(
        &self,
        servers: &[Arc<Server<C>>],
        method: &str,
        id: &Value,
        via: Via<'_>,
    ) -> Response<Body> {
        let key = match method {
            "tools/list" => "tools",
            "prompts/list" => "prompts",
            "resources/list" => "resources",
            _ => "resourceTemplates",
        };
        let separator = &self.inner.options.separator;
        let budget = &Budget::new();
        let lists = servers.iter().map(|server| async move {
            let mut items = Vec::new();
            let mut cache = Cache::default();
            let mut cursor: Option<Value> = None;
            for _page in 0..MAX_LIST_PAGES {
                // Ids are never reused within a session, even by concurrent lists.
                let mut request =
                    json!({"jsonrpc": "2.0", "id": internal_id("list"), "method": method});
                if let Some(cursor) = &cursor {
                    request["params"] = json!({"cursor": cursor});
                }
                let response = self.forward(server, request, via, true).await;
                let reply = match collect_reply(response, budget).await {
                    Ok(reply) => reply.unwrap_or(Value::Null),
                    Err(over) => return Err((server.name.clone(), over.to_string())),
                };
                let Some(result) = reply.get("result") else {
                    let cause = reply
                        .pointer("/error/message")
                        .and_then(Value::as_str)
                        .map_or_else(|| format!("no list in its reply: {reply}"), str::to_owned);
                    return Err((server.name.clone(), cause));
                };
                cache.merge(result);
                for mut item in result
                    .get(key)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    if let Some(name) = item.get("name").and_then(Value::as_str) {
                        item["name"] = Value::String(format!("{}{separator}{name}", server.name));
                    }
                    items.push(item);
                }
                cursor = result.get("nextCursor").filter(|c| !c.is_null()).cloned();
                if cursor.is_none() {
                    break;
                }
            }
            Ok((items, cache))
        });
        let mut merged = Vec::new();
        let mut failures = Vec::new();
        let mut cache = Cache::default();
        for list in futures_util::future::join_all(lists).await {
            match list {
                Ok((items, part)) => {
                    merged.extend(items);
                    cache.combine(&part);
                }
                Err(failure) => failures.push(failure),
            }
        }
        for (server, cause) in &failures {
            tracing::warn!(server = %server, "listing {key} failed; the list is partial: {cause}");
        }
        if merged.is_empty() && !failures.is_empty() {
            let message = failures
                .iter()
                .map(|(server, cause)| format!("server `{server}`: {cause}"))
                .collect::<Vec<_>>()
                .join("; ");
            return http::json(
                StatusCode::OK,
                &jsonrpc::error(id, jsonrpc::UPSTREAM_ERROR, &message, None),
            );
        }
        let mut result = json!({key: merged});
        cache.apply(&mut result);
        if !failures.is_empty() {
            // A partial list says so, and which server failed and why.
            let failed: Vec<Value> = failures
                .iter()
                .map(|(server, cause)| json!({"server": server, "cause": cause}))
                .collect();
            result["_meta"] = json!({PARTIAL_META: failed});
        }
        http::json(StatusCode::OK, &via.era().reply(method, id, result))
    }
}

/// The cache hints of list results (`ttlMs`, `cacheScope`) across pages and
/// servers: the smallest freshness, and `private` if any part is.
#[derive(Debug, Default)]
pub(super) struct Cache {
    ttl_ms: Option<u64>,
    private: bool,
    seen: bool,
}

impl Cache {
    /// Take in one result's hints.
    pub(super) fn merge(&mut self, result: &Value) {
        let ttl = result.get("ttlMs").and_then(Value::as_u64);
        let scope = result.get("cacheScope").and_then(Value::as_str);
        if ttl.is_none() && scope.is_none() {
            return;
        }
        self.combine(&Cache {
            ttl_ms: ttl,
            private: scope != Some("public"),
            seen: true,
        });
    }

    /// Take in another part's hints.
    pub(super) fn combine(&mut self, other: &Cache) {
        if !other.seen {
            return;
        }
        self.ttl_ms = match (self.ttl_ms, other.ttl_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.private |= other.private;
        self.seen = true;
    }

    /// Put the combined hints on a merged result, when any part had them.
    pub(super) fn apply(&self, result: &mut Value) {
        if !self.seen {
            return;
        }
        result["ttlMs"] = json!(self.ttl_ms.unwrap_or(0));
        result["cacheScope"] = json!(if self.private { "private" } else { "public" });
    }
}

pub(super) fn untag_id<C>(
    servers: &[Arc<Server<C>>],
    separator: &str,
    id: &Value,
) -> Option<(Arc<Server<C>>, Value)> {
    let (server, rest) = split_prefixed(servers, separator, id.as_str()?)?;
    Some((server, serde_json::from_str(&rest).ok()?))
}

/// `{server}{separator}{rest}` → the server and `rest`; the longest server name
/// wins, since names may contain the separator.
pub(super) fn split_prefixed<C>(
    servers: &[Arc<Server<C>>],
    separator: &str,
    name: &str,
) -> Option<(Arc<Server<C>>, String)> {
    servers
        .iter()
        .filter_map(|server| {
            let rest = name
                .strip_prefix(server.name.as_str())?
                .strip_prefix(separator)?;
            Some((server.clone(), rest.to_owned()))
        })
        .max_by_key(|(server, _)| server.name.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_hints_take_the_smallest_ttl_and_private_wins() {
        let mut cache = Cache::default();
        cache.merge(&json!({"ttlMs": 60000, "cacheScope": "public"}));
        let mut other = Cache::default();
        other.merge(&json!({"ttlMs": 5000, "cacheScope": "private"}));
        cache.combine(&other);
        let mut result = json!({"tools": []});
        cache.apply(&mut result);
        assert_eq!(result["ttlMs"], 5000);
        assert_eq!(result["cacheScope"], "private");

        let mut public = Cache::default();
        public.merge(&json!({"ttlMs": 1000, "cacheScope": "public"}));
        let mut result = json!({});
        public.apply(&mut result);
        assert_eq!(result["cacheScope"], "public");

        let mut none = json!({"tools": []});
        Cache::default().apply(&mut none);
        assert!(none.get("ttlMs").is_none());
    }
}

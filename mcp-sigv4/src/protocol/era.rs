//! The two MCP protocol eras, and everything that translates between them.
//!
//! - **Legacy** (2025-03-26 … 2025-11-25): an `initialize` handshake,
//!   `Mcp-Session-Id`, a GET stream for server messages, server-to-client requests.
//! - **Modern** (2026-07-28): stateless. Every request carries its protocol
//!   version and the client's capabilities in `params._meta` (the envelope),
//!   `server/discover` replaces the handshake, and every HTTP request carries
//!   `MCP-Protocol-Version`, `Mcp-Method` and, for named methods, `Mcp-Name`.
//!   Server-to-client requests come back as an `InputRequiredResult` that the
//!   client answers by re-sending its request with `inputResponses`.
//!
//! This module is the only one that knows these rules: the relay and the gateway
//! ask it what era a message is, which headers a request needs, and how to turn
//! one era's message into the other's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value, json};

/// The stateless protocol revision.
pub const MODERN_VERSION: &str = "2026-07-28";
/// The legacy revision the relay asks for when it opens a session for a modern
/// host (the newest legacy one).
pub const LEGACY_VERSION: &str = "2025-11-25";
/// Every revision the relay carries, newest first.
pub const SUPPORTED_VERSIONS: [&str; 5] = [
    MODERN_VERSION,
    "2025-11-25",
    "2025-06-18",
    "2025-03-26",
    "2024-11-05",
];

/// "Resource not found" in the 2025 revisions; 2026-07-28 uses -32602.
const LEGACY_RESOURCE_NOT_FOUND: i64 = -32002;
/// The HTTP headers don't match the body (HTTP 400).
pub const HEADER_MISMATCH: i64 = -32020;
/// The request needs a client capability the envelope does not declare.
pub const MISSING_CAPABILITY: i64 = -32021;
/// The protocol version is not supported (HTTP 400, with the supported list).
pub const UNSUPPORTED_VERSION: i64 = -32022;

const META_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
const META_PREFIX: &str = "io.modelcontextprotocol/";

/// `MCP-Protocol-Version`.
pub const PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Mcp-Method`.
pub const METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// `Mcp-Name`.
pub const NAME: HeaderName = HeaderName::from_static("mcp-name");
const PARAM_PREFIX: &str = "mcp-param-";
const BASE64_PREFIX: &str = "=?base64?";
const BASE64_SUFFIX: &str = "?=";

/// The era a peer speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// 2025-03-26 … 2025-11-25: `initialize` and sessions.
    Legacy,
    /// 2026-07-28: stateless requests.
    Modern,
}

impl Era {
    /// The era a host's message shows: modern when it carries the envelope or is
    /// `server/discover`, legacy when it is `initialize`; `None` for messages
    /// that don't tell (notifications, responses, requests without `_meta`).
    pub fn of_message(message: &Value) -> Option<Self> {
        match message.get("method").and_then(Value::as_str) {
            Some("server/discover") => Some(Self::Modern),
            Some("initialize") => Some(Self::Legacy),
            _ if envelope_version(message).is_some() => Some(Self::Modern),
            _ => None,
        }
    }

    /// The era of a negotiated protocol version.
    pub fn of_version(version: &str) -> Self {
        if version >= MODERN_VERSION {
            Self::Modern
        } else {
            Self::Legacy
        }
    }
}

/// The first revision without JSON-RPC batches: 2025-06-18 removed them, and
/// 2026-07-28 has none either.
const FIRST_WITHOUT_BATCHES: &str = "2025-06-18";

/// The revision a client speaks when it does not say: the 2025 transports
/// read a request without `MCP-Protocol-Version` as 2025-03-26.
pub const UNSTATED_VERSION: &str = "2025-03-26";

/// Whether a client speaking `version` may send a JSON-RPC batch: only
/// before 2025-06-18 (2025-03-26 and 2024-11-05).
pub fn allows_batches(version: &str) -> bool {
    version < FIRST_WITHOUT_BATCHES
}

/// The reply to a JSON-RPC batch from a client speaking `version`, a revision
/// without batches: "Invalid Request" (-32600) with a null id, as JSON-RPC
/// answers a request it cannot take.
pub fn batch_refusal(version: &str) -> Value {
    super::jsonrpc::error(
        &Value::Null,
        super::jsonrpc::INVALID_REQUEST,
        &format!(
            "JSON-RPC batches were removed in MCP {FIRST_WITHOUT_BATCHES} and this client speaks {version}; send each message on its own"
        ),
        None,
    )
}

/// The reply to a JSON-RPC batch that holds an `initialize`, which no revision
/// allows ("The initialize request **MUST NOT** be part of a JSON-RPC batch",
/// 2025-03-26, Lifecycle): "Invalid Request" (-32600) with a null id, for the
/// batch as a whole, since none of it may run before initialization has
/// completed. `None` when the batch holds no `initialize`.
pub fn initialize_batch_refusal(batch: &[Value]) -> Option<Value> {
    batch
        .iter()
        .any(|message| super::jsonrpc::method(message) == Some("initialize"))
        .then(|| {
            super::jsonrpc::error(
                &Value::Null,
                super::jsonrpc::INVALID_REQUEST,
                "the initialize request must not be part of a JSON-RPC batch; send initialize on its own, then the batch once it is answered",
                None,
            )
        })
}

/// The fields only a 2026-07-28 result carries.
const MODERN_RESULT_FIELDS: [&str; 3] = ["resultType", "ttlMs", "cacheScope"];

/// The methods whose 2026-07-28 results carry the cache hints `ttlMs` and
/// `cacheScope` (the specification's `CacheableResult`s).
const CACHEABLE: [&str; 6] = [
    "server/discover",
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
];

const META_SUBSCRIPTION: &str = "io.modelcontextprotocol/subscriptionId";

impl Era {
    /// The JSON-RPC reply with `result` to the `method` request `id`, shaped
    /// for a client of this era: the replies the relay and the gateway make up
    /// themselves.
    pub fn reply(self, method: &str, id: &Value, result: Value) -> Value {
        let mut reply = json!({"jsonrpc": "2.0", "id": id, "result": result});
        self.shape_reply(method, &mut reply);
        reply
    }

    /// Make `reply`, the JSON-RPC response to a `method` request, valid for a
    /// client of this era (see [`shape_result`](Self::shape_result)). Errors
    /// look alike in both eras but for one code: a 2025 server's "resource not
    /// found" (-32002) is -32602 in 2026-07-28, which requires that code.
    pub fn shape_reply(self, method: &str, reply: &mut Value) {
        let id = reply.get("id").cloned();
        let Some(result) = reply.get_mut("result") else {
            if self == Self::Modern
                && method == "resources/read"
                && let Some(code) = reply.pointer_mut("/error/code")
                && code.as_i64() == Some(LEGACY_RESOURCE_NOT_FOUND)
            {
                *code = json!(-32602);
            }
            return;
        };
        self.shape_result(method, result);
        // The end of a subscription names it (2026-07-28 `SubscriptionsListenResult`).
        if self == Self::Modern
            && method == "subscriptions/listen"
            && let (Some(id), Some(result)) = (id, result.as_object_mut())
        {
            let meta = result.entry("_meta").or_insert_with(|| json!({}));
            if let Some(meta) = meta.as_object_mut() {
                meta.entry(META_SUBSCRIPTION).or_insert(id);
            }
        }
    }

    /// Make `result`, the result of a `method` request, valid for a client of
    /// this era, whichever era it was made in:
    ///
    /// - 2026-07-28: `resultType` (`complete` unless the result says
    ///   otherwise), and on the results of list methods, `server/discover`
    ///   and `resources/read`, `ttlMs` (0, "stale at once", unless a valid one
    ///   is there) and `cacheScope` (`private` unless a valid one is there).
    /// - 2025: none of those fields. An `input_required` result is left
    ///   whole: it is no final result, and only a bridge of eras can answer it.
    pub fn shape_result(self, method: &str, result: &mut Value) {
        let Some(fields) = result.as_object_mut() else {
            return;
        };
        let result_type = fields.get("resultType").and_then(Value::as_str);
        match self {
            Self::Legacy if result_type.is_none_or(|t| t == "complete") => {
                for field in MODERN_RESULT_FIELDS {
                    fields.remove(field);
                }
            }
            Self::Legacy => {}
            Self::Modern => {
                let complete = result_type.is_none_or(|t| t == "complete");
                if result_type.is_none() {
                    fields.insert("resultType".into(), json!("complete"));
                }
                if complete && CACHEABLE.contains(&method) {
                    if !fields.get("ttlMs").is_some_and(Value::is_u64) {
                        fields.insert("ttlMs".into(), json!(0));
                    }
                    let scope = fields.get("cacheScope").and_then(Value::as_str);
                    if !matches!(scope, Some("public" | "private")) {
                        fields.insert("cacheScope".into(), json!("private"));
                    }
                }
            }
        }
    }
}

/// The methods of the 2025 revisions that 2026-07-28 removed: a 2026-07-28
/// server does not implement them, and answers them as it answers any
/// unknown method (HTTP 404, -32601).
pub const REMOVED_METHODS: [&str; 5] = [
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
];

impl Era {
    /// The HTTP status of `reply`, a JSON-RPC reply sent as a JSON body to a
    /// client of this era. A 2025 client gets 200 for every reply. A
    /// 2026-07-28 client gets 404 for -32601 (the method is not implemented)
    /// and 400 for the errors that refuse a malformed request (-32602 is not
    /// among them: it also answers an unknown tool or resource, which is no
    /// malformed request).
    pub fn status_of(self, reply: &Value) -> http::StatusCode {
        let code = reply.pointer("/error/code").and_then(Value::as_i64);
        match (self, code) {
            (Self::Modern, Some(-32601)) => http::StatusCode::NOT_FOUND,
            (Self::Modern, Some(HEADER_MISMATCH | MISSING_CAPABILITY | UNSUPPORTED_VERSION)) => {
                http::StatusCode::BAD_REQUEST
            }
            _ => http::StatusCode::OK,
        }
    }
}

/// Why a 2026-07-28 request's envelope is malformed: `params._meta` missing,
/// or without the `io.modelcontextprotocol/protocolVersion` string or the
/// `io.modelcontextprotocol/clientCapabilities` object every request must
/// carry (`clientInfo` is optional). A server refuses such a request with
/// -32602 (HTTP 400). Notifications carry no envelope and pass.
pub fn check_envelope(message: &Value) -> Result<(), String> {
    if message.get("id").is_none() {
        return Ok(());
    }
    let Some(meta) = message.pointer("/params/_meta").and_then(Value::as_object) else {
        return Err(format!(
            "a 2026-07-28 request needs params._meta with `{META_VERSION}` and `{META_CAPABILITIES}`"
        ));
    };
    if !meta.get(META_VERSION).is_some_and(Value::is_string) {
        return Err(format!(
            "params._meta needs `{META_VERSION}`, the protocol version of the request"
        ));
    }
    if !meta.get(META_CAPABILITIES).is_some_and(Value::is_object) {
        return Err(format!(
            "params._meta needs `{META_CAPABILITIES}`, an object (`{{}}` when the client declares none)"
        ));
    }
    Ok(())
}

/// The protocol version in a request's envelope.
pub fn envelope_version(message: &Value) -> Option<&str> {
    message
        .pointer("/params/_meta")
        .and_then(|meta| meta.get(META_VERSION))
        .and_then(Value::as_str)
}

/// The client's side of a modern request: what a legacy host's `initialize`
/// said, carried on every request it makes to a modern server.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// The client's capabilities.
    pub capabilities: Value,
    /// The client's name and version.
    pub client_info: Option<Value>,
}

impl Envelope {
    /// An envelope that declares no capability and no client info (for a
    /// `server/discover` that came without one).
    pub fn empty() -> Self {
        Self {
            capabilities: json!({}),
            client_info: None,
        }
    }

    /// The envelope a legacy host's `initialize` request implies.
    pub fn from_initialize(initialize: &Value) -> Self {
        let params = initialize.get("params");
        Self {
            capabilities: params
                .and_then(|p| p.get("capabilities"))
                .cloned()
                .unwrap_or_else(|| json!({})),
            client_info: params.and_then(|p| p.get("clientInfo")).cloned(),
        }
    }

    /// The envelope a modern request carries, if it carries one.
    pub fn from_request(message: &Value) -> Option<Self> {
        let meta = message.pointer("/params/_meta")?;
        meta.get(META_VERSION)?;
        Some(Self {
            capabilities: meta
                .get(META_CAPABILITIES)
                .cloned()
                .unwrap_or_else(|| json!({})),
            client_info: meta.get(META_CLIENT_INFO).cloned(),
        })
    }

    /// Put this envelope (at [`MODERN_VERSION`]) into a request's `params._meta`,
    /// keeping whatever else `_meta` holds (a progress token, say).
    pub fn stamp(&self, message: &mut Value) {
        let Some(object) = message.as_object_mut() else {
            return;
        };
        let params = object.entry("params").or_insert_with(|| json!({}));
        let Some(params) = params.as_object_mut() else {
            return;
        };
        let meta = params.entry("_meta").or_insert_with(|| json!({}));
        let Some(meta) = meta.as_object_mut() else {
            return;
        };
        meta.insert(META_VERSION.into(), json!(MODERN_VERSION));
        meta.insert(META_CAPABILITIES.into(), self.capabilities.clone());
        if let Some(info) = &self.client_info {
            meta.insert(META_CLIENT_INFO.into(), info.clone());
        }
    }

    /// The legacy `initialize` a relay sends on a modern host's behalf.
    pub fn initialize(&self, id: Value) -> Value {
        json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
            "protocolVersion": LEGACY_VERSION,
            "capabilities": self.capabilities,
            "clientInfo": self.client_info.clone().unwrap_or_else(|| json!({
                "name": "mcp-sigv4", "version": env!("CARGO_PKG_VERSION")
            })),
        }})
    }

    /// Whether the client declared `capability` (`sampling`, `elicitation`, `roots`).
    pub fn declares(&self, capability: &str) -> bool {
        self.capabilities.get(capability).is_some()
    }
}

/// A modern request made fit for a legacy session: the envelope keys leave
/// `_meta` (a legacy server has no use for them), everything else stays.
pub fn strip_envelope(message: &mut Value) {
    let Some(params) = message.get_mut("params").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(meta) = params.get_mut("_meta").and_then(Value::as_object_mut) {
        meta.retain(|key, _| !key.starts_with(META_PREFIX));
        if meta.is_empty() {
            params.remove("_meta");
        }
    }
}

/// The `Mcp-Name` of a request: the tool or prompt name, the resource URI, or
/// the task id.
fn name_of(method: &str, params: Option<&Value>) -> Option<String> {
    let key = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => "uri",
        "tasks/get" | "tasks/update" | "tasks/cancel" | "tasks/result" => "taskId",
        _ => return None,
    };
    params?.get(key)?.as_str().map(str::to_owned)
}

/// A value as a header carries it: as is when it survives, otherwise in the
/// `=?base64?…?=` form (leading or trailing blanks, control or non-ASCII
/// characters, or a value that already looks encoded).
pub fn encode_header_value(value: &str) -> String {
    let needs_base64 = value.starts_with([' ', '\t'])
        || value.ends_with([' ', '\t'])
        || value.chars().any(|c| !(' '..='~').contains(&c))
        || (value.starts_with(BASE64_PREFIX) && value.ends_with(BASE64_SUFFIX));
    if needs_base64 {
        format!("{BASE64_PREFIX}{}{BASE64_SUFFIX}", STANDARD.encode(value))
    } else {
        value.to_owned()
    }
}

/// Reverse [`encode_header_value`]; `None` when the base64 form is broken.
pub fn decode_header_value(value: &str) -> Option<String> {
    match value
        .strip_prefix(BASE64_PREFIX)
        .and_then(|inner| inner.strip_suffix(BASE64_SUFFIX))
    {
        Some(inner) => String::from_utf8(STANDARD.decode(inner).ok()?).ok(),
        None => Some(value.to_owned()),
    }
}

/// The `x-mcp-header` annotations of the tools a server listed: for each tool,
/// the argument paths mirrored as `Mcp-Param-{header}`.
#[derive(Debug, Default)]
pub struct ToolHeaders {
    tools: Mutex<HashMap<String, Vec<ParamHeader>>>,
    // A whole list was learnt (its last page seen) since the server last said
    // its list changed: a tool it did not name is not worth listing again for.
    listed: std::sync::atomic::AtomicBool,
    // How many whole lists were learnt: headers built before a later one may
    // be stale, headers built after it are as fresh as can be.
    listings: std::sync::atomic::AtomicU64,
    // Held while the tools are listed again after a -32020, so that requests
    // refused at once share one listing.
    relisting: tokio::sync::Mutex<()>,
    // When the tools were last listed again after a -32020.
    relisted_at: Mutex<Option<std::time::Instant>>,
    // Bumped when the server's tools turn out to have changed (the gateway's
    // list generation of the server, so that its kept pages go stale).
    list_generation: Option<Arc<std::sync::atomic::AtomicU64>>,
}

/// How often a server's -32020 replies may have its tools listed again.
pub const RELIST_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// An annotated argument: its path from the arguments' root, and the header
/// name after `Mcp-Param-`.
type ParamHeader = (Vec<String>, String);

impl ToolHeaders {
    /// Annotations still to learn, which bump `list_generation` when the
    /// server's tools turn out to have changed ([`tools_changed`](Self::tools_changed)).
    pub fn with_list_generation(list_generation: Arc<std::sync::atomic::AtomicU64>) -> Self {
        Self {
            list_generation: Some(list_generation),
            ..Self::default()
        }
    }

    /// The server refused headers built from its last list (-32020): its
    /// tools changed without a `list_changed`. Lists kept elsewhere
    /// (the gateway's) are stale.
    pub fn tools_changed(&self) {
        if let Some(generation) = &self.list_generation {
            generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Learn the annotations from a `tools/list` reply (one page of it).
    pub fn learn(&self, reply: &Value) {
        let Some(tools) = reply.pointer("/result/tools").and_then(Value::as_array) else {
            return;
        };
        if reply
            .pointer("/result/nextCursor")
            .is_none_or(Value::is_null)
        {
            self.listed.store(true, std::sync::atomic::Ordering::SeqCst);
            self.listings
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        let mut known = self.tools.lock().unwrap_or_else(PoisonError::into_inner);
        for tool in tools {
            let Some(name) = tool.get("name").and_then(Value::as_str) else {
                continue;
            };
            let mut annotations = Vec::new();
            if let Some(schema) = tool.get("inputSchema") {
                collect_annotations(schema.get("properties"), &mut Vec::new(), &mut annotations);
            }
            known.insert(name.to_owned(), annotations);
        }
    }

    /// Whether listing the tools again could teach anything about `tool`: no
    /// `tools/list` named it, and none was read to its end since the server
    /// last said its list changed ([`forget_listing`](Self::forget_listing)).
    pub fn worth_listing_for(&self, tool: &str) -> bool {
        !self.knows(tool) && !self.listed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The server's list changed: a tool it did not name before may be new.
    pub fn forget_listing(&self) {
        self.listed
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many whole lists were learnt so far. Read it before building a
    /// request's headers: when a -32020 comes back and the count has not
    /// moved, no listing since could have fixed them.
    pub fn listings(&self) -> u64 {
        self.listings.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether a -32020 may have the tools listed again now, and if so, note
    /// that it does: at most once every [`RELIST_INTERVAL`], so that a server
    /// that refuses every call (or a client that makes it) costs one listing
    /// in that time, not one a call.
    pub fn relist_due(&self) -> bool {
        let mut last = self
            .relisted_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = std::time::Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < RELIST_INTERVAL) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// Wait for the turn to list the tools again after a -32020: one request
    /// at a time, so that the others find the list already renewed
    /// ([`listings`](Self::listings) moved) and do not list it once more.
    pub async fn relist_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.relisting.lock().await
    }

    /// Whether a `tools/list` named this tool (annotated or not).
    pub fn knows(&self, tool: &str) -> bool {
        self.tools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(tool)
    }

    fn params_of(&self, tool: &str) -> Vec<ParamHeader> {
        self.tools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tool)
            .cloned()
            .unwrap_or_default()
    }
}

fn collect_annotations(
    properties: Option<&Value>,
    path: &mut Vec<String>,
    out: &mut Vec<ParamHeader>,
) {
    let Some(Value::Object(properties)) = properties else {
        return;
    };
    for (name, schema) in properties {
        path.push(name.clone());
        if let Some(header) = schema
            .get("x-mcp-header")
            .and_then(Value::as_str)
            .filter(|h| !h.is_empty() && HeaderName::from_bytes(h.as_bytes()).is_ok())
        {
            out.push((path.clone(), header.to_owned()));
        }
        // Bounded by the schema the server sent, which rmcp already bounded in size.
        if path.len() < 16 {
            collect_annotations(schema.get("properties"), path, out);
        }
        path.pop();
    }
}

/// The schema keywords whose schemas are off the `properties` chain: an
/// `x-mcp-header` under any of them makes the tool's definition invalid.
const OFF_CHAIN_ONE: [&str; 8] = [
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
];
const OFF_CHAIN_MANY: [&str; 4] = ["prefixItems", "oneOf", "anyOf", "allOf"];
const OFF_CHAIN_MAPS: [&str; 4] = [
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Why a tool's `x-mcp-header` annotations make its definition invalid under
/// 2026-07-28, if they do: an empty value or one that is no HTTP token, two
/// that differ only in case, one on a parameter that is not `integer`,
/// `string` or `boolean`, or one not reachable from the schema's root through
/// `properties` alone. A client over Streamable HTTP leaves such a tool out of
/// `tools/list`.
pub fn header_annotation_fault(tool: &Value) -> Option<String> {
    let schema = tool.get("inputSchema")?;
    let mut seen = Vec::new();
    annotation_fault(schema, "", true, &mut seen, 0)
}

fn annotation_fault(
    schema: &Value,
    path: &str,
    on_chain: bool,
    seen: &mut Vec<String>,
    depth: usize,
) -> Option<String> {
    let Value::Object(schema) = schema else {
        return None;
    };
    if let Some(header) = schema.get("x-mcp-header") {
        let shown = if path.is_empty() {
            "the schema's root"
        } else {
            path
        };
        // The root is the arguments object, no parameter.
        if !on_chain || path.is_empty() {
            return Some(format!(
                "the x-mcp-header of {shown} is not reachable through `properties` alone"
            ));
        }
        let Some(name) = header
            .as_str()
            .filter(|h| !h.is_empty() && HeaderName::from_bytes(h.as_bytes()).is_ok())
        else {
            return Some(format!(
                "the x-mcp-header of `{path}` ({header}) is no HTTP header name"
            ));
        };
        let lower = name.to_ascii_lowercase();
        if seen.contains(&lower) {
            return Some(format!("the x-mcp-header `{name}` is given twice"));
        }
        seen.push(lower);
        if !matches!(
            schema.get("type").and_then(Value::as_str),
            Some("integer" | "string" | "boolean")
        ) {
            return Some(format!(
                "the x-mcp-header `{name}` is on `{path}`, which is not an integer, string or boolean"
            ));
        }
    }
    // Bounded by the schema the server sent, which rmcp already bounded in size.
    if depth >= 32 {
        return None;
    }
    let child = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    let mut children: Vec<(String, &Value, bool)> = Vec::new();
    if let Some(Value::Object(properties)) = schema.get("properties") {
        children.extend(properties.iter().map(|(k, v)| (child(k), v, true)));
    }
    for key in OFF_CHAIN_ONE {
        children.extend(schema.get(key).map(|v| (child(key), v, false)));
    }
    for key in OFF_CHAIN_MANY {
        if let Some(Value::Array(all)) = schema.get(key) {
            children.extend(all.iter().map(|v| (child(key), v, false)));
        }
    }
    for key in OFF_CHAIN_MAPS {
        if let Some(Value::Object(all)) = schema.get(key) {
            children.extend(all.values().map(|v| (child(key), v, false)));
        }
    }
    children.into_iter().find_map(|(path, schema, chain)| {
        annotation_fault(schema, &path, on_chain && chain, seen, depth + 1)
    })
}

/// Leave out of a 2026-07-28 server's `tools/list` reply the tools whose
/// `x-mcp-header` annotations are invalid ([`header_annotation_fault`]), as a
/// Streamable HTTP client must; each is logged with its reason.
pub fn drop_invalid_header_tools(reply: &mut Value) {
    let Some(tools) = reply
        .pointer_mut("/result/tools")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    tools.retain(|tool| match header_annotation_fault(tool) {
        None => true,
        Some(why) => {
            let name = tool.get("name").and_then(Value::as_str).unwrap_or("?");
            tracing::warn!(
                tool = name,
                "left out a tool whose definition is invalid: {why}"
            );
            false
        }
    });
}

/// The headers a modern POST of `message` carries: `MCP-Protocol-Version` (the
/// envelope's, or [`MODERN_VERSION`]), `Mcp-Method`, `Mcp-Name` where the method
/// names something, and `Mcp-Param-*` for a tool's annotated arguments.
pub fn request_headers(message: &Value, tools: &ToolHeaders) -> HashMap<HeaderName, HeaderValue> {
    let mut headers = HashMap::new();
    let version = envelope_version(message).unwrap_or(MODERN_VERSION);
    if let Ok(version) = HeaderValue::from_str(version) {
        headers.insert(PROTOCOL_VERSION, version);
    }
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        return headers;
    };
    if let Ok(value) = HeaderValue::from_str(&encode_header_value(method)) {
        headers.insert(METHOD, value);
    }
    let params = message.get("params");
    if let Some(name) = name_of(method, params)
        && let Ok(value) = HeaderValue::from_str(&encode_header_value(&name))
    {
        headers.insert(NAME, value.clone());
        if method == "tools/call"
            && let Some(arguments) = params.and_then(|p| p.get("arguments"))
        {
            for (path, header) in tools.params_of(&name) {
                let Some(argument) = path.iter().try_fold(arguments, |v, key| v.get(key)) else {
                    continue;
                };
                let text = match argument {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => continue,
                };
                if let (Ok(name), Ok(value)) = (
                    HeaderName::from_bytes(format!("{PARAM_PREFIX}{header}").as_bytes()),
                    HeaderValue::from_str(&encode_header_value(&text)),
                ) {
                    headers.insert(name, value);
                }
            }
        }
    }
    headers
}

/// Whether `reply` is a 2026-07-28 server's "header mismatch" (-32020) to
/// `request`, a `tools/call`: its `Mcp-Param-*` headers (built from the
/// `x-mcp-header` annotations of the last `tools/list`) are not what the
/// server expects. The specification's answer: "the client **SHOULD** call
/// `tools/list` to check for changes to the tool's `inputSchema`, then retry
/// the original request with the appropriate headers" (Streamable HTTP,
/// Client Behavior).
pub fn is_tool_header_mismatch(request: &Value, reply: &Value) -> bool {
    request.get("method").and_then(Value::as_str) == Some("tools/call")
        && reply.pointer("/error/code").and_then(Value::as_i64) == Some(HEADER_MISMATCH)
}

/// Check a modern request's headers against its body, as a modern server must:
/// `MCP-Protocol-Version` equals the envelope's version, `Mcp-Method` the method,
/// and `Mcp-Name` the named parameter. The error says which one differs.
pub fn check_headers(headers: &HeaderMap, message: &Value) -> Result<(), String> {
    let header = |name: &HeaderName| -> Result<Option<String>, String> {
        match headers.get(name) {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .ok()
                .and_then(decode_header_value)
                .map(Some)
                .ok_or_else(|| format!("the {name} header is not a valid value")),
        }
    };
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        return Ok(());
    };
    if let Some(version) = envelope_version(message) {
        match header(&PROTOCOL_VERSION)? {
            Some(sent) if sent == version => {}
            Some(sent) => {
                return Err(format!(
                    "MCP-Protocol-Version is `{sent}` but the request's _meta says `{version}`"
                ));
            }
            None => return Err("a 2026-07-28 request needs the MCP-Protocol-Version header".into()),
        }
    }
    match header(&METHOD)? {
        Some(sent) if sent == method => {}
        Some(sent) => {
            return Err(format!(
                "Mcp-Method is `{sent}` but the body's method is `{method}`"
            ));
        }
        None => return Err(format!("the Mcp-Method header is missing (`{method}`)")),
    }
    if let Some(name) = name_of(method, message.get("params")) {
        match header(&NAME)? {
            Some(sent) if sent == name => {}
            Some(sent) => {
                return Err(format!("Mcp-Name is `{sent}` but the body names `{name}`"));
            }
            None => return Err(format!("the Mcp-Name header is missing (`{name}`)")),
        }
    }
    Ok(())
}

/// Check a `tools/call`'s `Mcp-Param-*` headers against its arguments, as a
/// 2026-07-28 server must, for the arguments `tools` knows to be annotated
/// with `x-mcp-header`: an argument with a value needs its header, carrying
/// that value (Base64 decoded; integers compared as numbers), and an absent or
/// null argument none. Headers of no annotated argument are not looked at.
/// The error says which header differs.
pub fn check_param_headers(
    headers: &HeaderMap,
    message: &Value,
    tools: &ToolHeaders,
) -> Result<(), String> {
    if message.get("method").and_then(Value::as_str) != Some("tools/call") {
        return Ok(());
    }
    let params = message.get("params");
    let Some(tool) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
        return Ok(());
    };
    let arguments = params.and_then(|p| p.get("arguments"));
    for (path, header) in tools.params_of(tool) {
        let shown = format!("Mcp-Param-{header}");
        let argument = arguments
            .and_then(|a| path.iter().try_fold(a, |v, key| v.get(key)))
            .filter(|v| !v.is_null());
        let sent = match headers.get(format!("{PARAM_PREFIX}{header}").as_str()) {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .and_then(decode_header_value)
                    .ok_or_else(|| format!("the {shown} header is not a valid value"))?,
            ),
        };
        let argument_name = path.join(".");
        match (argument, sent) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(format!(
                    "{shown} is sent but the argument `{argument_name}` is absent"
                ));
            }
            (Some(_), None) => {
                return Err(format!(
                    "the {shown} header is missing (argument `{argument_name}`)"
                ));
            }
            (Some(argument), Some(sent)) if !header_matches(&sent, argument) => {
                return Err(format!(
                    "{shown} is `{sent}` but the argument `{argument_name}` is {argument}"
                ));
            }
            (Some(_), Some(_)) => {}
        }
    }
    Ok(())
}

/// Whether a decoded `Mcp-Param-*` value carries `argument`: strings as they
/// are, booleans as `true`/`false`, numbers by value (`42.0` is `42`).
fn header_matches(sent: &str, argument: &Value) -> bool {
    match argument {
        Value::String(text) => sent == text,
        Value::Bool(flag) => sent == flag.to_string(),
        Value::Number(number) => match (sent.trim().parse::<f64>(), number.as_f64()) {
            (Ok(sent), Some(number)) => sent == number,
            _ => false,
        },
        _ => true,
    }
}

/// What a legacy server's `InitializeResult` says, as a `server/discover` result.
pub fn discover_from_initialize(initialize_result: &Value) -> Value {
    let mut meta = Map::new();
    if let Some(info) = initialize_result.get("serverInfo") {
        meta.insert("io.modelcontextprotocol/serverInfo".into(), info.clone());
    }
    let mut result = json!({
        "resultType": "complete",
        "supportedVersions": [MODERN_VERSION],
        "capabilities": initialize_result.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "ttlMs": 0,
        "cacheScope": "private",
        "_meta": meta,
    });
    if let Some(instructions) = initialize_result.get("instructions") {
        result["instructions"] = instructions.clone();
    }
    result
}

/// What a modern server's `server/discover` result says, as the
/// `InitializeResult` a legacy host asked for with `requested` as its version.
pub fn initialize_from_discover(discover_result: &Value, requested: &str) -> Value {
    let server_info = discover_result
        .pointer("/_meta/io.modelcontextprotocol~1serverInfo")
        .cloned()
        .unwrap_or_else(|| json!({"name": "mcp-sigv4", "version": env!("CARGO_PKG_VERSION")}));
    // The host gets the version it asked for when the relay carries it.
    let version = SUPPORTED_VERSIONS
        .iter()
        .skip(1)
        .find(|v| **v == requested)
        .copied()
        .unwrap_or(LEGACY_VERSION);
    let mut result = json!({
        "protocolVersion": version,
        "capabilities": discover_result.get("capabilities").cloned().unwrap_or_else(|| json!({})),
        "serverInfo": server_info,
    });
    if let Some(instructions) = discover_result.get("instructions") {
        result["instructions"] = instructions.clone();
    }
    result
}

/// Whether a reply to `server/discover` shows a modern server: a result with
/// supported versions, or an `UNSUPPORTED_VERSION` error (a modern server that
/// wants another version). Any other error is the specification's sign of a
/// legacy server.
pub fn discover_shows_modern(reply: &Value) -> bool {
    reply.pointer("/result/supportedVersions").is_some()
        || error_code(reply) == Some(UNSUPPORTED_VERSION)
}

/// Whether a reply to `initialize` shows a server that speaks 2026-07-28 only.
pub fn initialize_shows_modern_only(reply: &Value) -> bool {
    error_code(reply) == Some(UNSUPPORTED_VERSION)
}

fn error_code(reply: &Value) -> Option<i64> {
    reply.pointer("/error/code").and_then(Value::as_i64)
}

/// What an `InputRequiredResult` asks of the client.
#[derive(Debug)]
pub struct InputRequired {
    /// The server-to-client requests, by the key their answers go under.
    pub requests: Vec<(String, Value)>,
    /// The opaque state to send back with the answers.
    pub request_state: Option<Value>,
}

/// The input requests of an `InputRequiredResult`; `None` for any other reply.
pub fn input_required(reply: &Value) -> Option<InputRequired> {
    let result = reply.get("result")?;
    if result.get("resultType").and_then(Value::as_str) != Some("input_required") {
        return None;
    }
    let requests = result
        .get("inputRequests")
        .and_then(Value::as_object)
        .map(|requests| {
            requests
                .iter()
                .map(|(key, request)| (key.clone(), request.clone()))
                .collect()
        })
        .unwrap_or_default();
    Some(InputRequired {
        requests,
        request_state: result.get("requestState").cloned(),
    })
}

/// The most rounds of input requests one request is carried through (rmcp's
/// and the other SDKs' default); past them the client gets an error.
pub const INPUT_ROUNDS: usize = 10;

/// The server-to-client request of the 2025 revisions that an input request
/// stands for (`elicitation/create`, `sampling/createMessage`,
/// `roots/list`), with the bridge's own `id`.
pub fn input_request_message(id: &Value, input: &Value) -> Value {
    let mut request = json!({"jsonrpc": "2.0", "id": id});
    if let (Some(object), Some(input)) = (request.as_object_mut(), input.as_object()) {
        for key in ["method", "params"] {
            if let Some(value) = input.get(key) {
                object.insert(key.to_owned(), value.clone());
            }
        }
    }
    request
}

/// What goes back under an input request's key in `inputResponses`: the
/// client's result, or its error object when it refused.
pub fn input_answer(response: &Value) -> Value {
    response
        .get("result")
        .or_else(|| response.get("error"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The request re-sent with the host's answers to an `InputRequiredResult`.
pub fn with_input_responses(
    request: &Value,
    responses: Map<String, Value>,
    request_state: Option<Value>,
) -> Value {
    let mut retry = request.clone();
    if let Some(params) = retry.get_mut("params").and_then(Value::as_object_mut) {
        params.insert("inputResponses".into(), Value::Object(responses));
        match request_state {
            Some(state) => params.insert("requestState".into(), state),
            None => params.remove("requestState"),
        };
    }
    retry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools_call(name: &str, arguments: Value) -> Value {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": name, "arguments": arguments,
            "_meta": {META_VERSION: MODERN_VERSION, META_CAPABILITIES: {}},
        }})
    }

    #[test]
    fn eras_of_messages() {
        assert_eq!(
            Era::of_message(&json!({"method": "server/discover", "id": 1})),
            Some(Era::Modern)
        );
        assert_eq!(
            Era::of_message(&json!({"method": "initialize", "id": 1})),
            Some(Era::Legacy)
        );
        assert_eq!(
            Era::of_message(&tools_call("a", json!({}))),
            Some(Era::Modern)
        );
        assert_eq!(
            Era::of_message(&json!({"method": "tools/list", "id": 1})),
            None
        );
        assert_eq!(Era::of_version("2025-06-18"), Era::Legacy);
        assert_eq!(Era::of_version(MODERN_VERSION), Era::Modern);
    }

    #[test]
    fn only_revisions_before_2025_06_18_have_batches() {
        for version in ["2024-11-05", UNSTATED_VERSION] {
            assert!(allows_batches(version), "{version}");
        }
        for version in ["2025-06-18", LEGACY_VERSION, MODERN_VERSION, "garbage"] {
            assert!(!allows_batches(version), "{version}");
        }
        let refusal = batch_refusal("2025-06-18");
        assert_eq!(refusal["error"]["code"], -32600);
        assert_eq!(refusal["id"], Value::Null);
    }

    #[test]
    fn a_batch_that_holds_initialize_is_refused_whole() {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}});
        let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
        for batch in [vec![init.clone(), list.clone()], vec![list.clone(), init]] {
            let refusal = initialize_batch_refusal(&batch).expect("a refusal");
            assert_eq!(refusal["error"]["code"], -32600);
            assert_eq!(refusal["id"], Value::Null);
        }
        assert_eq!(initialize_batch_refusal(&[list]), None);
        assert_eq!(initialize_batch_refusal(&[]), None);
    }

    #[test]
    fn only_a_calls_header_mismatch_asks_for_a_new_list() {
        let error =
            |code: i64| json!({"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": "x"}});
        let call = tools_call("t", json!({}));
        assert!(is_tool_header_mismatch(&call, &error(HEADER_MISMATCH)));
        assert!(!is_tool_header_mismatch(&call, &error(-32602)));
        let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
        assert!(!is_tool_header_mismatch(&list, &error(HEADER_MISMATCH)));
        let ok = json!({"jsonrpc": "2.0", "id": 1, "result": {}});
        assert!(!is_tool_header_mismatch(&call, &ok));
    }

    #[test]
    fn whole_lists_are_counted_and_a_change_bumps_the_list_generation() {
        let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let tools = ToolHeaders::with_list_generation(generation.clone());
        let page =
            |cursor: Value| json!({"result": {"tools": [{"name": "a"}], "nextCursor": cursor}});
        tools.learn(&page(json!("next")));
        assert_eq!(tools.listings(), 0, "a first page is no whole list");
        tools.learn(&page(Value::Null));
        assert_eq!(tools.listings(), 1);
        tools.tools_changed();
        assert_eq!(generation.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Without a list generation to bump, a change is only noted.
        ToolHeaders::default().tools_changed();
    }

    #[test]
    fn headers_name_the_method_and_encode_what_would_not_survive() {
        let tools = ToolHeaders::default();
        tools.learn(
            &json!({"result": {"tools": [{"name": "wetter-ü", "inputSchema": {
                "type": "object",
                "properties": {"region": {"type": "string", "x-mcp-header": "Region"},
                               "n": {"type": "integer"}}
            }}]}}),
        );
        let headers = request_headers(
            &tools_call("wetter-ü", json!({"region": "eu-west-1", "n": 3})),
            &tools,
        );
        assert_eq!(headers[&PROTOCOL_VERSION], MODERN_VERSION);
        assert_eq!(headers[&METHOD], "tools/call");
        let name = headers[&NAME].to_str().unwrap();
        assert!(name.starts_with("=?base64?"), "{name}");
        assert_eq!(decode_header_value(name).unwrap(), "wetter-ü");
        assert_eq!(
            headers[&HeaderName::from_static("mcp-param-region")],
            "eu-west-1"
        );
        assert_eq!(headers.len(), 4);
        assert!(tools.knows("wetter-ü") && !tools.knows("other"));
    }

    #[test]
    fn header_checks_find_each_mismatch() {
        let message = tools_call("add", json!({}));
        let good: HeaderMap = request_headers(&message, &ToolHeaders::default())
            .into_iter()
            .collect();
        assert_eq!(check_headers(&good, &message), Ok(()));
        for (name, value, expected) in [
            (PROTOCOL_VERSION, "2025-06-18", "MCP-Protocol-Version"),
            (METHOD, "tools/list", "Mcp-Method"),
            (NAME, "echo", "Mcp-Name"),
        ] {
            let mut headers = good.clone();
            headers.insert(name, HeaderValue::from_static(value));
            let error = check_headers(&headers, &message).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
        let mut missing = good.clone();
        missing.remove(METHOD);
        assert!(check_headers(&missing, &message).is_err());
    }

    #[test]
    fn tools_with_invalid_header_annotations_are_left_out() {
        let tool = |name: &str, properties: Value| json!({"name": name, "inputSchema": {"type": "object", "properties": properties}});
        let string = |header: &str| json!({"type": "string", "x-mcp-header": header});
        let mut reply = json!({"result": {"tools": [
            tool("good", json!({"a": string("A"), "deep": {"type": "object",
                "properties": {"b": {"type": "boolean", "x-mcp-header": "B"}}}})),
            tool("plain", json!({"a": {"type": "string"}})),
            tool("empty", json!({"a": string("")})),
            tool("spaced", json!({"a": string("Not A Token")})),
            tool("twice", json!({"a": string("Region"), "b": string("REGION")})),
            tool("number", json!({"a": {"type": "number", "x-mcp-header": "N"}})),
            tool("object", json!({"a": {"type": "object", "x-mcp-header": "O"}})),
            tool("in-items", json!({"a": {"type": "array", "items": string("I")}})),
            tool("in-oneof", json!({"a": {"oneOf": [string("X")]}})),
            {"name": "in-defs", "inputSchema": {"type": "object", "$defs": {"d": string("D")}}},
        ]}});
        let faults: Vec<(String, String)> = reply["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| {
                header_annotation_fault(t).map(|f| (t["name"].as_str().unwrap().to_owned(), f))
            })
            .collect();
        assert_eq!(faults.len(), 8, "{faults:?}");
        assert!(
            faults
                .iter()
                .any(|(n, f)| n == "twice" && f.contains("twice")),
            "{faults:?}"
        );
        assert!(
            faults
                .iter()
                .any(|(n, f)| n == "in-items" && f.contains("`properties` alone")),
            "{faults:?}"
        );
        drop_invalid_header_tools(&mut reply);
        let names: Vec<&str> = reply["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["good", "plain"]);
    }

    #[test]
    fn param_headers_must_carry_the_annotated_arguments() {
        let tools = ToolHeaders::default();
        tools.learn(&json!({"result": {"tools": [{"name": "q", "inputSchema": {
            "type": "object",
            "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "n": {"type": "integer", "x-mcp-header": "N"},
                "deep": {"type": "object", "properties": {
                    "on": {"type": "boolean", "x-mcp-header": "On"}}},
            }
        }}]}}));
        let call = tools_call(
            "q",
            json!({"region": "eu-west-1", "n": 42, "deep": {"on": true}}),
        );
        let good: HeaderMap = request_headers(&call, &tools).into_iter().collect();
        assert_eq!(check_param_headers(&good, &call, &tools), Ok(()));
        let mut numeric = good.clone();
        numeric.insert("mcp-param-n", HeaderValue::from_static("42.0"));
        assert_eq!(check_param_headers(&numeric, &call, &tools), Ok(()));
        let mut encoded = good.clone();
        let region = encode_header_value("=?base64?x?=");
        encoded.insert("mcp-param-region", HeaderValue::from_str(&region).unwrap());
        let literal = tools_call(
            "q",
            json!({"region": "=?base64?x?=", "n": 42, "deep": {"on": true}}),
        );
        assert_eq!(check_param_headers(&encoded, &literal, &tools), Ok(()));
        for (header, value, expected) in [
            (
                "mcp-param-region",
                Some("us-east-1"),
                "Mcp-Param-Region is `us-east-1`",
            ),
            (
                "mcp-param-region",
                None,
                "Mcp-Param-Region header is missing",
            ),
            ("mcp-param-n", Some("41"), "Mcp-Param-N is `41`"),
            ("mcp-param-on", Some("false"), "argument `deep.on`"),
            ("mcp-param-on", Some("=?base64?***?="), "not a valid value"),
        ] {
            let mut headers = good.clone();
            match value {
                Some(value) => headers.insert(header, HeaderValue::from_static(value)),
                None => headers.remove(header),
            };
            let error = check_param_headers(&headers, &call, &tools).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
        // An absent or null argument wants no header; a header without one is a mismatch.
        let sparse = tools_call("q", json!({"region": "eu-west-1", "n": null}));
        let headers: HeaderMap = request_headers(&sparse, &tools).into_iter().collect();
        assert_eq!(check_param_headers(&headers, &sparse, &tools), Ok(()));
        let error = check_param_headers(&good, &sparse, &tools).unwrap_err();
        assert!(error.contains("is absent"), "{error}");
        // A tool no list named, and headers no annotation names, are not looked at.
        let mut other = good.clone();
        other.insert("mcp-param-extra", HeaderValue::from_static("x"));
        assert_eq!(check_param_headers(&other, &call, &tools), Ok(()));
        let unknown = tools_call("unlisted", json!({"region": "x"}));
        assert_eq!(
            check_param_headers(&HeaderMap::new(), &unknown, &tools),
            Ok(())
        );
    }

    #[test]
    fn an_envelope_round_trips_through_initialize() {
        let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {"elicitation": {}},
            "clientInfo": {"name": "host", "version": "1"},
        }});
        let envelope = Envelope::from_initialize(&initialize);
        let mut request = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list",
            "params": {"_meta": {"progressToken": 7}}});
        envelope.stamp(&mut request);
        assert_eq!(envelope_version(&request), Some(MODERN_VERSION));
        assert_eq!(request["params"]["_meta"]["progressToken"], 7);
        assert_eq!(Envelope::from_request(&request), Some(envelope.clone()));
        assert!(envelope.declares("elicitation"));
        strip_envelope(&mut request);
        assert_eq!(request["params"]["_meta"], json!({"progressToken": 7}));
        let init = envelope.initialize(json!("x"));
        assert_eq!(init["params"]["capabilities"], json!({"elicitation": {}}));
    }

    #[test]
    fn discover_and_initialize_translate() {
        let init = json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
            "serverInfo": {"name": "s", "version": "1"}, "instructions": "hi"});
        let discover = discover_from_initialize(&init);
        assert_eq!(discover["capabilities"], json!({"tools": {}}));
        let back = initialize_from_discover(&discover, "2025-06-18");
        assert_eq!(back["protocolVersion"], "2025-06-18");
        assert_eq!(back["serverInfo"]["name"], "s");
        assert_eq!(back["instructions"], "hi");
        assert_eq!(
            initialize_from_discover(&discover, "1999-01-01")["protocolVersion"],
            LEGACY_VERSION
        );
    }

    #[test]
    fn results_take_the_shape_of_the_clients_era() {
        let legacy_list = json!({"tools": [], "nextCursor": "c"});
        let mut modern = legacy_list.clone();
        Era::Modern.shape_result("tools/list", &mut modern);
        assert_eq!(
            modern,
            json!({"tools": [], "nextCursor": "c", "resultType": "complete",
                "ttlMs": 0, "cacheScope": "private"})
        );
        // What a modern server said is kept; what is malformed is made valid.
        let mut kept =
            json!({"tools": [], "resultType": "complete", "ttlMs": 5000, "cacheScope": "public"});
        Era::Modern.shape_result("tools/list", &mut kept);
        assert_eq!(
            (kept["ttlMs"].clone(), kept["cacheScope"].clone()),
            (json!(5000), json!("public"))
        );
        let mut malformed = json!({"tools": [], "ttlMs": -1, "cacheScope": "everyone"});
        Era::Modern.shape_result("tools/list", &mut malformed);
        assert_eq!(
            (malformed["ttlMs"].clone(), malformed["cacheScope"].clone()),
            (json!(0), json!("private"))
        );
        // Only cacheable results get cache hints.
        let mut call = json!({"content": []});
        Era::Modern.shape_result("tools/call", &mut call);
        assert_eq!(call, json!({"content": [], "resultType": "complete"}));
        let mut asks = json!({"resultType": "input_required", "requestState": "s"});
        Era::Modern.shape_result("tools/list", &mut asks);
        assert_eq!(
            asks,
            json!({"resultType": "input_required", "requestState": "s"})
        );

        // Back to 2025: the 2026-only fields go, an input_required result stays.
        let mut legacy = modern.clone();
        Era::Legacy.shape_result("tools/list", &mut legacy);
        assert_eq!(legacy, legacy_list);
        let mut still = asks.clone();
        Era::Legacy.shape_result("tools/call", &mut still);
        assert_eq!(still, asks);

        // A subscription's end names it; errors and non-objects are left alone.
        let mut end = json!({"jsonrpc": "2.0", "id": 7, "result": {}});
        Era::Modern.shape_reply("subscriptions/listen", &mut end);
        assert_eq!(
            end["result"],
            json!({"resultType": "complete",
            "_meta": {"io.modelcontextprotocol/subscriptionId": 7}})
        );
        let error = json!({"jsonrpc": "2.0", "id": 1, "error": {"code": -32000, "message": "x"}});
        let mut same = error.clone();
        Era::Modern.shape_reply("tools/list", &mut same);
        assert_eq!(same, error);
        let mut odd = json!({"jsonrpc": "2.0", "id": 1, "result": 3});
        Era::Modern.shape_reply("tools/list", &mut odd);
        assert_eq!(odd["result"], 3);
    }

    #[test]
    fn an_envelope_needs_its_version_and_capabilities_not_its_client_info() {
        let good = tools_call("a", json!({}));
        assert_eq!(check_envelope(&good), Ok(()));
        let notification = json!({"jsonrpc": "2.0", "method": "notifications/cancelled"});
        assert_eq!(check_envelope(&notification), Ok(()));
        let bare = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
        assert!(check_envelope(&bare).unwrap_err().contains("params._meta"));
        for (key, value) in [
            (META_VERSION, None),
            (META_CAPABILITIES, None),
            (META_CAPABILITIES, Some(json!(["sampling"]))),
        ] {
            let mut broken = good.clone();
            let meta = broken["params"]["_meta"].as_object_mut().unwrap();
            match value {
                Some(value) => meta.insert(key.into(), value),
                None => meta.remove(key),
            };
            assert!(check_envelope(&broken).unwrap_err().contains(key), "{key}");
        }
    }

    #[test]
    fn a_missing_resource_is_invalid_params_for_a_modern_client() {
        let missing = json!({"jsonrpc": "2.0", "id": 5, "error": {
            "code": -32002, "message": "Resource not found", "data": {"uri": "file:///x"}}});
        let mut modern = missing.clone();
        Era::Modern.shape_reply("resources/read", &mut modern);
        assert_eq!(modern["error"]["code"], -32602);
        assert_eq!(modern["error"]["data"], missing["error"]["data"]);
        let mut legacy = missing.clone();
        Era::Legacy.shape_reply("resources/read", &mut legacy);
        assert_eq!(legacy, missing);
        let mut other = missing.clone();
        Era::Modern.shape_reply("tools/call", &mut other);
        assert_eq!(other, missing, "only resources/read names a resource");
    }

    #[test]
    fn a_modern_client_learns_refusals_from_the_status() {
        let error =
            |code: i64| json!({"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": "x"}});
        let ok = json!({"jsonrpc": "2.0", "id": 1, "result": {}});
        assert_eq!(
            Era::Modern.status_of(&error(-32601)),
            http::StatusCode::NOT_FOUND
        );
        for code in [HEADER_MISMATCH, MISSING_CAPABILITY, UNSUPPORTED_VERSION] {
            assert_eq!(
                Era::Modern.status_of(&error(code)),
                http::StatusCode::BAD_REQUEST
            );
        }
        assert_eq!(Era::Modern.status_of(&error(-32602)), http::StatusCode::OK);
        assert_eq!(Era::Modern.status_of(&ok), http::StatusCode::OK);
        assert_eq!(Era::Legacy.status_of(&error(-32601)), http::StatusCode::OK);
    }

    #[test]
    fn fallback_rule() {
        assert!(discover_shows_modern(
            &json!({"id": 1, "result": {"supportedVersions": [MODERN_VERSION]}})
        ));
        assert!(discover_shows_modern(
            &json!({"id": 1, "error": {"code": UNSUPPORTED_VERSION, "message": "x"}})
        ));
        for legacy in [-32601, -32600, -32602] {
            assert!(!discover_shows_modern(
                &json!({"id": 1, "error": {"code": legacy, "message": "x"}})
            ));
        }
    }

    #[test]
    fn input_required_and_its_retry() {
        let reply = json!({"id": 5, "result": {"resultType": "input_required",
            "inputRequests": {"ask": {"method": "elicitation/create", "params": {}}},
            "requestState": "opaque"}});
        let InputRequired {
            requests,
            request_state: state,
        } = input_required(&reply).unwrap();
        assert_eq!(requests[0].0, "ask");
        let retry = with_input_responses(
            &tools_call("t", json!({})),
            Map::from_iter([("ask".to_owned(), json!({"action": "accept"}))]),
            state,
        );
        assert_eq!(retry["params"]["requestState"], "opaque");
        assert_eq!(retry["params"]["inputResponses"]["ask"]["action"], "accept");
        assert!(input_required(&json!({"id": 1, "result": {"content": []}})).is_none());
    }
}

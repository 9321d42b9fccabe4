//! The user-facing docs against the code (`docs/api.md`, `docs/openapi.yaml`):
//!
//! - the OpenAPI description and the routers agree both ways: every (method, path) in
//!   `docs/openapi.yaml` is served by the real routers (probed without a database: the requests
//!   are refused by the front door, never by the router's "no route" fallback), and every
//!   `.route(..)` in the functions' sources is in `docs/openapi.yaml` (except the listed
//!   worker-only routes);
//! - every ```` ```zhibo-vector ```` block of `docs/api.md` is recomputed with the signing code;
//! - every live status, webhook event type and error code the code defines is in `docs/api.md`;
//! - no tracked file refers to the product contract outside the repository, and every
//!   reference to a section of `docs/api.md` (its file name, then the section name in double
//!   quotes) names a section that exists.
//!
//! Needs neither DynamoDB nor S3.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use zhibo_core::{
    error::codes,
    hooks::{HookEvent, HookEventKind, UnpublishReason, HOOKS_PATH, HOOK_CLOCK_WINDOW_S},
    lifecycle::Action,
    playback::Playback,
    room::stream_name,
    signing::{app_url_key, BodySignature, RequestToSign, UrlPurpose, UrlSignature},
    webhook, Config, LiveStatus,
};
use zhibo_store::Deps;

/// The sources the coverage checks read the code's definitions from (kept together, so a
/// crate that moves is one edit here).
const SRC_ERROR_CODES: &str = "shared/core/src/error.rs";
const SRC_WEBHOOK: &str = "shared/core/src/webhook/mod.rs";
const SRC_HOOKS: &str = "shared/core/src/hooks.rs";
const SRC_LIFECYCLE: &str = "shared/core/src/lifecycle.rs";
const SRC_WECHAT: &str = "functions/wechat/src/lib.rs";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is inside the repository")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let p = repo_root().join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn api_md() -> String {
    read("docs/api.md")
}

// ---- OpenAPI against the routers ---------------------------------------------------------

/// Routes in the sources that `docs/openapi.yaml` deliberately leaves out, with the reason.
// `GET /live/{stream_name}.flv` (HTTP-FLV playback, docs/api.md "HTTP-FLV playback (media
// workers)") is not in any router: the worker answers it on the raw socket
// (media-worker/src/flv/socket.rs) and media-worker/tests/flv_e2e.rs proves it.
const UNDOCUMENTED_ROUTES: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/healthz",
        "the media worker's load-balancer health check, on the worker's own port, not the API",
    ),
    (
        "GET",
        "/metrics",
        "the media worker's Prometheus metrics, on the worker's own port, not the API",
    ),
    (
        "OPTIONS",
        "/live/{file}",
        "the CORS preflight of HTTP-FLV playback, on the media workers' own port",
    ),
];

/// Path constants used as `.route(CONST, ..)` arguments, resolved with the real constant.
fn path_constant(name: &str) -> Option<&'static str> {
    match name {
        "HOOKS_PATH" => Some(HOOKS_PATH),
        "LOCATE_PATH" => Some(zhibo_core::hooks::LOCATE_PATH),
        _ => None,
    }
}

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// `/v1/rooms/:room_id` and `/v1/rooms/{room_id}` alike → `/v1/rooms/{room_id}`.
fn normalize_path(p: &str) -> String {
    p.split('/')
        .map(
            |seg| match seg.strip_prefix(':').or_else(|| seg.strip_prefix('*')) {
                Some(name) => format!("{{{name}}}"),
                None => seg.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// Every (METHOD, path) in `docs/openapi.yaml`.
fn openapi_routes() -> BTreeSet<(String, String)> {
    let doc: serde_norway::Value =
        serde_norway::from_str(&read("docs/openapi.yaml")).expect("docs/openapi.yaml is YAML");
    assert_eq!(
        doc.get("openapi").and_then(|v| v.as_str()),
        Some("3.1.0"),
        "docs/openapi.yaml must declare openapi: 3.1.0"
    );
    let paths = doc
        .get("paths")
        .and_then(|p| p.as_mapping())
        .expect("docs/openapi.yaml has paths");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        let path = path.as_str().expect("path keys are strings");
        let item = item.as_mapping().expect("path items are mappings");
        for (k, op) in item {
            let k = k.as_str().expect("keys are strings");
            if HTTP_METHODS.contains(&k) {
                assert!(
                    op.get("responses").is_some(),
                    "{} {path} in docs/openapi.yaml has no responses",
                    k.to_uppercase()
                );
                out.insert((k.to_uppercase(), normalize_path(path)));
            }
        }
    }
    out
}

/// Every `$ref` string under `v`.
fn refs(v: &serde_norway::Value, out: &mut Vec<String>) {
    match v {
        serde_norway::Value::Mapping(m) => {
            for (k, v) in m {
                match (k.as_str(), v.as_str()) {
                    (Some("$ref"), Some(r)) => out.push(r.to_string()),
                    _ => refs(v, out),
                }
            }
        }
        serde_norway::Value::Sequence(s) => s.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// Every `$ref` of `docs/openapi.yaml` points at a component that exists.
#[test]
fn openapi_references_resolve() {
    let doc: serde_norway::Value =
        serde_norway::from_str(&read("docs/openapi.yaml")).expect("docs/openapi.yaml is YAML");
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 50, "only {} $refs", all.len());
    let broken: Vec<&String> = all
        .iter()
        .filter(|r| {
            let Some(path) = r.strip_prefix("#/") else {
                return true;
            };
            let mut node = &doc;
            for part in path.split('/') {
                match node.get(part) {
                    Some(n) => node = n,
                    None => return true,
                }
            }
            false
        })
        .collect();
    assert!(
        broken.is_empty(),
        "unresolved $refs in docs/openapi.yaml: {broken:?}"
    );
}

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for e in entries {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The text of the balanced `( … )` that starts at `open` (an index of `(`), without the
/// parentheses. String literals are skipped, so a `)` inside a path does not end it.
fn balanced(src: &str, open: usize) -> &str {
    let b = src.as_bytes();
    let (mut depth, mut i, mut in_str) = (0usize, open, false);
    while i < b.len() {
        match (in_str, b[i]) {
            (true, b'\\') => i += 1,
            (true, b'"') => in_str = false,
            (false, b'"') => in_str = true,
            (false, b'(') => depth += 1,
            (false, b')') => {
                depth -= 1;
                if depth == 0 {
                    return &src[open + 1..i];
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced parentheses after byte {open}")
}

/// Splits at top-level commas.
fn top_level_args(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut in_str, mut out) = (0i32, 0usize, false, Vec::new());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match (in_str, b[i]) {
            (true, b'\\') => i += 1,
            (true, b'"') => in_str = false,
            (false, b'"') => in_str = true,
            (false, b'(' | b'[' | b'{') => depth += 1,
            (false, b')' | b']' | b'}') => depth -= 1,
            (false, b',') if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if !s[start..].trim().is_empty() {
        out.push(s[start..].trim());
    }
    out
}

/// The HTTP methods of a method router expression: `get(a).post(b)`, `get(a).options(b)`.
fn handler_methods(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr.trim();
    loop {
        rest = rest.trim_start_matches('.').trim_start();
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        let after = rest[name_len..].trim_start();
        assert!(
            after.starts_with('('),
            "cannot read the method router {expr:?} (at {rest:?})"
        );
        assert!(
            HTTP_METHODS.contains(&name),
            "{name:?} in {expr:?} is not an HTTP method router the docs test knows"
        );
        out.push(name.to_uppercase());
        let open = rest.len() - after.len();
        let inner = balanced(rest, open);
        rest = rest[open + inner.len() + 2..].trim_start();
        if rest.is_empty() {
            return out;
        }
    }
}

/// Every `.route(path, methods)` in `src` as (METHOD, normalized path).
fn routes_in_source(src: &str, file: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (at, _) in src.match_indices(".route(") {
        let open = at + ".route".len();
        let args = top_level_args(balanced(src, open));
        assert_eq!(
            args.len(),
            2,
            "{file}: .route with {} arguments",
            args.len()
        );
        let path = if let Some(lit) = args[0].strip_prefix('"') {
            lit.strip_suffix('"')
                .unwrap_or_else(|| panic!("{file}: path literal {:?}", args[0]))
                .to_string()
        } else {
            let ident = args[0].rsplit("::").next().unwrap_or(args[0]);
            path_constant(ident)
                .unwrap_or_else(|| {
                    panic!(
                        "{file}: route path {:?} is neither a literal nor a constant the docs test \
                         knows; add it to path_constant",
                        args[0]
                    )
                })
                .to_string()
        };
        for m in handler_methods(args[1]) {
            out.push((m, normalize_path(&path)));
        }
    }
    out
}

/// Every route the functions' routers (and the worker's HTTP side) declare in their sources.
fn source_routes() -> BTreeMap<(String, String), String> {
    let root = repo_root();
    let mut files = Vec::new();
    for e in std::fs::read_dir(root.join("functions")).expect("functions/") {
        let src = e.expect("entry").path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    files.push(root.join("media-worker/src/http.rs"));
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
        let src = std::fs::read_to_string(&f).expect("read source");
        for r in routes_in_source(&src, &rel) {
            out.insert(r, rel.clone());
        }
    }
    out
}

#[test]
fn the_source_scanner_reads_method_chains_and_path_syntaxes() {
    let src = r#"Router::new()
        .route("/a/:x", get(list).post(create))
        .route(
            "/b/{y}/c",
            get(one).patch(change).delete(remove),
        )
        .route(HOOKS_PATH, post(hook))
        .route("/p(1)", get(|| async { ("x)", 1) }))"#;
    let got: BTreeSet<_> = routes_in_source(src, "t.rs").into_iter().collect();
    let want: BTreeSet<_> = [
        ("GET", "/a/{x}"),
        ("POST", "/a/{x}"),
        ("GET", "/b/{y}/c"),
        ("PATCH", "/b/{y}/c"),
        ("DELETE", "/b/{y}/c"),
        ("POST", "/internal/hooks"),
        ("GET", "/p(1)"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(got, want);
}

/// Every route in the sources is in `docs/openapi.yaml`, and every route there is in the
/// sources (both with the listed exceptions only).
#[test]
fn openapi_and_router_sources_agree_both_ways() {
    let documented = openapi_routes();
    let served = source_routes();
    assert!(
        served.len() >= 20,
        "found only {} routes in the sources",
        served.len()
    );
    let ignored: BTreeSet<(String, String)> = UNDOCUMENTED_ROUTES
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    for r in &ignored {
        assert!(
            served.contains_key(r),
            "{} {} is listed as undocumented but no router serves it; remove it from the list",
            r.0,
            r.1
        );
        assert!(
            !documented.contains(r),
            "{} {} is listed as undocumented but docs/openapi.yaml has it",
            r.0,
            r.1
        );
    }
    let missing: Vec<String> = served
        .iter()
        .filter(|(r, _)| !documented.contains(*r) && !ignored.contains(*r))
        .map(|((m, p), f)| format!("{m} {p} (served in {f})"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes served but missing from docs/openapi.yaml:\n{}",
        missing.join("\n")
    );
    let stale: Vec<String> = documented
        .iter()
        .filter(|r| !served.contains_key(*r))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        stale.is_empty(),
        "routes in docs/openapi.yaml that no router serves:\n{}",
        stale.join("\n")
    );
}

/// The real routers, merged as `zhibo serve` merges them, over a configuration whose table
/// is unreachable: every probe below is answered before any read.
async fn routers() -> axum::Router {
    let env: BTreeMap<&str, &str> = BTreeMap::from([
        ("ZHIBO_TABLE", "zhibo_docs_test"),
        ("ZHIBO_DYNAMO_ENDPOINT", "http://127.0.0.1:9"),
        ("ZHIBO_S3_ENDPOINT", "http://127.0.0.1:9"),
        ("PUSH_KEY", "docs-test-push-key-0123456789"),
        ("HOOK_SECRET", "docs-test-hook-secret-0123456789"),
        ("PLAYBACK_MODE", "signed"),
        ("PLAY_KEY", "docs-test-play-key-0123456789"),
    ]);
    let config = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).expect("config");
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "docs",
            "docs",
            None,
            None,
            "docs-test",
        ))
        .load()
        .await;
    let play = fn_play::PlayState::new(config.clone(), &sdk);
    zhibo_local::api_router(Deps::new(config, &sdk), play)
}

/// The status and body of an unauthenticated, empty request to `path`.
async fn probe(router: &axum::Router, method: &str, path: &str) -> (u16, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .body(axum::body::Body::empty())
        .expect("request");
    let res = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        router.clone().oneshot(req),
    )
    .await
    .unwrap_or_else(|_| panic!("{method} {path} took more than 20 s (did it try a read?)"))
    .expect("infallible");
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// True when the answer is the router's own 404 (no route) or 405 (no such method).
fn is_fallback(status: u16, body: &str) -> bool {
    let errcode = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["errcode"].as_i64());
    (status == 404 && errcode == Some(codes::NOT_FOUND) && body.contains("no route"))
        || (status == 405 && errcode == Some(codes::METHOD_NOT_ALLOWED))
}

/// Every (method, path) of `docs/openapi.yaml` reaches a handler of the real routers.
#[tokio::test]
async fn every_documented_route_is_served_by_the_routers() {
    let router = routers().await;
    // The probe can tell: an unknown path and a wrong method are the fallbacks.
    let (s, b) = probe(&router, "GET", "/v1/no-such-route").await;
    assert!(is_fallback(s, &b), "unknown route answered {s} {b}");
    let (s, b) = probe(&router, "PUT", "/v1/rooms").await;
    assert!(is_fallback(s, &b), "wrong method answered {s} {b}");
    let mut unserved = Vec::new();
    for (method, path) in openapi_routes() {
        let concrete = path
            .replace("{room_id}", "7")
            .replace("{app_id}", "demo")
            .replace("{id}", "evt_0123456789abcdef")
            .replace("{file}", "0199a0b1c2d3e4f5.m3u8");
        assert!(
            !concrete.contains('{'),
            "no example value for a parameter of {path}"
        );
        let (status, body) = probe(&router, &method, &concrete).await;
        if is_fallback(status, &body) {
            unserved.push(format!("{method} {path}: {status} {body}"));
        }
    }
    assert!(
        unserved.is_empty(),
        "documented in docs/openapi.yaml but not served:\n{}",
        unserved.join("\n")
    );
}

// ---- test vectors ------------------------------------------------------------------------

/// One ```` ```zhibo-vector KIND ```` block: its kind and `key: value` lines, in order.
#[derive(Debug)]
struct Vector {
    kind: String,
    line: usize,
    fields: BTreeMap<String, String>,
}

fn vectors(md: &str) -> Vec<Vector> {
    let mut out = Vec::new();
    let mut lines = md.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(kind) = line.trim_end().strip_prefix("```zhibo-vector ") else {
            continue;
        };
        let mut fields = BTreeMap::new();
        loop {
            let (_, l) = lines
                .next()
                .unwrap_or_else(|| panic!("docs/api.md:{}: unterminated vector", n + 1));
            if l.trim_end() == "```" {
                break;
            }
            let (k, v) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("docs/api.md:{}: {l:?} is not `key: value`", n + 1));
            let v = v.strip_prefix(' ').unwrap_or(v);
            assert!(
                fields.insert(k.trim().to_string(), v.to_string()).is_none(),
                "docs/api.md:{}: {k} twice",
                n + 1
            );
        }
        out.push(Vector {
            kind: kind.trim().to_string(),
            line: n + 1,
            fields,
        });
    }
    out
}

impl Vector {
    fn get(&self, k: &str) -> &str {
        self.fields.get(k).map(String::as_str).unwrap_or_else(|| {
            panic!(
                "docs/api.md:{}: {} vector has no `{k}`",
                self.line, self.kind
            )
        })
    }
    fn int(&self, k: &str) -> i64 {
        self.get(k)
            .parse()
            .unwrap_or_else(|_| panic!("docs/api.md:{}: `{k}` must be an integer", self.line))
    }
    /// Compares the documented outputs with `computed`, and checks that the block has exactly
    /// `inputs` and the computed keys.
    fn check(&self, inputs: &[&str], computed: &[(&str, String)], errors: &mut Vec<String>) {
        let known: BTreeSet<&str> = inputs
            .iter()
            .copied()
            .chain(computed.iter().map(|(k, _)| *k))
            .collect();
        for k in self.fields.keys() {
            if !known.contains(k.as_str()) {
                errors.push(format!(
                    "docs/api.md:{}: {} vector: unknown key `{k}`",
                    self.line, self.kind
                ));
            }
        }
        for (k, want) in computed {
            match self.fields.get(*k) {
                Some(doc) if doc == want => {}
                Some(doc) => errors.push(format!(
                    "docs/api.md:{}: {} vector: `{k}` is {doc:?}; the code computes\n{k}: {want}",
                    self.line, self.kind
                )),
                None => errors.push(format!(
                    "docs/api.md:{}: {} vector: `{k}` missing; the code computes\n{k}: {want}",
                    self.line, self.kind
                )),
            }
        }
    }
}

fn request_signature(v: &Vector, errors: &mut Vec<String>) {
    let query = v.get("query");
    let r = RequestToSign {
        method: v.get("method"),
        path: v.get("path"),
        query: (!query.is_empty()).then_some(query),
        timestamp: v.int("timestamp"),
        nonce: v.get("nonce"),
        body: v.get("body").as_bytes(),
    };
    let secret = v.get("secret").as_bytes();
    let to_sign = r.string_to_sign();
    let signature = r.sign(secret);
    assert_eq!(r.verify(secret, &signature, r.timestamp), Ok(()));
    let lines: Vec<&str> = to_sign.split('\n').collect();
    v.check(
        &[
            "secret",
            "method",
            "path",
            "query",
            "timestamp",
            "nonce",
            "body",
        ],
        &[
            ("canonical_query", lines[2].to_string()),
            ("body_sha256", lines[5].to_string()),
            ("string_to_sign", to_sign.replace('\n', "\\n")),
            ("signature", signature),
        ],
        errors,
    );
}

fn push_url(v: &Vector, errors: &mut Vec<String>) {
    let (master, app) = (v.get("master_key"), v.get("app_id"));
    let room = v.int("room_id") as u64;
    let expires_at = v.int("expires_at");
    let name = stream_name(app, room);
    let sig = UrlSignature::sign_room(master, UrlPurpose::Push, app, room, expires_at);
    assert_eq!(
        UrlSignature::verify_stream(
            master,
            UrlPurpose::Push,
            &name,
            Some(&sig.tx_secret),
            Some(&sig.tx_time),
            expires_at - 60
        ),
        Ok(expires_at)
    );
    v.check(
        &[
            "master_key",
            "app_id",
            "room_id",
            "expires_at",
            "ingest_host",
        ],
        &[
            ("app_key", app_url_key(master, UrlPurpose::Push, app)),
            ("stream_name", name.clone()),
            ("txTime", sig.tx_time.clone()),
            ("txSecret", sig.tx_secret.clone()),
            (
                "push_url",
                format!(
                    "rtmp://{}/live/{name}?{}",
                    v.get("ingest_host"),
                    sig.query()
                ),
            ),
        ],
        errors,
    );
}

fn play_url(v: &Vector, errors: &mut Vec<String>) {
    let (master, app) = (v.get("master_key"), v.get("app_id"));
    let room = v.int("room_id") as u64;
    let now = v.int("now");
    let playback = Playback::Signed {
        api_base_url: Some(v.get("api_base_url").to_string()),
        play_key: master.to_string(),
        ttl_s: v.int("ttl_s"),
    };
    let live = playback.live(app, room, now);
    let replay = playback.replay(app, room, v.get("replay_id"), now);
    let expires_at = live.expires_at.expect("signed URLs expire");
    let sig = UrlSignature::sign_room(master, UrlPurpose::Play, app, room, expires_at);
    assert_eq!(
        UrlSignature::verify_stream(
            master,
            UrlPurpose::Play,
            &stream_name(app, room),
            Some(&sig.tx_secret),
            Some(&sig.tx_time),
            now
        ),
        Ok(expires_at)
    );
    v.check(
        &[
            "master_key",
            "app_id",
            "room_id",
            "api_base_url",
            "now",
            "ttl_s",
            "replay_id",
        ],
        &[
            ("app_key", app_url_key(master, UrlPurpose::Play, app)),
            ("expires_at", expires_at.to_string()),
            ("txTime", sig.tx_time),
            ("txSecret", sig.tx_secret),
            ("live_url", live.url),
            ("replay_url", replay.url),
        ],
        errors,
    );
}

fn hook_signature(v: &Vector, errors: &mut Vec<String>) {
    let (secret, t, body) = (v.get("secret").as_bytes(), v.int("t"), v.get("body"));
    serde_json::from_str::<HookEvent>(body).unwrap_or_else(|e| {
        panic!(
            "docs/api.md:{}: the hook body is not a hook event: {e}",
            v.line
        )
    });
    let header = BodySignature::header(secret, t, body.as_bytes());
    assert_eq!(
        BodySignature::verify_within(
            secret,
            Some(&header),
            body.as_bytes(),
            t,
            HOOK_CLOCK_WINDOW_S
        ),
        Ok(())
    );
    v.check(&["secret", "t", "body"], &[("header", header)], errors);
}

fn webhook_signature(v: &Vector, errors: &mut Vec<String>) {
    let (secret, t, body) = (v.get("secret"), v.int("t"), v.get("body"));
    let header = webhook::signature_header(secret, t, body.as_bytes());
    webhook::verify(secret, Some(&header), body.as_bytes(), t).unwrap_or_else(|e| {
        panic!(
            "docs/api.md:{}: the webhook body does not verify as an event: {e}",
            v.line
        )
    });
    v.check(&["secret", "t", "body"], &[("header", header)], errors);
}

#[test]
fn every_test_vector_matches_the_signing_code() {
    let all = vectors(&api_md());
    let mut errors = Vec::new();
    let mut kinds = BTreeSet::new();
    for v in &all {
        kinds.insert(v.kind.as_str());
        match v.kind.as_str() {
            "request-signature" => request_signature(v, &mut errors),
            "push-url" => push_url(v, &mut errors),
            "play-url" => play_url(v, &mut errors),
            "hook-signature" => hook_signature(v, &mut errors),
            "webhook-signature" => webhook_signature(v, &mut errors),
            other => errors.push(format!(
                "docs/api.md:{}: unknown vector kind {other:?}",
                v.line
            )),
        }
    }
    for k in [
        "request-signature",
        "push-url",
        "play-url",
        "hook-signature",
        "webhook-signature",
    ] {
        if !kinds.contains(k) {
            errors.push(format!("docs/api.md has no {k} vector"));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// The vector reader itself: a wrong documented value is reported.
#[test]
fn a_wrong_vector_is_reported() {
    let md = "```zhibo-vector hook-signature\nsecret: s\nt: 1\nbody: {\"event\":\"publish\",\"event_id\":\"e\",\"session_id\":\"s\",\"seq\":0,\"app_id\":\"demo\",\"room_id\":7,\"stream_name\":\"demo_7\",\"worker_id\":\"w\",\"client_ip\":\"::1\",\"at_ms\":1}\nheader: t=1,v1=00\n```\n";
    let v = vectors(md);
    assert_eq!(v.len(), 1);
    let mut errors = Vec::new();
    hook_signature(&v[0], &mut errors);
    assert_eq!(errors.len(), 1, "{errors:?}");
}

// ---- coverage ----------------------------------------------------------------------------

/// The text of `docs/api.md` from heading `## {title}` to the next `## ` heading.
fn section<'a>(md: &'a str, title: &str) -> &'a str {
    let head = format!("\n## {title}\n");
    let start = md
        .find(&head)
        .unwrap_or_else(|| panic!("docs/api.md has no section \"## {title}\""));
    let body = &md[start + head.len()..];
    &body[..body.find("\n## ").unwrap_or(body.len())]
}

/// `pub const NAME: i64 = N;` lines inside `pub mod {module} { … }` of a source file.
fn consts_in_module(src: &str, module: &str) -> BTreeMap<String, i64> {
    let head = format!("pub mod {module} {{");
    let start = src
        .find(&head)
        .unwrap_or_else(|| panic!("no `{head}` in the source"));
    let body = &src[start + head.len()..];
    let body = &body[..body.find("\n}").expect("end of module")];
    body.lines()
        .filter_map(|l| {
            let l = l.trim().strip_prefix("pub const ")?;
            let (name, rest) = l.split_once(": i64 = ")?;
            Some((name.to_string(), rest.trim_end_matches(';').parse().ok()?))
        })
        .collect()
}

/// The wire names of `pub enum EventType` (its `#[serde(rename = "..")]` attributes).
fn event_type_names() -> Vec<String> {
    let src = read(SRC_WEBHOOK);
    let start = src.find("pub enum EventType {").expect("enum EventType");
    let body = &src[start..];
    let body = &body[..body.find("\n}").expect("end of enum")];
    body.match_indices("rename = \"")
        .map(|(i, m)| {
            let rest = &body[i + m.len()..];
            rest[..rest.find('"').expect("closing quote")].to_string()
        })
        .collect()
}

/// The string literals after `=>` inside `{item} { … }` of a source file (a `match` of wire
/// names).
fn wire_names_in(src: &str, item: &str) -> Vec<String> {
    let start = src
        .find(&format!("{item} {{"))
        .unwrap_or_else(|| panic!("no `{item}` in the source"));
    let body = &src[start..];
    let body = &body[..body.find("\n}").expect("end of item")];
    body.match_indices("=> \"")
        .map(|(i, m)| {
            let rest = &body[i + m.len()..];
            rest[..rest.find('"').expect("closing quote")].to_string()
        })
        .collect()
}

/// The unit variants of `pub enum {name}`, in snake_case (their serde names).
fn snake_case_variants(src: &str, name: &str) -> Vec<String> {
    let start = src
        .find(&format!("pub enum {name} {{"))
        .unwrap_or_else(|| panic!("no enum {name}"));
    let body = &src[start..];
    let body = &body[body.find('{').expect("{") + 1..body.find("\n}").expect("end of enum")];
    body.lines()
        .map(str::trim)
        .filter_map(|l| l.strip_suffix(','))
        .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|v| {
            let mut out = String::new();
            for (i, c) in v.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            }
            out
        })
        .collect()
}

/// Hook events, actions and status-change reasons the code defines are in `docs/api.md`.
#[test]
fn every_hook_event_action_and_reason_is_documented() {
    let md = api_md();
    let hooks_src = read(SRC_HOOKS);
    let kinds = snake_case_variants(&hooks_src, "HookEventKind");
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    let hooks = section(&md, "Worker hooks");
    for k in &kinds {
        serde_json::from_value::<HookEventKind>(serde_json::json!(k))
            .unwrap_or_else(|e| panic!("hook event {k:?} read from the source: {e}"));
        assert!(
            hooks.contains(&format!("`{k}`")),
            "hook event {k} is not in docs/api.md \"Worker hooks\""
        );
    }
    let unpublish_reasons = snake_case_variants(&hooks_src, "UnpublishReason");
    assert_eq!(unpublish_reasons.len(), 2, "{unpublish_reasons:?}");
    for r in &unpublish_reasons {
        serde_json::from_value::<UnpublishReason>(serde_json::json!(r))
            .unwrap_or_else(|e| panic!("unpublish reason {r:?} read from the source: {e}"));
        assert!(
            hooks.contains(&format!("`\"{r}\"`")),
            "unpublish reason {r} is not in docs/api.md \"Worker hooks\""
        );
    }

    let lifecycle = read(SRC_LIFECYCLE);
    let actions = wire_names_in(&lifecycle, "impl Action");
    assert_eq!(actions.len(), 4, "{actions:?}");
    let rooms = section(&md, "Rooms");
    for a in &actions {
        serde_json::from_value::<Action>(serde_json::json!(a))
            .unwrap_or_else(|e| panic!("action {a:?} read from the source: {e}"));
        assert!(
            rooms.contains(&format!("\"{a}\"")),
            "action {a} is not in docs/api.md \"Rooms\""
        );
    }

    let reasons = wire_names_in(&lifecycle, "impl Cause");
    assert!(reasons.len() >= 7, "{reasons:?}");
    let statuses = section(&md, "live_status");
    for r in reasons.iter().chain(actions.iter()) {
        assert!(
            statuses.contains(&format!("`{r}`")),
            "reason {r} is not in the event data of docs/api.md \"live_status\""
        );
    }
}

#[test]
fn every_status_event_and_error_code_is_documented() {
    let md = api_md();
    let statuses = section(&md, "live_status");
    for s in LiveStatus::ALL {
        assert!(
            statuses.contains(&format!("| {} |", s.code())),
            "live_status {} is not in the table of docs/api.md \"live_status\"",
            s.code()
        );
    }

    let names = event_type_names();
    assert_eq!(
        names.len(),
        9,
        "event types read from the source: {names:?}"
    );
    let webhooks = section(&md, "Webhooks to the customer");
    for n in &names {
        let t = webhook::EventType::parse(n)
            .unwrap_or_else(|| panic!("{n} is read from the source but does not parse"));
        assert_eq!(t.as_str(), n);
        assert!(
            webhooks.contains(&format!("| `{n}` |")),
            "event {n} is not in the events table of docs/api.md \"Webhooks to the customer\""
        );
    }

    let errors = section(&md, "Errors");
    let api = consts_in_module(&read(SRC_ERROR_CODES), "codes");
    assert_eq!(api.get("BAD_FIELD"), Some(&codes::BAD_FIELD));
    assert_eq!(api.get("INTERNAL"), Some(&codes::INTERNAL));
    let wx = consts_in_module(&read(SRC_WECHAT), "wx_codes");
    assert_eq!(wx.get("NO_ROOMS"), Some(&fn_wechat::wx_codes::NO_ROOMS));
    assert_eq!(
        wx.get("DATA_FORMAT"),
        Some(&fn_wechat::wx_codes::DATA_FORMAT)
    );
    assert!(api.len() >= 10 && wx.len() >= 10, "{api:?} {wx:?}");
    for (name, code) in api.iter().chain(wx.iter()) {
        assert!(
            errors.contains(&format!("| {code} |")),
            "errcode {code} ({name}) is not in a table of docs/api.md \"Errors\""
        );
    }
}

// ---- references ----------------------------------------------------------------------------

fn tracked_files() -> Vec<PathBuf> {
    let root = repo_root();
    let out = std::process::Command::new("git")
        .arg("ls-files")
        .arg("-z")
        .current_dir(&root)
        .output()
        .expect("git ls-files (git must be installed)");
    assert!(out.status.success(), "git ls-files failed");
    out.stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
        .collect()
}

/// Nothing in the repository points at the product contract outside it: the docs are
/// `docs/api.md`, and every reference to one of its sections (the file name, then the section
/// name in double quotes) names one of its headings.
#[test]
fn no_tracked_file_refers_outside_the_repository() {
    // Built from pieces so that this file does not match itself.
    let needles = [concat!("API", ".md"), concat!("/work", "/shared")];
    let md = api_md();
    let headings: BTreeSet<&str> = md
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .collect();
    let mut problems = Vec::new();
    let root = repo_root();
    let files = tracked_files();
    assert!(
        files.len() > 50,
        "git ls-files listed {} files",
        files.len()
    );
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue; // binary or deleted in the work tree
        };
        let rel = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
        for (n, line) in text.lines().enumerate() {
            for needle in needles {
                if line.contains(needle) {
                    problems.push(format!("{rel}:{}: mentions {needle}", n + 1));
                }
            }
            for (i, m) in line.match_indices("docs/api.md \"") {
                let rest = &line[i + m.len()..];
                let Some(end) = rest.find('"') else { continue };
                if !headings.contains(&rest[..end]) {
                    problems.push(format!(
                        "{rel}:{}: docs/api.md has no section {:?}",
                        n + 1,
                        &rest[..end]
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

//! The fixtures in `events/` themselves: each function's tests (`functions/*/tests/events.rs`,
//! and `tests/tests/*.rs` for the functions invoked by events rather than HTTP) run them through
//! what the deployed function runs; this file checks that they are what API Gateway sends, that
//! every one is used, and the script that signs them. The fixtures are signed at a fixed time by an independent Python implementation
//! (`scripts/sign-event.py`): management requests for the README's example app, worker hooks
//! with the fixture hook secret, playback URLs with the fixture play key, the realtime
//! authorizer's viewer tokens with the fixture viewer key, so they also pin the signing
//! algorithms. `events/` has one fixture per function and scenario, and every one of
//! them is used by a test (checked here).

use serde_json::Value;
use zhibo_api::with_fallbacks;
use zhibo_core::clock::now;
use zhibo_core::signing::{BodySignature, SignatureError};
use zhibo_test_support::lambda_event::*;
use zhibo_test_support::TestApi;

/// The function binaries (template.yaml's `Binary:`) and the fixture name prefix of each.
const FUNCTIONS: [&str; 9] = [
    "rooms",
    "wechat",
    "hooks",
    "sweeper",
    "webhooks",
    "webhook-delivery",
    "replay-indexer",
    "play",
    "realtime-authorizer",
];

/// Every file name in `events/` ending in `.json`, sorted.
fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("events"))
        .expect("events/")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

// ---- the fixtures themselves -------------------------------------------------------------

#[test]
fn every_fixture_is_used_by_a_test_and_every_function_has_one() {
    let mut sources = String::new();
    let mut dirs = vec!["tests/tests".to_string(), "media-worker/tests".to_string()];
    for f in std::fs::read_dir(repo().join("functions")).expect("functions/") {
        dirs.push(format!(
            "functions/{}/tests",
            f.unwrap().file_name().to_string_lossy()
        ));
    }
    for dir in &dirs {
        let Ok(entries) = std::fs::read_dir(repo().join(dir)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let names = fixture_names();
    assert!(names.len() >= 27, "{names:?}");
    // Used: named as a string literal by some test.
    let unused: Vec<&String> = names
        .iter()
        .filter(|n| !sources.contains(&format!("\"{n}\"")))
        .collect();
    assert!(
        unused.is_empty(),
        "fixtures in events/ that no test in functions/*/tests, tests/tests or media-worker/tests uses: {unused:?}"
    );
    // Named after a function, and every function (every `Binary:` of template.yaml) has one.
    let template = std::fs::read_to_string(repo().join("template.yaml")).unwrap();
    let binaries: Vec<&str> = template
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Binary: "))
        .map(str::trim)
        .collect();
    let mut sorted = binaries.clone();
    sorted.sort_unstable();
    let mut known = FUNCTIONS.to_vec();
    known.sort_unstable();
    assert_eq!(sorted, known, "template.yaml's functions");
    let function_of = |name: &str| {
        FUNCTIONS
            .iter()
            .filter(|f| name.starts_with(&format!("{f}-")))
            .max_by_key(|f| f.len())
            .copied()
    };
    for n in &names {
        assert!(
            function_of(n).is_some(),
            "{n}: a fixture is named {{binary}}-{{scenario}}.json"
        );
    }
    for f in FUNCTIONS {
        assert!(
            names.iter().any(|n| function_of(n) == Some(f)),
            "no fixture for function {f}"
        );
    }
    // Every fixture is JSON.
    for n in &names {
        let _: Value = serde_json::from_str(&fixture(n)).unwrap_or_else(|e| panic!("{n}: {e}"));
    }
}

/// True when `path` matches the route template `route` (`{name}` matches one segment); the
/// matched parameters.
fn match_route(route: &str, path: &str) -> Option<Vec<(String, String)>> {
    let (r, p): (Vec<&str>, Vec<&str>) = (route.split('/').collect(), path.split('/').collect());
    if r.len() != p.len() {
        return None;
    }
    let mut params = Vec::new();
    for (r, p) in r.iter().zip(&p) {
        match r.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            Some(name) if !p.is_empty() => params.push((name.to_string(), p.to_string())),
            Some(_) => return None,
            None if r == p => {}
            None => return None,
        }
    }
    Some(params)
}

#[test]
fn api_gateway_fixtures_are_what_api_gateway_sends() {
    let template = std::fs::read_to_string(repo().join("template.yaml")).unwrap();
    let names: Vec<String> = fixture_names()
        .into_iter()
        .filter(|n| n.ends_with(".apigw-v2.json"))
        .collect();
    assert!(names.len() >= 21, "{names:?}");
    for name in &names {
        let text = fixture(name);
        let v: Value = serde_json::from_str(&text).unwrap();
        let req = request(&text);
        let ctx = &v["requestContext"];
        assert_eq!(v["version"], "2.0", "{name}");
        let raw_path = v["rawPath"].as_str().unwrap();
        let method = ctx["http"]["method"].as_str().unwrap();
        assert_eq!(ctx["http"]["path"], raw_path, "{name}");
        assert_eq!(req.uri().path(), raw_path, "{name}");
        assert_eq!(req.method().as_str(), method, "{name}");
        let raw_query = v["rawQueryString"].as_str().unwrap();
        assert_eq!(req.uri().query().unwrap_or(""), raw_query, "{name}");
        assert_eq!(v["routeKey"], ctx["routeKey"], "{name}");
        assert_eq!(ctx["stage"], "$default", "{name}");
        assert_eq!(ctx["domainName"], v["headers"]["host"], "{name}");
        let t = ctx["timeEpoch"].as_i64().unwrap() / 1000;
        assert!(
            (FIXTURE_TIME..FIXTURE_TIME + 60).contains(&t),
            "{name}: {t}"
        );
        // The query parameters API Gateway splits out are those of the raw query.
        let pairs = zhibo_api::query_pairs(Some(raw_query));
        let qsp = v["queryStringParameters"].as_object();
        assert_eq!(qsp.map_or(0, |q| q.len()), pairs.len(), "{name}");
        for (k, val) in &pairs {
            assert_eq!(v["queryStringParameters"][k], val.as_str(), "{name}: {k}");
        }
        // A body's content-length, when given, is its length.
        if let Some(len) = v["headers"]["content-length"].as_str() {
            assert_eq!(
                len.parse::<usize>().unwrap(),
                v["body"].as_str().unwrap_or("").len(),
                "{name}"
            );
        }
        // A route key other than $default is one of the template's HttpApi events, and the
        // path parameters are what it matches.
        let route_key = v["routeKey"].as_str().unwrap();
        if route_key == "$default" {
            continue;
        }
        let (m, route) = route_key.split_once(' ').expect("METHOD /path");
        assert_eq!(m, method, "{name}");
        assert!(
            template.contains(&format!("Method: {m}, Path: {route}}}"))
                || template.contains(&format!("Method: {m}, Path: \"{route}\"}}")),
            "{name}: {route_key} is not an HttpApi event in template.yaml"
        );
        let params = match_route(route, raw_path)
            .unwrap_or_else(|| panic!("{name}: {raw_path} does not match {route}"));
        let pp = v["pathParameters"].as_object();
        assert_eq!(pp.map_or(0, |p| p.len()), params.len(), "{name}");
        for (k, val) in &params {
            assert_eq!(v["pathParameters"][k], val.as_str(), "{name}: {k}");
        }
    }
}

#[test]
fn fixtures_are_signed_for_the_readme_app() {
    let signed: Vec<String> = fixture_names()
        .into_iter()
        .filter(|n| {
            (n.starts_with("rooms-") || n.starts_with("webhooks-")) && n.ends_with(".apigw-v2.json")
        })
        .collect();
    for name in [
        "rooms-create.apigw-v2.json",
        "rooms-list.apigw-v2.json",
        "rooms-get.apigw-v2.json",
        "rooms-patch.apigw-v2.json",
        "rooms-status.apigw-v2.json",
        "rooms-delete.apigw-v2.json",
        "rooms-push-url.apigw-v2.json",
        "rooms-actions.apigw-v2.json",
        "rooms-replays.apigw-v2.json",
        "rooms-play-urls.apigw-v2.json",
        "webhooks-put.apigw-v2.json",
        "webhooks-deliveries.apigw-v2.json",
        "webhooks-redeliver.apigw-v2.json",
    ] {
        assert!(signed.iter().any(|n| n == name), "{name}");
    }
    let mut nonces = std::collections::HashSet::new();
    for name in &signed {
        let req = request(&fixture(name));
        assert_eq!(header(&req, "x-zhibo-app"), "demo", "{name}");
        assert_eq!(header(&req, "x-zhibo-timestamp"), FIXTURE_TIME.to_string());
        assert!(
            nonces.insert(header(&req, "x-zhibo-nonce")),
            "{name}: nonce reused"
        );
        assert_eq!(
            verify_request(&req, README_SECRET, FIXTURE_TIME),
            Ok(()),
            "{name}"
        );
        // ... and only for that secret, at that time.
        assert_eq!(
            verify_request(&req, "another-secret-0123456789", FIXTURE_TIME),
            Err(SignatureError::Mismatch),
            "{name}"
        );
        assert!(
            matches!(
                verify_request(&req, README_SECRET, now()),
                Err(SignatureError::OutsideWindow { .. })
            ),
            "{name}"
        );
    }
}

// ---- scripts/sign-event.py ---------------------------------------------------------------

fn sign_event_script(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(repo().join("scripts/sign-event.py"))
        .args(args)
        .env_remove("ZHIBO_APP_ID")
        .env_remove("ZHIBO_APP_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .expect("python3 runs scripts/sign-event.py (Python 3 is required)")
}

#[tokio::test]
async fn sign_event_script_signs_fixtures_for_invoking_by_hand() {
    let api = TestApi::start().await;
    let rooms = with_fallbacks(fn_rooms::router(api.state.clone()));
    let webhooks = with_fallbacks(fn_webhooks::router(api.state.clone()));
    let env = [
        ("ZHIBO_APP_ID", api.app.app_id.as_str()),
        ("ZHIBO_APP_SECRET", api.app.app_secret.as_str()),
    ];
    // A query (canonicalized), a body (hashed), and neither.
    for (name, router, want) in [
        ("rooms-list.apigw-v2.json", &rooms, 200),
        ("rooms-push-url.apigw-v2.json", &rooms, 404),
        ("webhooks-deliveries.apigw-v2.json", &webhooks, 200),
        ("rooms-play-urls.apigw-v2.json", &rooms, 404),
    ] {
        let path = fixture_path(name);
        let out = sign_event_script(&[path.to_str().unwrap()], &env);
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let req = request(&stdout);
        assert_eq!(header(&req, "x-zhibo-app"), api.app.app_id);
        assert_eq!(
            verify_request(&req, &api.app.app_secret, now()),
            Ok(()),
            "{name}"
        );
        let v: Value = serde_json::from_str(&stdout).unwrap();
        let t = v["requestContext"]["timeEpoch"].as_i64().unwrap() / 1000;
        assert!(
            (t - now()).abs() <= 5,
            "{name}: requestContext.timeEpoch {t}"
        );
        // Only the signature headers and the time changed.
        let mut orig: Value = serde_json::from_str(&fixture(name)).unwrap();
        let mut signed = v.clone();
        for e in [&mut orig, &mut signed] {
            for h in [
                "x-zhibo-app",
                "x-zhibo-timestamp",
                "x-zhibo-nonce",
                "x-zhibo-signature",
            ] {
                e["headers"].as_object_mut().unwrap().remove(h);
            }
            e["requestContext"]["time"] = Value::Null;
            e["requestContext"]["timeEpoch"] = Value::Null;
        }
        assert_eq!(orig, signed, "{name}");
        // And the function accepts it (rooms 1 does not exist in this table: 404, not 401).
        let (status, body) = invoke(router, req).await;
        assert_eq!(status, want, "{name}: {body}");
    }

    // --hook-secret re-signs a worker hook's Zhibo-Signature.
    let path = fixture_path("hooks-publish.apigw-v2.json");
    let out = sign_event_script(
        &["--hook-secret", FIXTURE_HOOK_SECRET, path.to_str().unwrap()],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let req = request(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(
        BodySignature::verify(
            FIXTURE_HOOK_SECRET.as_bytes(),
            Some(&header(&req, "zhibo-signature")),
            req.body(),
            now()
        ),
        Ok(())
    );
    assert_eq!(
        req.body().as_ref(),
        request(&fixture("hooks-publish.apigw-v2.json"))
            .body()
            .as_ref()
    );

    // --at and --nonce reproduce a fixture exactly as recorded (the way they were made).
    let path = fixture_path("rooms-actions.apigw-v2.json");
    let recorded = request(&fixture("rooms-actions.apigw-v2.json"));
    let out = sign_event_script(
        &[
            "--at",
            &FIXTURE_TIME.to_string(),
            "--nonce",
            &header(&recorded, "x-zhibo-nonce"),
            path.to_str().unwrap(),
        ],
        &[
            ("ZHIBO_APP_ID", "demo"),
            ("ZHIBO_APP_SECRET", README_SECRET),
        ],
    );
    assert!(out.status.success());
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    let orig: Value = serde_json::from_str(&fixture("rooms-actions.apigw-v2.json")).unwrap();
    assert_eq!(again, orig);

    // Refusals, with the reason: no credentials, an unsigned route, a hook without its secret.
    for (args, env, needle) in [
        (vec!["rooms-list.apigw-v2.json"], vec![], "ZHIBO_APP_ID"),
        (
            vec!["wechat-token.apigw-v2.json"],
            env.to_vec(),
            "invoke it as is",
        ),
        (
            vec!["hooks-publish.apigw-v2.json"],
            env.to_vec(),
            "--hook-secret",
        ),
        (
            vec!["--hook-secret", "s", "rooms-list.apigw-v2.json"],
            vec![],
            "/internal/hooks",
        ),
        (vec!["sweeper-schedule.json"], env.to_vec(), "payload v2"),
    ] {
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let last = args.pop().unwrap();
        args.push(fixture_path(&last).to_string_lossy().into_owned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = sign_event_script(&args, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

/// `--viewer-key` re-issues the token of an AppSync Events authorizer request
/// (`events/realtime-authorizer-*.json`) for invoking it by hand: same claims, an hour from now.
#[test]
fn sign_event_script_reissues_the_authorizer_fixtures_tokens() {
    use fn_realtime_authorizer::handle;
    for (name, admitted) in [
        ("realtime-authorizer-connect.json", true),
        ("realtime-authorizer-subscribe.json", true),
        ("realtime-authorizer-publish.json", false),
    ] {
        let path = fixture_path(name);
        let out = sign_event_script(
            &[
                "--viewer-key",
                FIXTURE_VIEWER_TOKEN_KEY,
                path.to_str().unwrap(),
            ],
            &[],
        );
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let signed: Value = serde_json::from_slice(&out.stdout).unwrap();
        // What the function answers now (the recorded token expired long ago).
        let orig: Value = serde_json::from_str(&fixture(name)).unwrap();
        assert!(!handle(FIXTURE_VIEWER_TOKEN_KEY, &orig, now()).is_authorized);
        assert_eq!(
            handle(FIXTURE_VIEWER_TOKEN_KEY, &signed, now()).is_authorized,
            admitted,
            "{name}"
        );
        let claims = zhibo_core::audience::token::verify(
            FIXTURE_VIEWER_TOKEN_KEY,
            signed["authorizationToken"].as_str().unwrap(),
            now(),
            Some(("demo", 1)),
        )
        .unwrap();
        assert!(
            (claims.exp - now() - 3600).abs() <= 5,
            "{name}: exp {}",
            claims.exp
        );
        // Only the token changed.
        let (mut a, mut b) = (orig.clone(), signed.clone());
        a["authorizationToken"] = Value::Null;
        b["authorizationToken"] = Value::Null;
        assert_eq!(a, b, "{name}");
        // --at reproduces the fixture exactly (the way it was made).
        let out = sign_event_script(
            &[
                "--viewer-key",
                FIXTURE_VIEWER_TOKEN_KEY,
                "--at",
                &FIXTURE_TIME.to_string(),
                path.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&out.stdout).unwrap(),
            orig,
            "{name}"
        );
    }
    // Refusals, with the reason: an authorizer request without the key, the key on another event.
    for (args, needle) in [
        (vec!["realtime-authorizer-connect.json"], "--viewer-key"),
        (
            vec!["--viewer-key", "k", "rooms-list.apigw-v2.json"],
            "no authorizationToken",
        ),
    ] {
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let last = args.pop().unwrap();
        args.push(fixture_path(&last).to_string_lossy().into_owned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = sign_event_script(&args, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

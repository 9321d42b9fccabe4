//! No drift between the code and `template.yaml`: every route a function's router serves is an
//! HttpApi event of that function in the template and the other way round; every variable the
//! functions read (`zhibo_core::config::VARIABLES`) is set by the template as its use says.

use std::collections::{BTreeMap, BTreeSet};
use zhibo_core::config::{VarUse, VARIABLES};

fn read(rel: &str) -> String {
    let path = format!("{}/../{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The value of `const NAME: &str = "...";` in shared/core/src (paths the contract fixes).
fn shared_const(name: &str) -> Option<String> {
    let dir = format!("{}/../shared/core/src", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(dir).ok()? {
        let text = std::fs::read_to_string(entry.ok()?.path()).unwrap_or_default();
        if let Some(rest) = text.split(&format!("const {name}: &str = \"")).nth(1) {
            return rest.split('"').next().map(str::to_string);
        }
    }
    None
}

/// `(METHOD, path)` of every `.route("path", get(..).post(..))` in `src` (a path may also be
/// a `&str` constant of `zhibo_core`).
fn routes_in_source(src: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for chunk in src.split(".route(").skip(1) {
        let chunk = chunk.trim_start();
        let (path, rest) = match chunk.strip_prefix('"') {
            Some(rest) => match rest.split_once('"') {
                Some((p, r)) => (p.to_string(), r),
                None => continue,
            },
            None => {
                let Some((ident, r)) = chunk.split_once(',') else {
                    continue;
                };
                let path = shared_const(ident.trim())
                    .unwrap_or_else(|| panic!("route path {ident:?} is not a shared constant"));
                (path, r)
            }
        };
        // The method routers up to the call's closing parenthesis.
        let mut depth = 1;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let call = &rest[..end];
        for m in ["get", "post", "put", "patch", "delete", "options"] {
            let called = call.match_indices(&format!("{m}(")).any(|(i, _)| {
                i == 0 || !call[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
            });
            if called {
                out.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// Per function resource of the template: its `Binary` and its HTTP API `(METHOD, path)`s.
fn template_functions(t: &str) -> BTreeMap<String, BTreeSet<(String, String)>> {
    // Blocks of the top-level entries (`  Name:` at two spaces).
    let mut blocks: Vec<String> = Vec::new();
    for line in t.lines() {
        let top =
            line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':');
        match blocks.last_mut() {
            Some(b) if !top => {
                b.push_str(line);
                b.push('\n');
            }
            _ => blocks.push(format!("{line}\n")),
        }
    }
    let mut out = BTreeMap::new();
    for block in blocks
        .iter()
        .filter(|b| b.contains("Type: AWS::Serverless::Function"))
    {
        let Some(bin) = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("Binary: "))
            .map(str::to_string)
        else {
            continue;
        };
        let mut routes = BTreeSet::new();
        // The public API and the worker hooks' own API.
        for line in block
            .lines()
            .filter(|l| l.contains("ApiId: !Ref HttpApi") || l.contains("ApiId: !Ref HooksApi"))
        {
            let field = |name: &str| {
                let v = line.split(&format!("{name}: ")).nth(1).unwrap_or("");
                match v.strip_prefix('"') {
                    Some(quoted) => quoted.split('"').next().unwrap_or(""),
                    None => v.split([',', '}']).next().unwrap_or("").trim(),
                }
                .to_string()
            };
            routes.insert((field("Method"), field("Path")));
        }
        out.insert(bin, routes);
    }
    out
}

#[test]
fn every_route_is_in_the_template_and_nothing_else() {
    let t = read("template.yaml");
    let functions = template_functions(&t);
    let dir = format!("{}/../functions", env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("functions/") {
        let crate_dir = entry.expect("entry").path();
        let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap_or_default();
        let bins: Vec<String> = manifest
            .split("[[bin]]")
            .skip(1)
            .filter_map(|s| {
                s.lines()
                    .find_map(|l| l.trim().strip_prefix("name = "))
                    .map(|v| v.trim_matches('"').to_string())
            })
            .collect();
        let mut in_code = BTreeSet::new();
        for file in std::fs::read_dir(crate_dir.join("src")).expect("src/") {
            let path = file.expect("file").path();
            if path.extension().is_some_and(|e| e == "rs") {
                in_code.extend(routes_in_source(
                    &std::fs::read_to_string(&path).unwrap_or_default(),
                ));
            }
        }
        let in_template: BTreeSet<(String, String)> = bins
            .iter()
            .filter_map(|b| functions.get(b))
            .flatten()
            .cloned()
            .collect();
        assert_eq!(
            in_code,
            in_template,
            "{}: routes in the code (left) vs HttpApi events in template.yaml (right)",
            crate_dir.display()
        );
        checked += in_code.len();
    }
    assert!(
        checked >= 20,
        "only {checked} routes found: is the parser still right?"
    );
}

#[test]
fn the_route_parser_reads_method_routers() {
    let src = r#"Router::new()
        .route("/a", get(x).post(y))
        .route(
            "/b/{id}",
            get(z).patch(w).delete(v),
        )
        .route("/c", post(target).options(preflight))"#;
    let got: Vec<(String, String)> = routes_in_source(src).into_iter().collect();
    let want: Vec<(String, String)> = [
        ("GET", "/a"),
        ("GET", "/b/{id}"),
        ("DELETE", "/b/{id}"),
        ("OPTIONS", "/c"),
        ("PATCH", "/b/{id}"),
        ("POST", "/a"),
        ("POST", "/c"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect::<BTreeSet<_>>()
    .into_iter()
    .collect();
    assert_eq!(got, want);
}

#[test]
fn every_variable_is_set_as_its_use_says() {
    let t = read("template.yaml");
    let sets = |name: &str| {
        t.contains(&format!("\n        {name}: ")) || t.contains(&format!("\n          {name}: "))
    };
    for (name, usage) in VARIABLES {
        match usage {
            VarUse::Deployed => assert!(sets(name), "template.yaml does not set {name}"),
            VarUse::Secret => {
                assert!(
                    sets(&format!("{name}_SECRET_ARN")) && !sets(name),
                    "template.yaml must pass {name}_SECRET_ARN (never {name} itself)"
                );
                assert!(
                    zhibo_store::aws::SECRET_VARS.contains(name),
                    "{name} is a secret the template passes as {name}_SECRET_ARN, but the functions' loader (zhibo_store::aws::SECRET_VARS) never reads it"
                );
            }
            VarUse::LocalOnly => assert!(!sets(name), "template.yaml sets local-only {name}"),
            VarUse::Optional => {}
        }
    }
}

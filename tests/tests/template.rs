//! `template.yaml` against the one definition in `zhibo_core::table`: the table's keys,
//! indexes and TTL attribute must match what the code reads and writes.

use zhibo_core::table::{GSI_ROOMS_BY_START, GSI_ROOMS_BY_STATUS, INDEXES, PK, SK, TTL_ATTR};
use zhibo_store::LIFECYCLE_ATTRS;

fn template() -> String {
    let path = format!("{}/../template.yaml", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn table_definition_matches_the_schema() {
    let t = template();
    for line in [
        format!("{{AttributeName: {PK}, KeyType: HASH}}"),
        format!("{{AttributeName: {SK}, KeyType: RANGE}}"),
        format!("AttributeName: {TTL_ATTR}"),
        "StreamViewType: NEW_AND_OLD_IMAGES".to_string(),
    ] {
        assert!(t.contains(&line), "template.yaml lacks `{line}`");
    }
    for idx in INDEXES {
        for line in [
            format!("IndexName: {}", idx.name),
            format!("{{AttributeName: {}, KeyType: HASH}}", idx.hash_key),
            format!("{{AttributeName: {}, KeyType: RANGE}}", idx.range_key),
            format!("{{AttributeName: {}, AttributeType: S}}", idx.hash_key),
            format!("{{AttributeName: {}, AttributeType: S}}", idx.range_key),
        ] {
            assert!(
                t.contains(&line),
                "template.yaml lacks `{line}` for index {}",
                idx.name
            );
        }
    }
    for idx in INDEXES {
        let block = t
            .split(&format!("IndexName: {}\n", idx.name))
            .nth(1)
            .and_then(|rest| rest.split("IndexName:").next())
            .unwrap_or("");
        let want = if idx.keys_only { "KEYS_ONLY" } else { "ALL" };
        assert!(
            block.contains(&format!("ProjectionType: {want}")),
            "index {} must project {want}",
            idx.name
        );
    }
    assert_eq!(
        t.matches("IndexName: ").count(),
        INDEXES.len(),
        "template.yaml has an index the schema does not know"
    );
}

/// The room indexes are written whenever what they project changes: neither the goods (up to
/// ~60 KB) nor the lifecycle a heartbeat moves may be in them.
#[test]
fn room_indexes_project_neither_goods_nor_the_lifecycle() {
    let t = template();
    let mut volatile: Vec<&str> = LIFECYCLE_ATTRS.to_vec();
    volatile.extend(["goods", "version", "updated_at"]);
    for idx in [GSI_ROOMS_BY_START, GSI_ROOMS_BY_STATUS] {
        let block = t
            .split(&format!("IndexName: {}\n", idx.name))
            .nth(1)
            .and_then(|rest| rest.split("IndexName:").next())
            .expect("index in template.yaml");
        let projection = block
            .split("Projection:")
            .nth(1)
            .and_then(|p| p.split("\n        - ").next())
            .unwrap_or("");
        assert!(
            !projection.contains("ALL"),
            "index {} projects every attribute: {projection}",
            idx.name
        );
        for attr in &volatile {
            assert!(
                !projection
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|w| w == *attr),
                "index {} projects `{attr}`: {projection}",
                idx.name
            );
        }
        assert!(
            idx.keys_only,
            "schema: index {} must project keys only",
            idx.name
        );
    }
}

#[test]
fn every_function_binary_is_built_by_the_template() {
    let t = template();
    // Every [[bin]] of every crate under functions/.
    let dir = format!("{}/../functions", env!("CARGO_MANIFEST_DIR"));
    let mut bins = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("functions/") {
        let manifest = entry.expect("entry").path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        for section in text.split("[[bin]]").skip(1) {
            let name = section
                .lines()
                .find_map(|l| l.trim().strip_prefix("name = "))
                .map(|v| v.trim_matches('"').to_string())
                .expect("bin name");
            bins.push(name);
        }
    }
    assert!(bins.len() >= 4, "found only {bins:?}");
    for bin in bins {
        assert!(
            t.contains(&format!("Binary: {bin}\n")),
            "no function builds binary {bin}"
        );
    }
}

#[test]
fn replay_notifications_and_expiry_follow_the_object_layout() {
    use zhibo_core::object_keys::{LIVE_PREFIX, REPLAYS_PREFIX};
    let t = template();
    // The indexer is triggered by exactly the replay playlists.
    let indexer = t
        .split("  ReplayIndexerFunction:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n  ReplayIndexerFailures:").next())
        .expect("ReplayIndexerFunction");
    for line in [
        "Type: S3".to_string(),
        "Events: s3:ObjectCreated:*".to_string(),
        format!("{{Name: prefix, Value: {REPLAYS_PREFIX}}}"),
        "{Name: suffix, Value: .m3u8}".to_string(),
        "EventBridgePutEventsPolicy".to_string(),
        "S3ReadPolicy".to_string(),
        "EVENT_BUS_NAME".to_string(),
    ] {
        assert!(
            indexer.contains(&line),
            "ReplayIndexerFunction lacks `{line}`"
        );
    }
    // Replays and the segments they reference expire together, after REPLAY_TTL_DAYS.
    for prefix in [REPLAYS_PREFIX, LIVE_PREFIX] {
        let rule = t
            .split(&format!("Prefix: {prefix}\n"))
            .nth(1)
            .and_then(|rest| rest.lines().next())
            .unwrap_or("");
        assert_eq!(
            rule.trim(),
            "ExpirationInDays: !Ref ReplayTtlDays",
            "lifecycle rule for {prefix}"
        );
    }
    assert!(t.contains("REPLAY_TTL_DAYS: !Ref ReplayTtlDays"));
    // One bucket name, built the same way everywhere it is needed.
    let name = r#"!Join ["-", ["zhibo-media", !Select [2, !Split ["/", !Ref "AWS::StackId"]]]]"#;
    assert!(t.contains(&format!("BucketName: {name}")));
    assert!(t.contains(&format!("MEDIA_BUCKET: {name}")));
    assert_eq!(
        t.matches(name).count(),
        t.matches("\"zhibo-media\"").count(),
        "the bucket name is built differently somewhere"
    );
}

// ------------------------------------------------------------------------------------------
// Deployment checks (issue 7): secrets by ARN, the media worker's task definition, least
// privilege, alarms. Plain string checks over the template's own layout: two-space resource
// names, one `{Name: .., Value: ..}` per line in the worker's environment.
// ------------------------------------------------------------------------------------------

/// The entries of a top-level section (`Resources`, `Outputs`): each name with its text.
fn section_entries(t: &str, section: &str) -> Vec<(String, String)> {
    let body = t
        .split(&format!("\n{section}:\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("template.yaml has no {section} section"));
    let mut entries: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        if !line.is_empty() && !line.starts_with(' ') && !line.starts_with('#') {
            break; // the next top-level section
        }
        let name = line
            .strip_prefix("  ")
            .filter(|l| !l.starts_with(' ') && !l.starts_with('#'))
            .and_then(|l| l.strip_suffix(':'));
        match (name, entries.last_mut()) {
            (Some(name), _) => entries.push((name.to_string(), String::new())),
            (None, Some((_, text))) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    entries
}

fn resources_of_type<'a>(resources: &'a [(String, String)], ty: &str) -> Vec<&'a (String, String)> {
    let line = format!("    Type: {ty}\n");
    resources
        .iter()
        .filter(|(_, b)| b.contains(&line))
        .collect()
}

/// The top-level `Globals:` section's text.
fn globals(t: &str) -> &str {
    t.split("\nGlobals:\n")
        .nth(1)
        .and_then(|rest| rest.split("\nResources:\n").next())
        .expect("Globals")
}

/// `PUSH_KEY` → `PushKeySecret`: the secret resource that holds a variable's value.
fn secret_resource_for(var: &str) -> String {
    let mut name: String = var
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase())
                .unwrap_or_default()
        })
        .collect();
    name.push_str("Secret");
    name
}

fn read_repo_file(rel: &str) -> String {
    let path = format!("{}/../{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn secret_arn_variables_name_secrets_their_function_may_read() {
    let t = template();
    let resources = section_entries(&t, "Resources");
    let secrets: Vec<&str> = resources_of_type(&resources, "AWS::SecretsManager::Secret")
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    for s in [
        "PushKeySecret",
        "HookSecretSecret",
        "PlayKeySecret",
        "ViewerTokenKeySecret",
    ] {
        assert!(secrets.contains(&s), "no secret resource {s}");
        let block = &resources.iter().find(|(n, _)| n == s).unwrap().1;
        assert!(
            block.contains("GenerateSecretString:") && block.contains("PasswordLength: 48"),
            "{s} must be generated (48 characters)"
        );
    }
    // No key is a parameter or a plain environment value any more.
    assert!(
        !t.contains("NoEcho"),
        "keys come from Secrets Manager, not parameters"
    );
    for var in ["PUSH_KEY", "HOOK_SECRET", "PLAY_KEY", "VIEWER_TOKEN_KEY"] {
        assert!(
            !t.contains(&format!("{var}: ")),
            "{var} is in an environment as a value; use {var}_SECRET_ARN"
        );
    }
    // Globals reach every function, but only some may read each secret; and signed playback
    // needs the play key, so the playback settings go only where PLAY_KEY_SECRET_ARN goes.
    let g: String = globals(&t)
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !g.contains("_SECRET_ARN"),
        "a *_SECRET_ARN variable in Globals"
    );
    assert!(!g.contains("PLAYBACK_MODE"), "PLAYBACK_MODE in Globals");

    let shared_config = read_repo_file("shared/core/src/config.rs");
    let functions = resources_of_type(&resources, "AWS::Serverless::Function");
    assert!(
        functions.len() >= 8,
        "found only {} functions",
        functions.len()
    );
    let mut seen = 0;
    for (name, block) in &functions {
        let lines: Vec<&str> = block.lines().map(str::trim).collect();
        let mut wanted: Vec<String> = Vec::new();
        for line in &lines {
            let Some((var, value)) = line.split_once("_SECRET_ARN: ") else {
                continue;
            };
            assert!(
                shared_config.contains(&format!("\"{var}\"")),
                "{name}: {var}_SECRET_ARN, but the functions read no {var}"
            );
            let secret = value
                .strip_prefix("!Ref ")
                .unwrap_or_else(|| panic!("{name}: {var}_SECRET_ARN must be `!Ref <secret>`"));
            assert!(
                secrets.contains(&secret),
                "{name}: {secret} is not a secret resource"
            );
            assert_eq!(secret, secret_resource_for(var), "{name}: {var}_SECRET_ARN");
            wanted.push(secret.to_string());
            seen += 1;
        }
        let mut readable: Vec<String> = Vec::new();
        for pair in lines.windows(2) {
            if pair[0] == "- AWSSecretsManagerGetSecretValuePolicy:" {
                let secret = pair[1]
                    .strip_prefix("SecretArn: !Ref ")
                    .unwrap_or_else(|| panic!("{name}: SecretArn must be `!Ref <secret>`"));
                readable.push(secret.to_string());
            }
        }
        wanted.sort();
        readable.sort();
        assert_eq!(
            wanted, readable,
            "{name}: the secrets it may read must be exactly those its *_SECRET_ARN variables name"
        );
        if block.contains("PLAYBACK_MODE:") {
            assert!(
                wanted.iter().any(|s| s == "PlayKeySecret"),
                "{name} sets PLAYBACK_MODE (signed needs PLAY_KEY) without PLAY_KEY_SECRET_ARN"
            );
        }
        if block.contains("Binary: rooms\n") {
            assert!(
                wanted.iter().any(|s| s == "PushKeySecret"),
                "rooms signs push URLs"
            );
        }
        if block.contains("Binary: hooks\n") {
            assert!(
                wanted.iter().any(|s| s == "HookSecretSecret"),
                "hooks checks HOOK_SECRET"
            );
        }
    }
    assert!(seen >= 6, "found only {seen} *_SECRET_ARN variables");
}

#[test]
fn worker_task_definition_provides_what_the_worker_requires() {
    let t = template();
    let resources = section_entries(&t, "Resources");
    let task_defs = resources_of_type(&resources, "AWS::ECS::TaskDefinition");
    assert_eq!(task_defs.len(), 1, "one worker task definition");
    let (_, task) = task_defs[0];

    // `- {Name: X, Value: V}` (environment) and `- {Name: X, ValueFrom: R}` (secrets).
    let mut env: Vec<(String, String)> = Vec::new();
    let mut secrets: Vec<(String, String)> = Vec::new();
    for line in task.lines().map(str::trim) {
        let Some(inner) = line
            .strip_prefix("- {Name: ")
            .and_then(|l| l.strip_suffix('}'))
        else {
            continue;
        };
        if let Some((name, value)) = inner.split_once(", ValueFrom: ") {
            secrets.push((name.to_string(), value.to_string()));
        } else if let Some((name, value)) = inner.split_once(", Value: ") {
            env.push((name.to_string(), value.trim_matches('"').to_string()));
        }
    }
    let provides = |k: &str| env.iter().chain(&secrets).any(|(n, _)| n == k);
    let env_value = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());

    // Every variable config.rs reports as required (unconditionally, or under a condition the
    // task definition meets).
    let config = read_repo_file("media-worker/src/config.rs");
    let config = config.split("#[cfg(test)]").next().unwrap();
    let mut required = Vec::new();
    for (at, _) in config.match_indices(" is required") {
        let before = &config[..at];
        let start = before
            .rfind(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .map_or(0, |i| i + 1);
        let var = &before[start..];
        let rest = &config[at + " is required".len()..];
        let rest = &rest[..rest.find('"').unwrap_or(rest.len())];
        let applies = match rest.strip_prefix(" when ") {
            None => true,
            Some(cond) => {
                if let Some(other) = cond.strip_suffix(" is set") {
                    provides(other)
                } else if let Some((other, value)) = cond.split_once('=') {
                    env_value(other) == Some(value)
                } else {
                    panic!("config.rs: cannot read the condition `{cond}` of {var}")
                }
            }
        };
        if applies {
            required.push(var.to_string());
        }
    }
    assert!(
        required.iter().any(|v| v == "PUSH_KEY") && required.iter().any(|v| v == "HOOK_SECRET"),
        "expected PUSH_KEY and HOOK_SECRET among the required variables, found {required:?}"
    );
    for var in &required {
        assert!(provides(var), "the worker task definition lacks {var}");
    }
    assert_ne!(
        env_value("ZHIBO_PUBLISH_AUTH"),
        Some("off"),
        "publish authentication is off"
    );

    // Keys come from the secrets, never as plain values.
    for (var, secret) in [
        ("PUSH_KEY", "PushKeySecret"),
        ("HOOK_SECRET", "HookSecretSecret"),
    ] {
        assert!(
            secrets
                .iter()
                .any(|(n, r)| n == var && *r == format!("!Ref {secret}")),
            "{var} must come from {secret} (ECS Secrets, ValueFrom)"
        );
        assert!(
            env_value(var).is_none(),
            "{var} as a plain environment value"
        );
    }
    // Hooks go to this stack's hooks API (not the public one), to the route the hooks
    // function serves.
    let hook_url = env_value("ZHIBO_HOOK_URL").expect("ZHIBO_HOOK_URL");
    assert!(
        hook_url.starts_with("!Sub \"https://${HooksApi}.")
            && hook_url.ends_with("/internal/hooks"),
        "ZHIBO_HOOK_URL = {hook_url}"
    );
    assert!(t.contains("{ApiId: !Ref HooksApi, Method: POST, Path: /internal/hooks}"));
    assert_eq!(env_value("ZHIBO_SINK"), Some("s3"));
    assert_eq!(
        env_value("MEDIA_BUCKET"),
        Some(r#"!Join ["-", ["zhibo-media", !Select [2, !Split ["/", !Ref "AWS::StackId"]]]]"#)
    );
    // Every variable set is one the worker reads (a misspelt name would be silently ignored);
    // AWS_REGION and RUST_LOG are read by the SDK and the logger.
    let main_rs = read_repo_file("media-worker/src/main.rs");
    for (name, _) in env.iter().chain(&secrets) {
        if name == "AWS_REGION" || name == "RUST_LOG" {
            continue;
        }
        let quoted = format!("\"{name}\"");
        assert!(
            config.contains(&quoted) || main_rs.contains(&quoted),
            "the worker does not read {name}"
        );
    }
    // The execution role (which ECS injects the secrets with) may read them.
    let exec_role = task
        .lines()
        .find_map(|l| l.trim().strip_prefix("ExecutionRoleArn: !GetAtt "))
        .and_then(|r| r.strip_suffix(".Arn"))
        .expect("ExecutionRoleArn: !GetAtt <role>.Arn");
    let role = &resources
        .iter()
        .find(|(n, _)| n == exec_role)
        .expect("execution role")
        .1;
    assert!(role.contains("secretsmanager:GetSecretValue"));
    for (_, secret) in &secrets {
        assert!(
            role.contains(secret.as_str()),
            "{exec_role} cannot read {secret}"
        );
    }
    // The worker drains within ZHIBO_SHUTDOWN_GRACE_S (30 s) before ECS kills it.
    assert!(task.contains("StopTimeout: 60"));
}

#[test]
fn no_policy_grants_every_resource_or_every_action() {
    let t = template();
    let lines: Vec<&str> = t.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let unquote = |v: &str| v.trim().trim_matches('"').trim_matches('\'').to_string();
    // The values of `Key:` on line i: a scalar, a flow list, or the block list below it.
    let values = |i: usize, v: &str| -> Vec<String> {
        let v = v.trim();
        if v.is_empty() {
            lines[i + 1..]
                .iter()
                .take_while(|l| indent(l) > indent(lines[i]) && l.trim_start().starts_with("- "))
                .map(|l| unquote(&l.trim_start()[2..]))
                .collect()
        } else if let Some(list) = v.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            list.split(',').map(unquote).collect()
        } else {
            vec![unquote(v)]
        }
    };
    let mut exceptions = 0;
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        for key in ["Action:", "NotAction:", "NotResource:", "Principal:"] {
            if let Some(v) = trimmed.strip_prefix(key) {
                for value in values(i, v) {
                    assert!(
                        !value.contains('*'),
                        "line {}: `{key} {value}` is a wildcard",
                        i + 1
                    );
                }
            }
        }
        let Some(v) = trimmed.strip_prefix("Resource:") else {
            continue;
        };
        if !values(i, v).iter().any(|r| r == "*") {
            continue; // ARNs may end in /* (every object of one bucket, say)
        }
        // The one exception: an ECR login token has no resource-level permissions. Its
        // statement allows that action alone.
        let action = lines[..i]
            .iter()
            .rev()
            .take_while(|l| indent(l) >= indent(line))
            .chain(lines[..i].iter().rev().find(|l| indent(l) < indent(line)))
            .find_map(|l| {
                l.trim_start()
                    .trim_start_matches("- ")
                    .strip_prefix("Action:")
            })
            .map(str::trim);
        assert_eq!(
            action,
            Some("ecr:GetAuthorizationToken"),
            "line {}: `Resource: *` (only ecr:GetAuthorizationToken may have it)",
            i + 1
        );
        exceptions += 1;
    }
    assert!(exceptions <= 1, "{exceptions} statements on every resource");
}

#[test]
fn every_function_has_an_errors_alarm() {
    let t = template();
    let resources = section_entries(&t, "Resources");
    let alarms = resources_of_type(&resources, "AWS::CloudWatch::Alarm");
    let functions = resources_of_type(&resources, "AWS::Serverless::Function");
    assert!(!functions.is_empty());
    for (function, _) in functions {
        let dimension = format!("{{Name: FunctionName, Value: !Ref {function}}}");
        let alarm = alarms.iter().find(|(_, b)| {
            b.contains("Namespace: AWS/Lambda\n")
                && b.contains("MetricName: Errors\n")
                && b.contains(&dimension)
        });
        let (name, block) = alarm.unwrap_or_else(|| panic!("{function} has no Errors alarm"));
        for line in [
            "AlarmDescription:",
            "Threshold: 0\n",
            "ComparisonOperator: GreaterThanThreshold\n",
            "Period: 300\n",
            "AlarmActions: [!Ref AlarmTopic]",
        ] {
            assert!(block.contains(line), "{name} lacks `{}`", line.trim());
        }
    }
    // Every alarm notifies the topic.
    for (name, block) in alarms {
        assert!(
            block.contains("AlarmActions: [!Ref AlarmTopic]"),
            "{name} notifies no one"
        );
    }
}

#[test]
fn worker_resources_exist_only_with_the_worker() {
    let t = template();
    let resources = section_entries(&t, "Resources");
    let outputs = section_entries(&t, "Outputs");
    for ty in [
        "AWS::ECS::",
        "AWS::ElasticLoadBalancingV2::",
        "AWS::ApplicationAutoScaling::",
        "AWS::EC2::",
    ] {
        for (name, block) in &resources {
            if block.contains(&format!("    Type: {ty}")) {
                assert!(
                    name.starts_with("Worker"),
                    "{name} belongs to the worker: name it Worker*"
                );
            }
        }
    }
    let worker: Vec<&str> = resources
        .iter()
        .filter(|(n, _)| n.starts_with("Worker"))
        .map(|(n, _)| n.as_str())
        .collect();
    assert!(worker.len() >= 10, "found only {worker:?}");
    for (name, block) in &resources {
        if name.starts_with("Worker") {
            assert!(
                block.contains("    Condition: DeployWorker\n"),
                "{name} must have Condition: DeployWorker"
            );
        }
    }
    // Whatever refers to a worker resource is conditional on it, or chooses with !If.
    let mentions = |text: &str, r: &str| {
        text.contains(&format!("!GetAtt {r}."))
            || text.contains(&format!("${{{r}."))
            || text.contains(&format!("${{{r}}}"))
            || text
                .match_indices(&format!("!Ref {r}"))
                .any(|(i, m)| !text[i + m.len()..].starts_with(|c: char| c.is_ascii_alphanumeric()))
    };
    let mut referrers: Vec<(String, String)> = resources
        .iter()
        .chain(&outputs)
        .filter(|(n, _)| !n.starts_with("Worker") || outputs.iter().any(|(o, _)| o == n))
        .cloned()
        .collect();
    referrers.push(("Globals".into(), globals(&t).to_string()));
    for (name, text) in referrers {
        for r in &worker {
            if mentions(&text, r) {
                assert!(
                    text.contains("Condition: DeployWorker\n") || text.contains("- DeployWorker\n"),
                    "{name} refers to {r} without the DeployWorker condition"
                );
            }
        }
    }
    // Push URLs name the workers' load balancer when the template runs them.
    assert!(globals(&t).contains(
        "INGEST_HOST: !If\n          - DeployWorker\n          - !Sub \"${WorkerLoadBalancer.DNSName}:1935\"\n          - !Ref IngestHost\n"
    ));
}

/// Issue 13 item 3: the worker limits pre-publish connections per client address, so the
/// NLB must hand it the client's address. IP targets over TCP do not preserve it by default.
#[test]
fn the_workers_see_client_addresses_through_the_load_balancer() {
    let t = template();
    let start = t
        .find("\n  WorkerTargetGroup:\n")
        .expect("the WorkerTargetGroup resource");
    let rest = &t[start + 1..];
    let end = rest.find("\n\n").unwrap_or(rest.len());
    let group = &rest[..end];
    assert!(group.contains("TargetType: ip") && group.contains("Protocol: TCP"));
    assert!(
        group.contains("- {Key: preserve_client_ip.enabled, Value: \"true\"}"),
        "WorkerTargetGroup must enable preserve_client_ip.enabled:\n{group}"
    );
    // Client IP preservation is compatible with the workers admitting only the NLB's security
    // group (AWS evaluates the reference for preserved-IP traffic too); keep it that way.
    assert!(t.contains(
        "{IpProtocol: tcp, FromPort: 1935, ToPort: 1935, SourceSecurityGroupId: !Ref WorkerLoadBalancerSecurityGroup"
    ));
}

/// Security review L10: handler errors answer 500 from a successful invocation, so the Lambda
/// `Errors` alarms never see them; every HTTP API alarms on its own 5xx count.
#[test]
fn every_http_api_has_a_5xx_alarm() {
    let t = template();
    let resources = section_entries(&t, "Resources");
    let alarms = resources_of_type(&resources, "AWS::CloudWatch::Alarm");
    let apis = resources_of_type(&resources, "AWS::Serverless::HttpApi");
    assert!(!apis.is_empty());
    for (api, _) in apis {
        let dimension = format!("{{Name: ApiId, Value: !Ref {api}}}");
        let (name, block) = alarms
            .iter()
            .find(|(_, b)| {
                b.contains("Namespace: AWS/ApiGateway\n")
                    && b.contains("MetricName: 5xx\n")
                    && b.contains(&dimension)
            })
            .unwrap_or_else(|| panic!("{api} has no 5xx alarm"));
        for line in [
            "AlarmDescription:",
            "Statistic: Sum\n",
            "Threshold: 0\n",
            "ComparisonOperator: GreaterThanThreshold\n",
            "AlarmActions: [!Ref AlarmTopic]",
        ] {
            assert!(block.contains(line), "{name} lacks `{}`", line.trim());
        }
    }
}

/// Takedown (docs/api.md "Takedown"): the functions that take media down may delete under live/
/// and replays/ only, and invalidate the distribution they are told about.
#[test]
fn takedown_functions_may_delete_room_media_and_invalidate_the_cdn() {
    let t = template();
    let resources = section_entries(&t, "Resources");
    for function in ["RoomsFunction", "SweeperFunction", "ReplayIndexerFunction"] {
        let (_, block) = resources
            .iter()
            .find(|(n, _)| n == function)
            .unwrap_or_else(|| panic!("{function} missing"));
        for needle in [
            "Action: s3:DeleteObject\n",
            "s3:::${Bucket}/live/*\"",
            "s3:::${Bucket}/replays/*\"",
            "Action: s3:ListBucket\n",
            "Action: cloudfront:CreateInvalidation\n",
            "distribution/${MediaDistribution}\"",
            "CDN_DISTRIBUTION_ID: !If [PublicPlayback, !Ref MediaDistribution, !Ref AWS::NoValue]",
        ] {
            assert!(block.contains(needle), "{function} lacks {needle:?}");
        }
        // Listing is scoped to room media, except for the sweeper, which also closes the replays
        // of dead workers (docs/api.md "Many workers, one room") and so must read a missing
        // replay playlist as 404: S3 answers 403 without an unconditioned ListBucket.
        let scoped = block.contains("s3:prefix: [\"live/*\", \"replays/*\"]");
        if function == "SweeperFunction" {
            assert!(!scoped, "{function}: ListBucket must not be conditioned");
            assert!(
                block.contains("Action: [s3:GetObject, s3:PutObject]"),
                "{function} reads and writes replays"
            );
        } else {
            assert!(scoped, "{function} lists room media only");
        }
    }
    let play = &resources
        .iter()
        .find(|(n, _)| n == "PlayFunction")
        .unwrap()
        .1;
    assert!(
        play.contains("DynamoDBReadPolicy:"),
        "play reads the room's status"
    );
    assert!(!play.contains("s3:DeleteObject"));
}

/// Item 6 (M3): the worker hooks do not share a throttle with the public API: the hooks route
/// is only on its own HTTP API, the public API throttles every route, and the hooks function
/// has reserved concurrency (unless the operator sets 0).
#[test]
fn hooks_have_their_own_api_and_the_public_api_is_throttled() {
    let t = read_repo_file("template.yaml");
    // A top-level resource's lines: from `  Name:` to the next line indented two spaces.
    let block = |name: &str| -> String {
        let header = format!("  {name}:");
        let mut lines = t.lines().skip_while(|l| *l != header);
        let first = lines.next().unwrap_or_else(|| panic!("resource {name}"));
        let body: Vec<&str> = lines
            .take_while(|l| l.is_empty() || l.starts_with("   "))
            .collect();
        format!("{first}\n{}", body.join("\n"))
    };
    for (api, what) in [("HttpApi", "the public API"), ("HooksApi", "the hooks API")] {
        let b = block(api);
        assert!(b.contains("Type: AWS::Serverless::HttpApi"), "{api}: {b}");
        assert!(
            b.contains("DefaultRouteSettings:")
                && b.contains("ThrottlingRateLimit:")
                && b.contains("ThrottlingBurstLimit:"),
            "{what} needs default route throttles: {b}"
        );
    }
    assert!(block("HttpApi").contains("ThrottlingRateLimit: !Ref ApiRateLimit"));
    assert!(
        !t.contains("{ApiId: !Ref HttpApi, Method: POST, Path: /internal/hooks}"),
        "the hooks route must not be on the public API"
    );
    let hooks_api_routes: Vec<&str> = t
        .lines()
        .filter(|l| l.contains("ApiId: !Ref HooksApi"))
        .collect();
    assert_eq!(
        hooks_api_routes,
        [
            "          Properties: {ApiId: !Ref HooksApi, Method: POST, Path: /internal/hooks}",
            "          Properties: {ApiId: !Ref HooksApi, Method: POST, Path: /internal/hooks/locate}",
        ],
        "only the hooks routes (and the relay's locate) are on the hooks API"
    );
    let hooks = block("HooksFunction");
    assert!(
        hooks.contains(
            "ReservedConcurrentExecutions: !If [ReserveHooksConcurrency, !Ref HooksReservedConcurrency, !Ref \"AWS::NoValue\"]"
        ),
        "{hooks}"
    );
    assert!(t.contains("HookUrl:"), "the hooks URL is an output");
}

/// Issue 16: HTTP-FLV reaches the workers through the load balancer, over TLS with the
/// certificate parameter (plain HTTP only without one), health-checked on /healthz; /metrics
/// stays on a port nothing exposes; the functions put the playback host in play-urls.
#[test]
fn http_flv_playback_is_exposed_over_tls_and_health_checked() {
    let t = template();
    let resources = section_entries(&t, "Resources");
    let block = |name: &str| {
        resources
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| panic!("no resource {name}"))
    };
    let listener = block("WorkerPlayListener");
    for line in [
        "Protocol: !If [PlayOverTls, TLS, TCP]",
        "Port: !If [PlayOverTls, 443, 80]",
        "CertificateArn: !Ref PlayCertificateArn",
        "SslPolicy: !If [PlayOverTls, ELBSecurityPolicy-TLS13",
        "TargetGroupArn: !Ref WorkerPlayTargetGroup",
    ] {
        assert!(
            listener.contains(line),
            "WorkerPlayListener lacks `{line}`:\n{listener}"
        );
    }
    let group = block("WorkerPlayTargetGroup");
    for line in [
        "Port: 9090\n",
        "HealthCheckPath: /healthz\n",
        "HealthCheckPort: \"9090\"\n",
        "preserve_client_ip.enabled, Value: \"true\"",
    ] {
        assert!(
            group.contains(line),
            "WorkerPlayTargetGroup lacks `{line}`:\n{group}"
        );
    }
    let service = block("WorkerService");
    assert!(service.contains(
        "{ContainerName: media-worker, ContainerPort: 9090, TargetGroupArn: !Ref WorkerPlayTargetGroup}"
    ));
    let task = block("WorkerTaskDefinition");
    assert!(task.contains("{Name: PLAY_KEY, ValueFrom: !Ref PlayKeySecret}"));
    assert!(task.contains("{Name: ZHIBO_METRICS_ADDR, Value: \"0.0.0.0:9091\"}"));
    assert!(block("WorkerExecutionRole").contains("!Ref PlayKeySecret]"));
    // Nothing admits 9091 (metrics) from outside; 9090 only from the NLB and the workers.
    assert!(!t.contains("FromPort: 9091"));
    let lb_group = block("WorkerLoadBalancerSecurityGroup");
    assert!(lb_group.contains("FromPort: !If [PlayOverTls, 443, 80]"));
    assert!(block("WorkerRelayIngress").contains("SourceSecurityGroupId: !Ref WorkerSecurityGroup"));
    assert!(block("RoomsFunction").contains("PLAY_HOST: !If"));
    assert!(t.contains("\n  PlayCertificateArn:\n    Type: String\n"));
    assert!(t.contains("AssertDescription: PlayCertificateArn needs PlayHost"));
    let outputs = section_entries(&t, "Outputs");
    assert!(
        outputs.iter().any(|(n, _)| n == "PlayHost"),
        "an output PlayHost"
    );
}

/// Issue 17: the audience realtime engine is an AppSync Events API whose `zhibo` namespace holds
/// the rooms' channels (`zhibo_core::audience::channel`); viewers connect and subscribe through
/// the Lambda authorizer (the channel rule), only IAM publishes, and only the functions that
/// publish may, on that namespace alone; the rooms function gets the endpoint in the forms its
/// configuration checks.
#[test]
fn the_realtime_engine_authorizes_viewers_by_the_channel_rule_and_publishes_with_iam() {
    use zhibo_core::audience::channel::NAMESPACE;
    let t = template();
    let resources = section_entries(&t, "Resources");
    let block = |name: &str| {
        resources
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| panic!("no resource {name}"))
    };
    let apis = resources_of_type(&resources, "AWS::AppSync::Api");
    assert_eq!(apis.len(), 1, "one Event API");
    let api = block("RealtimeApi");
    // The authorizer and IAM are its providers; connections and subscriptions use the first,
    // publishing the second, and no API key exists.
    for line in [
        "AuthorizerUri: !GetAtt RealtimeAuthorizerFunction.Arn",
        "AuthorizerResultTtlInSeconds: 0",
        "ConnectionAuthModes:\n          - AuthType: AWS_LAMBDA\n",
        "DefaultPublishAuthModes:\n          - AuthType: AWS_IAM\n",
        "DefaultSubscribeAuthModes:\n          - AuthType: AWS_LAMBDA\n",
    ] {
        assert!(api.contains(line), "RealtimeApi lacks `{line}`:\n{api}");
    }
    assert!(!t.contains("API_KEY"), "no API key authorizes anything");
    let namespaces = resources_of_type(&resources, "AWS::AppSync::ChannelNamespace");
    assert_eq!(namespaces.len(), 1, "one channel namespace");
    let ns = block("RealtimeNamespace");
    for line in [
        "ApiId: !GetAtt RealtimeApi.ApiId\n".to_string(),
        format!("Name: {NAMESPACE}\n"),
        "SubscribeAuthModes:\n        - AuthType: AWS_LAMBDA\n".to_string(),
        "PublishAuthModes:\n        - AuthType: AWS_IAM\n".to_string(),
    ] {
        assert!(
            ns.contains(&line),
            "RealtimeNamespace lacks `{line}`:\n{ns}"
        );
    }
    // The authorizer: its binary, its key, and AppSync (this API) may invoke it.
    let authorizer = block("RealtimeAuthorizerFunction");
    assert!(authorizer.contains("Binary: realtime-authorizer\n"));
    assert!(authorizer.contains("VIEWER_TOKEN_KEY_SECRET_ARN: !Ref ViewerTokenKeySecret\n"));
    let permission = block("RealtimeAuthorizerPermission");
    for line in [
        "Type: AWS::Lambda::Permission\n",
        "Action: lambda:InvokeFunction\n",
        "FunctionName: !GetAtt RealtimeAuthorizerFunction.Arn\n",
        "Principal: appsync.amazonaws.com\n",
        "SourceArn: !GetAtt RealtimeApi.ApiArn\n",
    ] {
        assert!(
            permission.contains(line),
            "RealtimeAuthorizerPermission lacks `{line}`"
        );
    }
    // Who publishes: exactly the functions that build a realtime publisher from their
    // configuration and use it (the rooms function: audience items; the webhook delivery:
    // status items; the hooks: stats items on heartbeats), on the namespace only.
    let grant = "Action: appsync:EventPublish\n              Resource: !GetAtt RealtimeNamespace.ChannelNamespaceArn\n";
    assert_eq!(
        t.matches("Action: appsync:").count(),
        3,
        "one appsync: grant per publisher"
    );
    let publishers: Vec<&str> = resources_of_type(&resources, "AWS::Serverless::Function")
        .iter()
        .filter(|(_, b)| b.contains(grant))
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        publishers,
        ["RoomsFunction", "HooksFunction", "WebhookDeliveryFunction"]
    );
    for publisher in publishers {
        let text = block(publisher);
        // shared/core/src/config.rs: https://{host}/event.
        let url = "REALTIME_HTTP_URL: !Sub \"https://${RealtimeApi.Dns.Http}/event\"\n";
        assert!(text.contains(url), "{publisher} lacks `{}`", url.trim());
        // Only the function that issues viewer tokens holds their key.
        assert_eq!(
            text.contains("ViewerTokenKeySecret"),
            publisher == "RoomsFunction",
            "{publisher}: the viewer-token key is for the rooms function (and the authorizer) only"
        );
    }
    let rooms = block("RoomsFunction");
    for line in [
        "VIEWER_TOKEN_KEY_SECRET_ARN: !Ref ViewerTokenKeySecret\n",
        // shared/core/src/config.rs: wss://{host}/event/realtime and https://{host}/event.
        "REALTIME_WS_URL: !Sub \"wss://${RealtimeApi.Dns.Realtime}/event/realtime\"\n",
        "REALTIME_HTTP_URL: !Sub \"https://${RealtimeApi.Dns.Http}/event\"\n",
    ] {
        assert!(
            rooms.contains(line),
            "RoomsFunction lacks `{}`",
            line.trim()
        );
    }
    // The outputs config.rs names in its error message, with the same values.
    let outputs = section_entries(&t, "Outputs");
    for (name, value) in [
        (
            "RealtimeWsUrl",
            "Value: !Sub \"wss://${RealtimeApi.Dns.Realtime}/event/realtime\"",
        ),
        (
            "RealtimeHttpUrl",
            "Value: !Sub \"https://${RealtimeApi.Dns.Http}/event\"",
        ),
        (
            "ViewerTokenKeySecretArn",
            "Value: !Ref ViewerTokenKeySecret",
        ),
    ] {
        let (_, text) = outputs
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no output {name}"));
        assert!(text.contains(value), "output {name}: {text}");
        assert!(
            read_repo_file("shared/core/src/config.rs").contains(name)
                || name == "ViewerTokenKeySecretArn",
            "config.rs's error message names {name}"
        );
    }
}

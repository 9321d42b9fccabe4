//! `template.yaml` against the one definition in `zhibo_shared::schema`: the table's keys,
//! indexes and TTL attribute must match what the code reads and writes.

use zhibo_shared::schema::{INDEXES, PK, SK, TTL_ATTR};

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
    use zhibo_shared::keys::{LIVE_PREFIX, REPLAYS_PREFIX};
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

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
    assert_eq!(
        t.matches("IndexName: ").count(),
        INDEXES.len(),
        "template.yaml has an index the schema does not know"
    );
}

#[test]
fn every_function_binary_is_built_by_the_template() {
    let t = template();
    for bin in ["rooms", "wechat"] {
        assert!(
            t.contains(&format!("Binary: {bin}\n")),
            "no function builds binary {bin}"
        );
    }
}

//! placeholder
use zhibo_shared::signing::BodySignature;
#[test]
fn t() { let _ = BodySignature::header(b"a", 1, b"b"); let _: serde_norway::Value = serde_norway::from_str("a: 1").unwrap(); }

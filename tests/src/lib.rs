//! Cross-function scenarios against the local stack (lifecycle, webhooks, replays, playback,
//! template and docs drift). The harness is `zhibo-test-support`, re-exported here; [`capacity`]
//! meters DynamoDB consumed capacity for the cost tests.

pub mod capacity;

pub use zhibo_test_support::*;

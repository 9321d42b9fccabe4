//! What stands in for AWS on a laptop (`zhibo serve`, the tests, the demo), kept out of the
//! production function crates:
//! - [`router`]: every function's routes on one router, as API Gateway routes them on AWS;
//! - [`background`]: the loops that EventBridge schedules, DynamoDB Streams and S3
//!   notifications drive on AWS (the sweeper, the webhook delivery, the replay indexer);
//! - [`seaweedfs`]: S3 event notifications made from SeaweedFS's filer metadata events;
//! - [`realtime`]: the AppSync Events stand-in (the same WebSocket and HTTP publish protocol).

pub mod background;
pub mod realtime;
pub mod router;
pub mod seaweedfs;

pub use router::{api_router, function_routes};

//! Lambda entry point of the replay indexer (S3 ObjectCreated on `replays/*.m3u8`): wiring
//! only. A record that failed in a way a retry can fix fails the invocation, so Lambda's
//! asynchronous retries (and then the on-failure destination) take over; redeliveries are
//! harmless.

use aws_lambda_events::s3::S3Event;
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = zhibo_store::aws::sdk_config().await;
    let config = zhibo_store::aws::config_with_secrets(&sdk).await?;
    let indexer = fn_replay_indexer::Indexer::from_config(config, &sdk);
    let indexer = &indexer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        let report = indexer.handle(&event.payload).await;
        if report.has_failures() {
            return Err(lambda_runtime::Error::from(format!(
                "some records failed and should be retried: {}",
                serde_json::to_string(&report)?
            )));
        }
        Ok::<_, lambda_runtime::Error>(serde_json::to_value(report)?)
    }))
    .await
}

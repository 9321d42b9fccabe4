//! Lambda entry point of the sweeper (an EventBridge schedule, every minute): wiring only.

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = zhibo_store::aws::sdk_config().await;
    let config = zhibo_store::aws::config_with_secrets(&sdk).await?;
    let state = zhibo_store::Deps::new(config, &sdk);
    let state = &state;
    lambda_runtime::run(service_fn(
        move |_event: LambdaEvent<serde_json::Value>| async move {
            let report = fn_sweeper::sweep(state, zhibo_core::clock::now_ms()).await?;
            Ok::<_, lambda_runtime::Error>(serde_json::to_value(report)?)
        },
    ))
    .await
}

//! Lambda entry point of the webhook delivery: a DynamoDB Streams trigger on the table (new
//! outbox events are sent at once) and an EventBridge schedule (retries and anything the
//! stream missed). Wiring only; see [`fn_webhook_delivery::handle_payload`].

use fn_webhook_delivery::{handle_payload, Deliverer, RunReport, StatusItems};
use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = zhibo_store::aws::sdk_config().await;
    let config = zhibo_store::aws::config_with_secrets(&sdk).await?;
    let state = zhibo_store::Deps::new(config, &sdk);
    let deliverer = Deliverer::from_config(state.outbox.clone(), &state.config)?
        .with_status_items(StatusItems::from_deps(&state));
    let deliverer = &deliverer;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let report: RunReport =
                handle_payload(deliverer, event.payload, zhibo_core::clock::now_ms())
                    .await
                    .map_err(lambda_runtime::Error::from)?;
            tracing::info!(?report, "webhook delivery run");
            Ok::<RunReport, lambda_runtime::Error>(report)
        },
    ))
    .await
}

//! Lambda entry point of the realtime authorizer (AppSync Events' `AWS_LAMBDA` authorization
//! of connections and subscriptions): wiring only. The master key is read once at cold start;
//! every invocation is answered by the pure `handle`, which never fails.

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let sdk = zhibo_store::aws::sdk_config().await;
    let key = fn_realtime_authorizer::viewer_token_key(&sdk, |k| std::env::var(k).ok()).await?;
    let key = key.as_str();
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, lambda_runtime::Error>(fn_realtime_authorizer::handle(
                key,
                &event.payload,
                zhibo_core::clock::now(),
            ))
        },
    ))
    .await
}

//! Lambda entry point of the rooms function: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk = zhibo_shared::aws::sdk_config().await;
    let config = zhibo_shared::aws::config_with_secrets(&sdk).await?;
    let state = zhibo_shared::http::ApiState::new(config, &sdk);
    lambda_http::run(zhibo_shared::http::with_fallbacks(fn_rooms::router(state))).await
}

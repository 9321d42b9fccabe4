//! Lambda entry point of the WeChat-compatible function: wiring only.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let sdk = zhibo_store::aws::sdk_config().await;
    let config = zhibo_store::aws::config_with_secrets(&sdk).await?;
    let state = zhibo_store::Deps::new(config, &sdk);
    lambda_http::run(zhibo_api::with_fallbacks(fn_wechat::router(state))).await
}

//! AWS SDK clients built from [`Config`], with the endpoint overrides the local stack uses.

#[cfg(feature = "table")]
use std::collections::HashMap;
#[cfg(feature = "table")]
use zhibo_core::{config::Config, error::Error};

#[cfg(feature = "table")]
/// Variables whose value may come from Secrets Manager instead: with `{NAME}_SECRET_ARN` set
/// (and `{NAME}` not), the secret's string is used as `{NAME}`.
pub const SECRET_VARS: [&str; 4] = ["PUSH_KEY", "HOOK_SECRET", "PLAY_KEY", "VIEWER_TOKEN_KEY"];

/// Loads the shared SDK configuration (region, credentials) from the environment.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

#[cfg(feature = "table")]
/// A DynamoDB client; `ZHIBO_DYNAMO_ENDPOINT` points it at DynamoDB Local.
pub fn dynamo_client(sdk: &aws_config::SdkConfig, cfg: &Config) -> aws_sdk_dynamodb::Client {
    let mut b = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(ep) = &cfg.dynamo_endpoint {
        // DynamoDB Local serializes writes behind one lock and answers InternalServerError
        // ("timed out ... waiting for a lock; this request will succeed in actual DynamoDB")
        // when many requests hit one item at once: retry those longer than the SDK's 3 tries.
        b = b.endpoint_url(ep).retry_config(
            aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(10),
        );
    }
    aws_sdk_dynamodb::Client::from_conf(b.build())
}

/// An S3 client; `endpoint` (`ZHIBO_S3_ENDPOINT`) points it at an S3-compatible server
/// (path-style, and checksums only when required, which S3-compatible servers handle best).
#[cfg(feature = "media")]
pub fn s3_client(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(sdk);
    if let Some(ep) = endpoint {
        b = b
            .endpoint_url(ep)
            .force_path_style(true)
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            );
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

#[cfg(feature = "table")]
/// A Secrets Manager client; `ZHIBO_SECRETSMANAGER_ENDPOINT` overrides the endpoint (tests).
pub fn secrets_client(sdk: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
    let mut b = aws_sdk_secretsmanager::config::Builder::from(sdk);
    if let Some(ep) = std::env::var("ZHIBO_SECRETSMANAGER_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
    {
        b = b.endpoint_url(ep);
    }
    aws_sdk_secretsmanager::Client::from_conf(b.build())
}

#[cfg(feature = "table")]
/// The function's configuration at cold start: every `{NAME}_SECRET_ARN` of [`SECRET_VARS`]
/// read from Secrets Manager (once; the template passes ARNs, never values), then
/// [`Config::from_lookup`] over the environment. A secret that cannot be read is a
/// configuration error naming the variable and the ARN (never the value).
pub async fn config_with_secrets(sdk: &aws_config::SdkConfig) -> Result<Config, Error> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let mut resolved: HashMap<&str, String> = HashMap::new();
    let mut problems = Vec::new();
    let mut client = None;
    for name in SECRET_VARS {
        let Some(arn) = env(&format!("{name}_SECRET_ARN")) else {
            continue;
        };
        if env(name).is_some() {
            continue; // an explicit value wins (local runs)
        }
        let client = client.get_or_insert_with(|| secrets_client(sdk));
        match client.get_secret_value().secret_id(&arn).send().await {
            Ok(out) => match out.secret_string() {
                Some(v) if !v.trim().is_empty() => {
                    resolved.insert(name, v.trim().to_string());
                }
                _ => problems.push(format!(
                    "{name}_SECRET_ARN={arn}: the secret has no string value"
                )),
            },
            Err(e) => problems.push(format!(
                "{name}_SECRET_ARN={arn}: cannot read the secret: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            )),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Config(problems.join("\n")));
    }
    Config::from_lookup(|k| resolved.get(k).cloned().or_else(|| std::env::var(k).ok()))
}

//! AWS SDK clients built from [`Config`], with the endpoint overrides the local stack uses.

use crate::config::Config;

/// Loads the shared SDK configuration (region, credentials) from the environment.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// A DynamoDB client; `ZHIBO_DYNAMO_ENDPOINT` points it at DynamoDB Local.
pub fn dynamo_client(sdk: &aws_config::SdkConfig, cfg: &Config) -> aws_sdk_dynamodb::Client {
    let mut b = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(ep) = &cfg.dynamo_endpoint {
        b = b.endpoint_url(ep);
    }
    aws_sdk_dynamodb::Client::from_conf(b.build())
}

/// An S3 client; `endpoint` (`ZHIBO_S3_ENDPOINT`) points it at an S3-compatible server
/// (path-style, and checksums only when required, which S3-compatible servers handle best).
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

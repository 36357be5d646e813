//! Clients for the AWS services Triage runs on besides the runtime endpoint: S3 (mail
//! delivered to a bucket, Batch Transform's input and output) and the SageMaker
//! control plane (transform jobs). Credentials come from the standard provider chain
//! unless fixed keys are set; each service takes its own region and endpoint URL, so
//! any of them can point at a compatible local server (moto in the tests).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::error::DisplayErrorContext;
use serde::Deserialize;

use crate::scoring::AwsCredentials;

/// Where one AWS service is reached.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ServiceAddress {
    /// Empty: the region of the standard AWS chain.
    pub region: String,
    /// A compatible server instead of AWS, e.g. `http://127.0.0.1:5000`.
    pub endpoint_url: Option<String>,
}

/// The shared SDK configuration: credentials and region.
async fn sdk_config(region: &str, credentials: &AwsCredentials) -> SdkConfig {
    match credentials {
        AwsCredentials::StandardChain => {
            let mut loader = aws_config::defaults(BehaviorVersion::latest());
            if !region.is_empty() {
                loader = loader.region(Region::new(region.to_string()));
            }
            loader.load().await
        }
        AwsCredentials::Fixed(keys) => SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
                keys.clone(),
            ))
            .region(Region::new(if region.is_empty() {
                "us-east-1".to_string()
            } else {
                region.to_string()
            }))
            .build(),
    }
}

/// An S3 client. A custom endpoint is addressed by path (`http://host/bucket/key`),
/// which every S3-compatible server understands; AWS itself gets virtual hosts.
pub async fn s3(address: &ServiceAddress, credentials: &AwsCredentials) -> aws_sdk_s3::Client {
    let config = sdk_config(&address.region, credentials).await;
    let mut builder = aws_sdk_s3::config::Builder::from(&config);
    if let Some(url) = address.endpoint_url.as_deref().filter(|u| !u.is_empty()) {
        builder = builder.endpoint_url(url).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// A SageMaker control-plane client (transform jobs).
pub async fn sagemaker(
    address: &ServiceAddress,
    credentials: &AwsCredentials,
) -> aws_sdk_sagemaker::Client {
    let config = sdk_config(&address.region, credentials).await;
    let mut builder = aws_sdk_sagemaker::config::Builder::from(&config);
    if let Some(url) = address.endpoint_url.as_deref().filter(|u| !u.is_empty()) {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_sagemaker::Client::from_conf(builder.build())
}

/// An SDK error in words, with the service's code and message (the SDK's own
/// `Display` says only "service error").
pub fn describe<E: std::error::Error>(error: E) -> String {
    DisplayErrorContext(error).to_string()
}

/// `s3://bucket/some/prefix` as its bucket and its prefix without slashes at the ends.
pub fn parse_s3_uri(uri: &str) -> Result<(String, String), String> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| format!("{uri:?} is not an S3 address: write s3://bucket/prefix"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!("{uri:?} names no bucket: write s3://bucket/prefix"));
    }
    Ok((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

#[cfg(test)]
mod tests {
    use super::parse_s3_uri;

    #[test]
    fn s3_addresses_split_into_bucket_and_prefix() {
        assert_eq!(
            parse_s3_uri("s3://mail/in/2026/").unwrap(),
            ("mail".to_string(), "in/2026".to_string())
        );
        assert_eq!(
            parse_s3_uri("s3://mail").unwrap(),
            ("mail".to_string(), String::new())
        );
        assert!(
            parse_s3_uri("https://mail/in")
                .unwrap_err()
                .contains("s3://")
        );
        assert!(parse_s3_uri("s3:///in").unwrap_err().contains("no bucket"));
    }
}

//! `ZHIBO_RELAY_URL=ecs`: on ECS (Fargate, `awsvpc`) a task's private address is known only once
//! it runs, so the worker reads it from the task metadata endpoint (`ECS_CONTAINER_METADATA_URI_V4`)
//! at start and builds its relay URL (`http://{task ip}:{HTTP port}`) from it.

use std::time::Duration;

use serde::Deserialize;

/// The value of `ZHIBO_RELAY_URL` that asks for the address from the ECS task metadata.
pub const FROM_ECS: &str = "ecs";

/// The environment variable ECS (Fargate platform 1.4.0 and later) sets to the container's
/// metadata endpoint.
pub const METADATA_URI_VAR: &str = "ECS_CONTAINER_METADATA_URI_V4";

/// Largest metadata document read (it is a few kB).
const MAX_METADATA_BYTES: usize = 256 * 1024;

#[derive(Deserialize)]
struct ContainerMetadata {
    #[serde(rename = "Networks", default)]
    networks: Vec<Network>,
}

#[derive(Deserialize)]
struct Network {
    #[serde(rename = "IPv4Addresses", default)]
    ipv4_addresses: Vec<std::net::Ipv4Addr>,
}

/// The relay URL from a container metadata document (`GET ${ECS_CONTAINER_METADATA_URI_V4}`):
/// its first network's first IPv4 address and this worker's HTTP port.
pub fn relay_url_from_metadata(document: &[u8], http_port: u16) -> Result<String, String> {
    let metadata: ContainerMetadata = serde_json::from_slice(document)
        .map_err(|e| format!("the ECS container metadata is not the expected JSON: {e}"))?;
    let ip = metadata
        .networks
        .iter()
        .flat_map(|n| n.ipv4_addresses.iter())
        .next()
        .ok_or("the ECS container metadata names no IPv4 address (Networks[].IPv4Addresses): run the task in awsvpc network mode, or set ZHIBO_RELAY_URL to http://{address}:{port}")?;
    Ok(format!("http://{ip}:{http_port}"))
}

/// Reads the container metadata endpoint and returns this worker's relay URL.
pub async fn relay_url_from_ecs(http_port: u16) -> Result<String, String> {
    let uri = std::env::var(METADATA_URI_VAR).map_err(|_| {
        format!("ZHIBO_RELAY_URL=ecs but {METADATA_URI_VAR} is unset: this is not an ECS task (platform 1.4.0+); set ZHIBO_RELAY_URL to http://{{address}}:{{port}} instead")
    })?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let mut response = client
        .get(&uri)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("cannot read the ECS container metadata at {uri}: {e}"))?;
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("cannot read the ECS container metadata at {uri}: {e}"))?
    {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(format!(
                "the ECS container metadata at {uri} is larger than {MAX_METADATA_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    relay_url_from_metadata(&body, http_port)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from the example in AWS's "task metadata v4 examples" for Fargate.
    const FARGATE_CONTAINER: &str = r#"{
        "DockerId": "cd189a933e5849daa93386466019ab50-2495160603",
        "Name": "curl",
        "Networks": [{
            "NetworkMode": "awsvpc",
            "IPv4Addresses": ["192.0.2.3"],
            "AttachmentIndex": 0,
            "MACAddress": "0a:de:f6:10:51:e5",
            "IPv4SubnetCIDRBlock": "192.0.2.0/24",
            "PrivateDNSName": "ip-10-0-0-222.us-west-2.compute.internal",
            "SubnetGatewayIpv4Address": "192.0.2.0/24"
        }]
    }"#;

    #[test]
    fn the_task_address_and_the_http_port_make_the_relay_url() {
        assert_eq!(
            relay_url_from_metadata(FARGATE_CONTAINER.as_bytes(), 9090).unwrap(),
            "http://192.0.2.3:9090"
        );
    }

    #[test]
    fn metadata_without_an_address_or_not_json_is_refused_with_what_to_do() {
        let err = relay_url_from_metadata(br#"{"Networks": []}"#, 9090).unwrap_err();
        assert!(err.contains("awsvpc"), "{err}");
        let err = relay_url_from_metadata(b"<html>", 9090).unwrap_err();
        assert!(err.contains("not the expected JSON"), "{err}");
        let err = relay_url_from_metadata(br#"{"Networks": [{"IPv4Addresses": ["x"]}]}"#, 9090)
            .unwrap_err();
        assert!(err.contains("not the expected JSON"), "{err}");
    }
}

//! Keys from Secrets Manager at cold start (`zhibo_store::aws::config_with_secrets`): the
//! template passes `PUSH_KEY_SECRET_ARN`-style ARNs, never values. The real SDK talks to a
//! Secrets Manager endpoint in the test that answers `GetSecretValue` as AWS does. One test
//! in its own binary: it sets process environment variables.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Secrets {
    asked: Mutex<Vec<String>>,
}

async fn endpoint(
    State(s): State<Arc<Secrets>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, String) {
    let mut h = HeaderMap::new();
    h.insert(
        "content-type",
        "application/x-amz-json-1.1".parse().unwrap(),
    );
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert_eq!(target, "secretsmanager.GetSecretValue");
    let req: Value = serde_json::from_slice(&body).unwrap();
    let id = req["SecretId"].as_str().unwrap_or_default().to_string();
    s.asked.lock().unwrap().push(id.clone());
    let value = match id.rsplit(':').next().unwrap_or_default() {
        "push-Abc123" => "push-key-from-secrets-manager-0123",
        "hook-Abc123" => "hook-secret-from-secrets-manager-01",
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                h,
                json!({"__type": "ResourceNotFoundException",
                       "message": "Secrets Manager can't find the specified secret."})
                .to_string(),
            )
        }
    };
    (
        StatusCode::OK,
        h,
        json!({"ARN": id, "Name": "n", "SecretString": value, "VersionId": "v1",
               "VersionStages": ["AWSCURRENT"], "CreatedDate": 1.7e9})
        .to_string(),
    )
}

#[tokio::test]
async fn keys_come_from_secrets_manager_by_arn() {
    let secrets = Arc::new(Secrets::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/", post(endpoint))
        .with_state(secrets.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let arn = |name: &str| format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}");
    std::env::set_var("ZHIBO_SECRETSMANAGER_ENDPOINT", &url);
    std::env::set_var("ZHIBO_TABLE", "t");
    for k in ["PUSH_KEY", "HOOK_SECRET", "PLAY_KEY", "PLAY_KEY_SECRET_ARN"] {
        std::env::remove_var(k);
    }
    std::env::set_var("PUSH_KEY_SECRET_ARN", arn("push-Abc123"));
    std::env::set_var("HOOK_SECRET_SECRET_ARN", arn("hook-Abc123"));
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;

    let config = zhibo_store::aws::config_with_secrets(&sdk).await.unwrap();
    assert_eq!(
        config.push_key.as_deref(),
        Some("push-key-from-secrets-manager-0123")
    );
    assert_eq!(
        config.hook_secret.as_deref(),
        Some("hook-secret-from-secrets-manager-01")
    );
    assert_eq!(secrets.asked.lock().unwrap().len(), 2);

    // An explicit value wins and is not looked up.
    std::env::set_var("PUSH_KEY", "explicit-push-key-0123456789");
    let config = zhibo_store::aws::config_with_secrets(&sdk).await.unwrap();
    assert_eq!(
        config.push_key.as_deref(),
        Some("explicit-push-key-0123456789")
    );
    assert_eq!(secrets.asked.lock().unwrap().len(), 3);
    std::env::remove_var("PUSH_KEY");

    // A secret that cannot be read stops the cold start, naming the variable and the ARN.
    std::env::set_var("PLAY_KEY_SECRET_ARN", arn("gone-Xyz"));
    let err = zhibo_store::aws::config_with_secrets(&sdk)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("PLAY_KEY_SECRET_ARN="), "{err}");
    assert!(err.contains("gone-Xyz"), "{err}");
    assert!(err.contains("ResourceNotFoundException"), "{err}");
    assert!(!err.contains("push-key-from-secrets-manager"), "{err}");
}

//! The master key at cold start: `VIEWER_TOKEN_KEY_SECRET_ARN` read from Secrets Manager (the
//! real SDK against an endpoint that answers `GetSecretValue` as AWS does), an explicit
//! `VIEWER_TOKEN_KEY` winning. One test in its own binary: it sets a process environment
//! variable (the endpoint override `zhibo_store::aws::secrets_client` reads).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Asked(Mutex<Vec<String>>);

async fn endpoint(
    State(asked): State<Arc<Asked>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, String) {
    let mut h = HeaderMap::new();
    h.insert(
        "content-type",
        "application/x-amz-json-1.1".parse().unwrap(),
    );
    assert_eq!(
        headers.get("x-amz-target").and_then(|v| v.to_str().ok()),
        Some("secretsmanager.GetSecretValue")
    );
    let req: Value = serde_json::from_slice(&body).unwrap();
    let id = req["SecretId"].as_str().unwrap_or_default().to_string();
    asked.0.lock().unwrap().push(id.clone());
    let value = match id.rsplit(':').next().unwrap_or_default() {
        "viewer-Abc123" => "viewer-key-from-secrets-manager-0123\n",
        "short-Abc123" => "short-secret",
        "blank-Abc123" => "  ",
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
async fn the_key_is_read_from_secrets_manager_by_arn() {
    let asked = Arc::new(Asked::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/", post(endpoint))
        .with_state(asked.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    std::env::set_var("ZHIBO_SECRETSMANAGER_ENDPOINT", &url);
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    let arn = |name: &str| format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}");
    let key = |vars: Vec<(&'static str, String)>| {
        let sdk = sdk.clone();
        async move {
            fn_realtime_authorizer::viewer_token_key(&sdk, |k| {
                vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
            })
            .await
            .map_err(|e| e.to_string())
        }
    };

    // From the secret, trimmed.
    assert_eq!(
        key(vec![("VIEWER_TOKEN_KEY_SECRET_ARN", arn("viewer-Abc123"))]).await,
        Ok("viewer-key-from-secrets-manager-0123".to_string())
    );
    assert_eq!(asked.0.lock().unwrap().len(), 1);

    // An explicit value wins and is not looked up.
    assert_eq!(
        key(vec![
            ("VIEWER_TOKEN_KEY", "explicit-viewer-key-0123456789".into()),
            ("VIEWER_TOKEN_KEY_SECRET_ARN", arn("viewer-Abc123")),
        ])
        .await,
        Ok("explicit-viewer-key-0123456789".to_string())
    );
    assert_eq!(asked.0.lock().unwrap().len(), 1);

    // A secret that cannot be read stops the cold start, naming the variable and the ARN.
    let err = key(vec![("VIEWER_TOKEN_KEY_SECRET_ARN", arn("gone-Xyz"))])
        .await
        .unwrap_err();
    assert!(err.contains("VIEWER_TOKEN_KEY_SECRET_ARN="), "{err}");
    assert!(err.contains("gone-Xyz"), "{err}");
    assert!(err.contains("ResourceNotFoundException"), "{err}");

    // A short or blank secret is refused without its value in the message.
    let err = key(vec![("VIEWER_TOKEN_KEY_SECRET_ARN", arn("short-Abc123"))])
        .await
        .unwrap_err();
    assert!(err.contains("VIEWER_TOKEN_KEY is too short"), "{err}");
    assert!(!err.contains("short-secret"), "{err}");
    let err = key(vec![("VIEWER_TOKEN_KEY_SECRET_ARN", arn("blank-Abc123"))])
        .await
        .unwrap_err();
    assert!(err.contains("no string value"), "{err}");

    // Neither set: the variable to set is named.
    let err = key(vec![]).await.unwrap_err();
    assert!(
        err.contains("VIEWER_TOKEN_KEY_SECRET_ARN is required"),
        "{err}"
    );
}

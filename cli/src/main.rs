//! `zhibo`: the operator tool.
//!
//! - `zhibo init-storage`: creates the DynamoDB table (from `zhibo_core::table`) and the
//!   media bucket, if missing.
//! - `zhibo create-app APP_ID`: creates an app and prints its secret (shown once).
//! - `zhibo serve [--addr HOST:PORT] [--dev-app APP_ID] [--env-file FILE]`: serves every
//!   function's routes on one port, the same handler code the Lambdas run, and in the
//!   background what EventBridge and the table's stream trigger on AWS (the sweeper, the
//!   webhook delivery); with `--dev-app`, creates
//!   that app if missing and prints its credentials, and serves the demo page at `/demo/`
//!   (`zhibo_cli::demo`; hls.js from `ZHIBO_HLSJS`) (local development only).
//!
//! Configuration comes from the same environment variables as the functions.

use std::process::ExitCode;
use zhibo_api::with_fallbacks;
use zhibo_core::app::App;
use zhibo_core::clock::now;
use zhibo_core::Config;
use zhibo_store::Deps;

const USAGE: &str = "usage:
  zhibo init-storage
  zhibo create-app APP_ID
  zhibo serve [--addr 127.0.0.1:18080] [--dev-app APP_ID] [--env-file FILE]
environment: ZHIBO_TABLE (required), ZHIBO_DYNAMO_ENDPOINT, ZHIBO_S3_ENDPOINT, MEDIA_BUCKET,
  MIN_START_LEAD_S, MAX_LIVES_PER_DAY, MAX_CONCURRENT_LIVES, QUOTA_UTC_OFFSET_MINUTES, PUSH_KEY,
  INGEST_HOST, HOOK_SECRET, ABNORMAL_TIMEOUT_S, MAX_LIVE_S, WORKER_SILENCE_S, WEBHOOK_*, AWS_*;
  serve only: ZHIBO_SWEEP_INTERVAL_MS (1000), ZHIBO_DELIVERY_INTERVAL_MS (200)";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("zhibo: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Takes `--name VALUE` out of `args`.
fn flag(args: &[String], name: &str) -> Result<Option<String>, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => args
            .get(i + 1)
            .cloned()
            .map(Some)
            .ok_or_else(|| format!("{name} needs a value\n{USAGE}")),
    }
}

async fn run(args: &[String]) -> Result<(), String> {
    let Some(cmd) = args.first() else {
        return Err(USAGE.to_string());
    };
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let sdk = zhibo_store::aws::sdk_config().await;
    let state = Deps::new(config.clone(), &sdk);
    match cmd.as_str() {
        "init-storage" => {
            let created = state
                .table
                .create_table()
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "table {}: {}",
                config.table,
                if created { "created" } else { "already exists" }
            );
            let s3 = zhibo_store::aws::s3_client(&sdk, config.s3_endpoint.as_deref());
            match s3.create_bucket().bucket(&config.media_bucket).send().await {
                Ok(_) => println!("bucket {}: created", config.media_bucket),
                Err(e) => {
                    let exists = e.as_service_error().is_some_and(|se| {
                        se.is_bucket_already_owned_by_you() || se.is_bucket_already_exists()
                    });
                    if !exists {
                        return Err(format!(
                            "creating bucket {}: {}",
                            config.media_bucket,
                            aws_sdk_s3_error(&e)
                        ));
                    }
                    println!("bucket {}: already exists", config.media_bucket);
                }
            }
            Ok(())
        }
        "create-app" => {
            let app_id = args.get(1).ok_or_else(|| USAGE.to_string())?;
            let app = App::generate(app_id, now()).map_err(|e| e.to_string())?;
            if !state.apps.put_app(&app).await.map_err(|e| e.to_string())? {
                return Err(format!("app {app_id} already exists"));
            }
            println!("app_id={}\napp_secret={}", app.app_id, app.app_secret);
            eprintln!("(the secret is shown once: store it now)");
            Ok(())
        }
        "serve" => {
            let addr = flag(args, "--addr")?.unwrap_or_else(|| "127.0.0.1:18080".into());
            let mut demo_app = None;
            if let Some(app_id) = flag(args, "--dev-app")? {
                let app = dev_app(&state, &app_id).await?;
                let base = format!("http://{addr}");
                if let Some(path) = flag(args, "--env-file")? {
                    let text = format!(
                        "ZHIBO_API={base}\nZHIBO_APP_ID={}\nZHIBO_APP_SECRET={}\n",
                        app.app_id, app.app_secret
                    );
                    std::fs::write(&path, text).map_err(|e| format!("writing {path}: {e}"))?;
                }
                println!(
                    "dev app (local development only):\n  ZHIBO_APP_ID={}\n  ZHIBO_APP_SECRET={}",
                    app.app_id, app.app_secret
                );
                demo_app = Some(app);
            }
            let routes = zhibo_local::function_routes(
                state.clone(),
                fn_play::PlayState::new(config.clone(), &sdk),
            );
            // With --dev-app: the demo page and its signing proxy (local development only).
            let (router, demo_page) = match demo_app {
                Some(app) => {
                    let scripts = zhibo_cli::demo::WebScripts::from_env();
                    for name in scripts.missing() {
                        eprintln!("demo page: {name} is not installed; run scripts/web-deps.sh");
                    }
                    let demo =
                        zhibo_cli::demo::router(with_fallbacks(routes.clone()), app, scripts);
                    (with_fallbacks(routes.merge(demo)), true)
                }
                None => (with_fallbacks(routes), false),
            };
            // What EventBridge, DynamoDB Streams and S3 notifications run on AWS runs here in
            // the background.
            let mut env = zhibo_core::env::EnvReader::trimming(|k| std::env::var(k).ok());
            let sweep_every = env.ms("ZHIBO_SWEEP_INTERVAL_MS", 1000, 1..=3_600_000);
            let delivery_every = env.ms("ZHIBO_DELIVERY_INTERVAL_MS", 200, 1..=3_600_000);
            env.finish().map_err(|e| e.to_string())?;
            let _sweeper = zhibo_local::background::spawn_sweeper(state.clone(), sweep_every);
            let deliverer =
                fn_webhook_delivery::Deliverer::from_config(state.outbox.clone(), &state.config)
                    .map_err(|e| format!("webhook HTTP client: {e}"))?
                    .with_status_items(fn_webhook_delivery::StatusItems::from_deps(&state));
            let _delivery = zhibo_local::background::spawn_delivery_pump(deliverer, delivery_every);
            let indexer = fn_replay_indexer::Indexer::from_config(config.clone(), &sdk);
            let _indexer =
                match zhibo_local::seaweedfs::FilerNotifications::from_env(&config.media_bucket) {
                    Some(notifications) => {
                        println!(
                        "replay indexer: on SeaweedFS metadata events (S3 notifications stand-in)"
                    );
                        Some(zhibo_local::background::spawn_replay_indexer(
                            indexer,
                            notifications,
                        ))
                    }
                    None => {
                        eprintln!(
                        "replay indexer: off (set ZHIBO_WEED_BIN and ZHIBO_SEAWEEDFS_FILER, as \
                         `scripts/stack.sh env` prints, to index replays as they land)"
                    );
                        None
                    }
                };
            // With VIEWER_TOKEN_KEY: the AppSync Events stand-in on the same port, so the
            // REALTIME_WS_URL/REALTIME_HTTP_URL of a local deployment point here.
            let router = match &config.audience {
                Some(audience) => {
                    let publish_key = std::env::var("REALTIME_PUBLISH_KEY")
                        .ok()
                        .filter(|k| k.len() >= 16)
                        .unwrap_or_else(|| zhibo_core::ids::random_hex(24));
                    println!(
                        "realtime (AppSync Events protocol): {} and {}",
                        audience.ws_url, audience.http_url
                    );
                    router.merge(zhibo_local::realtime::server::router(
                        zhibo_local::realtime::server::Hub::new(),
                        zhibo_local::realtime::server::RealtimeAuth {
                            viewer_token_key: audience.viewer_token_key.clone(),
                            publish_key,
                        },
                    ))
                }
                None => router,
            };
            let listener = tokio::net::TcpListener::bind(&addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            println!("zhibo API listening on http://{addr}");
            if demo_page {
                println!("demo page: http://{addr}/demo/");
            }
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown_signal())
                .await
                .map_err(|e| format!("server: {e}"))
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    }
}

fn aws_sdk_s3_error(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// The dev app, created on first use.
async fn dev_app(state: &Deps, app_id: &str) -> Result<App, String> {
    if let Some(app) = state
        .apps
        .get_app(app_id)
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok(app);
    }
    let app = App::generate(app_id, now()).map_err(|e| e.to_string())?;
    state.apps.put_app(&app).await.map_err(|e| e.to_string())?;
    // Another process may have created it first: read back what is stored.
    state
        .apps
        .get_app(app_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("app {app_id} vanished after creation"))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

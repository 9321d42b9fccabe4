//! The loops that AWS runs for zhibo, run here as tasks: EventBridge schedules the sweeper and
//! the webhook delivery, DynamoDB Streams triggers the delivery, and S3 notifications trigger
//! the replay indexer. Each task runs until it is aborted; errors are logged, never fatal.

use crate::seaweedfs::FilerNotifications;
use aws_lambda_events::s3::S3Event;
use fn_replay_indexer::Indexer;
use fn_webhook_delivery::Deliverer;
use std::time::Duration;
use tokio::task::JoinHandle;
use zhibo_core::clock::now_ms;
use zhibo_store::Deps;

/// Runs [`fn_sweeper::sweep`] every `every` (the EventBridge schedule on AWS).
pub fn spawn_sweeper(deps: Deps, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = fn_sweeper::sweep(&deps, now_ms()).await {
                tracing::warn!("local sweeper: {e}");
            }
        }
    })
}

/// Calls [`Deliverer::run_due`] every `every`: the stand-in for the scheduled delivery and for
/// the stream trigger, since enqueued events are due at once.
pub fn spawn_delivery_pump(deliverer: Deliverer, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let report = deliverer.run_due(now_ms()).await;
            if report.errors > 0 {
                tracing::warn!(?report, "webhook delivery pump: some rooms failed");
            } else if report.rooms > 0 {
                tracing::debug!(?report, "webhook delivery pump");
            }
        }
    })
}

/// Runs `indexer` on the S3Event JSON that `notifications` makes from SeaweedFS's metadata
/// events: the stand-in for the S3 trigger.
pub fn spawn_replay_indexer(indexer: Indexer, notifications: FilerNotifications) -> JoinHandle<()> {
    tokio::spawn(async move {
        notifications
            .run(move |event| {
                let indexer = indexer.clone();
                async move {
                    match serde_json::from_value::<S3Event>(event) {
                        Ok(event) => {
                            indexer.handle(&event).await;
                        }
                        Err(e) => tracing::warn!("local S3 notification is not an S3Event: {e}"),
                    }
                }
            })
            .await
    })
}

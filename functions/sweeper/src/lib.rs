//! The sweeper: fires the live-status timers of [`zhibo_core::lifecycle`] that no hook or
//! action fires — 102 past `end_time` → 107, 106 for the abnormal timeout → 103, the longest
//! live → 103, a live room whose worker stopped heartbeating → 106.
//!
//! Every room with a running timer carries its deadline in the due-work index (gsi3,
//! `TIMER#{shard}`), so a sweep reads only the rooms that are due (Queries, never a Scan) and
//! applies [`Input::Tick`] to each through the same conditional write as the hooks. On AWS an
//! EventBridge schedule runs [`sweep`] every minute; `zhibo serve` runs it on a timer (crate `zhibo-local`).
//!
//! A live that ends by a timer (106 for the abnormal timeout, or the longest live) whose worker
//! is gone (its session ended, or it stopped heartbeating: a crash) has its replay closed here,
//! from what the bucket holds ([`zhibo_store::live_room::close_replay`]): no segment that
//! reached the bucket is lost with the worker. A live worker closes its own rooms.
//!
//! Each sweep also repeats the pending takedowns ([`zhibo_core::takedown`]): a banned room's
//! media (or a `close_replay` room's replays) is removed again until a run finds nothing left
//! after the room's quiet time, so what a worker writes after the ban is taken down too.

use futures::stream::{self, StreamExt};
use serde::Serialize;
use std::time::Duration;
use zhibo_core::lifecycle::{writer_gone, Input, Outcome, Timers};
use zhibo_core::table::DUE_SHARDS;
use zhibo_core::LiveStatus;
use zhibo_store::live_room::{close_replay, CloseRule, Closed};
use zhibo_store::Deps;
use zhibo_store::StoreError;

/// Rooms read per Query.
const PAGE: i32 = 100;
/// Pages read per shard and sweep (a room whose write keeps failing must not loop forever).
const MAX_PAGES: usize = 50;
/// Rooms handled at once.
const CONCURRENCY: usize = 8;

/// What one sweep did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    /// Rooms found due.
    pub due: usize,
    /// Rooms whose status changed.
    pub changed: usize,
    /// Rooms whose stale timer was only re-armed.
    pub rearmed: usize,
    /// Rooms that failed (logged; retried by the next sweep).
    pub failed: usize,
    /// Pending takedowns run.
    pub takedowns: usize,
    /// Objects they removed.
    pub taken_down: u64,
    /// Takedowns confirmed (nothing left, room quiet) and no longer repeated.
    pub takedowns_confirmed: usize,
    /// Takedowns that failed (logged; retried by the next sweep).
    pub takedowns_failed: usize,
}

/// Pending takedowns run per sweep.
const TAKEDOWNS_PER_SWEEP: i32 = 100;
/// Time budget of one takedown run in a sweep.
const TAKEDOWN_BUDGET: Duration = Duration::from_secs(20);

/// Runs every pending takedown once; confirms those that found nothing after their quiet time.
async fn sweep_takedowns(
    state: &Deps,
    now_ms: i64,
    report: &mut SweepReport,
) -> Result<(), zhibo_core::Error> {
    let pending = state
        .lifecycle
        .pending_takedowns(TAKEDOWNS_PER_SWEEP)
        .await?;
    let results: Vec<_> = stream::iter(pending)
        .map(|t| async move {
            let quiet = now_ms >= t.quiet_after_ms;
            // The confirming run invalidates the CDN once more (a failed invalidation of an
            // earlier run is not lost).
            let r = state
                .takedown
                .run(&state.lifecycle, &t, TAKEDOWN_BUDGET, quiet)
                .await;
            let confirmed = match &r {
                Ok(removed) if quiet && removed.complete && removed.objects == 0 => {
                    state.lifecycle.confirm_takedown(&t).await
                }
                Ok(_) => Ok(false),
                Err(_) => Ok(false),
            };
            (t, r, confirmed)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (t, r, confirmed) in results {
        report.takedowns += 1;
        match (r, confirmed) {
            (Ok(removed), Ok(c)) => {
                report.taken_down += removed.objects;
                report.takedowns_confirmed += usize::from(c);
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(app = %t.app_id, room = t.room_id, "takedown failed: {e}");
                report.takedowns_failed += 1;
            }
        }
    }
    Ok(())
}

/// Applies the timers of every room due at `now_ms`.
pub async fn sweep(state: &Deps, now_ms: i64) -> Result<SweepReport, zhibo_core::Error> {
    let mut report = SweepReport::default();
    for shard in 0..DUE_SHARDS {
        for _ in 0..MAX_PAGES {
            let due = state.lifecycle.rooms_due(shard, now_ms, PAGE).await?;
            let n = due.len();
            report.due += n;
            let results: Vec<_> = stream::iter(due)
                .map(|(app, room)| async move {
                    let r = tick(state, &app, room, now_ms).await;
                    if let Err(e) = &r {
                        tracing::warn!(%app, room, "sweep failed: {e}");
                    }
                    r
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let mut progressed = 0;
            for r in results {
                match r {
                    Ok(Ticked::Changed) => {
                        report.changed += 1;
                        progressed += 1;
                    }
                    Ok(Ticked::Rearmed) => {
                        report.rearmed += 1;
                        progressed += 1;
                    }
                    Ok(Ticked::Gone) => progressed += 1,
                    Err(_) => report.failed += 1,
                }
            }
            if n < PAGE as usize || progressed == 0 {
                break;
            }
        }
    }
    sweep_takedowns(state, now_ms, &mut report).await?;
    if report.due > 0 || report.taken_down > 0 || report.takedowns_failed > 0 {
        tracing::info!(?report, "sweep");
    }
    Ok(report)
}

/// Whether this transition ended the live (103) while no worker writes the room.
fn ends_without_writer(outcome: &Outcome, timers: &Timers) -> bool {
    let room = &outcome.room;
    room.live_status == LiveStatus::Ended
        && outcome.changes.iter().any(|c| c.to == LiveStatus::Ended)
        && writer_gone(room, timers, room.updated_at)
}

/// Closes the replay a gone worker left open. A failure is logged: the next publish of the
/// room, or an operator, closes it from the same bucket.
async fn close_orphan_replay(state: &Deps, app: &str, room: u64, now_ms: i64) {
    match close_replay(&state.media, app, room, now_ms, CloseRule::Any).await {
        Ok(Closed::Now(Some(summary))) | Ok(Closed::Already(Some(summary))) => {
            tracing::info!(%app, room, replay_id = %summary.replay_id, segments = summary.segments, "replay of a gone worker closed from the journal");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(%app, room, "closing the replay of a gone worker failed: {e}"),
    }
}

enum Ticked {
    Changed,
    Rearmed,
    Gone,
}

async fn tick(state: &Deps, app: &str, room: u64, now_ms: i64) -> Result<Ticked, StoreError> {
    let cfg = &state.config;
    match state
        .lifecycle
        .apply_lifecycle(
            app,
            room,
            Input::Tick,
            &cfg.timers,
            cfg.max_concurrent_lives,
            now_ms,
        )
        .await
    {
        Ok(a) if a.outcome.changed => {
            for c in &a.outcome.changes {
                tracing::info!(%app, room, "live_status {} -> {} ({})", c.from, c.to, c.cause.as_str());
            }
            if ends_without_writer(&a.outcome, &cfg.timers) {
                close_orphan_replay(state, app, room, now_ms).await;
            }
            Ok(Ticked::Changed)
        }
        // Due by its stored deadline but not by the current timers (they were reconfigured,
        // or a hook moved it): store the deadline the timers give now.
        Ok(a) => {
            state
                .lifecycle
                .rearm_timer(&a.outcome.room, &cfg.timers, now_ms)
                .await?;
            Ok(Ticked::Rearmed)
        }
        Err(StoreError::NotFound) => Ok(Ticked::Gone),
        Err(e) => Err(e),
    }
}

//! The live-status state machine (docs/api.md "live_status"), pure: the caller passes the room as
//! read, the input and `now`; [`transition`] returns the room to write, the webhook events to
//! emit and the answer to give. The store writes the result with a conditional write and
//! retries on a race, so this module decides everything and touches nothing.
//!
//! | from \ input | publish (new session) | unpublish (current) | pause | resume | ban | end | timers |
//! |---|---|---|---|---|---|---|---|
//! | 102 | → 101 started | — | refused | refused | → 104 | → 103 | `end_time` → 107 |
//! | 101 | newer session takes over | → 106 abnormal | → 105 | no-op | → 104 | → 103 | 12 h → 103; worker silent → 106 |
//! | 106 | → 101 started | — | → 105 | no-op | → 104 | → 103 | 15 min → 103; 12 h → 103 |
//! | 105 | refused | recorded | no-op | → 101 (publisher still on) / 106 | → 104 | → 103 | 12 h → 103 |
//! | 104 | refused | recorded | refused | refused | no-op | refused | — |
//! | 103 | refused | recorded | refused | refused | refused | no-op | — |
//! | 107 | refused | recorded | refused | refused | refused | refused | — |
//!
//! Hook events can arrive twice and in any order. Sessions ids sort by start time
//! ([`crate::ids::time_ordered_id`]) and a newer session wins; within a session only an event
//! with a higher `seq` than the last applied one changes anything. So the session part of the
//! state is a join over the events seen — the newest session, its highest `seq`, whether its
//! `unpublish` was seen — and any order of the same events stores the same state.

use crate::hooks::{HookEvent, HookEventKind, UnpublishReason};
use crate::live_status::LiveStatus;
use crate::room::Room;
use crate::webhook::EventType;

/// The timers of the lifecycle (configurable for tests; defaults from docs/api.md "live_status").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// 106 for this long → 103 (default 15 min).
    pub abnormal_timeout_s: i64,
    /// Longest live, from the first 101 (default 12 h).
    pub max_live_s: i64,
    /// A live session whose worker sent nothing for this long → 106 (default 45 s: three
    /// missed heartbeats at the worker's default 10 s, plus slack).
    pub worker_silence_s: i64,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            abnormal_timeout_s: 15 * 60,
            max_live_s: 12 * 3600,
            worker_silence_s: 45,
        }
    }
}

/// What the table keeps about a room's live sessions besides `live_status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// The newest publish session seen.
    pub session_id: Option<String>,
    /// The highest `seq` applied for it.
    pub session_seq: u64,
    /// Its publish or heartbeat was seen and its unpublish was not.
    pub session_open: bool,
    /// The worker holding it.
    pub worker_id: Option<String>,
    /// Where that worker serves HTTP-FLV to the other workers (its hooks' `origin`), for the
    /// edge relay.
    pub origin: Option<String>,
    /// When a hook of the open session was last received (unix seconds).
    pub last_seen: i64,
    /// When this live first entered 101 (unix seconds); the 12 h limit counts from here.
    pub live_started_at: Option<i64>,
    /// The same moment in unix milliseconds, which items' `offset_ms` counts from (set by the
    /// store, which has the clock in milliseconds; `None` for a live started before it was
    /// kept, whose offsets count from `live_started_at`).
    pub live_started_at_ms: Option<i64>,
    /// When `live_status` was entered (unix seconds).
    pub status_since: i64,
    /// The `seq` of the room's last webhook event.
    pub event_seq: u64,
}

impl Lifecycle {
    /// Where an item accepted at `now_ms` sits in the live, and so in its replay
    /// (`offset_ms`): the milliseconds since the live first went 101, 0 before.
    pub fn offset_ms(&self, now_ms: i64) -> i64 {
        self.live_started_at_ms
            .or_else(|| self.live_started_at.map(|s| s.saturating_mul(1000)))
            .map_or(0, |start| now_ms.saturating_sub(start).max(0))
    }
}

/// What the store read of a room's live-session item besides its [`Lifecycle`]: bookkeeping
/// that transitions never change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveItem {
    /// The item's version (0: none stored yet); every write of it is conditioned on it.
    pub version: u64,
    /// The deadline its due-work index entry holds (unix ms), if one.
    pub timer_ms: Option<i64>,
    /// The room status it was last written with (every status change writes both items): a
    /// read whose room item says otherwise saw the two items at different times.
    pub status: Option<LiveStatus>,
}

/// Whether a write that changes only the live session (a heartbeat) may leave the stored
/// deadline `stored_ms` in the due-work index instead of moving it to `next` (unix seconds,
/// [`next_deadline`]). It may when the stored one is not later than `next` (so no timer fires
/// late) and still at least two thirds of `worker_silence_s` away, so a publisher heartbeating
/// every 10 s with the default 45 s moves the index entry every other heartbeat, and the sweeper
/// visits a room early only after its heartbeats stopped (it then stores the exact deadline).
pub fn keeps_stored_deadline(
    stored_ms: Option<i64>,
    next: Option<i64>,
    timers: &Timers,
    now_ms: i64,
) -> bool {
    match (stored_ms, next) {
        (Some(stored), Some(next)) => {
            stored <= next.saturating_mul(1000)
                && stored.saturating_sub(now_ms) >= timers.worker_silence_s.saturating_mul(2000) / 3
        }
        _ => false,
    }
}

/// Whether no worker writes `room`'s media any more at `now` (unix seconds): its last session
/// ended (unpublish seen), or its worker sent nothing for `worker_silence_s` (it died). The
/// control plane closes an ended live's replay only then; a writing worker closes its own.
pub fn writer_gone(room: &Room, timers: &Timers, now: i64) -> bool {
    let l = &room.lifecycle;
    !l.session_open || now >= l.last_seen.saturating_add(timers.worker_silence_s)
}

/// An operator action (`POST /v1/rooms/{id}/actions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// → 105: the publisher is dropped and republish refused until `resume`.
    Pause,
    /// 105 → 101 if the publisher is still on, else 106 (waiting for a republish).
    Resume,
    /// → 104: the publisher is dropped, never again.
    Ban,
    /// → 103.
    End,
}

impl Action {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Ban => "ban",
            Action::End => "end",
        }
    }
}

/// What drives a transition.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A worker hook.
    Hook(&'a HookEvent),
    /// An operator action.
    Action(Action),
    /// Only the timers (the sweeper).
    Tick,
}

/// Why a status changed, as the webhook's `data.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A publish (or the heartbeat of a session whose publish had not been seen).
    Publish,
    /// The publisher stopped: cleanly (`stopped`) or its connection dropped (`dropped`), as the
    /// `unpublish` hook said.
    Unpublish(UnpublishReason),
    /// A heartbeat of a session that had been marked abnormal by the silence timer.
    Heartbeat,
    /// An operator action.
    Action(Action),
    /// `end_time` passed while not started.
    EndTimePassed,
    /// The longest live was reached.
    MaxLiveDuration,
    /// Abnormal for the whole abnormal timeout.
    AbnormalTimeout,
    /// The worker stopped sending heartbeats.
    WorkerSilent,
}

impl Cause {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Publish => "publish",
            Cause::Unpublish(UnpublishReason::Stopped) => "stopped",
            Cause::Unpublish(UnpublishReason::Dropped) => "dropped",
            Cause::Heartbeat => "heartbeat",
            Cause::Action(a) => a.as_str(),
            Cause::EndTimePassed => "end_time_passed",
            Cause::MaxLiveDuration => "max_live_duration",
            Cause::AbnormalTimeout => "abnormal_timeout",
            Cause::WorkerSilent => "worker_silent",
        }
    }
}

/// A status change to announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The webhook event type.
    pub event: EventType,
    /// Status before.
    pub from: LiveStatus,
    /// Status after.
    pub to: LiveStatus,
    /// Why.
    pub cause: Cause,
    /// The room event `seq` assigned to it.
    pub seq: u64,
}

/// The answer to the input: for hooks, whether the session may go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Go on.
    Allow,
    /// Refused (a publish), or drop the publisher (a heartbeat), or a refused action.
    Deny(String),
}

/// The result of one transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The room to store (the input room when nothing changed).
    pub room: Room,
    /// Status changes, in order, each with its event `seq`.
    pub changes: Vec<Change>,
    /// The answer.
    pub verdict: Verdict,
    /// True when anything stored changed (status, session, timers).
    pub changed: bool,
}

impl Outcome {
    /// True when the room enters 101 in this transition (the concurrent-live quota applies).
    pub fn enters_live(&self, before: LiveStatus) -> bool {
        before != LiveStatus::Live && self.room.live_status == LiveStatus::Live
    }
}

/// The next time a timer of `room` fires (unix seconds), if one runs.
pub fn next_deadline(room: &Room, timers: &Timers) -> Option<i64> {
    let l = &room.lifecycle;
    let live_limit = l
        .live_started_at
        .map(|t| t.saturating_add(timers.max_live_s));
    match room.live_status {
        LiveStatus::NotStarted => Some(room.end_time),
        LiveStatus::Live => {
            let silent = l.last_seen.saturating_add(timers.worker_silence_s);
            Some(live_limit.map_or(silent, |m| m.min(silent)))
        }
        LiveStatus::Abnormal => {
            let t = l.status_since.saturating_add(timers.abnormal_timeout_s);
            Some(live_limit.map_or(t, |m| m.min(t)))
        }
        LiveStatus::Paused => live_limit,
        LiveStatus::Ended | LiveStatus::Banned | LiveStatus::Expired => None,
    }
}

fn status_word(s: LiveStatus) -> &'static str {
    match s {
        LiveStatus::Live => "live",
        LiveStatus::NotStarted => "not started",
        LiveStatus::Ended => "ended",
        LiveStatus::Banned => "banned",
        LiveStatus::Paused => "paused",
        LiveStatus::Abnormal => "abnormal",
        LiveStatus::Expired => "expired",
    }
}

/// Why a publish is refused in status `s`, if it is.
fn publish_refusal(room: &Room) -> Option<String> {
    let id = room.room_id;
    match room.live_status {
        LiveStatus::NotStarted | LiveStatus::Live | LiveStatus::Abnormal => None,
        LiveStatus::Paused => Some(format!(
            "room {id} is paused (105); it can publish again after the resume action"
        )),
        LiveStatus::Banned => Some(format!("room {id} is banned (104)")),
        LiveStatus::Ended => Some(format!(
            "room {id} has ended (103); create a new room to go live again"
        )),
        LiveStatus::Expired => Some(format!(
            "room {id} expired (107): its end_time passed before it went live"
        )),
    }
}

struct Machine<'a> {
    room: Room,
    changes: Vec<Change>,
    timers: &'a Timers,
    now: i64,
}

impl Machine<'_> {
    fn set(&mut self, to: LiveStatus, event: EventType, cause: Cause) {
        let from = self.room.live_status;
        self.room.live_status = to;
        self.room.lifecycle.status_since = self.now;
        self.room.updated_at = self.now;
        if to == LiveStatus::Live && self.room.lifecycle.live_started_at.is_none() {
            self.room.lifecycle.live_started_at = Some(self.now);
        }
        self.room.lifecycle.event_seq += 1;
        self.changes.push(Change {
            event,
            from,
            to,
            cause,
            seq: self.room.lifecycle.event_seq,
        });
    }

    /// Fires every timer that is due at `now` (at most one status change per call: each
    /// timer leads to a status without a timer of the same kind).
    fn run_timers(&mut self, hook: bool) {
        let t = *self.timers;
        let now = self.now;
        let l = self.room.lifecycle.clone();
        let over_max = l
            .live_started_at
            .is_some_and(|s| now >= s.saturating_add(t.max_live_s));
        match self.room.live_status {
            LiveStatus::NotStarted if now >= self.room.end_time => {
                self.set(
                    LiveStatus::Expired,
                    EventType::RoomExpired,
                    Cause::EndTimePassed,
                );
            }
            LiveStatus::Live | LiveStatus::Paused | LiveStatus::Abnormal if over_max => {
                self.set(
                    LiveStatus::Ended,
                    EventType::RoomEnded,
                    Cause::MaxLiveDuration,
                );
            }
            LiveStatus::Abnormal if now >= l.status_since.saturating_add(t.abnormal_timeout_s) => {
                self.set(
                    LiveStatus::Ended,
                    EventType::RoomEnded,
                    Cause::AbnormalTimeout,
                );
            }
            // A hook proves the worker is there: it is handled as such, not as silence.
            LiveStatus::Live if !hook && now >= l.last_seen.saturating_add(t.worker_silence_s) => {
                self.set(
                    LiveStatus::Abnormal,
                    EventType::RoomAbnormal,
                    Cause::WorkerSilent,
                );
            }
            _ => {}
        }
    }

    /// A session newer than every one seen shows it is publishing (its publish, or a
    /// heartbeat that overtook the publish).
    fn new_session_publishing(&mut self, e: &HookEvent, cause: Cause) -> Verdict {
        if let Some(why) = publish_refusal(&self.room) {
            return Verdict::Deny(why);
        }
        let l = &mut self.room.lifecycle;
        l.session_id = Some(e.session_id.clone());
        l.session_seq = e.seq;
        l.session_open = true;
        l.worker_id = Some(e.worker_id.clone());
        l.origin = e.origin.clone();
        l.last_seen = self.now;
        if self.room.live_status != LiveStatus::Live {
            self.set(LiveStatus::Live, EventType::RoomStarted, cause);
        }
        Verdict::Allow
    }

    fn hook(&mut self, e: &HookEvent) -> Verdict {
        let newer = match &self.room.lifecycle.session_id {
            None => true,
            Some(cur) => e.session_id.as_str() > cur.as_str(),
        };
        let current = self.room.lifecycle.session_id.as_deref() == Some(e.session_id.as_str());
        if !newer && !current {
            return match e.event {
                HookEventKind::Unpublish => Verdict::Allow,
                _ => Verdict::Deny(format!(
                    "session {} was superseded by a newer publish of room {}",
                    e.session_id, self.room.room_id
                )),
            };
        }
        match e.event {
            HookEventKind::Publish | HookEventKind::Heartbeat if newer => {
                self.new_session_publishing(e, Cause::Publish)
            }
            HookEventKind::Publish | HookEventKind::Heartbeat => {
                // The current session: a retried publish, or a heartbeat.
                let fresh = e.seq > self.room.lifecycle.session_seq;
                if fresh && e.event == HookEventKind::Heartbeat {
                    self.room.lifecycle.session_seq = e.seq;
                    self.room.lifecycle.last_seen = self.now;
                    self.room.lifecycle.worker_id = Some(e.worker_id.clone());
                    self.room.lifecycle.origin = e.origin.clone();
                    if self.room.live_status == LiveStatus::Abnormal
                        && self.room.lifecycle.session_open
                    {
                        // Marked abnormal because its worker went silent; it is back.
                        self.set(LiveStatus::Live, EventType::RoomStarted, Cause::Heartbeat);
                    }
                }
                // An open session goes on while live, and while abnormal (its worker was
                // silent; a stale or retried event must not drop the publisher: its next
                // heartbeat brings the room back).
                if matches!(
                    self.room.live_status,
                    LiveStatus::Live | LiveStatus::Abnormal
                ) && self.room.lifecycle.session_open
                {
                    Verdict::Allow
                } else if let Some(why) = publish_refusal(&self.room) {
                    Verdict::Deny(why)
                } else {
                    Verdict::Deny(format!(
                        "session {} of room {} has ended",
                        e.session_id, self.room.room_id
                    ))
                }
            }
            HookEventKind::Unpublish => {
                if current && e.seq <= self.room.lifecycle.session_seq {
                    return Verdict::Allow; // a duplicate, or older than what was applied
                }
                let l = &mut self.room.lifecycle;
                l.session_id = Some(e.session_id.clone());
                l.session_seq = e.seq;
                l.session_open = false;
                l.worker_id = Some(e.worker_id.clone());
                l.origin = e.origin.clone();
                l.origin = e.origin.clone();
                match self.room.live_status {
                    LiveStatus::Live => {
                        self.set(
                            LiveStatus::Abnormal,
                            EventType::RoomAbnormal,
                            Cause::Unpublish(e.unpublish_reason()),
                        );
                    }
                    // A newer session's unpublish that overtook its publish: it was live.
                    LiveStatus::NotStarted if newer => {
                        if self.room.lifecycle.live_started_at.is_none() {
                            self.room.lifecycle.live_started_at = Some(self.now);
                        }
                        self.set(
                            LiveStatus::Abnormal,
                            EventType::RoomAbnormal,
                            Cause::Unpublish(e.unpublish_reason()),
                        );
                    }
                    _ => {}
                }
                Verdict::Allow
            }
        }
    }

    fn action(&mut self, a: Action) -> Verdict {
        use LiveStatus::*;
        let s = self.room.live_status;
        let refuse = |what: &str| {
            Verdict::Deny(format!(
                "cannot {} room {}: it is {} ({}){what}",
                a.as_str(),
                self.room.room_id,
                status_word(s),
                s.code()
            ))
        };
        match (a, s) {
            (Action::Pause, Live | Abnormal) => {
                self.set(Paused, EventType::RoomPaused, Cause::Action(a));
            }
            (Action::Pause, Paused)
            | (Action::Resume, Live | Abnormal)
            | (Action::Ban, Banned)
            | (Action::End, Ended) => {}
            (Action::Pause, NotStarted) => return refuse("; pause applies to a started live"),
            (Action::Resume, Paused) => {
                let to = if self.room.lifecycle.session_open {
                    Live
                } else {
                    Abnormal
                };
                self.set(to, EventType::RoomResumed, Cause::Action(a));
            }
            (Action::Ban, NotStarted | Live | Abnormal | Paused) => {
                self.set(Banned, EventType::RoomBanned, Cause::Action(a));
            }
            (Action::End, NotStarted | Live | Abnormal | Paused) => {
                self.set(Ended, EventType::RoomEnded, Cause::Action(a));
            }
            _ => return refuse(""),
        }
        Verdict::Allow
    }
}

/// Applies `input` to `room` at `now` (unix seconds): first every timer that is due, then the
/// input. The caller stores `outcome.room` if `outcome.changed`, conditioned on
/// `room.version`, together with one webhook event per change.
pub fn transition(room: &Room, input: Input<'_>, timers: &Timers, now: i64) -> Outcome {
    let mut m = Machine {
        room: room.clone(),
        changes: Vec::new(),
        timers,
        now,
    };
    m.run_timers(matches!(input, Input::Hook(_)));
    let verdict = match input {
        Input::Hook(e) => m.hook(e),
        Input::Action(a) => m.action(a),
        Input::Tick => Verdict::Allow,
    };
    let changed = m.room.live_status != room.live_status || m.room.lifecycle != room.lifecycle;
    Outcome {
        room: m.room,
        changes: m.changes,
        verdict,
        changed,
    }
}

/// The webhook event of each status change in `outcome`.
pub fn events_of(outcome: &Outcome, now_ms: i64) -> Vec<crate::webhook::WebhookEvent> {
    let room = &outcome.room;
    outcome
        .changes
        .iter()
        .map(|c| crate::webhook::WebhookEvent {
            id: crate::webhook::WebhookEvent::new_id(now_ms),
            kind: c.event,
            created_at: now_ms.div_euclid(1000),
            app_id: room.app_id.clone(),
            room_id: room.room_id,
            seq: c.seq,
            data: serde_json::json!({
                "live_status": c.to.code(),
                "previous_status": c.from.code(),
                "reason": c.cause.as_str(),
                "session_id": room.lifecycle.session_id,
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests;

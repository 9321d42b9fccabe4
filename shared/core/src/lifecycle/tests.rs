use super::*;

use std::collections::HashSet;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::RngSeed;

use crate::ids::time_ordered_id;
use crate::room::CreateRoom;
use EventType::{
    RoomAbnormal, RoomBanned, RoomEnded, RoomExpired, RoomPaused, RoomResumed, RoomStarted,
};
use HookEventKind::{Heartbeat, Publish, Unpublish};
use LiveStatus::{Abnormal, Banned, Ended, Expired, Live, NotStarted, Paused};

// ---------------------------------------------------------------------------------------------
// Fixtures: one room at fixed times, three sessions (older < current < newer).
// ---------------------------------------------------------------------------------------------

const ROOM_ID: u64 = 7;
/// Creation time of the room.
const T0: i64 = 1_800_000_000;
/// `end_time` of the 102 room.
const END_TIME: i64 = T0 + 4200;
/// `live_started_at` of every started room.
const LIVE_STARTED: i64 = T0 + 1000;
/// `status_since` and `last_seen` of every started room.
const SINCE: i64 = T0 + 2000;
/// The `session_seq` of every room with a session.
const SEQ: u64 = 5;
/// No timer is due at this time.
const NOW: i64 = T0 + 2010;
/// The defaults of docs/api.md "live_status": 15 min abnormal, 12 h live, 45 s worker silence.
const ABNORMAL_S: i64 = 15 * 60;
const MAX_LIVE_S: i64 = 12 * 3600;
const SILENCE_S: i64 = 45;
/// The 102 room's end_time passes (and, for a started room, the worker is silent and a 106
/// has been abnormal for its whole timeout).
const NOW_END: i64 = END_TIME;
/// The longest live is reached (and every earlier timer is due as well).
const NOW_MAX: i64 = LIVE_STARTED + MAX_LIVE_S;
/// A 106 has been abnormal for its whole timeout (and a 101's worker is silent).
const NOW_ABN: i64 = SINCE + ABNORMAL_S;
/// A 101's worker has been silent for the silence timeout (nothing else is due).
const NOW_SIL: i64 = SINCE + SILENCE_S;

fn timers() -> Timers {
    Timers::default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Old,
    Cur,
    New,
}

struct Ids {
    old: String,
    cur: String,
    new: String,
}

fn ids() -> &'static Ids {
    static IDS: OnceLock<Ids> = OnceLock::new();
    IDS.get_or_init(|| Ids {
        old: time_ordered_id(SINCE * 1000 - 60_000),
        cur: time_ordered_id(SINCE * 1000 - 30_000),
        new: time_ordered_id(NOW * 1000),
    })
}

impl Who {
    fn id(self) -> &'static str {
        let ids = ids();
        match self {
            Who::Old => &ids.old,
            Who::Cur => &ids.cur,
            Who::New => &ids.new,
        }
    }

    fn worker(self) -> &'static str {
        match self {
            Who::Old => "w0",
            Who::Cur => "w1",
            Who::New => "w2",
        }
    }
}

fn hook_event(
    kind: HookEventKind,
    session_id: &str,
    seq: u64,
    worker: &str,
    at_ms: i64,
) -> HookEvent {
    HookEvent {
        event: kind,
        event_id: format!("{session_id}-{seq}-{kind:?}"),
        session_id: session_id.to_string(),
        seq,
        app_id: "app1".into(),
        room_id: ROOM_ID,
        stream_name: "app1_7".into(),
        worker_id: worker.to_string(),
        client_ip: "203.0.113.9".into(),
        at_ms,
        reason: None,
        origin: Some(format!("http://{worker}.internal:9090")),
    }
}

fn hook(kind: HookEventKind, who: Who, seq: u64) -> HookEvent {
    hook_event(kind, who.id(), seq, who.worker(), NOW * 1000)
}

/// A fresh 102 room, as `POST /v1/rooms` creates it at `T0`.
fn new_room() -> Room {
    Room::new(
        "app1",
        ROOM_ID,
        CreateRoom {
            name: "room".into(),
            cover_img: String::new(),
            anchor_name: "anchor".into(),
            anchor_img: String::new(),
            start_time: T0 + 600,
            end_time: END_TIME,
            goods: Vec::new(),
            close_like: false,
            close_comment: false,
            close_replay: false,
        },
        T0,
    )
}

/// The room states of the table: one per status (the canonical ones) and two variants whose
/// session is in the other open/closed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum St {
    /// Live, the current session open.
    S101,
    /// Created, no session seen.
    S102,
    /// Ended after the current session's unpublish.
    S103,
    /// Banned while live; the current session's unpublish not seen yet.
    S104,
    /// Paused while live; the current session's unpublish not seen yet.
    S105,
    /// Abnormal after the current session's unpublish.
    S106,
    /// Expired, no session seen.
    S107,
    /// Paused, and the current session's unpublish was seen.
    S105Closed,
    /// Abnormal because the current session's worker went silent (session still open).
    S106Open,
}

use St::*;

fn canonical(s: LiveStatus) -> St {
    match s {
        Live => S101,
        NotStarted => S102,
        Ended => S103,
        Banned => S104,
        Paused => S105,
        Abnormal => S106,
        Expired => S107,
    }
}

impl St {
    fn status(self) -> LiveStatus {
        match self {
            S101 => Live,
            S102 => NotStarted,
            S103 => Ended,
            S104 => Banned,
            S105 | S105Closed => Paused,
            S106 | S106Open => Abnormal,
            S107 => Expired,
        }
    }

    fn room(self) -> Room {
        let mut room = new_room();
        match self {
            S102 => {}
            S107 => {
                room.end_time = T0 + 1500;
                room.live_status = Expired;
                room.updated_at = T0 + 1500;
                room.version = 2;
                room.lifecycle.status_since = T0 + 1500;
                room.lifecycle.event_seq = 1;
            }
            _ => {
                room.live_status = self.status();
                room.updated_at = SINCE;
                room.version = 9;
                room.lifecycle = Lifecycle {
                    session_id: Some(Who::Cur.id().to_string()),
                    session_seq: SEQ,
                    session_open: matches!(self, S101 | S104 | S105 | S106Open),
                    worker_id: Some(Who::Cur.worker().to_string()),
                    origin: Some(format!("http://{}.internal:9090", Who::Cur.worker())),
                    last_seen: SINCE,
                    live_started_at: Some(LIVE_STARTED),
                    live_started_at_ms: Some(LIVE_STARTED * 1000 + 250),
                    status_since: SINCE,
                    event_seq: 10,
                };
            }
        }
        room
    }
}

/// The inputs of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum In {
    /// Publish of a session newer than the current one.
    PublishNew,
    /// The current session's publish, retried.
    PublishRetry,
    /// A heartbeat of the current session with a higher seq than applied.
    HeartbeatCur,
    /// A heartbeat of the current session with the seq already applied.
    HeartbeatDup,
    /// A heartbeat of a session older than the current one.
    HeartbeatOld,
    /// A heartbeat of a session newer than the current one (its publish not seen).
    HeartbeatNew,
    /// The current session's unpublish.
    UnpublishCur,
    /// The current session's unpublish with the seq already applied (a duplicate).
    UnpublishDup,
    /// An older session's unpublish.
    UnpublishOld,
    /// A newer session's unpublish (its publish not seen).
    UnpublishNew,
    Pause,
    Resume,
    Ban,
    End,
    /// The sweeper, no timer due.
    Tick,
    /// The sweeper at the 102 room's end_time.
    TickEndTime,
    /// The sweeper when the longest live is reached.
    TickMaxLive,
    /// The sweeper when a 106 has been abnormal for the whole timeout.
    TickAbnormal,
    /// The sweeper when a 101's worker has been silent for the silence timeout.
    TickSilence,
    /// `HeartbeatCur` at `NOW_SIL`: a hook is no silence.
    HeartbeatCurSilent,
    /// `HeartbeatCur` at `NOW_MAX`: the timer first, then the hook.
    HeartbeatCurMaxLive,
    /// `PublishNew` at `NOW_END`: the timers first, then the hook.
    PublishNewEndTime,
}

use In::*;

const INPUTS: [In; 22] = [
    PublishNew,
    PublishRetry,
    HeartbeatCur,
    HeartbeatDup,
    HeartbeatOld,
    HeartbeatNew,
    UnpublishCur,
    UnpublishDup,
    UnpublishOld,
    UnpublishNew,
    Pause,
    Resume,
    Ban,
    End,
    Tick,
    TickEndTime,
    TickMaxLive,
    TickAbnormal,
    TickSilence,
    HeartbeatCurSilent,
    HeartbeatCurMaxLive,
    PublishNewEndTime,
];

impl In {
    fn now(self) -> i64 {
        match self {
            TickEndTime | PublishNewEndTime => NOW_END,
            TickMaxLive | HeartbeatCurMaxLive => NOW_MAX,
            TickAbnormal => NOW_ABN,
            TickSilence | HeartbeatCurSilent => NOW_SIL,
            _ => NOW,
        }
    }

    fn event(self) -> Option<HookEvent> {
        Some(match self {
            PublishNew | PublishNewEndTime => hook(Publish, Who::New, 0),
            PublishRetry => hook(Publish, Who::Cur, 0),
            HeartbeatCur | HeartbeatCurSilent | HeartbeatCurMaxLive => {
                hook(Heartbeat, Who::Cur, SEQ + 1)
            }
            HeartbeatDup => hook(Heartbeat, Who::Cur, SEQ),
            HeartbeatOld => hook(Heartbeat, Who::Old, 9),
            HeartbeatNew => hook(Heartbeat, Who::New, 1),
            UnpublishCur => hook(Unpublish, Who::Cur, SEQ + 2),
            UnpublishDup => hook(Unpublish, Who::Cur, SEQ),
            UnpublishOld => hook(Unpublish, Who::Old, 9),
            UnpublishNew => hook(Unpublish, Who::New, 3),
            _ => return None,
        })
    }

    fn action(self) -> Option<Action> {
        match self {
            Pause => Some(Action::Pause),
            Resume => Some(Action::Resume),
            Ban => Some(Action::Ban),
            End => Some(Action::End),
            _ => None,
        }
    }

    fn apply(self, room: &Room) -> Outcome {
        let t = timers();
        if let Some(e) = self.event() {
            transition(room, Input::Hook(&e), &t, self.now())
        } else if let Some(a) = self.action() {
            transition(room, Input::Action(a), &t, self.now())
        } else {
            transition(room, Input::Tick, &t, self.now())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The expected table.
// ---------------------------------------------------------------------------------------------

/// One expected status change: (to, event, cause); `from` is the status before it.
type Step = (LiveStatus, EventType, Cause);

const STARTED: Step = (Live, RoomStarted, Cause::Publish);
const REVIVED: Step = (Live, RoomStarted, Cause::Heartbeat);
/// An unpublish without a reason (a worker from before the field) counts as dropped.
const DROPPED: Step = (
    Abnormal,
    RoomAbnormal,
    Cause::Unpublish(UnpublishReason::Dropped),
);
const SILENT: Step = (Abnormal, RoomAbnormal, Cause::WorkerSilent);
const PAUSED: Step = (Paused, RoomPaused, Cause::Action(Action::Pause));
const RESUMED_LIVE: Step = (Live, RoomResumed, Cause::Action(Action::Resume));
const RESUMED_ABNORMAL: Step = (Abnormal, RoomResumed, Cause::Action(Action::Resume));
const BANNED: Step = (Banned, RoomBanned, Cause::Action(Action::Ban));
const ENDED: Step = (Ended, RoomEnded, Cause::Action(Action::End));
const MAX_LIVE: Step = (Ended, RoomEnded, Cause::MaxLiveDuration);
const ABN_TIMEOUT: Step = (Ended, RoomEnded, Cause::AbnormalTimeout);
const EXPIRED: Step = (Expired, RoomExpired, Cause::EndTimePassed);

/// The expected verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V {
    Allow,
    /// The publish refusal of this status ("room 7 is paused (105)…").
    Refusal(LiveStatus),
    /// "session … was superseded by a newer publish of room 7".
    Superseded,
    /// "session … of room 7 has ended".
    SessionEnded,
    /// "cannot {action} room 7: it is … ({code})".
    Refused,
}

use V::{Refusal, Refused, SessionEnded, Superseded};
const A: V = V::Allow;

/// The expected session part of the lifecycle afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sess {
    /// Unchanged.
    Keep,
    /// session_id, session_seq, session_open (and worker_id) set to these.
    Set(Who, u64, bool),
}

use Sess::Keep;

fn set(who: Who, seq: u64, open: bool) -> Sess {
    Sess::Set(who, seq, open)
}

#[derive(Debug, Clone, Copy)]
struct Exp {
    steps: &'static [Step],
    verdict: V,
    changed: bool,
    sess: Sess,
}

fn x(steps: &'static [Step], verdict: V, changed: bool, sess: Sess) -> Exp {
    Exp {
        steps,
        verdict,
        changed,
        sess,
    }
}

/// Every (state, input) cell, written out: the match has no wildcard, so the compiler checks
/// that every cell is here.
fn expected(st: St, input: In) -> Exp {
    match (st, input) {
        // 101, the current session open.
        (S101, PublishNew) => x(&[], A, true, set(Who::New, 0, true)),
        (S101, PublishRetry) => x(&[], A, false, Keep),
        (S101, HeartbeatCur) => x(&[], A, true, set(Who::Cur, 6, true)),
        (S101, HeartbeatDup) => x(&[], A, false, Keep),
        (S101, HeartbeatOld) => x(&[], Superseded, false, Keep),
        (S101, HeartbeatNew) => x(&[], A, true, set(Who::New, 1, true)),
        (S101, UnpublishCur) => x(&[DROPPED], A, true, set(Who::Cur, 7, false)),
        (S101, UnpublishDup) => x(&[], A, false, Keep),
        (S101, UnpublishOld) => x(&[], A, false, Keep),
        (S101, UnpublishNew) => x(&[DROPPED], A, true, set(Who::New, 3, false)),
        (S101, Pause) => x(&[PAUSED], A, true, Keep),
        (S101, Resume) => x(&[], A, false, Keep),
        (S101, Ban) => x(&[BANNED], A, true, Keep),
        (S101, End) => x(&[ENDED], A, true, Keep),
        (S101, Tick) => x(&[], A, false, Keep),
        (S101, TickEndTime) => x(&[SILENT], A, true, Keep),
        (S101, TickMaxLive) => x(&[MAX_LIVE], A, true, Keep),
        (S101, TickAbnormal) => x(&[SILENT], A, true, Keep),
        (S101, TickSilence) => x(&[SILENT], A, true, Keep),
        (S101, HeartbeatCurSilent) => x(&[], A, true, set(Who::Cur, 6, true)),
        (S101, HeartbeatCurMaxLive) => x(&[MAX_LIVE], Refusal(Ended), true, set(Who::Cur, 6, true)),
        (S101, PublishNewEndTime) => x(&[], A, true, set(Who::New, 0, true)),

        // 102, no session seen: every session is newer.
        (S102, PublishNew) => x(&[STARTED], A, true, set(Who::New, 0, true)),
        (S102, PublishRetry) => x(&[STARTED], A, true, set(Who::Cur, 0, true)),
        (S102, HeartbeatCur) => x(&[STARTED], A, true, set(Who::Cur, 6, true)),
        (S102, HeartbeatDup) => x(&[STARTED], A, true, set(Who::Cur, 5, true)),
        (S102, HeartbeatOld) => x(&[STARTED], A, true, set(Who::Old, 9, true)),
        (S102, HeartbeatNew) => x(&[STARTED], A, true, set(Who::New, 1, true)),
        (S102, UnpublishCur) => x(&[DROPPED], A, true, set(Who::Cur, 7, false)),
        (S102, UnpublishDup) => x(&[DROPPED], A, true, set(Who::Cur, 5, false)),
        (S102, UnpublishOld) => x(&[DROPPED], A, true, set(Who::Old, 9, false)),
        (S102, UnpublishNew) => x(&[DROPPED], A, true, set(Who::New, 3, false)),
        (S102, Pause) => x(&[], Refused, false, Keep),
        (S102, Resume) => x(&[], Refused, false, Keep),
        (S102, Ban) => x(&[BANNED], A, true, Keep),
        (S102, End) => x(&[ENDED], A, true, Keep),
        (S102, Tick) => x(&[], A, false, Keep),
        (S102, TickEndTime) => x(&[EXPIRED], A, true, Keep),
        (S102, TickMaxLive) => x(&[EXPIRED], A, true, Keep),
        (S102, TickAbnormal) => x(&[], A, false, Keep),
        (S102, TickSilence) => x(&[], A, false, Keep),
        (S102, HeartbeatCurSilent) => x(&[STARTED], A, true, set(Who::Cur, 6, true)),
        (S102, HeartbeatCurMaxLive) => x(&[EXPIRED], Refusal(Expired), true, Keep),
        (S102, PublishNewEndTime) => x(&[EXPIRED], Refusal(Expired), true, Keep),

        // 103, the current session closed.
        (S103, PublishNew) => x(&[], Refusal(Ended), false, Keep),
        (S103, PublishRetry) => x(&[], Refusal(Ended), false, Keep),
        (S103, HeartbeatCur) => x(&[], Refusal(Ended), true, set(Who::Cur, 6, false)),
        (S103, HeartbeatDup) => x(&[], Refusal(Ended), false, Keep),
        (S103, HeartbeatOld) => x(&[], Superseded, false, Keep),
        (S103, HeartbeatNew) => x(&[], Refusal(Ended), false, Keep),
        (S103, UnpublishCur) => x(&[], A, true, set(Who::Cur, 7, false)),
        (S103, UnpublishDup) => x(&[], A, false, Keep),
        (S103, UnpublishOld) => x(&[], A, false, Keep),
        (S103, UnpublishNew) => x(&[], A, true, set(Who::New, 3, false)),
        (S103, Pause) => x(&[], Refused, false, Keep),
        (S103, Resume) => x(&[], Refused, false, Keep),
        (S103, Ban) => x(&[], Refused, false, Keep),
        (S103, End) => x(&[], A, false, Keep),
        (S103, Tick) => x(&[], A, false, Keep),
        (S103, TickEndTime) => x(&[], A, false, Keep),
        (S103, TickMaxLive) => x(&[], A, false, Keep),
        (S103, TickAbnormal) => x(&[], A, false, Keep),
        (S103, TickSilence) => x(&[], A, false, Keep),
        (S103, HeartbeatCurSilent) => x(&[], Refusal(Ended), true, set(Who::Cur, 6, false)),
        (S103, HeartbeatCurMaxLive) => x(&[], Refusal(Ended), true, set(Who::Cur, 6, false)),
        (S103, PublishNewEndTime) => x(&[], Refusal(Ended), false, Keep),

        // 104, the current session still open (its unpublish not seen yet).
        (S104, PublishNew) => x(&[], Refusal(Banned), false, Keep),
        (S104, PublishRetry) => x(&[], Refusal(Banned), false, Keep),
        (S104, HeartbeatCur) => x(&[], Refusal(Banned), true, set(Who::Cur, 6, true)),
        (S104, HeartbeatDup) => x(&[], Refusal(Banned), false, Keep),
        (S104, HeartbeatOld) => x(&[], Superseded, false, Keep),
        (S104, HeartbeatNew) => x(&[], Refusal(Banned), false, Keep),
        (S104, UnpublishCur) => x(&[], A, true, set(Who::Cur, 7, false)),
        (S104, UnpublishDup) => x(&[], A, false, Keep),
        (S104, UnpublishOld) => x(&[], A, false, Keep),
        (S104, UnpublishNew) => x(&[], A, true, set(Who::New, 3, false)),
        (S104, Pause) => x(&[], Refused, false, Keep),
        (S104, Resume) => x(&[], Refused, false, Keep),
        (S104, Ban) => x(&[], A, false, Keep),
        (S104, End) => x(&[], Refused, false, Keep),
        (S104, Tick) => x(&[], A, false, Keep),
        (S104, TickEndTime) => x(&[], A, false, Keep),
        (S104, TickMaxLive) => x(&[], A, false, Keep),
        (S104, TickAbnormal) => x(&[], A, false, Keep),
        (S104, TickSilence) => x(&[], A, false, Keep),
        (S104, HeartbeatCurSilent) => x(&[], Refusal(Banned), true, set(Who::Cur, 6, true)),
        (S104, HeartbeatCurMaxLive) => x(&[], Refusal(Banned), true, set(Who::Cur, 6, true)),
        (S104, PublishNewEndTime) => x(&[], Refusal(Banned), false, Keep),

        // 105, the current session still open (its unpublish not seen yet).
        (S105, PublishNew) => x(&[], Refusal(Paused), false, Keep),
        (S105, PublishRetry) => x(&[], Refusal(Paused), false, Keep),
        (S105, HeartbeatCur) => x(&[], Refusal(Paused), true, set(Who::Cur, 6, true)),
        (S105, HeartbeatDup) => x(&[], Refusal(Paused), false, Keep),
        (S105, HeartbeatOld) => x(&[], Superseded, false, Keep),
        (S105, HeartbeatNew) => x(&[], Refusal(Paused), false, Keep),
        (S105, UnpublishCur) => x(&[], A, true, set(Who::Cur, 7, false)),
        (S105, UnpublishDup) => x(&[], A, false, Keep),
        (S105, UnpublishOld) => x(&[], A, false, Keep),
        (S105, UnpublishNew) => x(&[], A, true, set(Who::New, 3, false)),
        (S105, Pause) => x(&[], A, false, Keep),
        (S105, Resume) => x(&[RESUMED_LIVE], A, true, Keep),
        (S105, Ban) => x(&[BANNED], A, true, Keep),
        (S105, End) => x(&[ENDED], A, true, Keep),
        (S105, Tick) => x(&[], A, false, Keep),
        (S105, TickEndTime) => x(&[], A, false, Keep),
        (S105, TickMaxLive) => x(&[MAX_LIVE], A, true, Keep),
        (S105, TickAbnormal) => x(&[], A, false, Keep),
        (S105, TickSilence) => x(&[], A, false, Keep),
        (S105, HeartbeatCurSilent) => x(&[], Refusal(Paused), true, set(Who::Cur, 6, true)),
        (S105, HeartbeatCurMaxLive) => x(&[MAX_LIVE], Refusal(Ended), true, set(Who::Cur, 6, true)),
        (S105, PublishNewEndTime) => x(&[], Refusal(Paused), false, Keep),

        // 106 after the current session's unpublish.
        (S106, PublishNew) => x(&[STARTED], A, true, set(Who::New, 0, true)),
        (S106, PublishRetry) => x(&[], SessionEnded, false, Keep),
        (S106, HeartbeatCur) => x(&[], SessionEnded, true, set(Who::Cur, 6, false)),
        (S106, HeartbeatDup) => x(&[], SessionEnded, false, Keep),
        (S106, HeartbeatOld) => x(&[], Superseded, false, Keep),
        (S106, HeartbeatNew) => x(&[STARTED], A, true, set(Who::New, 1, true)),
        (S106, UnpublishCur) => x(&[], A, true, set(Who::Cur, 7, false)),
        (S106, UnpublishDup) => x(&[], A, false, Keep),
        (S106, UnpublishOld) => x(&[], A, false, Keep),
        (S106, UnpublishNew) => x(&[], A, true, set(Who::New, 3, false)),
        (S106, Pause) => x(&[PAUSED], A, true, Keep),
        (S106, Resume) => x(&[], A, false, Keep),
        (S106, Ban) => x(&[BANNED], A, true, Keep),
        (S106, End) => x(&[ENDED], A, true, Keep),
        (S106, Tick) => x(&[], A, false, Keep),
        (S106, TickEndTime) => x(&[ABN_TIMEOUT], A, true, Keep),
        (S106, TickMaxLive) => x(&[MAX_LIVE], A, true, Keep),
        (S106, TickAbnormal) => x(&[ABN_TIMEOUT], A, true, Keep),
        (S106, TickSilence) => x(&[], A, false, Keep),
        (S106, HeartbeatCurSilent) => x(&[], SessionEnded, true, set(Who::Cur, 6, false)),
        (S106, HeartbeatCurMaxLive) => {
            x(&[MAX_LIVE], Refusal(Ended), true, set(Who::Cur, 6, false))
        }
        (S106, PublishNewEndTime) => x(&[ABN_TIMEOUT], Refusal(Ended), true, Keep),

        // 107, no session seen: every session is newer.
        (S107, PublishNew) => x(&[], Refusal(Expired), false, Keep),
        (S107, PublishRetry) => x(&[], Refusal(Expired), false, Keep),
        (S107, HeartbeatCur) => x(&[], Refusal(Expired), false, Keep),
        (S107, HeartbeatDup) => x(&[], Refusal(Expired), false, Keep),
        (S107, HeartbeatOld) => x(&[], Refusal(Expired), false, Keep),
        (S107, HeartbeatNew) => x(&[], Refusal(Expired), false, Keep),
        (S107, UnpublishCur) => x(&[], A, true, set(Who::Cur, 7, false)),
        (S107, UnpublishDup) => x(&[], A, true, set(Who::Cur, 5, false)),
        (S107, UnpublishOld) => x(&[], A, true, set(Who::Old, 9, false)),
        (S107, UnpublishNew) => x(&[], A, true, set(Who::New, 3, false)),
        (S107, Pause) => x(&[], Refused, false, Keep),
        (S107, Resume) => x(&[], Refused, false, Keep),
        (S107, Ban) => x(&[], Refused, false, Keep),
        (S107, End) => x(&[], Refused, false, Keep),
        (S107, Tick) => x(&[], A, false, Keep),
        (S107, TickEndTime) => x(&[], A, false, Keep),
        (S107, TickMaxLive) => x(&[], A, false, Keep),
        (S107, TickAbnormal) => x(&[], A, false, Keep),
        (S107, TickSilence) => x(&[], A, false, Keep),
        (S107, HeartbeatCurSilent) => x(&[], Refusal(Expired), false, Keep),
        (S107, HeartbeatCurMaxLive) => x(&[], Refusal(Expired), false, Keep),
        (S107, PublishNewEndTime) => x(&[], Refusal(Expired), false, Keep),

        // 105 after the current session's unpublish: resume → 106.
        (S105Closed, PublishNew) => x(&[], Refusal(Paused), false, Keep),
        (S105Closed, PublishRetry) => x(&[], Refusal(Paused), false, Keep),
        (S105Closed, HeartbeatCur) => x(&[], Refusal(Paused), true, set(Who::Cur, 6, false)),
        (S105Closed, HeartbeatDup) => x(&[], Refusal(Paused), false, Keep),
        (S105Closed, HeartbeatOld) => x(&[], Superseded, false, Keep),
        (S105Closed, HeartbeatNew) => x(&[], Refusal(Paused), false, Keep),
        (S105Closed, UnpublishCur) => x(&[], A, true, set(Who::Cur, 7, false)),
        (S105Closed, UnpublishDup) => x(&[], A, false, Keep),
        (S105Closed, UnpublishOld) => x(&[], A, false, Keep),
        (S105Closed, UnpublishNew) => x(&[], A, true, set(Who::New, 3, false)),
        (S105Closed, Pause) => x(&[], A, false, Keep),
        (S105Closed, Resume) => x(&[RESUMED_ABNORMAL], A, true, Keep),
        (S105Closed, Ban) => x(&[BANNED], A, true, Keep),
        (S105Closed, End) => x(&[ENDED], A, true, Keep),
        (S105Closed, Tick) => x(&[], A, false, Keep),
        (S105Closed, TickEndTime) => x(&[], A, false, Keep),
        (S105Closed, TickMaxLive) => x(&[MAX_LIVE], A, true, Keep),
        (S105Closed, TickAbnormal) => x(&[], A, false, Keep),
        (S105Closed, TickSilence) => x(&[], A, false, Keep),
        (S105Closed, HeartbeatCurSilent) => x(&[], Refusal(Paused), true, set(Who::Cur, 6, false)),
        (S105Closed, HeartbeatCurMaxLive) => {
            x(&[MAX_LIVE], Refusal(Ended), true, set(Who::Cur, 6, false))
        }
        (S105Closed, PublishNewEndTime) => x(&[], Refusal(Paused), false, Keep),

        // 106 because the worker went silent, the session still open: it may come back.
        (S106Open, PublishNew) => x(&[STARTED], A, true, set(Who::New, 0, true)),
        (S106Open, PublishRetry) => x(&[], A, false, Keep),
        (S106Open, HeartbeatCur) => x(&[REVIVED], A, true, set(Who::Cur, 6, true)),
        (S106Open, HeartbeatDup) => x(&[], A, false, Keep),
        (S106Open, HeartbeatOld) => x(&[], Superseded, false, Keep),
        (S106Open, HeartbeatNew) => x(&[STARTED], A, true, set(Who::New, 1, true)),
        (S106Open, UnpublishCur) => x(&[], A, true, set(Who::Cur, 7, false)),
        (S106Open, UnpublishDup) => x(&[], A, false, Keep),
        (S106Open, UnpublishOld) => x(&[], A, false, Keep),
        (S106Open, UnpublishNew) => x(&[], A, true, set(Who::New, 3, false)),
        (S106Open, Pause) => x(&[PAUSED], A, true, Keep),
        (S106Open, Resume) => x(&[], A, false, Keep),
        (S106Open, Ban) => x(&[BANNED], A, true, Keep),
        (S106Open, End) => x(&[ENDED], A, true, Keep),
        (S106Open, Tick) => x(&[], A, false, Keep),
        (S106Open, TickEndTime) => x(&[ABN_TIMEOUT], A, true, Keep),
        (S106Open, TickMaxLive) => x(&[MAX_LIVE], A, true, Keep),
        (S106Open, TickAbnormal) => x(&[ABN_TIMEOUT], A, true, Keep),
        (S106Open, TickSilence) => x(&[], A, false, Keep),
        (S106Open, HeartbeatCurSilent) => x(&[REVIVED], A, true, set(Who::Cur, 6, true)),
        (S106Open, HeartbeatCurMaxLive) => {
            x(&[MAX_LIVE], Refusal(Ended), true, set(Who::Cur, 6, true))
        }
        (S106Open, PublishNewEndTime) => x(&[ABN_TIMEOUT], Refusal(Ended), true, Keep),
    }
}

/// Checks one cell; returns a description of the first mismatch.
fn check_cell(st: St, input: In) -> Result<(), String> {
    let exp = expected(st, input);
    let before = st.room();
    let now = input.now();
    let out = input.apply(&before);
    let after = &out.room;
    let cell = format!("{st:?} × {input:?}");

    // Status and the exact changes, with seq numbers following the room's event_seq.
    let mut from = st.status();
    let mut want = Vec::new();
    for (i, &(to, event, cause)) in exp.steps.iter().enumerate() {
        want.push(Change {
            event,
            from,
            to,
            cause,
            seq: before.lifecycle.event_seq + i as u64 + 1,
        });
        from = to;
    }
    if out.changes != want {
        return Err(format!("{cell}: changes {:?}, want {want:?}", out.changes));
    }
    if after.live_status != from {
        return Err(format!("{cell}: status {}, want {from}", after.live_status));
    }
    if after.lifecycle.event_seq != before.lifecycle.event_seq + want.len() as u64 {
        return Err(format!("{cell}: event_seq {}", after.lifecycle.event_seq));
    }
    if out.changed != exp.changed {
        return Err(format!(
            "{cell}: changed {}, want {}",
            out.changed, exp.changed
        ));
    }
    if !out.changed && *after != before {
        return Err(format!("{cell}: unchanged but the room differs"));
    }
    if !want.is_empty() && (after.lifecycle.status_since != now || after.updated_at != now) {
        return Err(format!("{cell}: status_since/updated_at not set to now"));
    }
    if out.enters_live(before.live_status) != (before.live_status != Live && from == Live) {
        return Err(format!("{cell}: enters_live"));
    }
    // live_started_at: set once, on the first entry into a live session, then never moved.
    let want_started = match before.lifecycle.live_started_at {
        Some(t) => Some(t),
        None if from.session_in_progress() => Some(now),
        None => None,
    };
    if after.lifecycle.live_started_at != want_started {
        return Err(format!(
            "{cell}: live_started_at {:?}, want {want_started:?}",
            after.lifecycle.live_started_at
        ));
    }

    // The verdict and its reason.
    let event = input.event();
    match (exp.verdict, &out.verdict) {
        (V::Allow, Verdict::Allow) => {}
        (V::Allow, Verdict::Deny(why)) => return Err(format!("{cell}: denied ({why})")),
        (_, Verdict::Allow) => return Err(format!("{cell}: allowed, want {:?}", exp.verdict)),
        (want_v, Verdict::Deny(why)) => {
            let sid = event
                .as_ref()
                .map(|e| e.session_id.clone())
                .unwrap_or_default();
            let must: Vec<String> = match want_v {
                V::Allow => unreachable!(),
                Refusal(s) => vec![format!("room {ROOM_ID} "), format!("({})", s.code())],
                Superseded => vec![format!("room {ROOM_ID}"), "superseded".into(), sid],
                SessionEnded => vec![format!("session {sid} of room {ROOM_ID} has ended")],
                Refused => vec![
                    format!(
                        "cannot {} room {ROOM_ID}: it is",
                        input.action().unwrap().as_str()
                    ),
                    format!("({})", st.status().code()),
                ],
            };
            let must_not: &[&str] = match want_v {
                Refusal(_) => &["session", "cannot"],
                SessionEnded => &["(10"],
                _ => &[],
            };
            if !must.iter().all(|m| why.contains(m.as_str()))
                || must_not.iter().any(|m| why.contains(m))
            {
                return Err(format!("{cell}: reason {why:?}, want {want_v:?}"));
            }
        }
    }

    // The session part of the lifecycle.
    let l = &after.lifecycle;
    let b = &before.lifecycle;
    match exp.sess {
        Keep => {
            if (
                &l.session_id,
                l.session_seq,
                l.session_open,
                &l.worker_id,
                l.last_seen,
            ) != (
                &b.session_id,
                b.session_seq,
                b.session_open,
                &b.worker_id,
                b.last_seen,
            ) {
                return Err(format!("{cell}: session changed to {l:?}"));
            }
        }
        Sess::Set(who, seq, open) => {
            let got = (
                l.session_id.as_deref(),
                l.session_seq,
                l.session_open,
                l.worker_id.as_deref(),
            );
            let want_s = (Some(who.id()), seq, open, Some(who.worker()));
            if got != want_s {
                return Err(format!("{cell}: session {got:?}, want {want_s:?}"));
            }
            // Publish and heartbeat prove the worker is there; an unpublish does not.
            let kind = event.as_ref().map(|e| e.event);
            let want_seen = if kind == Some(Unpublish) {
                b.last_seen
            } else {
                now
            };
            if l.last_seen != want_seen {
                return Err(format!(
                    "{cell}: last_seen {}, want {want_seen}",
                    l.last_seen
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn fixtures_use_the_api_md_defaults() {
    assert_eq!(
        Timers::default(),
        Timers {
            abnormal_timeout_s: ABNORMAL_S,
            max_live_s: MAX_LIVE_S,
            worker_silence_s: SILENCE_S,
        }
    );
    assert!(ids().old < ids().cur && ids().cur < ids().new);
    // The "no timer due" time is before every deadline, the others are exactly on one.
    for s in LiveStatus::ALL {
        if let Some(d) = next_deadline(&canonical(s).room(), &timers()) {
            assert!(NOW < d, "{s}");
        }
    }
    const { assert!(NOW_SIL < NOW_ABN && NOW_ABN < NOW_END && NOW_END < NOW_MAX) };
    assert_eq!(new_room().live_status, NotStarted);
}

#[test]
fn every_status_and_input_transitions_as_the_table_says() {
    let mut seen = HashSet::new();
    let mut failures = Vec::new();
    for status in LiveStatus::ALL {
        let st = canonical(status);
        assert_eq!(st.status(), status);
        assert_eq!(st.room().live_status, status);
        for input in INPUTS {
            seen.insert((status, input));
            if let Err(e) = check_cell(st, input) {
                failures.push(e);
            }
        }
    }
    assert_eq!(seen.len(), 7 * INPUTS.len());
    assert_eq!(seen.len(), 154);
    assert!(
        failures.is_empty(),
        "{} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn open_and_closed_session_variants_transition_as_the_table_says() {
    let mut seen = HashSet::new();
    let mut failures = Vec::new();
    for st in [S105Closed, S106Open] {
        assert_eq!(st.room().live_status, st.status());
        for input in INPUTS {
            seen.insert((st, input));
            if let Err(e) = check_cell(st, input) {
                failures.push(e);
            }
        }
    }
    assert_eq!(seen.len(), 2 * INPUTS.len());
    assert!(
        failures.is_empty(),
        "{} cells differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn next_deadline_of_every_status() {
    let t = timers();
    for s in LiveStatus::ALL {
        let want = match s {
            Live => Some(SINCE + SILENCE_S),
            NotStarted => Some(END_TIME),
            Paused => Some(LIVE_STARTED + MAX_LIVE_S),
            Abnormal => Some(SINCE + ABNORMAL_S),
            Ended | Banned | Expired => None,
        };
        assert_eq!(next_deadline(&canonical(s).room(), &t), want, "{s}");
    }
    assert_eq!(
        next_deadline(&S106Open.room(), &t),
        Some(SINCE + ABNORMAL_S)
    );
    assert_eq!(
        next_deadline(&S105Closed.room(), &t),
        Some(LIVE_STARTED + MAX_LIVE_S)
    );

    // The 12 h limit wins when it comes first.
    let mut live = S101.room();
    live.lifecycle.last_seen = LIVE_STARTED + MAX_LIVE_S - 10;
    assert_eq!(next_deadline(&live, &t), Some(LIVE_STARTED + MAX_LIVE_S));
    let mut abnormal = S106.room();
    abnormal.lifecycle.status_since = LIVE_STARTED + MAX_LIVE_S - 60;
    assert_eq!(
        next_deadline(&abnormal, &t),
        Some(LIVE_STARTED + MAX_LIVE_S)
    );
    // Without a start time there is no 12 h limit.
    let mut paused = S105.room();
    paused.lifecycle.live_started_at = None;
    assert_eq!(next_deadline(&paused, &t), None);
    let mut abnormal_unstarted = S106.room();
    abnormal_unstarted.lifecycle.live_started_at = None;
    assert_eq!(
        next_deadline(&abnormal_unstarted, &t),
        Some(SINCE + ABNORMAL_S)
    );
    // The timers passed are the ones used.
    let short = Timers {
        abnormal_timeout_s: 60,
        max_live_s: 7200,
        worker_silence_s: 5,
    };
    assert_eq!(next_deadline(&S101.room(), &short), Some(SINCE + 5));
    assert_eq!(next_deadline(&S106.room(), &short), Some(SINCE + 60));
    assert_eq!(
        next_deadline(&S105.room(), &short),
        Some(LIVE_STARTED + 7200)
    );
    let shorter = Timers {
        max_live_s: 600,
        ..short
    };
    assert_eq!(
        next_deadline(&S101.room(), &shorter),
        Some(LIVE_STARTED + 600)
    );
    assert_eq!(
        next_deadline(&S106.room(), &shorter),
        Some(LIVE_STARTED + 600)
    );
    // Far-away times saturate instead of overflowing.
    let mut far = S101.room();
    far.lifecycle.last_seen = i64::MAX - 1;
    far.lifecycle.live_started_at = Some(i64::MAX - 1);
    assert_eq!(next_deadline(&far, &t), Some(i64::MAX));

    // The sweeper does nothing before the deadline and changes the status at it.
    let rooms = [
        S101.room(),
        S102.room(),
        S105.room(),
        S106.room(),
        S106Open.room(),
        S105Closed.room(),
        live,
        abnormal,
    ];
    for room in rooms {
        let d = next_deadline(&room, &t).unwrap();
        let early = transition(&room, Input::Tick, &t, d - 1);
        assert!(!early.changed && early.changes.is_empty(), "{room:?}");
        assert_eq!(early.room, room);
        let due = transition(&room, Input::Tick, &t, d);
        assert_eq!(due.changes.len(), 1, "{room:?}");
        assert_ne!(due.room.live_status, room.live_status);
    }
    for room in [S103.room(), S104.room(), S107.room(), paused] {
        let later = transition(&room, Input::Tick, &t, T0 + 10 * 365 * 86_400);
        assert!(!later.changed, "{room:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests.
// ---------------------------------------------------------------------------------------------

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x007a_6869_626f),
        ..ProptestConfig::default()
    }
}

/// One publish session: the gap since the previous session's start (ms), how many
/// heartbeats, whether its unpublish is sent, and its worker.
type Plan = (i64, u64, bool, u8);

/// A realistic hook history of 1–4 sessions of one room, in the order the worker sent it.
/// Sessions start 1 ms to 60 s apart and last up to a minute, so they may overlap (a reconnect
/// to another worker while the old one has not noticed yet).
fn build_history(plans: &[Plan]) -> Vec<HookEvent> {
    let mut start_ms = (NOW - 3600) * 1000;
    let mut events = Vec::new();
    for &(gap_ms, heartbeats, unpublish, worker) in plans {
        start_ms += gap_ms;
        let sid = time_ordered_id(start_ms);
        let worker = format!("w{worker}");
        events.push(hook_event(Publish, &sid, 0, &worker, start_ms));
        for seq in 1..=heartbeats {
            events.push(hook_event(
                Heartbeat,
                &sid,
                seq,
                &worker,
                start_ms + seq as i64 * 10_000,
            ));
        }
        if unpublish {
            let seq = heartbeats + 1;
            let at = start_ms + heartbeats as i64 * 10_000 + 3_000;
            events.push(hook_event(Unpublish, &sid, seq, &worker, at));
        }
    }
    events.sort_by_key(|e| e.at_ms); // stable: a tie keeps the session order
    events
}

fn history_strategy() -> impl Strategy<Value = Vec<HookEvent>> {
    proptest::collection::vec((1i64..60_000, 0u64..6, any::<bool>(), 0u8..3), 1..=4)
        .prop_map(|plans| build_history(&plans))
}

/// A history, and the same events shuffled with random duplicates.
fn delivery_strategy() -> impl Strategy<Value = (Vec<HookEvent>, Vec<HookEvent>)> {
    history_strategy()
        .prop_flat_map(|h| {
            let n = h.len();
            (Just(h), proptest::collection::vec(0..n, 0..=n))
        })
        .prop_flat_map(|(h, dups)| {
            let mut d = h.clone();
            d.extend(dups.iter().map(|&i| h[i].clone()));
            (Just(h), Just(d).prop_shuffle())
        })
}

/// Checks that the changes of one transition are consecutive and chained.
fn check_changes(before: &Room, out: &Outcome) -> Result<(), TestCaseError> {
    let mut status = before.live_status;
    for (i, c) in out.changes.iter().enumerate() {
        prop_assert_eq!(c.seq, before.lifecycle.event_seq + i as u64 + 1);
        prop_assert_eq!(c.from, status);
        prop_assert_ne!(c.from, c.to);
        status = c.to;
    }
    prop_assert_eq!(out.room.live_status, status);
    prop_assert_eq!(
        out.room.lifecycle.event_seq,
        before.lifecycle.event_seq + out.changes.len() as u64
    );
    if !out.changed {
        prop_assert_eq!(&out.room, before);
    }
    Ok(())
}

/// Delivers `events` to a new 102 room at `NOW`, checking every step; returns the final room
/// and how many changes were emitted in total.
fn deliver(events: &[HookEvent]) -> Result<(Room, u64), TestCaseError> {
    let t = timers();
    let mut room = new_room();
    let mut total = 0u64;
    for e in events {
        let out = transition(&room, Input::Hook(e), &t, NOW);
        check_changes(&room, &out)?;
        let older = room
            .lifecycle
            .session_id
            .as_deref()
            .is_some_and(|cur| e.session_id.as_str() < cur);
        if older {
            check_older_session_event(&room, e, &out)?;
        }
        total += out.changes.len() as u64;
        room = out.room;
    }
    prop_assert_eq!(room.lifecycle.event_seq, total);
    Ok((room, total))
}

/// An event of a session older than the newest seen: publish and heartbeat are refused,
/// unpublish is acknowledged, and nothing changes.
fn check_older_session_event(
    before: &Room,
    e: &HookEvent,
    out: &Outcome,
) -> Result<(), TestCaseError> {
    match e.event {
        Publish | Heartbeat => match &out.verdict {
            Verdict::Deny(why) => {
                prop_assert!(why.contains("superseded"), "{}", why);
                prop_assert!(why.contains(&format!("room {ROOM_ID}")), "{}", why);
            }
            Verdict::Allow => prop_assert!(false, "older {:?} allowed", e.event),
        },
        Unpublish => prop_assert_eq!(&out.verdict, &Verdict::Allow),
    }
    prop_assert!(out.changes.is_empty());
    prop_assert!(!out.changed);
    prop_assert_eq!(&out.room, before);
    Ok(())
}

/// The state the events imply, whatever their order: the newest session, its highest seq,
/// open unless its unpublish was seen; 101 if it is open, else 106.
fn joined(history: &[HookEvent]) -> (LiveStatus, String, u64, bool) {
    let newest = history.iter().map(|e| e.session_id.clone()).max().unwrap();
    let mine = || history.iter().filter(|e| e.session_id == newest);
    let seq = mine().map(|e| e.seq).max().unwrap();
    let open = !mine().any(|e| e.event == Unpublish);
    (if open { Live } else { Abnormal }, newest, seq, open)
}

fn summary(
    room: &Room,
) -> (
    LiveStatus,
    Option<String>,
    u64,
    bool,
    Option<String>,
    Option<i64>,
) {
    let l = &room.lifecycle;
    (
        room.live_status,
        l.session_id.clone(),
        l.session_seq,
        l.session_open,
        l.worker_id.clone(),
        l.live_started_at,
    )
}

proptest! {
    #![proptest_config(config(2000))]

    /// In order, or shuffled with duplicates: the same stored state, and the one the events
    /// imply.
    #[test]
    fn any_delivery_order_stores_the_same_state((history, shuffled) in delivery_strategy()) {
        let (in_order, _) = deliver(&history)?;
        let (any_order, _) = deliver(&shuffled)?;
        prop_assert_eq!(summary(&in_order), summary(&any_order));
        let (status, newest, seq, open) = joined(&history);
        prop_assert_eq!(in_order.live_status, status);
        prop_assert_eq!(in_order.lifecycle.session_id.as_deref(), Some(newest.as_str()));
        prop_assert_eq!(in_order.lifecycle.session_seq, seq);
        prop_assert_eq!(in_order.lifecycle.session_open, open);
        prop_assert_eq!(in_order.lifecycle.live_started_at, Some(NOW));
        // Delivering everything again (every event a duplicate now) changes nothing.
        let t = timers();
        for e in &history {
            let again = transition(&any_order, Input::Hook(e), &t, NOW);
            prop_assert!(!again.changed && again.changes.is_empty(), "{:?}", e);
        }
    }
}

proptest! {
    #![proptest_config(config(500))]

    /// `event_seq` counts every change emitted, and each transition's changes carry the next
    /// consecutive seq numbers.
    #[test]
    fn event_seq_counts_every_change((_, shuffled) in delivery_strategy()) {
        let t = timers();
        let mut room = new_room();
        let mut seqs = Vec::new();
        for e in &shuffled {
            let out = transition(&room, Input::Hook(e), &t, NOW);
            seqs.extend(out.changes.iter().map(|c| c.seq));
            room = out.room;
        }
        let want: Vec<u64> = (1..=seqs.len() as u64).collect();
        prop_assert_eq!(&seqs, &want);
        prop_assert_eq!(room.lifecycle.event_seq, seqs.len() as u64);
        prop_assert!(!seqs.is_empty());
    }

    /// After any delivery, and after any action on top of it, every event of a session older
    /// than the newest seen is refused (publish, heartbeat) or acknowledged (unpublish), and
    /// changes nothing.
    #[test]
    fn older_sessions_change_nothing(
        (history, shuffled) in delivery_strategy(),
        action in proptest::option::of(prop_oneof![
            Just(Action::Pause),
            Just(Action::Resume),
            Just(Action::Ban),
            Just(Action::End),
        ]),
    ) {
        let t = timers();
        let (mut room, _) = deliver(&shuffled)?;
        if let Some(a) = action {
            room = transition(&room, Input::Action(a), &t, NOW).room;
        }
        let newest = room.lifecycle.session_id.clone().unwrap();
        for e in history.iter().filter(|e| e.session_id < newest) {
            let out = transition(&room, Input::Hook(e), &t, NOW);
            check_older_session_event(&room, e, &out)?;
        }
    }
}

/// An input of the random walk.
#[derive(Debug, Clone)]
enum Op {
    Hook(HookEventKind, usize, u64),
    Act(Action),
    Tick,
}

fn op_strategy() -> impl Strategy<Value = (Op, i64)> {
    let op = prop_oneof![
        4 => (
            prop_oneof![Just(Publish), Just(Heartbeat), Just(Unpublish)],
            0usize..3,
            0u64..6,
        )
            .prop_map(|(k, s, q)| Op::Hook(k, s, q)),
        1 => prop_oneof![
            Just(Action::Pause),
            Just(Action::Resume),
            Just(Action::Ban),
            Just(Action::End),
        ]
        .prop_map(Op::Act),
        2 => Just(Op::Tick),
    ];
    let dt = prop_oneof![3 => 0i64..60, 2 => 0i64..2_000, 1 => 0i64..50_000];
    (op, dt)
}

/// Whether a change is one the table allows.
fn allowed_change(c: &Change) -> bool {
    use Cause as C;
    matches!(
        (c.event, c.from, c.to, c.cause),
        (RoomStarted, NotStarted | Abnormal, Live, C::Publish)
            | (RoomStarted, Abnormal, Live, C::Heartbeat)
            | (
                RoomPaused,
                Live | Abnormal,
                Paused,
                C::Action(Action::Pause)
            )
            | (
                RoomResumed,
                Paused,
                Live | Abnormal,
                C::Action(Action::Resume)
            )
            | (RoomAbnormal, Live | NotStarted, Abnormal, C::Unpublish(_))
            | (RoomAbnormal, Live, Abnormal, C::WorkerSilent)
            | (
                RoomEnded,
                NotStarted | Live | Paused | Abnormal,
                Ended,
                C::Action(Action::End)
            )
            | (
                RoomEnded,
                Live | Paused | Abnormal,
                Ended,
                C::MaxLiveDuration
            )
            | (RoomEnded, Abnormal, Ended, C::AbnormalTimeout)
            | (
                RoomBanned,
                NotStarted | Live | Paused | Abnormal,
                Banned,
                C::Action(Action::Ban)
            )
            | (RoomExpired, NotStarted, Expired, C::EndTimePassed)
    )
}

fn is_timer(c: Cause) -> bool {
    matches!(
        c,
        Cause::EndTimePassed
            | Cause::MaxLiveDuration
            | Cause::AbnormalTimeout
            | Cause::WorkerSilent
    )
}

proptest! {
    #![proptest_config(config(1000))]

    /// Any mix of hooks, actions and sweeps over time keeps the machine's invariants.
    #[test]
    fn random_walks_keep_the_invariants(ops in proptest::collection::vec(op_strategy(), 1..40)) {
        let t = timers();
        let sids = [Who::Old.id(), Who::Cur.id(), Who::New.id()];
        let mut room = new_room();
        let mut now = T0 + 600;
        let mut total = 0u64;
        for (op, dt) in ops {
            now += dt;
            let event;
            let input = match op {
                Op::Hook(kind, s, seq) => {
                    event = hook_event(kind, sids[s], seq, "w1", now * 1000);
                    Input::Hook(&event)
                }
                Op::Act(a) => Input::Action(a),
                Op::Tick => Input::Tick,
            };
            let out = transition(&room, input, &t, now);
            check_changes(&room, &out)?;
            total += out.changes.len() as u64;
            prop_assert!(out.changes.len() <= 2);
            for (i, c) in out.changes.iter().enumerate() {
                prop_assert!(allowed_change(c), "{:?}", c);
                // A timer fires before the input, at most one per transition.
                prop_assert_eq!(is_timer(c.cause), i == 0 && is_timer(c.cause));
            }
            if !out.changes.is_empty() {
                prop_assert_eq!(out.room.lifecycle.status_since, now);
                prop_assert_eq!(out.room.updated_at, now);
            }
            // 103, 104 and 107 are final; nothing goes back to 102.
            if matches!(room.live_status, Ended | Banned | Expired) {
                prop_assert_eq!(out.room.live_status, room.live_status);
            }
            if room.live_status != NotStarted {
                prop_assert_ne!(out.room.live_status, NotStarted);
            }
            // The session part only moves forward.
            let (b, a) = (&room.lifecycle, &out.room.lifecycle);
            prop_assert!(a.session_id >= b.session_id);
            if a.session_id == b.session_id {
                prop_assert!(a.session_seq >= b.session_seq);
                prop_assert!(a.session_open <= b.session_open || b.session_id.is_none());
            }
            if b.live_started_at.is_some() {
                prop_assert_eq!(a.live_started_at, b.live_started_at);
            }
            // A refused action changes nothing but what the timers did.
            if let (Input::Action(_), Verdict::Deny(_)) = (input, &out.verdict) {
                prop_assert!(out.changes.iter().all(|c| is_timer(c.cause)));
            }
            // The sweeper changes the status exactly when the deadline is reached, fires
            // everything due at once, and leaves the next deadline in the future.
            if let Input::Tick = input {
                let due = next_deadline(&room, &t).is_some_and(|d| now >= d);
                prop_assert_eq!(out.changes.len(), usize::from(due));
                let again = transition(&out.room, Input::Tick, &t, now);
                prop_assert!(!again.changed);
                if let Some(d) = next_deadline(&out.room, &t) {
                    prop_assert!(d > now);
                }
            }
            room = out.room;
        }
        prop_assert_eq!(room.lifecycle.event_seq, total);
    }
}

#[test]
fn a_heartbeat_moves_the_stored_silence_deadline_only_when_it_comes_near() {
    let t = Timers::default(); // 45 s of silence: the stored deadline may be kept ≥ 30 s ahead
    let now_ms = 1_000_000;
    let next = Some(now_ms / 1000 + 45);
    // Stored 35 s ahead, before the new deadline: kept.
    assert!(keeps_stored_deadline(
        Some(now_ms + 35_000),
        next,
        &t,
        now_ms
    ));
    // Exactly two thirds ahead: kept; closer: moved.
    assert!(keeps_stored_deadline(
        Some(now_ms + 30_000),
        next,
        &t,
        now_ms
    ));
    assert!(!keeps_stored_deadline(
        Some(now_ms + 29_999),
        next,
        &t,
        now_ms
    ));
    // Never later than the new deadline (no timer may fire late).
    assert!(!keeps_stored_deadline(
        Some(now_ms + 46_000),
        next,
        &t,
        now_ms
    ));
    // Nothing stored, or no timer any more: written.
    assert!(!keeps_stored_deadline(None, next, &t, now_ms));
    assert!(!keeps_stored_deadline(
        Some(now_ms + 35_000),
        None,
        &t,
        now_ms
    ));
    // Every 10 s, heartbeats move it every other time and it stays ≥ 25 s ahead.
    let mut stored = now_ms + 45_000;
    let mut moves = 0;
    for k in 1..=12 {
        let at = now_ms + k * 10_000;
        let next = at / 1000 + 45;
        if !keeps_stored_deadline(Some(stored), Some(next), &t, at) {
            stored = next * 1000;
            moves += 1;
        }
        assert!(stored - at >= 25_000 && stored <= next * 1000);
    }
    assert_eq!(moves, 6);
}

/// An unpublish of `who` at `seq` that says how the publish ended.
fn unpublish(who: Who, seq: u64, reason: Option<UnpublishReason>) -> HookEvent {
    HookEvent {
        reason,
        ..hook(Unpublish, who, seq)
    }
}

/// The `data.reason` of each webhook event of `out`.
fn webhook_reasons(out: &Outcome) -> Vec<String> {
    events_of(out, NOW * 1000)
        .iter()
        .map(|e| e.data["reason"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn an_unpublish_says_whether_the_encoder_stopped_or_its_connection_dropped() {
    use UnpublishReason::{Dropped, Stopped};
    for (reason, word) in [
        (Some(Stopped), "stopped"),
        (Some(Dropped), "dropped"),
        (None, "dropped"),
    ] {
        // The current session of a live room, and a newer session whose publish was not seen:
        // both go 106 (a clean stop too: the room may resume within the abnormal window).
        for (st, who, seq) in [(S101, Who::Cur, SEQ + 2), (S102, Who::New, 3)] {
            let out = transition(
                &st.room(),
                Input::Hook(&unpublish(who, seq, reason)),
                &timers(),
                NOW,
            );
            assert_eq!(out.room.live_status, Abnormal, "{st:?} {reason:?}");
            assert_eq!(out.changes.len(), 1, "{st:?} {reason:?}");
            let c = &out.changes[0];
            assert_eq!(c.event, RoomAbnormal);
            assert_eq!(c.cause, Cause::Unpublish(reason.unwrap_or(Dropped)));
            assert_eq!(c.cause.as_str(), word);
            assert_eq!(webhook_reasons(&out), [word], "{st:?} {reason:?}");
        }
        // Where an unpublish changes no status, no reason is sent anywhere.
        for st in [S103, S104, S105, S106, S107] {
            let out = transition(
                &st.room(),
                Input::Hook(&unpublish(Who::Cur, SEQ + 2, reason)),
                &timers(),
                NOW,
            );
            assert!(out.changes.is_empty(), "{st:?} {reason:?}");
        }
    }
}

#[test]
fn a_retried_or_duplicate_unpublish_keeps_the_first_reason() {
    use UnpublishReason::{Dropped, Stopped};
    for (first, second) in [(Stopped, Dropped), (Dropped, Stopped), (Stopped, Stopped)] {
        let out = transition(
            &S101.room(),
            Input::Hook(&unpublish(Who::Cur, SEQ + 2, Some(first))),
            &timers(),
            NOW,
        );
        assert_eq!(webhook_reasons(&out), [first.as_str()]);
        let room = out.room;
        // The same event retried, or another unpublish of the session with an applied seq:
        // nothing changes and no second event says otherwise.
        for seq in [SEQ + 2, SEQ + 1] {
            let again = transition(
                &room,
                Input::Hook(&unpublish(Who::Cur, seq, Some(second))),
                &timers(),
                NOW + 1,
            );
            assert!(!again.changed, "{first:?} then {second:?} at seq {seq}");
            assert!(again.changes.is_empty());
            assert_eq!(again.verdict, Verdict::Allow);
        }
        // An unpublish of the closed session with a higher seq records it; the room stays 106
        // and no second room.abnormal is sent.
        let later = transition(
            &room,
            Input::Hook(&unpublish(Who::Cur, SEQ + 3, Some(second))),
            &timers(),
            NOW + 1,
        );
        assert!(later.changes.is_empty(), "{first:?} then {second:?}");
        assert_eq!(later.room.live_status, Abnormal);
    }
}

/// `offset_ms` counts from the first 101 to the millisecond when the store kept it, from its
/// whole second otherwise, and is 0 before the live started.
#[test]
fn offsets_count_from_the_first_101() {
    let mut l = Lifecycle::default();
    assert_eq!(l.offset_ms(5_000), 0);
    l.live_started_at = Some(1_700_000_000);
    assert_eq!(l.offset_ms(1_700_000_002_500), 2_500);
    l.live_started_at_ms = Some(1_700_000_000_900);
    assert_eq!(l.offset_ms(1_700_000_002_500), 1_600);
    assert_eq!(l.offset_ms(1_700_000_000_000), 0, "never negative");
    assert_eq!(l.offset_ms(i64::MIN), 0);
}

//! RTMP millisecond timestamps → monotonic 90 kHz output timestamps.
//!
//! * u32 wrap-around (every ~49.7 days) is unwrapped by interpreting each
//!   timestamp relative to the previous one as a signed 32-bit delta.
//! * A jump (forward beyond `forward_jump_ms` past the newest timestamp
//!   seen, or backward beyond `backward_tolerance_ms` within one track)
//!   starts a new *epoch*: the output clock continues from where the
//!   previous epoch ended, plus a small gap, and the caller is told so it
//!   can cut the segment and flag a discontinuity.
//! * Smaller backward steps are clamped so each track's DTS strictly
//!   increases.

use crate::ts::StreamKind;

/// Per-track clock state.
#[derive(Debug, Clone, Copy, Default)]
struct TrackClock {
    /// Extended input time of the last message in the current epoch.
    last_in: Option<i64>,
    /// Last output DTS (session-wide, survives epochs).
    last_out: Option<u64>,
    /// Duration estimate of one frame, 90 kHz.
    frame_duration: u64,
}

/// Result of mapping one timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mapped {
    /// Output DTS, strictly greater than the track's previous one.
    pub dts: u64,
    /// The unclamped output time; PTS is derived from it so a clamped DTS
    /// does not shift presentation.
    pub unclamped: u64,
    /// A new epoch started with this message.
    pub jumped: bool,
    /// The DTS was raised to keep the track monotonic.
    pub clamped: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    origin_90k: u64,
    forward_jump_ms: i64,
    backward_tolerance_ms: i64,
    started: bool,
    force_epoch: bool,
    last_raw: u32,
    last_ext: i64,
    max_ext: i64,
    epoch_in: i64,
    epoch_out: u64,
    /// End (DTS + duration) of the latest frame of any track.
    max_out_end: u64,
    video: TrackClock,
    audio: TrackClock,
}

impl Timeline {
    pub(crate) fn new(origin_90k: u64, forward_jump_ms: u32, backward_tolerance_ms: u32) -> Self {
        Timeline {
            origin_90k,
            forward_jump_ms: i64::from(forward_jump_ms),
            backward_tolerance_ms: i64::from(backward_tolerance_ms),
            started: false,
            force_epoch: false,
            last_raw: 0,
            last_ext: 0,
            max_ext: 0,
            epoch_in: 0,
            epoch_out: origin_90k,
            max_out_end: origin_90k,
            video: TrackClock::default(),
            audio: TrackClock::default(),
        }
    }

    fn track(&mut self, kind: StreamKind) -> &mut TrackClock {
        match kind {
            StreamKind::Video => &mut self.video,
            StreamKind::Audio => &mut self.audio,
        }
    }

    /// Sets the fixed frame duration of a track (audio: from the codec config).
    pub(crate) fn set_frame_duration(&mut self, kind: StreamKind, ticks: u64) {
        self.track(kind).frame_duration = ticks;
    }

    /// Frame duration estimate of a track.
    pub(crate) fn frame_duration(&self, kind: StreamKind) -> u64 {
        match kind {
            StreamKind::Video => self.video.frame_duration,
            StreamKind::Audio => self.audio.frame_duration,
        }
    }

    /// The next message starts a new epoch regardless of its timestamp.
    pub(crate) fn force_new_epoch(&mut self) {
        if self.started {
            self.force_epoch = true;
        }
    }

    /// Maps one RTMP timestamp of `kind` and commits the new state.
    pub(crate) fn map(&mut self, kind: StreamKind, raw: u32) -> Mapped {
        let ext = if self.started {
            // Signed 32-bit delta: continuation across u32 wrap.
            self.last_ext + i64::from(raw.wrapping_sub(self.last_raw) as i32)
        } else {
            i64::from(raw)
        };
        let mut jumped = false;
        if !self.started {
            self.started = true;
            self.epoch_in = ext;
            self.epoch_out = self.origin_90k;
            self.max_ext = ext;
        } else {
            let track_last = match kind {
                StreamKind::Video => self.video.last_in,
                StreamKind::Audio => self.audio.last_in,
            };
            let backward = track_last.is_some_and(|last| ext < last - self.backward_tolerance_ms);
            let forward = ext > self.max_ext + self.forward_jump_ms;
            if backward || forward || self.force_epoch {
                jumped = true;
                self.force_epoch = false;
                self.epoch_in = ext;
                // Leave a gap as wide as the backward tolerance so the other
                // track's first (slightly earlier) message of the new epoch
                // still lands after everything already written.
                self.epoch_out = self
                    .max_out_end
                    .saturating_add(self.backward_tolerance_ms.unsigned_abs() * 90);
                self.max_ext = ext;
                self.video.last_in = None;
                self.audio.last_in = None;
            }
        }
        self.last_raw = raw;
        self.last_ext = ext;
        self.max_ext = self.max_ext.max(ext);

        let delta_90k = (ext - self.epoch_in).saturating_mul(90);
        let unclamped = if delta_90k >= 0 {
            self.epoch_out.saturating_add(delta_90k.unsigned_abs())
        } else {
            self.epoch_out.saturating_sub(delta_90k.unsigned_abs())
        };
        let track = self.track(kind);
        track.last_in = Some(ext);
        let mut dts = unclamped;
        let mut clamped = false;
        if let Some(last) = track.last_out {
            if dts <= last {
                dts = last + 1;
                clamped = true;
            } else if kind == StreamKind::Video {
                let step = dts - last;
                // Only trust plausible steps (< 1 s) as frame duration.
                if step < 90_000 {
                    track.frame_duration = step;
                }
            }
        }
        track.last_out = Some(dts);
        let end = dts.saturating_add(track.frame_duration);
        self.max_out_end = self.max_out_end.max(end);
        Mapped {
            dts,
            unclamped,
            jumped,
            clamped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StreamKind::{Audio, Video};

    fn timeline() -> Timeline {
        Timeline::new(900_000, 10_000, 1_000)
    }

    #[test]
    fn rebases_to_origin_and_scales() {
        let mut t = timeline();
        assert_eq!(t.map(Video, 5_000).dts, 900_000);
        assert_eq!(t.map(Video, 5_040).dts, 900_000 + 40 * 90);
        // Audio slightly behind video lands before the origin but is fine.
        assert_eq!(t.map(Audio, 4_990).dts, 900_000 - 900);
    }

    #[test]
    fn u32_wrap_is_continuation() {
        let mut t = timeline();
        let a = t.map(Video, u32::MAX - 20);
        let b = t.map(Video, 19); // 40 ms later, across the wrap
        assert!(!b.jumped);
        assert_eq!(b.dts - a.dts, 40 * 90);
    }

    #[test]
    fn forward_jump_starts_epoch_after_previous_end() {
        let mut t = timeline();
        t.map(Video, 0);
        let last = t.map(Video, 40);
        let j = t.map(Video, 60_000);
        assert!(j.jumped);
        // Previous end = last + frame duration (40 ms), plus 1 s gap.
        assert_eq!(j.dts, last.dts + 40 * 90 + 90_000);
        let next = t.map(Video, 60_040);
        assert!(!next.jumped);
        assert_eq!(next.dts, j.dts + 40 * 90);
    }

    #[test]
    fn backward_jump_and_other_track_follow_without_second_jump() {
        let mut t = timeline();
        for ms in (0..10_000).step_by(40) {
            t.map(Video, ms);
            t.map(Audio, ms + 5);
        }
        let v = t.map(Video, 0);
        assert!(v.jumped);
        let a = t.map(Audio, 3);
        assert!(!a.jumped);
        assert!(a.dts > 900_000 + 10_000 * 90);
    }

    #[test]
    fn small_backward_steps_are_clamped() {
        let mut t = timeline();
        let a = t.map(Video, 1_000);
        let b = t.map(Video, 990);
        assert!(!b.jumped && b.clamped);
        assert_eq!(b.dts, a.dts + 1);
        assert_eq!(b.unclamped, a.dts - 900);
        let c = t.map(Video, 990);
        assert_eq!(c.dts, a.dts + 2);
    }

    #[test]
    fn forced_epoch() {
        let mut t = timeline();
        t.force_new_epoch(); // no-op before start
        assert!(!t.map(Audio, 100).jumped);
        t.force_new_epoch();
        assert!(t.map(Audio, 123).jumped);
    }
}

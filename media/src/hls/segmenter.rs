//! FLV tag bodies in, keyframe-aligned MPEG-TS segments out.

use bytes::Bytes;

use super::playlist::PlaylistSegment;
use super::timeline::Timeline;
use crate::aac::{self, AudioSpecificConfig};
use crate::avc::{self, AvcDecoderConfig};
use crate::flv::{self, AacPacket, AvcPacket};
use crate::ts::{PesFrame, StreamKind, Tracks, TsMuxer, CLOCK_HZ, PACKET_SIZE};
use crate::{Error, Result};

/// A video track with no frame for this long no longer drives segment cuts
/// (audio may cut instead), 90 kHz.
const VIDEO_IDLE_90K: u64 = 5 * CLOCK_HZ;
/// Packed audio PES stay below this payload size, so `PES_packet_length`
/// (16 bits, and only video may leave it 0) can always be set.
const MAX_AUDIO_PES_PAYLOAD: usize = 60_000;
/// Segment buffers start at least this large.
const MIN_SEGMENT_CAPACITY: usize = 64 * 1024;
/// ... and at most this large (the buffer still grows as needed).
const MAX_SEGMENT_CAPACITY: usize = 32 * 1024 * 1024;
/// Payload bytes of one TS packet.
const TS_PAYLOAD_LEN: usize = PACKET_SIZE - 4;
/// Most bytes a PES adds besides its payload within its packets: PES header (19) and the
/// first packet's adaptation field with PCR (8).
const MAX_PES_OVERHEAD: usize = 19 + 8;
/// Room kept in a segment for what a message may write besides its own PES: PAT/PMT twice
/// (a late track, a flush of packed audio), two packets each.
const SEGMENT_RESERVE: usize = 4 * PACKET_SIZE;
/// Milli-tokens of the segment rate budget per segment: one per minute of refill at
/// `max_segments_per_minute` per millisecond of wall time.
const TOKEN: u64 = 60_000;

/// Segmenter tuning. `Default` gives the product defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmenterConfig {
    /// Cut at the first video keyframe (or, without video, the first audio
    /// frame) at or after this much media. Default 2000 ms.
    pub target_duration_ms: u32,
    /// Cut at any frame once a segment is this long, keyframe or not
    /// (guards against encoders that never send keyframes). Default 20 s.
    pub max_segment_duration_ms: u32,
    /// A timestamp this far beyond the newest one seen is a jump
    /// (discontinuity). Default 10 s.
    pub forward_jump_ms: u32,
    /// A timestamp this far behind its track's previous one is a jump;
    /// smaller steps back are clamped. Default 1000 ms.
    pub backward_tolerance_ms: u32,
    /// Consecutive AAC frames are packed into one PES until it spans this
    /// long (0 = one PES per frame). Fewer PES headers and less stuffing.
    /// Default 100 ms.
    pub audio_pes_max_delay_ms: u32,
    /// Output DTS of the session's first frame, 90 kHz. Large enough that
    /// PTS/DTS/PCR of slightly earlier frames never go negative. Default
    /// 900 000 (10 s).
    pub initial_dts_90k: u64,
    /// A segment's transport stream never grows beyond this many bytes: a video keyframe
    /// (or, without active video, an audio frame) that would overflow it starts the next
    /// segment; any other frame is refused with [`Error::SegmentTooLarge`]. Real encoders
    /// stay far below the default, 64 MiB (a 10 s GOP at 8 Mbit/s is 10 MB).
    pub max_segment_bytes: usize,
    /// Segment rate limit against the wall clock the caller tells with
    /// [`Segmenter::set_now_ms`]: `segment_burst` segments at once, replenished at this many
    /// per minute; a cut beyond it is refused with [`Error::SegmentRateExceeded`]. 0 = no
    /// limit; a caller that never tells the time is not limited either. Default 240 (a 2 s
    /// target cuts 30 per minute).
    pub max_segments_per_minute: u32,
    /// Segments that may be cut at once before the rate limit applies. Default 60.
    pub segment_burst: u32,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        SegmenterConfig {
            target_duration_ms: 2_000,
            max_segment_duration_ms: 20_000,
            forward_jump_ms: 10_000,
            backward_tolerance_ms: 1_000,
            audio_pes_max_delay_ms: 100,
            initial_dts_90k: 900_000,
            max_segment_bytes: 64 * 1024 * 1024,
            max_segments_per_minute: 240,
            segment_burst: 60,
        }
    }
}

/// A finished MPEG-TS segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// 0, 1, 2, … within this segmenter (publish session).
    pub sequence: u64,
    /// Seconds, from this segment's first DTS to the next segment's first
    /// DTS (or to the end of its last frame when nothing follows it).
    pub duration: f64,
    /// A timestamp jump or [`Segmenter::finish`] precedes this segment:
    /// the playlist must put `#EXT-X-DISCONTINUITY` before it.
    pub discontinuity: bool,
    /// Seconds from the session's first segment start to this one, on the
    /// (monotonic) output timeline.
    pub start_offset: f64,
    /// Output DTS of the first frame, 90 kHz, not reduced mod 2^33.
    pub start_dts_90k: u64,
    /// RTMP timestamp of the frame that opened the segment.
    pub start_timestamp_ms: u32,
    /// The segment's first video frame is a keyframe and precedes any other
    /// video frame (it can be decoded on its own).
    pub starts_with_keyframe: bool,
    /// Contains at least one video PES.
    pub has_video: bool,
    /// Contains at least one audio PES.
    pub has_audio: bool,
    /// The transport stream bytes (a multiple of 188).
    pub data: Bytes,
}

impl Segment {
    /// Size of the segment in bytes.
    pub fn byte_size(&self) -> usize {
        self.data.len()
    }

    /// The playlist entry for this segment once uploaded under `uri`.
    /// `program_date_time_ms` is the wall-clock time of its first frame as
    /// unix milliseconds, if the caller tracks it.
    pub fn playlist_entry(
        &self,
        uri: impl Into<String>,
        program_date_time_ms: Option<i64>,
    ) -> PlaylistSegment {
        PlaylistSegment {
            uri: uri.into(),
            duration: self.duration,
            discontinuity: self.discontinuity,
            program_date_time_ms,
        }
    }
}

/// Counters for monitoring one segmenter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmenterStats {
    /// Video access units written.
    pub video_frames: u64,
    /// AAC frames written.
    pub audio_frames: u64,
    /// Video messages skipped: no NAL units, or before the first keyframe.
    pub dropped_video_frames: u64,
    /// Empty AAC frames skipped.
    pub dropped_audio_frames: u64,
    /// Timestamp jumps turned into discontinuities.
    pub discontinuities: u64,
    /// Timestamps clamped to keep DTS monotonic (or PTS ≥ DTS).
    pub clamped_timestamps: u64,
    /// Segments finished.
    pub segments: u64,
}

#[derive(Debug)]
struct OpenSegment {
    buf: Vec<u8>,
    start_dts: u64,
    end_dts: u64,
    start_timestamp_ms: u32,
    discontinuity: bool,
    starts_with_keyframe: bool,
    has_video: bool,
    has_audio: bool,
}

/// ADTS frames waiting to be written as one PES.
#[derive(Debug, Default)]
struct PendingAudio {
    buf: Vec<u8>,
    frames: u32,
    pts: u64,
    next_dts: u64,
}

/// Remuxes one publish session: feed every RTMP audio/video message with
/// [`Segmenter::on_audio`] / [`Segmenter::on_video`], upload each returned
/// [`Segment`], and call [`Segmenter::finish`] at end of stream.
///
/// Cutting: a segment ends right before the first video keyframe at which it
/// holds at least `target_duration_ms` of media. Without (active) video, any
/// audio frame cuts. A timestamp jump ends the segment at once and flags the
/// next one as a discontinuity. A frame that would overflow
/// `max_segment_bytes` cuts too if it may start a segment, else it is refused,
/// and so is a cut beyond the segment rate (see [`Segmenter::set_now_ms`]).
#[derive(Debug)]
pub struct Segmenter {
    config: SegmenterConfig,
    muxer: TsMuxer,
    timeline: Timeline,
    avc: Option<AvcDecoderConfig>,
    aac: Option<AudioSpecificConfig>,
    open: Option<OpenSegment>,
    pending_audio: PendingAudio,
    nalu_ranges: Vec<(usize, usize)>,
    next_sequence: u64,
    next_discontinuity: bool,
    video_started: bool,
    last_video_dts: Option<u64>,
    session_start_dts: Option<u64>,
    capacity_hint: usize,
    budget: SegmentBudget,
    stats: SegmenterStats,
}

/// Token bucket of segment cuts against wall time (milli-tokens, see [`TOKEN`]).
#[derive(Debug, Clone)]
struct SegmentBudget {
    per_minute: u64,
    capacity: u64,
    tokens: u64,
    /// The wall clock last told, ms; `None` until the caller tells it (no limit).
    now_ms: Option<u64>,
}

impl SegmentBudget {
    fn new(per_minute: u32, burst: u32) -> Self {
        let capacity = u64::from(burst.max(1)) * TOKEN;
        SegmentBudget {
            per_minute: u64::from(per_minute),
            capacity,
            tokens: capacity,
            now_ms: None,
        }
    }

    fn set_now(&mut self, now_ms: u64) {
        if let Some(last) = self.now_ms {
            let elapsed = now_ms.saturating_sub(last);
            self.tokens = self
                .tokens
                .saturating_add(elapsed.saturating_mul(self.per_minute))
                .min(self.capacity);
        }
        // A clock that steps back does not refill twice.
        self.now_ms = Some(self.now_ms.map_or(now_ms, |last| last.max(now_ms)));
    }

    fn limited(&self) -> bool {
        self.per_minute > 0 && self.now_ms.is_some()
    }

    fn allows_cut(&self) -> bool {
        !self.limited() || self.tokens >= TOKEN
    }

    fn take(&mut self) {
        if self.limited() {
            self.tokens = self.tokens.saturating_sub(TOKEN);
        }
    }
}

/// Upper bound of the transport stream bytes of one PES carrying `payload` bytes.
fn pes_bound(payload: usize) -> usize {
    if payload == 0 {
        return 0;
    }
    payload
        .saturating_add(MAX_PES_OVERHEAD)
        .div_ceil(TS_PAYLOAD_LEN)
        .saturating_mul(PACKET_SIZE)
}

impl Segmenter {
    /// A segmenter for one publish session.
    pub fn new(config: SegmenterConfig) -> Self {
        let timeline = Timeline::new(
            config.initial_dts_90k,
            config.forward_jump_ms,
            config.backward_tolerance_ms,
        );
        let budget = SegmentBudget::new(config.max_segments_per_minute, config.segment_burst);
        Segmenter {
            config,
            muxer: TsMuxer::new(),
            timeline,
            avc: None,
            aac: None,
            open: None,
            pending_audio: PendingAudio::default(),
            nalu_ranges: Vec::new(),
            next_sequence: 0,
            next_discontinuity: false,
            video_started: false,
            last_video_dts: None,
            session_start_dts: None,
            capacity_hint: MIN_SEGMENT_CAPACITY,
            budget,
            stats: SegmenterStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SegmenterConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> &SegmenterStats {
        &self.stats
    }

    /// The current AVC sequence header, once received.
    pub fn video_config(&self) -> Option<&AvcDecoderConfig> {
        self.avc.as_ref()
    }

    /// The current AAC sequence header, once received.
    pub fn audio_config(&self) -> Option<&AudioSpecificConfig> {
        self.aac.as_ref()
    }

    /// Whether the open segment is within `margin_ms` of the target duration, so that the next
    /// keyframe (or, without video, the next audio frame) may close it. A caller that batches
    /// its input can stop batching then, so the segment is cut as soon as its closing frame
    /// arrives.
    pub fn cut_is_near(&self, margin_ms: u32) -> bool {
        self.open.as_ref().is_some_and(|open| {
            let held = open.end_dts.saturating_sub(open.start_dts);
            held + u64::from(margin_ms) * 90 >= u64::from(self.config.target_duration_ms) * 90
        })
    }

    /// Tells the wall clock (any monotonic milliseconds, e.g. since the session started) for
    /// the segment rate limit; call it before feeding each batch of messages. Until it is
    /// called, no rate limit applies.
    pub fn set_now_ms(&mut self, now_ms: u64) {
        self.budget.set_now(now_ms);
    }

    /// Bytes of the segment being written (0 when none is open), packed audio included.
    pub fn open_segment_bytes(&self) -> usize {
        self.open.as_ref().map_or(0, |o| o.buf.len()) + self.pending_audio.buf.len()
    }

    /// Whether a frame whose PES takes at most `frame_bytes` fits the open segment (or there
    /// is none).
    fn fits_open(&self, frame_bytes: usize) -> bool {
        self.open.as_ref().is_none_or(|open| {
            open.buf
                .len()
                .saturating_add(pes_bound(self.pending_audio.buf.len()))
                .saturating_add(SEGMENT_RESERVE)
                .saturating_add(frame_bytes)
                <= self.config.max_segment_bytes
        })
    }

    /// Whether a frame whose PES takes at most `frame_bytes` fits a new segment.
    fn fits_new(&self, frame_bytes: usize) -> bool {
        SEGMENT_RESERVE.saturating_add(frame_bytes) <= self.config.max_segment_bytes
    }

    /// Checks a frame against the byte cap and the rate limit before anything is written;
    /// returns whether it cuts the open segment for its size. `cut` says whether it cuts
    /// anyway (jump, duration) and `can_cut` whether it may start a segment.
    fn admit(&self, frame_bytes: usize, cut: bool, can_cut: bool) -> Result<bool> {
        let too_large = Error::SegmentTooLarge {
            limit: self.config.max_segment_bytes,
        };
        if !self.fits_new(frame_bytes) {
            return Err(too_large);
        }
        let size_cut = !cut && !self.fits_open(frame_bytes);
        if size_cut && !can_cut {
            return Err(too_large);
        }
        if (cut || size_cut) && self.open.is_some() && !self.budget.allows_cut() {
            return Err(Error::SegmentRateExceeded {
                per_minute: self.config.max_segments_per_minute,
            });
        }
        Ok(size_cut)
    }

    /// Sequence number the next finished segment will get.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// Feeds one RTMP video message (an FLV video tag body).
    ///
    /// Returns the segment this message finished, if any. On error nothing
    /// changed and the message was skipped; non-AVC codecs give an error
    /// for which [`Error::is_unsupported`] is true.
    pub fn on_video(&mut self, timestamp_ms: u32, body: &[u8]) -> Result<Option<Segment>> {
        let video = flv::parse_video(body)?;
        let (composition_time, data) = match video.packet {
            Some(AvcPacket::SequenceHeader(record)) => {
                self.avc = Some(AvcDecoderConfig::parse(record)?);
                return Ok(None);
            }
            Some(AvcPacket::Nalus {
                composition_time,
                data,
            }) => (composition_time, data),
            Some(AvcPacket::EndOfSequence) | None => return Ok(None),
        };
        let length_size = match &self.avc {
            Some(config) => config.nalu_length_size,
            None => return Err(Error::MissingAvcSequenceHeader),
        };
        let info = avc::split_nalus(data, length_size, &mut self.nalu_ranges)?;
        let keyframe = video.frame_type.is_key() || info.has_idr;
        if info.nalu_count == 0 || (!self.video_started && !keyframe) {
            self.stats.dropped_video_frames += 1;
            return Ok(None);
        }
        let sets_len = match &self.avc {
            Some(config) if info.needs_parameter_sets(keyframe) => {
                config.parameter_sets_annexb().len()
            }
            _ => 0,
        };
        let frame_bytes = pes_bound(avc::annexb_len(&info, None).saturating_add(sets_len));

        // Mapped on a copy: a refused frame leaves the timeline as it was.
        let mut timeline = self.timeline.clone();
        let mapped = timeline.map(StreamKind::Video, timestamp_ms);
        let dts = mapped.dts;
        let cts_90k = i64::from(composition_time) * 90;
        let raw_pts = if cts_90k >= 0 {
            mapped.unclamped.saturating_add(cts_90k.unsigned_abs())
        } else {
            mapped.unclamped.saturating_sub(cts_90k.unsigned_abs())
        };
        let pts = raw_pts.max(dts);

        let duration_cut = self.open.as_ref().is_some_and(|open| {
            let elapsed = dts.saturating_sub(open.start_dts);
            let target = u64::from(self.config.target_duration_ms) * 90;
            let max = u64::from(self.config.max_segment_duration_ms) * 90;
            (keyframe && elapsed >= target) || elapsed >= max
        });
        let size_cut = self.admit(frame_bytes, mapped.jumped || duration_cut, keyframe)?;
        self.timeline = timeline;
        self.video_started = true;
        if mapped.clamped || raw_pts < dts {
            self.stats.clamped_timestamps += 1;
        }

        let finished = if mapped.jumped {
            self.close_on_jump()
        } else if duration_cut || size_cut {
            self.cut(Some(dts))
        } else {
            None
        };
        self.ensure_open(dts, timestamp_ms, keyframe);

        let frame_duration = self.timeline.frame_duration(StreamKind::Video);
        if let (Some(open), Some(config)) = (self.open.as_mut(), self.avc.as_ref()) {
            list_track(&mut self.muxer, &mut open.buf, StreamKind::Video);
            let sets = info
                .needs_parameter_sets(keyframe)
                .then(|| config.parameter_sets_annexb());
            let frame = PesFrame {
                kind: StreamKind::Video,
                pts,
                dts,
                random_access: keyframe,
            };
            let chunks = avc::annexb_chunks(data, &self.nalu_ranges, sets);
            self.muxer.write_pes(&mut open.buf, &frame, chunks);
            if !open.has_video {
                open.has_video = true;
                open.starts_with_keyframe = keyframe;
            }
            open.end_dts = open.end_dts.max(dts.saturating_add(frame_duration));
        }
        self.last_video_dts = Some(dts);
        self.stats.video_frames += 1;
        Ok(finished)
    }

    /// Feeds one RTMP audio message (an FLV audio tag body).
    ///
    /// Returns the segment this message finished, if any. On error nothing
    /// changed and the message was skipped; non-AAC formats give an error
    /// for which [`Error::is_unsupported`] is true.
    pub fn on_audio(&mut self, timestamp_ms: u32, body: &[u8]) -> Result<Option<Segment>> {
        let audio = flv::parse_audio(body)?;
        let raw = match audio.packet {
            AacPacket::SequenceHeader(config) => {
                let config = AudioSpecificConfig::parse(config)?;
                if self.aac.is_some_and(|old| old != config) {
                    // Frames already packed belong to the old configuration.
                    self.flush_pending_audio();
                }
                self.timeline
                    .set_frame_duration(StreamKind::Audio, config.frame_duration_90k());
                self.aac = Some(config);
                return Ok(None);
            }
            AacPacket::Raw(raw) => raw,
        };
        let Some(config) = self.aac else {
            return Err(Error::MissingAacSequenceHeader);
        };
        if raw.is_empty() {
            self.stats.dropped_audio_frames += 1;
            return Ok(None);
        }
        let header = if aac::is_adts_frame(raw) {
            None
        } else {
            Some(config.adts_header(raw.len())?)
        };

        let frame_len = header.map_or(0, |h| h.len()) + raw.len();

        // Mapped on a copy: a refused frame leaves the timeline as it was.
        let mut timeline = self.timeline.clone();
        let mapped = timeline.map(StreamKind::Audio, timestamp_ms);
        let dts = mapped.dts;
        let video_active = self.avc.is_some()
            && self
                .last_video_dts
                .is_some_and(|v| dts < v.saturating_add(VIDEO_IDLE_90K));
        let duration_cut = self.open.as_ref().is_some_and(|open| {
            let elapsed = dts.saturating_sub(open.start_dts);
            let target = u64::from(self.config.target_duration_ms) * 90;
            let max = u64::from(self.config.max_segment_duration_ms) * 90;
            (!video_active && elapsed >= target) || elapsed >= max
        });
        let size_cut = self.admit(
            pes_bound(frame_len),
            mapped.jumped || duration_cut,
            !video_active,
        )?;
        self.timeline = timeline;
        if mapped.clamped {
            self.stats.clamped_timestamps += 1;
        }
        let finished = if mapped.jumped {
            self.close_on_jump()
        } else if duration_cut || size_cut {
            self.cut(Some(dts))
        } else {
            None
        };
        self.ensure_open(dts, timestamp_ms, false);

        let frame_duration = self.timeline.frame_duration(StreamKind::Audio);
        let max_delay = u64::from(self.config.audio_pes_max_delay_ms) * 90;
        let pending = &self.pending_audio;
        if pending.frames > 0
            && (dts.saturating_sub(pending.pts) >= max_delay
                || dts.abs_diff(pending.next_dts) > frame_duration / 2
                || pending.buf.len() + frame_len > MAX_AUDIO_PES_PAYLOAD)
        {
            self.flush_pending_audio();
        }
        let header: &[u8] = match &header {
            Some(h) => h,
            None => &[],
        };
        if let Some(open) = self.open.as_mut() {
            if max_delay == 0 {
                list_track(&mut self.muxer, &mut open.buf, StreamKind::Audio);
                let frame = PesFrame {
                    kind: StreamKind::Audio,
                    pts: dts,
                    dts,
                    random_access: !self.muxer.tracks().video,
                };
                self.muxer.write_pes(&mut open.buf, &frame, [header, raw]);
            } else {
                let pending = &mut self.pending_audio;
                if pending.frames == 0 {
                    pending.pts = dts;
                    pending.next_dts = dts;
                }
                pending.buf.extend_from_slice(header);
                pending.buf.extend_from_slice(raw);
                pending.frames += 1;
                pending.next_dts = pending.next_dts.saturating_add(frame_duration);
            }
            open.has_audio = true;
            open.end_dts = open.end_dts.max(dts.saturating_add(frame_duration));
        }
        self.stats.audio_frames += 1;
        Ok(finished)
    }

    /// Ends the stream: returns the final partial segment, if any media was
    /// written since the last one. Feeding more messages afterwards starts a
    /// new segment flagged as a discontinuity (numbering continues).
    pub fn finish(&mut self) -> Option<Segment> {
        let finished = self.close_segment(None);
        if self.session_start_dts.is_some() {
            self.timeline.force_new_epoch();
            self.next_discontinuity = true;
            self.video_started = false;
        }
        finished
    }

    fn close_on_jump(&mut self) -> Option<Segment> {
        self.stats.discontinuities += 1;
        self.next_discontinuity = true;
        self.cut(None)
    }

    /// Closes the open segment mid-stream (a cut), paying the rate budget.
    fn cut(&mut self, next_start: Option<u64>) -> Option<Segment> {
        if self.open.is_some() {
            self.budget.take();
        }
        self.close_segment(next_start)
    }

    fn ensure_open(&mut self, dts: u64, timestamp_ms: u32, keyframe: bool) {
        if self.open.is_some() {
            return;
        }
        let mut buf = Vec::with_capacity(self.capacity_hint);
        self.muxer.set_tracks(Tracks {
            video: self.avc.is_some(),
            audio: self.aac.is_some(),
        });
        self.muxer.write_tables(&mut buf);
        self.session_start_dts.get_or_insert(dts);
        self.open = Some(OpenSegment {
            buf,
            start_dts: dts,
            end_dts: dts,
            start_timestamp_ms: timestamp_ms,
            discontinuity: std::mem::take(&mut self.next_discontinuity),
            starts_with_keyframe: keyframe,
            has_video: false,
            has_audio: false,
        });
    }

    fn flush_pending_audio(&mut self) {
        let pending = &mut self.pending_audio;
        if pending.frames == 0 {
            return;
        }
        if let Some(open) = self.open.as_mut() {
            list_track(&mut self.muxer, &mut open.buf, StreamKind::Audio);
            let frame = PesFrame {
                kind: StreamKind::Audio,
                pts: pending.pts,
                dts: pending.pts,
                random_access: !self.muxer.tracks().video,
            };
            self.muxer
                .write_pes(&mut open.buf, &frame, [pending.buf.as_slice()]);
        }
        pending.buf.clear();
        pending.frames = 0;
    }

    fn close_segment(&mut self, next_start: Option<u64>) -> Option<Segment> {
        self.flush_pending_audio();
        let open = self.open.take()?;
        let end = next_start.unwrap_or(open.end_dts);
        let ticks = end.saturating_sub(open.start_dts);
        let session_start = self.session_start_dts.unwrap_or(open.start_dts);
        let size = open.buf.len();
        self.capacity_hint = (size + size / 8).clamp(MIN_SEGMENT_CAPACITY, MAX_SEGMENT_CAPACITY);
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.stats.segments += 1;
        Some(Segment {
            sequence,
            duration: ticks as f64 / CLOCK_HZ as f64,
            discontinuity: open.discontinuity,
            start_offset: open.start_dts.saturating_sub(session_start) as f64 / CLOCK_HZ as f64,
            start_dts_90k: open.start_dts,
            start_timestamp_ms: open.start_timestamp_ms,
            starts_with_keyframe: open.starts_with_keyframe && open.has_video,
            has_video: open.has_video,
            has_audio: open.has_audio,
            data: Bytes::from(open.buf),
        })
    }
}

/// Makes sure the PMT lists `kind`, writing updated tables into the current
/// segment if it did not (a track whose sequence header came late).
fn list_track(muxer: &mut TsMuxer, buf: &mut Vec<u8>, kind: StreamKind) {
    let mut tracks = muxer.tracks();
    if tracks.contains(kind) {
        return;
    }
    match kind {
        StreamKind::Video => tracks.video = true,
        StreamKind::Audio => tracks.audio = true,
    }
    muxer.set_tracks(tracks);
    muxer.write_tables(buf);
}

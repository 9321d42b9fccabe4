//! HLS media playlists (RFC 8216): live sliding window, VOD, and a strict
//! parser for exactly the subset written here.
//!
//! Renderers are pure: they never read a clock; program date-times are unix
//! milliseconds supplied by the caller.
//!
//! Target duration: RFC 8216 §4.3.3.1 requires every `EXTINF` duration,
//! rounded to the nearest integer, to be ≤ `EXT-X-TARGETDURATION`, and the
//! target must not change. So the target is the largest rounded duration
//! ever pushed (never below the configured target).

use std::collections::VecDeque;
use std::fmt::Write;

use super::date_time::{parse_program_date_time, write_program_date_time};
use crate::{Error, PlaylistErrorKind, Result};

/// One segment line group of a media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaylistSegment {
    /// URI line, relative to the playlist.
    pub uri: String,
    /// `EXTINF` duration in seconds.
    pub duration: f64,
    /// `#EXT-X-DISCONTINUITY` precedes this segment.
    pub discontinuity: bool,
    /// Wall-clock time of the first sample, unix milliseconds. Rendered on
    /// the first segment of a playlist and on every discontinuity.
    pub program_date_time_ms: Option<i64>,
}

/// Settings of a [`LivePlaylist`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivePlaylistConfig {
    /// Segments kept in the window. Default 6.
    pub window_size: usize,
    /// Lower bound of `EXT-X-TARGETDURATION`, seconds (the segmenter's
    /// target). Default 2.
    pub target_duration_secs: u64,
}

impl Default for LivePlaylistConfig {
    fn default() -> Self {
        LivePlaylistConfig {
            window_size: 6,
            target_duration_secs: 2,
        }
    }
}

/// A live playlist that outlives publish sessions: the caller pushes every
/// uploaded segment (flagging the first segment of each new session as a
/// discontinuity) and re-renders.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePlaylist {
    window: VecDeque<PlaylistSegment>,
    window_size: usize,
    media_sequence: u64,
    discontinuity_sequence: u64,
    target_duration: u64,
    ended: bool,
}

impl LivePlaylist {
    /// An empty live playlist.
    pub fn new(config: LivePlaylistConfig) -> Self {
        LivePlaylist {
            window: VecDeque::with_capacity(config.window_size.max(1) + 1),
            window_size: config.window_size.max(1),
            media_sequence: 0,
            discontinuity_sequence: 0,
            target_duration: config.target_duration_secs,
            ended: false,
        }
    }

    /// Continues a playlist previously rendered (e.g. read back from
    /// storage after a worker restart). The next pushed segment should be
    /// flagged as a discontinuity.
    pub fn resume(config: LivePlaylistConfig, parsed: MediaPlaylist) -> Self {
        let mut playlist = LivePlaylist::new(config);
        playlist.media_sequence = parsed.media_sequence;
        playlist.discontinuity_sequence = parsed.discontinuity_sequence;
        playlist.target_duration = playlist.target_duration.max(parsed.target_duration);
        for segment in parsed.segments {
            playlist.push(segment);
        }
        playlist.ended = parsed.ended;
        playlist
    }

    /// Appends a segment, sliding the window. Clears the ended flag.
    pub fn push(&mut self, segment: PlaylistSegment) {
        self.target_duration = self.target_duration.max(rounded_secs(segment.duration));
        self.window.push_back(segment);
        while self.window.len() > self.window_size {
            if let Some(old) = self.window.pop_front() {
                self.media_sequence += 1;
                if old.discontinuity {
                    self.discontinuity_sequence += 1;
                }
            }
        }
        self.ended = false;
    }

    /// Marks the stream as over: the next render ends with `#EXT-X-ENDLIST`
    /// (until another segment is pushed).
    pub fn set_ended(&mut self, ended: bool) {
        self.ended = ended;
    }

    /// Whether `#EXT-X-ENDLIST` is rendered.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Segments in the window, oldest first.
    pub fn segments(&self) -> impl ExactSizeIterator<Item = &PlaylistSegment> {
        self.window.iter()
    }

    /// `EXT-X-MEDIA-SEQUENCE`: sequence number of the first segment in the window.
    pub fn media_sequence(&self) -> u64 {
        self.media_sequence
    }

    /// Media sequence number the next pushed segment will get (handy for
    /// naming segments uniquely across sessions).
    pub fn next_media_sequence(&self) -> u64 {
        self.media_sequence + self.window.len() as u64
    }

    /// `EXT-X-DISCONTINUITY-SEQUENCE`: discontinuities that left the window.
    pub fn discontinuity_sequence(&self) -> u64 {
        self.discontinuity_sequence
    }

    /// `EXT-X-TARGETDURATION`, seconds.
    pub fn target_duration(&self) -> u64 {
        self.target_duration
    }

    /// Renders the playlist text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(160 + self.window.len() * 96);
        let _ = write!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{}\n#EXT-X-DISCONTINUITY-SEQUENCE:{}\n",
            self.target_duration, self.media_sequence, self.discontinuity_sequence
        );
        write_segments(&mut out, self.window.iter());
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }
}

/// Renders a complete VOD (replay) playlist: every segment, media sequence
/// 0, `#EXT-X-ENDLIST`. The target duration is the largest rounded segment
/// duration, at least `min_target_duration_secs`.
pub fn render_vod_playlist(segments: &[PlaylistSegment], min_target_duration_secs: u64) -> String {
    let target = segments
        .iter()
        .map(|s| rounded_secs(s.duration))
        .fold(min_target_duration_secs, u64::max);
    let mut out = String::with_capacity(160 + segments.len() * 64);
    let _ = write!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:{target}\n#EXT-X-MEDIA-SEQUENCE:0\n"
    );
    write_segments(&mut out, segments.iter());
    out.push_str("#EXT-X-ENDLIST\n");
    out
}

fn write_segments<'a>(out: &mut String, segments: impl Iterator<Item = &'a PlaylistSegment>) {
    for (i, segment) in segments.enumerate() {
        if segment.discontinuity {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if i == 0 || segment.discontinuity {
            if let Some(ms) = segment.program_date_time_ms {
                out.push_str("#EXT-X-PROGRAM-DATE-TIME:");
                write_program_date_time(out, ms);
                out.push('\n');
            }
        }
        let millis = duration_millis(segment.duration);
        let _ = writeln!(out, "#EXTINF:{}.{:03},", millis / 1000, millis % 1000);
        out.push_str(&segment.uri);
        out.push('\n');
    }
}

fn sanitize_duration(duration: f64) -> f64 {
    if duration.is_finite() && duration > 0.0 {
        duration
    } else {
        0.0
    }
}

/// Duration in whole milliseconds, as written in `EXTINF` (3 decimals).
fn duration_millis(duration: f64) -> u64 {
    // Float → int casts saturate; NaN and negatives were mapped to 0.
    (sanitize_duration(duration) * 1000.0).round() as u64
}

/// Duration rounded to the nearest integer (halves up), the way RFC 8216
/// compares it with the target duration. Rounded at the 3 decimals written
/// first, so the check matches what a reader of the text computes.
fn rounded_secs(duration: f64) -> u64 {
    duration_millis(duration).saturating_add(500) / 1000
}

/// `EXT-X-PLAYLIST-TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistType {
    /// `VOD`.
    Vod,
    /// `EVENT`.
    Event,
}

/// A parsed media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlaylist {
    /// `EXT-X-VERSION`, if present.
    pub version: Option<u32>,
    /// `EXT-X-TARGETDURATION`.
    pub target_duration: u64,
    /// `EXT-X-MEDIA-SEQUENCE` (0 when absent).
    pub media_sequence: u64,
    /// `EXT-X-DISCONTINUITY-SEQUENCE` (0 when absent).
    pub discontinuity_sequence: u64,
    /// `EXT-X-PLAYLIST-TYPE`, if present.
    pub playlist_type: Option<PlaylistType>,
    /// `EXT-X-ENDLIST` present.
    pub ended: bool,
    /// Segments in order.
    pub segments: Vec<PlaylistSegment>,
}

/// Parses a media playlist of the subset this module writes.
///
/// Strict: unknown `#EXT` tags, duplicate or misplaced playlist tags, bad
/// values, a URI without `#EXTINF`, an `#EXTINF` without URI, anything after
/// `#EXT-X-ENDLIST` and a last line without newline (a truncated upload) are
/// errors naming the 1-based line. Blank lines and `#` comments are skipped.
pub fn parse_media_playlist(text: &str) -> Result<MediaPlaylist> {
    let mut playlist = MediaPlaylist {
        version: None,
        target_duration: 0,
        media_sequence: 0,
        discontinuity_sequence: 0,
        playlist_type: None,
        ended: false,
        segments: Vec::with_capacity(text.len() / 40),
    };
    let mut target_duration = None;
    let mut seen_media_sequence = false;
    let mut seen_discontinuity_sequence = false;
    let mut extinf: Option<(f64, usize, &str)> = None;
    let mut discontinuity = false;
    let mut program_date_time = None;
    let mut line_no = 0usize;
    let mut last_line = "";

    let mut rest = text;
    while !rest.is_empty() {
        line_no += 1;
        let (raw_line, next) = match rest.find('\n') {
            Some(i) => (
                rest.get(..i).unwrap_or_default(),
                rest.get(i + 1..).unwrap_or_default(),
            ),
            None => {
                return Err(Error::playlist(line_no, PlaylistErrorKind::Truncated, rest));
            }
        };
        rest = next;
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        last_line = line;
        let err = |kind| Error::playlist(line_no, kind, line);

        if line_no == 1 {
            if line != "#EXTM3U" {
                return Err(err(PlaylistErrorKind::MissingHeader));
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if playlist.ended {
            return Err(err(PlaylistErrorKind::ContentAfterEndlist));
        }
        let Some(tag) = line.strip_prefix('#') else {
            // URI line.
            let Some((duration, _, _)) = extinf.take() else {
                return Err(err(PlaylistErrorKind::UriWithoutExtinf));
            };
            playlist.segments.push(PlaylistSegment {
                uri: line.to_owned(),
                duration,
                discontinuity: std::mem::take(&mut discontinuity),
                program_date_time_ms: program_date_time.take(),
            });
            continue;
        };
        if !tag.starts_with("EXT") {
            continue; // comment
        }
        let (name, value) = match tag.split_once(':') {
            Some((name, value)) => (name, Some(value)),
            None => (tag, None),
        };
        let in_segment = !playlist.segments.is_empty() || extinf.is_some();
        match (name, value) {
            ("EXTINF", Some(value)) => {
                if extinf.is_some() {
                    return Err(err(PlaylistErrorKind::ExtinfWithoutUri));
                }
                let (duration, _title) = value
                    .split_once(',')
                    .ok_or_else(|| err(PlaylistErrorKind::InvalidValue))?;
                let duration =
                    parse_duration(duration).ok_or_else(|| err(PlaylistErrorKind::InvalidValue))?;
                extinf = Some((duration, line_no, line));
            }
            ("EXT-X-DISCONTINUITY", None) => {
                if discontinuity {
                    return Err(err(PlaylistErrorKind::DuplicateTag));
                }
                discontinuity = true;
            }
            ("EXT-X-PROGRAM-DATE-TIME", Some(value)) => {
                if program_date_time.is_some() {
                    return Err(err(PlaylistErrorKind::DuplicateTag));
                }
                program_date_time = Some(
                    parse_program_date_time(value)
                        .ok_or_else(|| err(PlaylistErrorKind::InvalidValue))?,
                );
            }
            ("EXT-X-ENDLIST", None) => {
                if extinf.is_some() || discontinuity || program_date_time.is_some() {
                    return Err(err(PlaylistErrorKind::Truncated));
                }
                playlist.ended = true;
            }
            ("EXT-X-VERSION", Some(value)) => {
                if in_segment {
                    return Err(err(PlaylistErrorKind::TagAfterSegment));
                }
                if playlist.version.is_some() {
                    return Err(err(PlaylistErrorKind::DuplicateTag));
                }
                let version =
                    parse_decimal(value).ok_or_else(|| err(PlaylistErrorKind::InvalidValue))?;
                playlist.version =
                    Some(u32::try_from(version).map_err(|_| err(PlaylistErrorKind::InvalidValue))?);
            }
            ("EXT-X-TARGETDURATION", Some(value)) => {
                if in_segment {
                    return Err(err(PlaylistErrorKind::TagAfterSegment));
                }
                if target_duration.is_some() {
                    return Err(err(PlaylistErrorKind::DuplicateTag));
                }
                target_duration =
                    Some(parse_decimal(value).ok_or_else(|| err(PlaylistErrorKind::InvalidValue))?);
            }
            ("EXT-X-MEDIA-SEQUENCE", Some(value)) => {
                if in_segment {
                    return Err(err(PlaylistErrorKind::TagAfterSegment));
                }
                if std::mem::replace(&mut seen_media_sequence, true) {
                    return Err(err(PlaylistErrorKind::DuplicateTag));
                }
                playlist.media_sequence =
                    parse_decimal(value).ok_or_else(|| err(PlaylistErrorKind::InvalidValue))?;
            }
            ("EXT-X-DISCONTINUITY-SEQUENCE", Some(value)) => {
                if in_segment {
                    return Err(err(PlaylistErrorKind::TagAfterSegment));
                }
                if std::mem::replace(&mut seen_discontinuity_sequence, true) {
                    return Err(err(PlaylistErrorKind::DuplicateTag));
                }
                playlist.discontinuity_sequence =
                    parse_decimal(value).ok_or_else(|| err(PlaylistErrorKind::InvalidValue))?;
            }
            ("EXT-X-PLAYLIST-TYPE", Some(value)) => {
                if in_segment {
                    return Err(err(PlaylistErrorKind::TagAfterSegment));
                }
                if playlist.playlist_type.is_some() {
                    return Err(err(PlaylistErrorKind::DuplicateTag));
                }
                playlist.playlist_type = Some(match value {
                    "VOD" => PlaylistType::Vod,
                    "EVENT" => PlaylistType::Event,
                    _ => return Err(err(PlaylistErrorKind::InvalidValue)),
                });
            }
            ("EXTM3U", None) => return Err(err(PlaylistErrorKind::DuplicateTag)),
            (
                "EXTINF"
                | "EXT-X-PROGRAM-DATE-TIME"
                | "EXT-X-VERSION"
                | "EXT-X-TARGETDURATION"
                | "EXT-X-MEDIA-SEQUENCE"
                | "EXT-X-DISCONTINUITY-SEQUENCE"
                | "EXT-X-PLAYLIST-TYPE",
                None,
            )
            | ("EXT-X-DISCONTINUITY" | "EXT-X-ENDLIST" | "EXTM3U", Some(_)) => {
                return Err(err(PlaylistErrorKind::InvalidValue));
            }
            _ => return Err(err(PlaylistErrorKind::UnsupportedTag)),
        }
    }

    if line_no == 0 {
        return Err(Error::playlist(1, PlaylistErrorKind::MissingHeader, ""));
    }
    if let Some((_, extinf_line, content)) = extinf {
        return Err(Error::playlist(
            extinf_line,
            PlaylistErrorKind::ExtinfWithoutUri,
            content,
        ));
    }
    if discontinuity || program_date_time.is_some() {
        return Err(Error::playlist(
            line_no,
            PlaylistErrorKind::Truncated,
            last_line,
        ));
    }
    playlist.target_duration = target_duration.ok_or_else(|| {
        Error::playlist(line_no, PlaylistErrorKind::MissingTargetDuration, last_line)
    })?;
    Ok(playlist)
}

/// `decimal-integer` of RFC 8216 §4.2: 1–20 ASCII digits, fitting a u64.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    text.bytes().try_fold(0u64, |acc, c| {
        if c.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
        } else {
            None
        }
    })
}

/// `decimal-floating-point` of RFC 8216 §4.2 (digits, optional fraction).
fn parse_duration(text: &str) -> Option<f64> {
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    // Fast exact path for what we write (e.g. "2.002"): both parts fit an
    // f64 mantissa exactly, so one correctly rounded division remains.
    let frac = frac.unwrap_or("");
    if int.len() <= 9 && frac.len() <= 6 {
        let whole = parse_decimal(int)?;
        let part = if frac.is_empty() {
            0
        } else {
            parse_decimal(frac)?
        };
        let scale = 10u64.pow(frac.len() as u32);
        return Some((whole * scale + part) as f64 / scale as f64);
    }
    text.parse::<f64>().ok().filter(|d| d.is_finite())
}

#[cfg(test)]
mod tests;

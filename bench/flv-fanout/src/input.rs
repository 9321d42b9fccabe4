//! The recorded live: the input `.flv` read into tags, and its endless real-time schedule
//! (the file looped with monotonic timestamps, as `ffmpeg -re -stream_loop -1 -c copy` sends it).

use std::time::Duration;

use bytes::Bytes;
use zhibo_media::flv_in::FlvTagReader;
use zhibo_media::flv_out::{encode_tag, TagType};

pub const AUDIO: u8 = 8;
pub const VIDEO: u8 = 9;
pub const SCRIPT: u8 = 18;

/// One tag of the input file.
#[derive(Clone)]
pub struct Tag {
    pub tag_type: u8,
    /// Milliseconds, relative to the file's first tag.
    pub timestamp: u32,
    pub body: Bytes,
}

impl Tag {
    /// AVC or AAC sequence header (decoder configuration), sent once per connection.
    pub fn is_sequence_header(&self) -> bool {
        match self.tag_type {
            VIDEO => self.body.len() >= 2 && self.body[0] & 0x0F == 7 && self.body[1] == 0,
            AUDIO => self.body.len() >= 2 && self.body[0] >> 4 == 10 && self.body[1] == 0,
            _ => false,
        }
    }

    /// The whole FLV tag (header, body, `PreviousTagSize`) stamped `timestamp`.
    pub fn encode(&self, timestamp: u32) -> std::io::Result<Bytes> {
        let t = match self.tag_type {
            AUDIO => TagType::Audio,
            VIDEO => TagType::Video,
            _ => TagType::Script,
        };
        encode_tag(t, timestamp, &self.body).map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// The input file.
pub struct Input {
    pub tags: Vec<Tag>,
    /// Stream time of one pass over the file (last timestamp + one video frame).
    pub loop_ms: u32,
    /// Body bytes of the media (audio + video) tags of one pass: what an RTMP player receives.
    pub media_body_bytes: u64,
    /// FLV bytes of the media tags of one pass (11-byte header + body + 4): what an HTTP-FLV
    /// player receives.
    pub media_flv_bytes: u64,
}

impl Input {
    pub fn read(path: &str) -> std::io::Result<Input> {
        let data = std::fs::read(path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("read {path}: {e}")))?;
        let mut reader = FlvTagReader::new(16 << 20);
        reader.push(&data);
        let mut tags = Vec::new();
        loop {
            match reader.next_tag() {
                Ok(Some(t)) => tags.push(Tag {
                    tag_type: t.tag_type,
                    timestamp: t.timestamp,
                    body: t.body,
                }),
                Ok(None) => break,
                Err(e) => return Err(std::io::Error::other(format!("{path}: {e}"))),
            }
        }
        let first = tags
            .iter()
            .filter(|t| t.tag_type != SCRIPT)
            .map(|t| t.timestamp)
            .min()
            .ok_or_else(|| std::io::Error::other(format!("{path}: no media tags")))?;
        for t in &mut tags {
            t.timestamp = t.timestamp.saturating_sub(first);
        }
        let video: Vec<u32> = tags
            .iter()
            .filter(|t| t.tag_type == VIDEO && !t.is_sequence_header())
            .map(|t| t.timestamp)
            .collect();
        if tags
            .iter()
            .all(|t| t.tag_type == SCRIPT || t.is_sequence_header())
        {
            return Err(std::io::Error::other(format!("{path}: no media frames")));
        }
        let frame = match video.as_slice() {
            [.., a, b] if b > a => b - a,
            _ => 33,
        };
        let last = tags.iter().map(|t| t.timestamp).max().unwrap_or(0);
        let media = tags.iter().filter(|t| t.tag_type != SCRIPT);
        let media_body_bytes: u64 = media.clone().map(|t| t.body.len() as u64).sum();
        let media_flv_bytes: u64 = media.map(|t| t.body.len() as u64 + 15).sum();
        Ok(Input {
            tags,
            loop_ms: last + frame,
            media_body_bytes,
            media_flv_bytes,
        })
    }

    /// Seconds of one pass.
    pub fn loop_secs(&self) -> f64 {
        self.loop_ms as f64 / 1000.0
    }

    /// The media rate a player receives, bits/s: (RTMP bodies, HTTP-FLV tags).
    pub fn rates_bps(&self) -> (f64, f64) {
        let s = self.loop_secs();
        (
            self.media_body_bytes as f64 * 8.0 / s,
            self.media_flv_bytes as f64 * 8.0 / s,
        )
    }

    /// Video frames per second of stream time.
    pub fn video_fps(&self) -> f64 {
        let frames = self
            .tags
            .iter()
            .filter(|t| t.tag_type == VIDEO && !t.is_sequence_header())
            .count();
        frames as f64 / self.loop_secs()
    }

    /// Sequence headers and metadata, for the start of a connection.
    pub fn headers(&self) -> impl Iterator<Item = &Tag> {
        self.tags
            .iter()
            .filter(|t| t.tag_type == SCRIPT || t.is_sequence_header())
    }

    /// The endless live schedule (media tags without sequence headers, looped).
    pub fn schedule(&self) -> Schedule<'_> {
        Schedule {
            input: self,
            pass: 0,
            index: 0,
        }
    }
}

/// The live's tags in send order, forever: `(due offset from the start, stamped timestamp, tag)`.
pub struct Schedule<'a> {
    input: &'a Input,
    pass: u64,
    index: usize,
}

impl<'a> Iterator for Schedule<'a> {
    type Item = (Duration, u32, &'a Tag);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.index >= self.input.tags.len() {
                self.index = 0;
                self.pass += 1;
            }
            let tag = &self.input.tags[self.index];
            self.index += 1;
            if tag.tag_type == SCRIPT || tag.is_sequence_header() {
                continue;
            }
            let ms = self.pass * u64::from(self.input.loop_ms) + u64::from(tag.timestamp);
            // FLV/RTMP timestamps are 32-bit milliseconds: 49 days, far beyond any bench run.
            return Some((Duration::from_millis(ms), ms as u32, tag));
        }
    }
}

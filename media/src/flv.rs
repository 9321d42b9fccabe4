//! FLV audio/video tag bodies (Adobe FLV spec v10.1, annex E.4.2 / E.4.3).
//!
//! RTMP audio (type 8) and video (type 9) message payloads are exactly FLV
//! tag bodies, so the same parser serves FLV files and live RTMP. Parsing is
//! zero-copy: the returned packets borrow from the body.

use crate::{Error, Result};

/// FLV `CodecID` for AVC (H.264).
pub const CODEC_ID_AVC: u8 = 7;
/// FLV `SoundFormat` for AAC.
pub const SOUND_FORMAT_AAC: u8 = 10;

/// FLV video `FrameType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoFrameType {
    /// 1: keyframe (seekable frame).
    Key,
    /// 2: inter frame.
    Inter,
    /// 3: disposable inter frame (H.263 only).
    DisposableInter,
    /// 4: generated keyframe (server use).
    GeneratedKey,
    /// 5: video info / command frame, carries no picture.
    InfoOrCommand,
}

impl VideoFrameType {
    fn from_bits(bits: u8) -> Result<Self> {
        Ok(match bits {
            1 => VideoFrameType::Key,
            2 => VideoFrameType::Inter,
            3 => VideoFrameType::DisposableInter,
            4 => VideoFrameType::GeneratedKey,
            5 => VideoFrameType::InfoOrCommand,
            other => return Err(Error::InvalidVideoFrameType(other)),
        })
    }

    /// True for key and generated-key frames.
    pub fn is_key(self) -> bool {
        matches!(self, VideoFrameType::Key | VideoFrameType::GeneratedKey)
    }
}

/// The AVC part of an FLV video tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvcPacket<'a> {
    /// `AVCPacketType` 0: an `AVCDecoderConfigurationRecord`.
    SequenceHeader(&'a [u8]),
    /// `AVCPacketType` 1: one access unit of length-prefixed NAL units.
    Nalus {
        /// `CompositionTime` (SI24) in milliseconds: `pts = dts + composition_time`.
        composition_time: i32,
        /// Length-prefixed NAL units (may be empty).
        data: &'a [u8],
    },
    /// `AVCPacketType` 2: end of sequence, nothing to remux.
    EndOfSequence,
}

/// A parsed FLV video tag body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlvVideo<'a> {
    /// `FrameType`.
    pub frame_type: VideoFrameType,
    /// `None` for info/command frames, which carry no AVC packet.
    pub packet: Option<AvcPacket<'a>>,
}

/// Parses an FLV video tag body (= RTMP video message payload).
///
/// Only AVC is supported: other codec ids give
/// [`Error::UnsupportedVideoCodec`], enhanced-RTMP headers give
/// [`Error::UnsupportedVideoFourCc`].
pub fn parse_video(body: &[u8]) -> Result<FlvVideo<'_>> {
    let Some(&first) = body.first() else {
        return Err(Error::truncated("FLV video tag header", 1, 0));
    };
    if first & 0x80 != 0 {
        // Enhanced RTMP: UB[1] IsExHeader, UB[3] FrameType, UB[4] PacketType, FourCC.
        let fourcc = body
            .get(1..5)
            .ok_or_else(|| Error::truncated("enhanced RTMP video header", 5, body.len()))?;
        let mut code = [0u8; 4];
        code.copy_from_slice(fourcc);
        return Err(Error::UnsupportedVideoFourCc(code));
    }
    let frame_type = VideoFrameType::from_bits(first >> 4)?;
    let codec_id = first & 0x0F;
    if codec_id != CODEC_ID_AVC {
        return Err(Error::UnsupportedVideoCodec(codec_id));
    }
    if frame_type == VideoFrameType::InfoOrCommand {
        return Ok(FlvVideo {
            frame_type,
            packet: None,
        });
    }
    let header = body
        .get(..5)
        .ok_or_else(|| Error::truncated("AVC video tag header", 5, body.len()))?;
    let rest = body.get(5..).unwrap_or_default();
    let packet = match header.get(1).copied().unwrap_or_default() {
        0 => AvcPacket::SequenceHeader(rest),
        1 => {
            let b = [
                header.get(2).copied().unwrap_or_default(),
                header.get(3).copied().unwrap_or_default(),
                header.get(4).copied().unwrap_or_default(),
            ];
            AvcPacket::Nalus {
                composition_time: si24(b),
                data: rest,
            }
        }
        2 => AvcPacket::EndOfSequence,
        other => return Err(Error::InvalidAvcPacketType(other)),
    };
    Ok(FlvVideo {
        frame_type,
        packet: Some(packet),
    })
}

/// Sign-extends a big-endian 24-bit integer.
fn si24(b: [u8; 3]) -> i32 {
    // Place the 24 bits at the top of an i32, then arithmetic-shift back.
    i32::from_be_bytes([b[0], b[1], b[2], 0]) >> 8
}

/// The AAC part of an FLV audio tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AacPacket<'a> {
    /// `AACPacketType` 0: an `AudioSpecificConfig`.
    SequenceHeader(&'a [u8]),
    /// `AACPacketType` 1: one raw AAC frame (no ADTS header).
    Raw(&'a [u8]),
}

/// A parsed FLV audio tag body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlvAudio<'a> {
    /// `SoundRate`, `SoundSize` and `SoundType` bits (low nibble of byte 0);
    /// informational only, AAC takes these from the `AudioSpecificConfig`.
    pub format_bits: u8,
    /// The AAC packet.
    pub packet: AacPacket<'a>,
}

/// Parses an FLV audio tag body (= RTMP audio message payload).
///
/// Only AAC is supported: other sound formats give
/// [`Error::UnsupportedAudioCodec`].
pub fn parse_audio(body: &[u8]) -> Result<FlvAudio<'_>> {
    let Some(&first) = body.first() else {
        return Err(Error::truncated("FLV audio tag header", 1, 0));
    };
    let sound_format = first >> 4;
    if sound_format != SOUND_FORMAT_AAC {
        return Err(Error::UnsupportedAudioCodec(sound_format));
    }
    let packet_type = *body
        .get(1)
        .ok_or_else(|| Error::truncated("AAC audio tag header", 2, body.len()))?;
    let rest = body.get(2..).unwrap_or_default();
    let packet = match packet_type {
        0 => AacPacket::SequenceHeader(rest),
        1 => AacPacket::Raw(rest),
        other => return Err(Error::InvalidAacPacketType(other)),
    };
    Ok(FlvAudio {
        format_bits: first & 0x0F,
        packet,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si24_sign_extension() {
        assert_eq!(si24([0, 0, 0]), 0);
        assert_eq!(si24([0, 0, 0x42]), 0x42);
        assert_eq!(si24([0x7F, 0xFF, 0xFF]), 0x7F_FFFF);
        assert_eq!(si24([0xFF, 0xFF, 0xFF]), -1);
        assert_eq!(si24([0xFF, 0xFF, 0xBD]), -67);
        assert_eq!(si24([0x80, 0, 0]), -0x80_0000);
    }

    #[test]
    fn video_table() {
        type Expect = std::result::Result<FlvVideo<'static>, Error>;
        let cases: Vec<(&str, &'static [u8], Expect)> = vec![
            (
                "empty",
                &[],
                Err(Error::truncated("FLV video tag header", 1, 0)),
            ),
            (
                "codec byte only",
                &[0x17],
                Err(Error::truncated("AVC video tag header", 5, 1)),
            ),
            (
                "truncated composition time",
                &[0x17, 1, 0, 0],
                Err(Error::truncated("AVC video tag header", 5, 4)),
            ),
            (
                "vp6",
                &[0x14, 0, 0, 0, 0],
                Err(Error::UnsupportedVideoCodec(4)),
            ),
            ("h263", &[0x22], Err(Error::UnsupportedVideoCodec(2))),
            (
                "frame type 0",
                &[0x07, 0, 0, 0, 0],
                Err(Error::InvalidVideoFrameType(0)),
            ),
            (
                "enhanced rtmp hevc",
                &[0x90, b'h', b'v', b'c', b'1', 0],
                Err(Error::UnsupportedVideoFourCc(*b"hvc1")),
            ),
            (
                "enhanced rtmp truncated",
                &[0x90, b'h'],
                Err(Error::truncated("enhanced RTMP video header", 5, 2)),
            ),
            (
                "bad avc packet type",
                &[0x17, 3, 0, 0, 0],
                Err(Error::InvalidAvcPacketType(3)),
            ),
            (
                "sequence header",
                &[0x17, 0, 0, 0, 0, 1, 2],
                Ok(FlvVideo {
                    frame_type: VideoFrameType::Key,
                    packet: Some(AvcPacket::SequenceHeader(&[1, 2])),
                }),
            ),
            (
                "nalus positive cts",
                &[0x27, 1, 0, 0, 0x42, 0, 0, 0, 1, 0x41],
                Ok(FlvVideo {
                    frame_type: VideoFrameType::Inter,
                    packet: Some(AvcPacket::Nalus {
                        composition_time: 66,
                        data: &[0, 0, 0, 1, 0x41],
                    }),
                }),
            ),
            (
                "nalus negative cts",
                &[0x27, 1, 0xFF, 0xFF, 0xDF],
                Ok(FlvVideo {
                    frame_type: VideoFrameType::Inter,
                    packet: Some(AvcPacket::Nalus {
                        composition_time: -33,
                        data: &[],
                    }),
                }),
            ),
            (
                "end of sequence",
                &[0x17, 2, 0, 0, 0],
                Ok(FlvVideo {
                    frame_type: VideoFrameType::Key,
                    packet: Some(AvcPacket::EndOfSequence),
                }),
            ),
            (
                "command frame",
                &[0x57, 0],
                Ok(FlvVideo {
                    frame_type: VideoFrameType::InfoOrCommand,
                    packet: None,
                }),
            ),
        ];
        for (name, body, expect) in cases {
            assert_eq!(parse_video(body), expect, "case {name}");
        }
    }

    #[test]
    fn audio_table() {
        type Expect = std::result::Result<FlvAudio<'static>, Error>;
        let cases: Vec<(&str, &'static [u8], Expect)> = vec![
            (
                "empty",
                &[],
                Err(Error::truncated("FLV audio tag header", 1, 0)),
            ),
            (
                "aac without packet type",
                &[0xAF],
                Err(Error::truncated("AAC audio tag header", 2, 1)),
            ),
            ("mp3", &[0x2F, 0xFF], Err(Error::UnsupportedAudioCodec(2))),
            ("speex", &[0xB6], Err(Error::UnsupportedAudioCodec(11))),
            (
                "ex audio header",
                &[0x90, 0],
                Err(Error::UnsupportedAudioCodec(9)),
            ),
            (
                "bad aac packet type",
                &[0xAF, 7],
                Err(Error::InvalidAacPacketType(7)),
            ),
            (
                "sequence header",
                &[0xAF, 0, 0x12, 0x10],
                Ok(FlvAudio {
                    format_bits: 0xF,
                    packet: AacPacket::SequenceHeader(&[0x12, 0x10]),
                }),
            ),
            (
                "raw",
                &[0xAE, 1, 0x21],
                Ok(FlvAudio {
                    format_bits: 0xE,
                    packet: AacPacket::Raw(&[0x21]),
                }),
            ),
            (
                "raw empty",
                &[0xAF, 1],
                Ok(FlvAudio {
                    format_bits: 0xF,
                    packet: AacPacket::Raw(&[]),
                }),
            ),
        ];
        for (name, body, expect) in cases {
            assert_eq!(parse_audio(body), expect, "case {name}");
        }
    }

    #[test]
    fn unsupported_classification() {
        assert!(parse_video(&[0x14]).unwrap_err().is_unsupported());
        assert!(parse_audio(&[0x2F]).unwrap_err().is_unsupported());
        assert!(!parse_video(&[]).unwrap_err().is_unsupported());
    }
}

//! AAC: `AudioSpecificConfig` (ISO/IEC 14496-3 §1.6.2.1) and ADTS headers
//! (ISO/IEC 14496-3 §1.A.2.2).

use crate::{Error, Result};

/// Sampling frequencies by `samplingFrequencyIndex`.
pub const SAMPLE_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// Length of an ADTS header without CRC.
pub const ADTS_HEADER_LEN: usize = 7;
/// Largest raw frame an ADTS header can describe (13-bit frame length).
pub const MAX_RAW_FRAME_LEN: usize = 0x1FFF - ADTS_HEADER_LEN;

/// A parsed `AudioSpecificConfig` (the AAC sequence header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioSpecificConfig {
    /// Signalled `audioObjectType` (2 = AAC-LC, 5 = SBR / HE-AAC, 29 = PS / HE-AACv2).
    pub object_type: u8,
    /// Underlying core object type written to ADTS (`profile = core - 1`).
    pub core_object_type: u8,
    /// Core `samplingFrequencyIndex` (what ADTS carries).
    pub sampling_frequency_index: u8,
    /// Core sampling rate in Hz.
    pub sample_rate: u32,
    /// `channelConfiguration` (1..=7).
    pub channel_configuration: u8,
    /// Samples per frame per channel at the core rate (1024, or 960 when
    /// `frameLengthFlag` is set).
    pub samples_per_frame: u32,
}

impl AudioSpecificConfig {
    /// Parses the config carried by an FLV `AACPacketType` 0 packet and
    /// checks that it can be expressed in ADTS.
    pub fn parse(data: &[u8]) -> Result<Self> {
        let mut bits = BitReader::new(data);
        let object_type = read_object_type(&mut bits)?;
        let (sampling_frequency_index, sample_rate) = read_sample_rate(&mut bits)?;
        let channel_configuration = bits.read(4)? as u8;
        let mut core_object_type = object_type;
        if object_type == 5 || object_type == 29 {
            // Explicit SBR/PS signalling: extension rate, then the core type.
            read_sample_rate(&mut bits)?;
            core_object_type = read_object_type(&mut bits)?;
        }
        if !(1..=4).contains(&core_object_type) {
            return Err(Error::UnsupportedAacObjectType(core_object_type));
        }
        if !(1..=7).contains(&channel_configuration) {
            return Err(Error::UnsupportedAacChannelConfig(channel_configuration));
        }
        // GASpecificConfig starts with frameLengthFlag; tolerate configs cut
        // right before it (some encoders send exactly 2 bytes, which do hold it).
        let samples_per_frame = match bits.read(1) {
            Ok(1) => 960,
            _ => 1024,
        };
        Ok(AudioSpecificConfig {
            object_type,
            core_object_type,
            sampling_frequency_index,
            sample_rate,
            channel_configuration,
            samples_per_frame,
        })
    }

    /// Duration of one frame in 90 kHz ticks (rounded down).
    pub fn frame_duration_90k(&self) -> u64 {
        u64::from(self.samples_per_frame) * 90_000 / u64::from(self.sample_rate.max(1))
    }

    /// RFC 6381 codec string, e.g. `mp4a.40.2`.
    pub fn codec_string(&self) -> String {
        format!("mp4a.40.{}", self.object_type)
    }

    /// The 7-byte ADTS header (MPEG-4, no CRC) for a raw frame of
    /// `raw_len` bytes.
    pub fn adts_header(&self, raw_len: usize) -> Result<[u8; ADTS_HEADER_LEN]> {
        if raw_len > MAX_RAW_FRAME_LEN {
            return Err(Error::AacFrameTooLarge(raw_len));
        }
        let frame_len = (raw_len + ADTS_HEADER_LEN) as u16;
        let profile = (self.core_object_type - 1) & 0x03;
        let sfi = self.sampling_frequency_index & 0x0F;
        let ch = self.channel_configuration & 0x07;
        Ok([
            0xFF,
            0xF1, // MPEG-4, layer 0, protection_absent
            (profile << 6) | (sfi << 2) | (ch >> 2),
            ((ch & 0x03) << 6) | ((frame_len >> 11) as u8 & 0x03),
            (frame_len >> 3) as u8,
            (((frame_len & 0x07) as u8) << 5) | 0x1F, // + buffer fullness 0x7FF (VBR)
            0xFC,
        ])
    }
}

/// True when `frame` already starts with an ADTS header describing exactly
/// this frame (some encoders wrongly send ADTS over RTMP).
pub fn is_adts_frame(frame: &[u8]) -> bool {
    match frame.get(..ADTS_HEADER_LEN) {
        Some(&[b0, b1, _, b3, b4, b5, _]) => {
            let sync = b0 == 0xFF && (b1 & 0xF6) == 0xF0;
            let len =
                (usize::from(b3 & 0x03) << 11) | (usize::from(b4) << 3) | (usize::from(b5) >> 5);
            sync && len == frame.len()
        }
        _ => false,
    }
}

fn read_object_type(bits: &mut BitReader<'_>) -> Result<u8> {
    let t = bits.read(5)? as u8;
    if t == 31 {
        Ok(32 + bits.read(6)? as u8)
    } else {
        Ok(t)
    }
}

fn read_sample_rate(bits: &mut BitReader<'_>) -> Result<(u8, u32)> {
    let index = bits.read(4)? as u8;
    if index == 0x0F {
        let rate = bits.read(24)?;
        return match SAMPLE_RATES.iter().position(|&r| r == rate) {
            Some(i) => Ok((i as u8, rate)),
            None => Err(Error::UnsupportedAacSampleRate(rate)),
        };
    }
    match SAMPLE_RATES.get(usize::from(index)) {
        Some(&rate) => Ok((index, rate)),
        None => Err(Error::ReservedAacSampleRateIndex(index)),
    }
}

/// MSB-first bit reader.
struct BitReader<'a> {
    data: &'a [u8],
    bit: usize,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader { data, bit: 0 }
    }

    fn read(&mut self, n: u32) -> Result<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self.data.get(self.bit / 8).copied().ok_or_else(|| {
                Error::truncated("AudioSpecificConfig", self.bit / 8 + 1, self.data.len())
            })?;
            v = (v << 1) | u32::from((byte >> (7 - (self.bit % 8))) & 1);
            self.bit += 1;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lc_44100_stereo() {
        let asc = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!(asc.object_type, 2);
        assert_eq!(asc.sampling_frequency_index, 4);
        assert_eq!(asc.sample_rate, 44_100);
        assert_eq!(asc.channel_configuration, 2);
        assert_eq!(asc.samples_per_frame, 1024);
        assert_eq!(asc.frame_duration_90k(), 2089);
        assert_eq!(asc.codec_string(), "mp4a.40.2");
        // Known-good header from ffmpeg for a 371-byte raw frame (378 total).
        assert_eq!(
            asc.adts_header(371).unwrap(),
            [0xFF, 0xF1, 0x50, 0x80, 0x2F, 0x5F, 0xFC]
        );
        let mut frame = asc.adts_header(10).unwrap().to_vec();
        frame.extend_from_slice(&[0; 10]);
        assert!(is_adts_frame(&frame));
        assert!(!is_adts_frame(&frame[..16]));
    }

    #[test]
    fn he_aac_explicit_sbr_uses_core() {
        // AOT 5, sfi 6 (24 kHz), 2 ch, ext sfi 3 (48 kHz), core AOT 2.
        let bits: u32 = (5 << 27) | (6 << 23) | (2 << 19) | (3 << 15) | (2 << 10);
        let asc = AudioSpecificConfig::parse(&bits.to_be_bytes()).unwrap();
        assert_eq!((asc.object_type, asc.core_object_type), (5, 2));
        assert_eq!(asc.sample_rate, 24_000);
        assert_eq!(asc.adts_header(0).unwrap()[2] >> 6, 1);
    }

    #[test]
    fn explicit_frequency_and_960() {
        // AOT 2, sfi 15 + 48000 explicit, ch 1, frameLengthFlag 1.
        let bits: u64 = (2 << 59) | (15 << 55) | (48_000 << 31) | (1 << 27) | (1 << 26);
        let asc = AudioSpecificConfig::parse(&bits.to_be_bytes()).unwrap();
        assert_eq!((asc.sampling_frequency_index, asc.sample_rate), (3, 48_000));
        assert_eq!(asc.samples_per_frame, 960);
    }

    #[test]
    fn errors() {
        assert!(matches!(
            AudioSpecificConfig::parse(&[]),
            Err(Error::Truncated { .. })
        ));
        assert!(matches!(
            AudioSpecificConfig::parse(&[0x12]),
            Err(Error::Truncated { .. })
        ));
        // AOT 1 is fine, AOT 7 (TwinVQ) is not ADTS-able.
        assert_eq!(
            AudioSpecificConfig::parse(&[0x3A, 0x10]),
            Err(Error::UnsupportedAacObjectType(7))
        );
        // Reserved sampling index 13.
        assert_eq!(
            AudioSpecificConfig::parse(&[0x16, 0x90]),
            Err(Error::ReservedAacSampleRateIndex(13))
        );
        // Channel configuration 0 (PCE).
        assert_eq!(
            AudioSpecificConfig::parse(&[0x12, 0x00]),
            Err(Error::UnsupportedAacChannelConfig(0))
        );
        // Explicit unusual frequency.
        let bits: u64 = (2 << 59) | (15 << 55) | (12_345 << 31) | (1 << 27);
        assert_eq!(
            AudioSpecificConfig::parse(&bits.to_be_bytes()),
            Err(Error::UnsupportedAacSampleRate(12_345))
        );
        let asc = AudioSpecificConfig::parse(&[0x12, 0x10]).unwrap();
        assert_eq!(
            asc.adts_header(MAX_RAW_FRAME_LEN + 1),
            Err(Error::AacFrameTooLarge(MAX_RAW_FRAME_LEN + 1))
        );
        assert!(asc.adts_header(MAX_RAW_FRAME_LEN).is_ok());
    }
}

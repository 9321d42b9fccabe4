//! H.264: `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 §5.2.4.1) and
//! AVCC (length-prefixed) → Annex-B (start-code) conversion.
//!
//! Conversion is split in two steps so NALU payloads are copied only once,
//! straight into the transport stream: [`split_nalus`] validates the
//! length prefixes and records NALU positions, then [`annexb_chunks`] yields
//! the Annex-B byte stream as a sequence of borrowed slices.

use crate::{Error, Result};

/// 4-byte Annex-B start code.
pub const START_CODE: &[u8] = &[0, 0, 0, 1];
/// Access unit delimiter NAL unit with its start code
/// (`nal_unit_type` 9, `primary_pic_type` 7 = any slice type).
pub const ACCESS_UNIT_DELIMITER: &[u8] = &[0, 0, 0, 1, 0x09, 0xF0];

/// NAL unit type of an IDR slice.
pub const NAL_IDR: u8 = 5;
/// NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 8;
/// NAL unit type of an access unit delimiter.
pub const NAL_AUD: u8 = 9;

/// A parsed `AVCDecoderConfigurationRecord` (the AVC sequence header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvcDecoderConfig {
    /// `AVCProfileIndication`.
    pub profile: u8,
    /// `profile_compatibility`.
    pub compatibility: u8,
    /// `AVCLevelIndication`.
    pub level: u8,
    /// Size in bytes of each NALU length prefix (1..=4).
    pub nalu_length_size: u8,
    /// Sequence parameter sets (without length prefix or start code).
    pub sps: Vec<Vec<u8>>,
    /// Picture parameter sets (without length prefix or start code).
    pub pps: Vec<Vec<u8>>,
    /// All SPS then all PPS, each behind a 4-byte start code, ready to be
    /// inserted in front of an IDR picture.
    parameter_sets_annexb: Vec<u8>,
}

impl AvcDecoderConfig {
    /// Parses the record carried by an FLV `AVCPacketType` 0 packet.
    pub fn parse(data: &[u8]) -> Result<Self> {
        let mut reader = ByteReader::new(data, "AVCDecoderConfigurationRecord");
        let version = reader.u8()?;
        if version != 1 {
            return Err(Error::InvalidAvcConfigVersion(version));
        }
        let profile = reader.u8()?;
        let compatibility = reader.u8()?;
        let level = reader.u8()?;
        let nalu_length_size = (reader.u8()? & 0x03) + 1;
        let sps_count = reader.u8()? & 0x1F;
        let mut sps = Vec::with_capacity(usize::from(sps_count));
        for _ in 0..sps_count {
            let len = usize::from(reader.u16()?);
            sps.push(reader.bytes(len)?.to_vec());
        }
        let pps_count = reader.u8()?;
        let mut pps = Vec::with_capacity(usize::from(pps_count));
        for _ in 0..pps_count {
            let len = usize::from(reader.u16()?);
            pps.push(reader.bytes(len)?.to_vec());
        }
        // High-profile extension fields (chroma format, bit depth, SPS-ext)
        // may follow; nothing in them is needed for remuxing.
        let mut parameter_sets_annexb = Vec::new();
        for set in sps.iter().chain(pps.iter()) {
            parameter_sets_annexb.extend_from_slice(START_CODE);
            parameter_sets_annexb.extend_from_slice(set);
        }
        Ok(AvcDecoderConfig {
            profile,
            compatibility,
            level,
            nalu_length_size,
            sps,
            pps,
            parameter_sets_annexb,
        })
    }

    /// SPS and PPS in Annex-B form (start code before each).
    pub fn parameter_sets_annexb(&self) -> &[u8] {
        &self.parameter_sets_annexb
    }

    /// RFC 6381 codec string, e.g. `avc1.64001f`, for a master playlist
    /// `CODECS` attribute.
    pub fn codec_string(&self) -> String {
        format!(
            "avc1.{:02x}{:02x}{:02x}",
            self.profile, self.compatibility, self.level
        )
    }
}

/// What [`split_nalus`] found in one access unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccessUnitInfo {
    /// Number of NAL units kept (AUDs and empty NALUs are dropped).
    pub nalu_count: usize,
    /// Total bytes of the kept NAL units (without prefixes).
    pub nalu_bytes: usize,
    /// Contains an IDR slice.
    pub has_idr: bool,
    /// Contains an SPS.
    pub has_sps: bool,
    /// Contains a PPS.
    pub has_pps: bool,
}

impl AccessUnitInfo {
    /// Whether parameter sets must be inserted before this access unit:
    /// it is a random access point and does not carry its own SPS and PPS.
    pub fn needs_parameter_sets(&self, flv_keyframe: bool) -> bool {
        (self.has_idr || flv_keyframe) && !(self.has_sps && self.has_pps)
    }
}

/// Splits length-prefixed NAL units, validating every prefix.
///
/// `ranges` is cleared and filled with `(start, end)` byte ranges into
/// `data`, one per kept NAL unit. Access unit delimiters already present are
/// dropped (one is always inserted by [`annexb_chunks`]), as are zero-length
/// NAL units. On error `ranges` content is unspecified.
pub fn split_nalus(
    data: &[u8],
    nalu_length_size: u8,
    ranges: &mut Vec<(usize, usize)>,
) -> Result<AccessUnitInfo> {
    ranges.clear();
    let prefix = usize::from(nalu_length_size.clamp(1, 4));
    let mut info = AccessUnitInfo::default();
    let mut pos = 0usize;
    while pos < data.len() {
        let remaining = data.len() - pos;
        let Some(len_bytes) = data.get(pos..pos + prefix) else {
            return Err(Error::truncated("NALU length prefix", prefix, remaining));
        };
        let length = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        let start = pos + prefix;
        let available = data.len() - start;
        if length > available {
            return Err(Error::NaluLengthExceedsBody {
                offset: pos,
                length,
                remaining: available,
            });
        }
        let end = start + length;
        pos = end;
        let Some(&header) = data.get(start) else {
            continue; // zero-length NALU
        };
        if length == 0 {
            continue;
        }
        match header & 0x1F {
            NAL_AUD => continue,
            NAL_IDR => info.has_idr = true,
            NAL_SPS => info.has_sps = true,
            NAL_PPS => info.has_pps = true,
            _ => {}
        }
        info.nalu_count += 1;
        info.nalu_bytes += length;
        ranges.push((start, end));
    }
    Ok(info)
}

/// Number of bytes [`annexb_chunks`] yields for the same arguments.
pub fn annexb_len(info: &AccessUnitInfo, parameter_sets: Option<&[u8]>) -> usize {
    ACCESS_UNIT_DELIMITER.len()
        + parameter_sets.map_or(0, <[u8]>::len)
        + info.nalu_count * START_CODE.len()
        + info.nalu_bytes
}

/// The Annex-B access unit as borrowed slices: AUD, optional parameter sets,
/// then each NALU behind a 4-byte start code.
pub fn annexb_chunks<'a>(
    data: &'a [u8],
    ranges: &'a [(usize, usize)],
    parameter_sets: Option<&'a [u8]>,
) -> impl Iterator<Item = &'a [u8]> + Clone + 'a {
    std::iter::once(ACCESS_UNIT_DELIMITER)
        .chain(parameter_sets)
        .chain(
            ranges.iter().flat_map(move |&(start, end)| {
                [START_CODE, data.get(start..end).unwrap_or_default()]
            }),
        )
}

/// Converts one AVCC access unit to a contiguous Annex-B buffer (AUD first,
/// SPS/PPS from `config` before a keyframe that lacks them), appending to
/// `out`. Convenience for callers that want bytes rather than slices.
pub fn to_annexb(
    config: &AvcDecoderConfig,
    data: &[u8],
    keyframe: bool,
    out: &mut Vec<u8>,
) -> Result<AccessUnitInfo> {
    let mut ranges = Vec::new();
    let info = split_nalus(data, config.nalu_length_size, &mut ranges)?;
    let sets = info
        .needs_parameter_sets(keyframe)
        .then_some(config.parameter_sets_annexb());
    out.reserve(annexb_len(&info, sets));
    for chunk in annexb_chunks(data, &ranges, sets) {
        out.extend_from_slice(chunk);
    }
    Ok(info)
}

/// Bounds-checked big-endian reader over a byte slice.
pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        ByteReader { data, pos: 0, what }
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(len);
        match end.and_then(|end| self.data.get(self.pos..end)) {
            Some(slice) => {
                self.pos += len;
                Ok(slice)
            }
            None => Err(Error::truncated(
                self.what,
                self.pos.saturating_add(len),
                self.data.len(),
            )),
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        let b = self.bytes(1)?;
        Ok(b.first().copied().unwrap_or_default())
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        let b = self.bytes(2)?;
        Ok(b.iter().fold(0u16, |acc, &x| (acc << 8) | u16::from(x)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A real-looking baseline SPS/PPS pair (160x90).
    pub(crate) const SPS: &[u8] = &[0x67, 0x42, 0xC0, 0x0C, 0xDA, 0x0A, 0x0C, 0x7C];
    pub(crate) const PPS: &[u8] = &[0x68, 0xCE, 0x3C, 0x80];

    pub(crate) fn config_record(length_size: u8) -> Vec<u8> {
        let mut v = vec![1, 0x42, 0xC0, 0x0C, 0xFC | (length_size - 1), 0xE1];
        v.extend_from_slice(&(SPS.len() as u16).to_be_bytes());
        v.extend_from_slice(SPS);
        v.push(1);
        v.extend_from_slice(&(PPS.len() as u16).to_be_bytes());
        v.extend_from_slice(PPS);
        v
    }

    pub(crate) fn avcc(nalus: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for n in nalus {
            v.extend_from_slice(&(n.len() as u32).to_be_bytes());
            v.extend_from_slice(n);
        }
        v
    }

    #[test]
    fn parses_config_record() {
        let cfg = AvcDecoderConfig::parse(&config_record(4)).unwrap();
        assert_eq!(cfg.nalu_length_size, 4);
        assert_eq!(cfg.sps, vec![SPS.to_vec()]);
        assert_eq!(cfg.pps, vec![PPS.to_vec()]);
        assert_eq!(cfg.codec_string(), "avc1.42c00c");
        let mut expect = vec![0, 0, 0, 1];
        expect.extend_from_slice(SPS);
        expect.extend_from_slice(&[0, 0, 0, 1]);
        expect.extend_from_slice(PPS);
        assert_eq!(cfg.parameter_sets_annexb(), &expect[..]);
    }

    #[test]
    fn config_record_errors() {
        assert_eq!(
            AvcDecoderConfig::parse(&[]),
            Err(Error::truncated("AVCDecoderConfigurationRecord", 1, 0))
        );
        assert_eq!(
            AvcDecoderConfig::parse(&[2, 0, 0, 0, 0, 0]),
            Err(Error::InvalidAvcConfigVersion(2))
        );
        let full = config_record(4);
        for cut in 1..full.len() {
            let err = AvcDecoderConfig::parse(&full[..cut]).unwrap_err();
            assert!(matches!(err, Error::Truncated { .. }), "cut {cut}: {err}");
        }
        // SPS length pointing past the end.
        let mut bad = vec![1, 0x42, 0, 0x0C, 0xFF, 0xE1, 0xFF, 0xFF, 0x67];
        assert!(matches!(
            AvcDecoderConfig::parse(&bad),
            Err(Error::Truncated { .. })
        ));
        // Zero parameter sets is accepted (in-band SPS/PPS).
        bad = vec![1, 0x42, 0, 0x0C, 0xFF, 0xE0, 0];
        let cfg = AvcDecoderConfig::parse(&bad).unwrap();
        assert!(cfg.sps.is_empty() && cfg.parameter_sets_annexb().is_empty());
    }

    #[test]
    fn converts_idr_with_parameter_sets_and_aud() {
        let cfg = AvcDecoderConfig::parse(&config_record(4)).unwrap();
        let sei: &[u8] = &[0x06, 0x05, 0x01, 0x80];
        let idr: &[u8] = &[0x65, 0x88, 0x84, 0x00];
        let aud: &[u8] = &[0x09, 0x10];
        let data = avcc(&[aud, sei, idr, &[]]);
        let mut out = Vec::new();
        let info = to_annexb(&cfg, &data, true, &mut out).unwrap();
        assert!(info.has_idr && !info.has_sps);
        assert_eq!(info.nalu_count, 2);
        let mut expect = ACCESS_UNIT_DELIMITER.to_vec();
        expect.extend_from_slice(cfg.parameter_sets_annexb());
        for n in [sei, idr] {
            expect.extend_from_slice(START_CODE);
            expect.extend_from_slice(n);
        }
        assert_eq!(out, expect);
        assert_eq!(
            annexb_len(&info, Some(cfg.parameter_sets_annexb())),
            out.len()
        );
    }

    #[test]
    fn keeps_in_band_parameter_sets_without_duplicating() {
        let cfg = AvcDecoderConfig::parse(&config_record(4)).unwrap();
        let idr: &[u8] = &[0x65, 0x88];
        let data = avcc(&[SPS, PPS, idr]);
        let mut out = Vec::new();
        let info = to_annexb(&cfg, &data, true, &mut out).unwrap();
        assert!(!info.needs_parameter_sets(true));
        let sps_count = out.windows(SPS.len()).filter(|w| *w == SPS).count();
        assert_eq!(sps_count, 1);
    }

    #[test]
    fn non_idr_gets_no_parameter_sets() {
        let cfg = AvcDecoderConfig::parse(&config_record(2)).unwrap();
        let mut data = Vec::new();
        data.extend_from_slice(&3u16.to_be_bytes());
        data.extend_from_slice(&[0x41, 0x9A, 0x02]);
        let mut out = Vec::new();
        to_annexb(&cfg, &data, false, &mut out).unwrap();
        assert_eq!(out, [0, 0, 0, 1, 9, 0xF0, 0, 0, 0, 1, 0x41, 0x9A, 0x02]);
    }

    #[test]
    fn nalu_length_errors() {
        let mut ranges = Vec::new();
        assert_eq!(
            split_nalus(&[0, 0, 0, 9, 0x65], 4, &mut ranges),
            Err(Error::NaluLengthExceedsBody {
                offset: 0,
                length: 9,
                remaining: 1
            })
        );
        assert_eq!(
            split_nalus(&[0, 0, 0, 1, 0x65, 0, 0], 4, &mut ranges),
            Err(Error::truncated("NALU length prefix", 4, 2))
        );
        assert_eq!(
            split_nalus(&[0xFF, 0xFF, 0xFF, 0xFF], 4, &mut ranges),
            Err(Error::NaluLengthExceedsBody {
                offset: 0,
                length: 0xFFFF_FFFF,
                remaining: 0
            })
        );
        let info = split_nalus(&[], 4, &mut ranges).unwrap();
        assert_eq!(info.nalu_count, 0);
        let info = split_nalus(&[1, 0x65, 2, 0x41, 0], 1, &mut ranges).unwrap();
        assert_eq!((info.nalu_count, info.has_idr), (2, true));
        assert_eq!(ranges, vec![(1, 2), (3, 5)]);
    }
}

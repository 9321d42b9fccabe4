//! Shared helpers for the integration tests: FLV tag body builders and a
//! transport stream inspector built on the independent `mpeg2ts` crate.
#![allow(dead_code)]

use mpeg2ts::es::StreamType;
use mpeg2ts::pes::{PesPacketReader, ReadPesPacket};
use mpeg2ts::ts::{ReadTsPacket, TsPacketReader, TsPayload};

pub const VIDEO_PID: u16 = 0x100;
pub const AUDIO_PID: u16 = 0x101;

pub const SPS: &[u8] = &[0x67, 0x42, 0xC0, 0x0C, 0xDA, 0x0A, 0x0C, 0x7C];
pub const PPS: &[u8] = &[0x68, 0xCE, 0x3C, 0x80];

/// FLV video body: AVC sequence header.
pub fn avc_sequence_header() -> Vec<u8> {
    let mut v = vec![0x17, 0, 0, 0, 0, 1, 0x42, 0xC0, 0x0C, 0xFF, 0xE1];
    v.extend_from_slice(&(SPS.len() as u16).to_be_bytes());
    v.extend_from_slice(SPS);
    v.push(1);
    v.extend_from_slice(&(PPS.len() as u16).to_be_bytes());
    v.extend_from_slice(PPS);
    v
}

/// The NAL unit of frame `n` (an IDR slice when `key`, else a P slice),
/// with a recognizable payload.
pub fn slice_nalu(n: u32, key: bool, len: usize) -> Vec<u8> {
    let mut nalu = vec![if key { 0x65 } else { 0x41 }];
    // Frame number in 7-bit groups with the top bit set: never a start code.
    nalu.extend((0..4).rev().map(|k| 0x80 | ((n >> (7 * k)) & 0x7F) as u8));
    while nalu.len() < len {
        nalu.push((nalu.len() as u32).wrapping_mul(31).wrapping_add(n) as u8 | 1);
    }
    nalu
}

/// FLV video body: one AVCC access unit.
pub fn avc_frame(key: bool, cts_ms: i32, nalus: &[&[u8]]) -> Vec<u8> {
    let cts = cts_ms.to_be_bytes();
    let mut v = vec![if key { 0x17 } else { 0x27 }, 1, cts[1], cts[2], cts[3]];
    for n in nalus {
        v.extend_from_slice(&(n.len() as u32).to_be_bytes());
        v.extend_from_slice(n);
    }
    v
}

/// FLV video body for frame `n` with a single slice NALU.
pub fn video_frame(n: u32, key: bool, cts_ms: i32, len: usize) -> Vec<u8> {
    avc_frame(key, cts_ms, &[&slice_nalu(n, key, len)])
}

/// FLV audio body: AAC-LC 44.1 kHz stereo sequence header.
pub fn aac_sequence_header() -> Vec<u8> {
    vec![0xAF, 0, 0x12, 0x10]
}

/// Raw AAC frame `n` (not real AAC, recognizable payload).
pub fn aac_raw(n: u32, len: usize) -> Vec<u8> {
    let mut raw = n.to_be_bytes().to_vec();
    while raw.len() < len {
        raw.push(raw.len() as u8 ^ n as u8);
    }
    raw
}

/// FLV audio body: one raw AAC frame.
pub fn audio_frame(n: u32, len: usize) -> Vec<u8> {
    let mut v = vec![0xAF, 1];
    v.extend_from_slice(&aac_raw(n, len));
    v
}

/// RTMP timestamp of AAC frame `n` at 44.1 kHz.
pub fn audio_ts(n: u32) -> u32 {
    (u64::from(n) * 1024 * 1000 / 44_100) as u32
}

#[derive(Debug, Clone)]
pub struct PacketInfo {
    pub pid: u16,
    pub cc: u8,
    pub random_access: bool,
    pub pcr: Option<u64>,
    pub pes_start: bool,
}

#[derive(Debug, Clone)]
pub struct PesInfo {
    pub pid: u16,
    pub pts: u64,
    pub dts: Option<u64>,
    pub data: Vec<u8>,
}

impl PesInfo {
    pub fn dts_or_pts(&self) -> u64 {
        self.dts.unwrap_or(self.pts)
    }
}

/// PCR PID and (stream_type, pid) of each elementary stream.
pub type PmtInfo = (Option<u16>, Vec<(StreamType, u16)>);

#[derive(Debug, Clone, Default)]
pub struct TsInfo {
    pub packets: Vec<PacketInfo>,
    /// Every PMT, in order of appearance.
    pub pmts: Vec<PmtInfo>,
    pub pes: Vec<PesInfo>,
    /// PIDs of the first two packets.
    pub leading_pids: Vec<u16>,
}

pub fn inspect(data: &[u8]) -> TsInfo {
    assert_eq!(data.len() % 188, 0, "not a whole number of TS packets");
    let mut info = TsInfo::default();
    let mut reader = TsPacketReader::new(data);
    while let Some(packet) = reader.read_ts_packet().expect("mpeg2ts rejected a packet") {
        let pid = packet.header.pid.as_u16();
        let af = packet.adaptation_field.as_ref();
        if let Some(TsPayload::Pmt(pmt)) = &packet.payload {
            info.pmts.push((
                pmt.pcr_pid.map(|p| p.as_u16()),
                pmt.es_info
                    .iter()
                    .map(|es| (es.stream_type, es.elementary_pid.as_u16()))
                    .collect(),
            ));
        }
        info.packets.push(PacketInfo {
            pid,
            cc: packet.header.continuity_counter.as_u8(),
            random_access: af.is_some_and(|af| af.random_access_indicator),
            pcr: af.and_then(|af| af.pcr).map(|p| p.as_u64() / 300),
            pes_start: matches!(packet.payload, Some(TsPayload::PesStart(_))),
        });
    }
    info.leading_pids = info.packets.iter().take(2).map(|p| p.pid).collect();
    let mut reader = PesPacketReader::new(TsPacketReader::new(data));
    while let Some(pes) = reader.read_pes_packet().expect("mpeg2ts rejected a PES") {
        let pid = if pes.header.stream_id.as_u8() == 0xE0 {
            VIDEO_PID
        } else {
            AUDIO_PID
        };
        info.pes.push(PesInfo {
            pid,
            pts: pes.header.pts.expect("PES without PTS").as_u64(),
            dts: pes.header.dts.map(|d| d.as_u64()),
            data: pes.data,
        });
    }
    info
}

impl TsInfo {
    pub fn video(&self) -> impl Iterator<Item = &PesInfo> {
        self.pes.iter().filter(|p| p.pid == VIDEO_PID)
    }
    pub fn audio(&self) -> impl Iterator<Item = &PesInfo> {
        self.pes.iter().filter(|p| p.pid == AUDIO_PID)
    }
}

/// Asserts continuity counters increase by one per PID across `segments`
/// (concatenated in order).
pub fn assert_continuity(segments: &[&[u8]]) {
    let mut last = std::collections::HashMap::<u16, u8>::new();
    let mut all = Vec::new();
    for s in segments {
        all.extend_from_slice(s);
    }
    for (i, packet) in all.chunks(188).enumerate() {
        assert_eq!(packet[0], 0x47, "sync byte of packet {i}");
        let pid = (u16::from(packet[1] & 0x1F) << 8) | u16::from(packet[2]);
        let cc = packet[3] & 0x0F;
        if let Some(prev) = last.insert(pid, cc) {
            assert_eq!(
                cc,
                (prev + 1) & 0x0F,
                "CC jump on pid {pid:#x} at packet {i}"
            );
        }
    }
}

/// Splits an Annex-B stream into NAL units (start codes removed).
pub fn annexb_nalus(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(data.len(), |&n| n - 3);
        // Drop the leading zero of a following 4-byte start code.
        while k + 1 < starts.len() && end > s && data[end - 1] == 0 {
            end -= 1;
        }
        out.push(&data[s..end]);
    }
    out
}

/// Splits a concatenation of ADTS frames, checking each header.
pub fn adts_frames(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let h = &data[pos..pos + 7];
        assert_eq!(h[0], 0xFF);
        assert_eq!(h[1], 0xF1, "MPEG-4, no CRC");
        assert_eq!(h[2] >> 6, 1, "profile AAC-LC");
        assert_eq!((h[2] >> 2) & 0xF, 4, "44.1 kHz");
        assert_eq!(((h[2] & 1) << 2) | (h[3] >> 6), 2, "stereo");
        let len = (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        out.push(&data[pos + 7..pos + len]);
        pos += len;
    }
    out
}

//! PES packetization into TS packets (ISO/IEC 13818-1 §2.4.3.6, §2.4.3.7).

use super::{
    PesFrame, StreamKind, TsMuxer, PACKET_SIZE, PCR_LEAD_90K, STREAM_ID_AUDIO, STREAM_ID_VIDEO,
    SYNC_BYTE, TIMESTAMP_MASK,
};

/// TS header size.
const TS_HEADER_LEN: usize = 4;
/// Payload bytes of a TS packet without adaptation field.
const TS_PAYLOAD_LEN: usize = PACKET_SIZE - TS_HEADER_LEN;

impl TsMuxer {
    /// Appends one PES packet, split over as many TS packets as needed, to
    /// `out`. `payload` yields the elementary stream bytes in order (for
    /// video: the Annex-B access unit) and is iterated twice: once to size
    /// the PES, once to copy.
    ///
    /// The first TS packet carries the PCR when `frame.kind` is the PCR
    /// stream of the current tracks, and `random_access_indicator` when
    /// `frame.random_access`. The last TS packet is padded with
    /// adaptation-field stuffing.
    pub fn write_pes<'a, I>(&mut self, out: &mut Vec<u8>, frame: &PesFrame, payload: I)
    where
        I: IntoIterator<Item = &'a [u8]>,
        I::IntoIter: Clone,
    {
        let chunks = payload.into_iter();
        let payload_len: usize = chunks.clone().map(<[u8]>::len).sum();
        let pid = frame.kind.pid();
        let with_pcr = self.tracks.pcr_pid() == Some(pid);

        let mut pes_header = [0u8; 19];
        let pes_header_len = write_pes_header(&mut pes_header, frame, payload_len);
        let pes_header = pes_header.get(..pes_header_len).unwrap_or_default();

        out.reserve(
            (payload_len + pes_header_len) / TS_PAYLOAD_LEN * PACKET_SIZE + 2 * PACKET_SIZE,
        );

        let mut chunks = chunks;
        let mut current: &[u8] = &[];
        let mut written = 0usize;
        let mut first = true;
        loop {
            // Mandatory adaptation field (length byte + flags + PCR) of the first packet.
            let mut af_flags = 0u8;
            let mut af_len = 0usize;
            if first && (with_pcr || frame.random_access) {
                af_len = 2;
                if frame.random_access {
                    af_flags |= 0x40;
                }
                if with_pcr {
                    af_flags |= 0x10;
                    af_len += 6;
                }
            }
            let header_here = if first { pes_header_len } else { 0 };
            let space = TS_PAYLOAD_LEN - af_len - header_here;
            let remaining = payload_len - written;
            let (take, stuffing) = if remaining >= space {
                (space, 0)
            } else {
                (remaining, space - remaining)
            };
            let af_total = af_len + stuffing;

            let cc = self.next_cc(pid);
            let afc = if af_total > 0 { 0x30 } else { 0x10 };
            out.extend_from_slice(&[
                SYNC_BYTE,
                (u8::from(first) << 6) | (pid >> 8) as u8,
                pid as u8,
                afc | cc,
            ]);
            if af_total > 0 {
                // adaptation_field_length excludes its own byte.
                out.push((af_total - 1) as u8);
                if af_total > 1 {
                    out.push(af_flags);
                    if af_flags & 0x10 != 0 {
                        let pcr = frame.dts.saturating_sub(PCR_LEAD_90K) & TIMESTAMP_MASK;
                        out.extend_from_slice(&encode_pcr(pcr));
                    }
                    let fill = af_total - af_len.max(2);
                    out.resize(out.len() + fill, 0xFF);
                }
            }
            if first {
                out.extend_from_slice(pes_header);
            }
            // Copy `take` payload bytes across chunk boundaries.
            let mut need = take;
            while need > 0 {
                if current.is_empty() {
                    match chunks.next() {
                        Some(next) => current = next,
                        None => {
                            // Cannot happen (length computed from the same
                            // iterator); keep the packet well-formed anyway.
                            out.resize(out.len() + need, 0xFF);
                            break;
                        }
                    }
                }
                let n = need.min(current.len());
                let (head, tail) = current.split_at(n);
                out.extend_from_slice(head);
                current = tail;
                need -= n;
            }
            written += take;
            first = false;
            if written >= payload_len {
                break;
            }
        }
    }
}

/// Writes the PES header into `buf`, returns its length (14 or 19).
fn write_pes_header(buf: &mut [u8; 19], frame: &PesFrame, payload_len: usize) -> usize {
    let with_dts = frame.dts != frame.pts;
    let header_data_len: usize = if with_dts { 10 } else { 5 };
    let stream_id = match frame.kind {
        StreamKind::Video => STREAM_ID_VIDEO,
        StreamKind::Audio => STREAM_ID_AUDIO,
    };
    // PES_packet_length counts bytes after the field itself; 0 means
    // "unbounded", which is always used for video.
    let pes_len = match frame.kind {
        StreamKind::Video => 0,
        StreamKind::Audio => {
            let len = 3 + header_data_len + payload_len;
            if len > 0xFFFF {
                0
            } else {
                len
            }
        }
    };
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = 1;
    buf[3] = stream_id;
    buf[4] = (pes_len >> 8) as u8;
    buf[5] = pes_len as u8;
    buf[6] = 0x84; // '10', not scrambled, data_alignment_indicator
    buf[7] = if with_dts { 0xC0 } else { 0x80 };
    buf[8] = header_data_len as u8;
    let pts = encode_timestamp(if with_dts { 0x3 } else { 0x2 }, frame.pts);
    buf[9..14].copy_from_slice(&pts);
    if with_dts {
        buf[14..19].copy_from_slice(&encode_timestamp(0x1, frame.dts));
    }
    9 + header_data_len
}

/// 5-byte PTS/DTS field with the given 4-bit prefix and marker bits.
fn encode_timestamp(prefix: u8, ts: u64) -> [u8; 5] {
    let ts = ts & TIMESTAMP_MASK;
    [
        (prefix << 4) | (((ts >> 29) as u8) & 0x0E) | 1,
        (ts >> 22) as u8,
        (((ts >> 14) as u8) & 0xFE) | 1,
        (ts >> 7) as u8,
        (((ts << 1) as u8) & 0xFE) | 1,
    ]
}

/// 6-byte PCR field: 33-bit base, 6 reserved bits, 9-bit extension (0).
fn encode_pcr(base: u64) -> [u8; 6] {
    [
        (base >> 25) as u8,
        (base >> 17) as u8,
        (base >> 9) as u8,
        (base >> 1) as u8,
        (((base & 1) as u8) << 7) | 0x7E,
        0x00,
    ]
}

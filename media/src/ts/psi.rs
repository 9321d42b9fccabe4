//! Program specific information: PAT and PMT sections (ISO/IEC 13818-1 §2.4.4).

use super::{
    crc32_mpeg2, TsMuxer, AUDIO_PID, PACKET_SIZE, PAT_PID, PMT_PID, STREAM_TYPE_AAC_ADTS,
    STREAM_TYPE_H264, SYNC_BYTE, VIDEO_PID,
};

/// Program number of the single program.
const PROGRAM_NUMBER: u16 = 1;
/// `transport_stream_id` written in the PAT.
const TRANSPORT_STREAM_ID: u16 = 1;
/// `table_id` of the PAT.
const TABLE_ID_PAT: u8 = 0x00;
/// `table_id` of the PMT.
const TABLE_ID_PMT: u8 = 0x02;

impl TsMuxer {
    /// Appends one PAT packet and one PMT packet (listing the current
    /// [`super::Tracks`]) to `out`.
    pub fn write_tables(&mut self, out: &mut Vec<u8>) {
        // PAT: one program → PMT_PID.
        let [pmt_hi, pmt_lo] = PMT_PID.to_be_bytes();
        let [program_hi, program_lo] = PROGRAM_NUMBER.to_be_bytes();
        let pat_body = [program_hi, program_lo, 0xE0 | pmt_hi, pmt_lo];
        self.write_section(
            out,
            PAT_PID,
            TABLE_ID_PAT,
            TRANSPORT_STREAM_ID,
            0,
            &pat_body,
        );

        // PMT: PCR PID, no program descriptors, then up to two streams.
        let [pcr_hi, pcr_lo] = self.tracks.pcr_pid().unwrap_or(0x1FFF).to_be_bytes();
        let program_header = [0xE0 | pcr_hi, pcr_lo, 0xF0, 0x00]; // program_info_length 0
        let video = es_entry(STREAM_TYPE_H264, VIDEO_PID);
        let audio = es_entry(STREAM_TYPE_AAC_ADTS, AUDIO_PID);
        let parts: [(bool, &[u8]); 3] = [
            (true, &program_header),
            (self.tracks.video, &video),
            (self.tracks.audio, &audio),
        ];
        let mut pmt_body = [0u8; 4 + 2 * 5];
        let mut len = 0;
        for (present, bytes) in parts {
            if let (true, Some(dst)) = (present, pmt_body.get_mut(len..len + bytes.len())) {
                dst.copy_from_slice(bytes);
                len += bytes.len();
            }
        }
        let pmt_body = pmt_body.get(..len).unwrap_or_default();
        let version = self.pmt_version;
        self.write_section(
            out,
            PMT_PID,
            TABLE_ID_PMT,
            PROGRAM_NUMBER,
            version,
            pmt_body,
        );
    }

    /// Writes one long-form PSI section (header, `body`, CRC) as a single
    /// TS packet padded with 0xFF.
    fn write_section(
        &mut self,
        out: &mut Vec<u8>,
        pid: u16,
        table_id: u8,
        table_id_extension: u16,
        version: u8,
        body: &[u8],
    ) {
        let cc = self.next_cc(pid);
        let packet_start = out.len();
        let [pid_hi, pid_lo] = pid.to_be_bytes();
        out.extend_from_slice(&[
            SYNC_BYTE,
            0x40 | (pid_hi & 0x1F), // payload_unit_start_indicator
            pid_lo,
            0x10 | cc, // payload only
            0x00,      // pointer_field
        ]);
        let section_start = out.len();
        // section_length: bytes after the length field (5 header + body + CRC).
        let [len_hi, len_lo] = ((5 + body.len() + 4) as u16).to_be_bytes();
        let [ext_hi, ext_lo] = table_id_extension.to_be_bytes();
        out.extend_from_slice(&[
            table_id,
            0xB0 | (len_hi & 0x0F), // section_syntax_indicator, '0', reserved
            len_lo,
            ext_hi,
            ext_lo,
            0xC1 | ((version & 0x1F) << 1), // reserved, version, current_next_indicator
            0x00,                           // section_number
            0x00,                           // last_section_number
        ]);
        out.extend_from_slice(body);
        let crc = crc32_mpeg2(out.get(section_start..).unwrap_or_default());
        out.extend_from_slice(&crc.to_be_bytes());
        out.resize(packet_start + PACKET_SIZE, 0xFF);
    }
}

/// One PMT elementary stream entry without descriptors.
fn es_entry(stream_type: u8, pid: u16) -> [u8; 5] {
    let [hi, lo] = pid.to_be_bytes();
    [stream_type, 0xE0 | hi, lo, 0xF0, 0x00]
}

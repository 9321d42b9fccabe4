//! Transport stream writer checked against the independent `mpeg2ts` reader.

use super::*;
use mpeg2ts::es::StreamType;
use mpeg2ts::pes::{PesPacketReader, ReadPesPacket};
use mpeg2ts::ts::{ReadTsPacket, TsPacketReader, TsPayload};

fn both() -> TsMuxer {
    let mut muxer = TsMuxer::new();
    muxer.set_tracks(Tracks {
        video: true,
        audio: true,
    });
    muxer
}

#[test]
fn tables_parse_and_list_only_present_streams() {
    for (tracks, expect_pcr, expect_streams) in [
        (
            Tracks {
                video: true,
                audio: true,
            },
            VIDEO_PID,
            vec![
                (StreamType::H264, VIDEO_PID),
                (StreamType::AdtsAac, AUDIO_PID),
            ],
        ),
        (
            Tracks {
                video: false,
                audio: true,
            },
            AUDIO_PID,
            vec![(StreamType::AdtsAac, AUDIO_PID)],
        ),
        (
            Tracks {
                video: true,
                audio: false,
            },
            VIDEO_PID,
            vec![(StreamType::H264, VIDEO_PID)],
        ),
    ] {
        let mut muxer = TsMuxer::new();
        assert!(muxer.set_tracks(tracks));
        assert!(!muxer.set_tracks(tracks));
        let mut out = Vec::new();
        muxer.write_tables(&mut out);
        assert_eq!(out.len(), 2 * PACKET_SIZE);
        let mut reader = TsPacketReader::new(&out[..]);
        let pat = reader.read_ts_packet().unwrap().unwrap();
        match pat.payload {
            Some(TsPayload::Pat(pat)) => {
                assert_eq!(pat.table.len(), 1);
                assert_eq!(pat.table[0].program_map_pid.as_u16(), PMT_PID);
            }
            other => panic!("expected PAT, got {other:?}"),
        }
        let pmt = reader.read_ts_packet().unwrap().unwrap();
        match pmt.payload {
            Some(TsPayload::Pmt(pmt)) => {
                assert_eq!(pmt.pcr_pid.map(|p| p.as_u16()), Some(expect_pcr));
                assert_eq!(pmt.version_number.as_u8(), 1);
                let streams: Vec<_> = pmt
                    .es_info
                    .iter()
                    .map(|es| (es.stream_type, es.elementary_pid.as_u16()))
                    .collect();
                assert_eq!(streams, expect_streams);
            }
            other => panic!("expected PMT, got {other:?}"),
        }
    }
}

#[test]
fn every_payload_size_packs_into_whole_packets_and_reassembles() {
    let mut muxer = both();
    let mut out = Vec::new();
    muxer.write_tables(&mut out);
    let data: Vec<u8> = (0..1200u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut expected = Vec::new();
    for len in 0..=600usize {
        let kind = if len % 2 == 0 {
            StreamKind::Video
        } else {
            StreamKind::Audio
        };
        let pts = 900_000 + len as u64 * 3000;
        let frame = PesFrame {
            kind,
            pts,
            dts: if len % 3 == 0 { pts - 3000 } else { pts },
            random_access: len % 5 == 0,
        };
        // Split the payload into uneven chunks to exercise chunk crossing.
        let payload = &data[..len];
        let (a, rest) = payload.split_at(len / 3);
        let (b, c) = rest.split_at(rest.len() / 2);
        let before = out.len();
        muxer.write_pes(&mut out, &frame, [a, b, c]);
        assert_eq!((out.len() - before) % PACKET_SIZE, 0, "len {len}");
        expected.push((frame, payload.to_vec()));
    }

    // Continuity counters and adaptation flags, packet by packet.
    let mut reader = TsPacketReader::new(&out[..]);
    let mut last_cc = std::collections::HashMap::new();
    let mut rai_count = 0;
    let mut pcr_count = 0;
    while let Some(packet) = reader.read_ts_packet().unwrap() {
        let pid = packet.header.pid.as_u16();
        let cc = packet.header.continuity_counter.as_u8();
        if let Some(prev) = last_cc.insert(pid, cc) {
            assert_eq!(cc, (prev + 1) % 16, "pid {pid:#x}");
        }
        if let Some(af) = &packet.adaptation_field {
            rai_count += usize::from(af.random_access_indicator);
            if let Some(pcr) = af.pcr {
                assert_eq!(pid, VIDEO_PID, "PCR only on the video PID");
                pcr_count += 1;
                assert_eq!(pcr.as_u64() % 300, 0);
            }
        }
    }
    assert_eq!(
        rai_count,
        expected.iter().filter(|(f, _)| f.random_access).count()
    );
    assert_eq!(
        pcr_count,
        expected
            .iter()
            .filter(|(f, _)| f.kind == StreamKind::Video)
            .count()
    );

    // PES reassembly with PTS/DTS.
    let mut reader = PesPacketReader::new(TsPacketReader::new(&out[..]));
    let mut got = Vec::new();
    while let Some(pes) = reader.read_pes_packet().unwrap() {
        got.push(pes);
    }
    assert_eq!(got.len(), expected.len());
    // The reader completes unbounded (video) PES only when the next one on
    // the PID starts, so compare per stream.
    for kind in [StreamKind::Video, StreamKind::Audio] {
        let sid = match kind {
            StreamKind::Video => STREAM_ID_VIDEO,
            StreamKind::Audio => STREAM_ID_AUDIO,
        };
        let got: Vec<_> = got
            .iter()
            .filter(|p| p.header.stream_id.as_u8() == sid)
            .collect();
        let expected: Vec<_> = expected.iter().filter(|(f, _)| f.kind == kind).collect();
        assert_eq!(got.len(), expected.len());
        for (pes, (frame, payload)) in got.iter().zip(expected) {
            assert_eq!(pes.data, *payload, "{frame:?}");
            assert_eq!(pes.header.pts.unwrap().as_u64(), frame.pts);
            let dts = pes.header.dts.map(|d| d.as_u64());
            if frame.dts == frame.pts {
                assert_eq!(dts, None);
            } else {
                assert_eq!(dts, Some(frame.dts));
            }
            assert!(pes.header.data_alignment_indicator);
        }
    }
}

#[test]
fn timestamps_wrap_at_33_bits() {
    let mut muxer = both();
    let mut out = Vec::new();
    muxer.write_tables(&mut out);
    let near = (1u64 << 33) - 1000;
    let frame = PesFrame {
        kind: StreamKind::Video,
        pts: near + 3000, // past the wrap
        dts: near,
        random_access: true,
    };
    muxer.write_pes(&mut out, &frame, [&[1u8, 2, 3][..]]);
    let mut reader = PesPacketReader::new(TsPacketReader::new(&out[..]));
    let pes = reader.read_pes_packet().unwrap().unwrap();
    assert_eq!(pes.header.pts.unwrap().as_u64(), 2000);
    assert_eq!(pes.header.dts.unwrap().as_u64(), near);

    let mut reader = TsPacketReader::new(&out[..]);
    reader.read_ts_packet().unwrap();
    reader.read_ts_packet().unwrap();
    let packet = reader.read_ts_packet().unwrap().unwrap();
    let pcr = packet.adaptation_field.unwrap().pcr.unwrap().as_u64();
    assert_eq!(pcr, (near - PCR_LEAD_90K) * 300);
}

#[test]
fn continuity_counters_survive_table_rewrites() {
    let mut muxer = both();
    let mut out = Vec::new();
    for _ in 0..40 {
        muxer.write_tables(&mut out);
    }
    let mut reader = TsPacketReader::new(&out[..]);
    let mut i = 0u8;
    while let Some(pat) = reader.read_ts_packet().unwrap() {
        let pmt = reader.read_ts_packet().unwrap().unwrap();
        assert_eq!(pat.header.continuity_counter.as_u8(), i % 16);
        assert_eq!(pmt.header.continuity_counter.as_u8(), i % 16);
        i += 1;
    }
    assert_eq!(i, 40);
}

#[test]
fn large_audio_pes_uses_unbounded_length() {
    let mut muxer = both();
    let mut out = Vec::new();
    muxer.write_tables(&mut out);
    let big = vec![0xABu8; 70_000];
    let frame = PesFrame {
        kind: StreamKind::Audio,
        pts: 1000,
        dts: 1000,
        random_access: false,
    };
    muxer.write_pes(&mut out, &frame, [big.as_slice()]);
    assert_eq!(
        &out[2 * PACKET_SIZE + 4 + 4..2 * PACKET_SIZE + 4 + 6],
        &[0, 0]
    );
    let mut reader = PesPacketReader::new(TsPacketReader::new(&out[..]));
    assert_eq!(
        reader.read_pes_packet().unwrap().unwrap().data.len(),
        70_000
    );
}

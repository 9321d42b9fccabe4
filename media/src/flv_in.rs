//! Sans-IO reading of an FLV byte stream (an HTTP-FLV response) into tags, for the workers'
//! edge relay: bytes go in as they arrive, whole tags come out. Bounded: a tag body larger than
//! the reader's limit (at most the format's 24-bit `DataSize`) is refused before it is
//! buffered, so the buffer never holds more than one tag.

use bytes::{Buf, Bytes, BytesMut};

use crate::{Error, Result};

const FILE_HEADER_LEN: usize = 9;
const TAG_HEADER_LEN: usize = 11;
const PREVIOUS_TAG_SIZE_LEN: usize = 4;

/// One tag read: its type byte (8 audio, 9 video, 18 script), timestamp (ms) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    /// `TagType` (the low 5 bits of the first header byte).
    pub tag_type: u8,
    /// Timestamp with its extension byte, milliseconds.
    pub timestamp: u32,
    /// The tag's data.
    pub body: Bytes,
}

/// Reads an FLV stream: [`FlvTagReader::push`] bytes, then [`FlvTagReader::next_tag`] until
/// `None`.
#[derive(Debug)]
pub struct FlvTagReader {
    buf: BytesMut,
    /// `Some(flags)` once the file header and the first `PreviousTagSize` were read.
    header_flags: Option<u8>,
    max_body: usize,
}

impl FlvTagReader {
    /// A reader refusing tag bodies larger than `max_body` bytes (capped at the format's
    /// 16 MiB − 1).
    pub fn new(max_body: usize) -> Self {
        FlvTagReader {
            buf: BytesMut::new(),
            header_flags: None,
            max_body: max_body.min(crate::flv_out::MAX_TAG_BODY_LEN),
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The file header's flags byte (`0x04` audio, `0x01` video), once read.
    pub fn header_flags(&self) -> Option<u8> {
        self.header_flags
    }

    /// The next whole tag, `Ok(None)` when more bytes are needed, or an error for a stream
    /// that is not FLV or a tag over the limit (the stream cannot be read further).
    pub fn next_tag(&mut self) -> Result<Option<FlvTag>> {
        if self.header_flags.is_none() {
            if self.buf.len() < 3 {
                return Ok(None);
            }
            if &self.buf[..3] != b"FLV" {
                return Err(Error::FlvStream(
                    "the stream does not start with an FLV header".into(),
                ));
            }
            if self.buf.len() < FILE_HEADER_LEN {
                return Ok(None);
            }
            let offset = u32::from_be_bytes([self.buf[5], self.buf[6], self.buf[7], self.buf[8]]);
            if offset as usize != FILE_HEADER_LEN {
                return Err(Error::FlvStream(format!(
                    "FLV header size {offset}, expected {FILE_HEADER_LEN}"
                )));
            }
            if self.buf.len() < FILE_HEADER_LEN + PREVIOUS_TAG_SIZE_LEN {
                return Ok(None);
            }
            self.header_flags = Some(self.buf[4]);
            self.buf.advance(FILE_HEADER_LEN + PREVIOUS_TAG_SIZE_LEN);
        }
        if self.buf.len() < TAG_HEADER_LEN {
            return Ok(None);
        }
        let h = &self.buf[..TAG_HEADER_LEN];
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        if size > self.max_body {
            return Err(Error::FlvTagTooLarge(size));
        }
        let total = TAG_HEADER_LEN + size + PREVIOUS_TAG_SIZE_LEN;
        if self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        let tag_type = h[0] & 0x1F;
        let timestamp = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let mut tag = self.buf.split_to(total);
        tag.advance(TAG_HEADER_LEN);
        tag.truncate(size);
        Ok(Some(FlvTag {
            tag_type,
            timestamp,
            body: tag.freeze(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flv_out::{encode_tag, file_header, TagType};
    use proptest::prelude::*;

    fn stream(tags: &[(TagType, u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = file_header(true, true).to_vec();
        for (t, ts, body) in tags {
            out.extend_from_slice(&encode_tag(*t, *ts, body).unwrap());
        }
        out
    }

    #[test]
    fn reads_what_flv_out_writes_in_any_split() {
        let tags = vec![
            (TagType::Script, 0, b"meta".to_vec()),
            (TagType::Video, 0, vec![0x17, 0, 0, 0, 0]),
            (TagType::Audio, 0x01_23_45_67, vec![0xAF, 1, 9]),
        ];
        let bytes = stream(&tags);
        for split in 1..bytes.len() {
            let mut r = FlvTagReader::new(1 << 20);
            let mut got = Vec::new();
            for piece in bytes.chunks(split) {
                r.push(piece);
                while let Some(tag) = r.next_tag().unwrap() {
                    got.push(tag);
                }
            }
            assert_eq!(r.header_flags(), Some(0x05));
            let want: Vec<_> = tags
                .iter()
                .map(|(t, ts, b)| FlvTag {
                    tag_type: t.code(),
                    timestamp: *ts,
                    body: Bytes::from(b.clone()),
                })
                .collect();
            assert_eq!(got, want, "split {split}");
        }
    }

    #[test]
    fn refuses_what_is_not_flv_and_oversized_tags_before_buffering_them() {
        let mut r = FlvTagReader::new(1024);
        r.push(b"HTTP/1.1 200 OK");
        assert!(matches!(r.next_tag(), Err(Error::FlvStream(_))));
        let mut r = FlvTagReader::new(1024);
        let mut bytes = file_header(true, true).to_vec();
        bytes.extend_from_slice(&[9, 0x00, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0]);
        r.push(&bytes);
        assert!(matches!(r.next_tag(), Err(Error::FlvTagTooLarge(2048))));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut r = FlvTagReader::new(256);
            let mut input = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
            input.extend_from_slice(&bytes);
            r.push(&input);
            while let Ok(Some(tag)) = r.next_tag() {
                prop_assert!(tag.body.len() <= 256);
            }
        }
    }
}

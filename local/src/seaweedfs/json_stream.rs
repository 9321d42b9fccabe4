//! `weed filer.meta.tail`'s output, concatenated pretty-printed JSON objects and the odd
//! message, split into objects fed in pieces of any size.

use serde_json::Value;

/// Unparsed output kept at most (one filer event is a few KB; a huge file's chunk list more).
const MAX_PENDING_BYTES: usize = 64 << 20;
/// Longest piece of unexpected output put in a log line.
pub(super) const MAX_LOGGED_CHARS: usize = 500;

/// One piece of `weed filer.meta.tail`'s output.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum StreamItem {
    /// A JSON object (a filer event).
    Object(Value),
    /// Output that is no JSON object (a message, or a broken object), trimmed and truncated.
    Skipped(String),
}

/// Splits a byte stream of concatenated JSON objects, fed in pieces of any size. After
/// output that is no JSON, it resumes at the next `{` that starts a line (`weed` prints each
/// event from the start of a line; nested objects are indented).
#[derive(Debug, Default)]
pub(super) struct ConcatenatedJson {
    pending: Vec<u8>,
}

impl ConcatenatedJson {
    /// Adds `bytes`; returns the objects (and skipped output) completed by them.
    pub(super) fn push(&mut self, bytes: &[u8]) -> Vec<StreamItem> {
        self.pending.extend_from_slice(bytes);
        let mut items = Vec::new();
        let mut consumed = 0;
        loop {
            let rest = &self.pending[consumed..];
            let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<Value>();
            match values.next() {
                None => {
                    // only whitespace left
                    consumed = self.pending.len();
                    break;
                }
                Some(Ok(value)) => {
                    consumed += values.byte_offset();
                    items.push(if value.is_object() {
                        StreamItem::Object(value)
                    } else {
                        StreamItem::Skipped(truncate_chars(&value.to_string(), MAX_LOGGED_CHARS))
                    });
                }
                // the value goes on in bytes not read yet
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(_)) => {
                    let next_object = rest
                        .get(1..)
                        .and_then(|after| after.windows(2).position(|w| w == b"\n{"))
                        .map(|i| i + 1);
                    match next_object {
                        Some(newline) => {
                            push_skipped(&mut items, &rest[..newline]);
                            consumed += newline;
                        }
                        None => {
                            // no object starts yet: drop the complete lines, keep the last
                            // one (and its newline) to see where the next object starts
                            if let Some(newline) = rest.iter().rposition(|&b| b == b'\n') {
                                push_skipped(&mut items, &rest[..newline]);
                                consumed += newline;
                            }
                            break;
                        }
                    }
                }
            }
        }
        self.pending.drain(..consumed);
        if self.pending.len() > MAX_PENDING_BYTES {
            push_skipped(&mut items, &self.pending);
            self.pending.clear();
        }
        items
    }

    /// What is left at the end of the stream (an unfinished object or message), if anything.
    pub(super) fn finish(&mut self) -> Option<String> {
        let text = String::from_utf8_lossy(&self.pending).trim().to_owned();
        self.pending.clear();
        (!text.is_empty()).then(|| truncate_chars(&text, MAX_LOGGED_CHARS))
    }
}

fn push_skipped(items: &mut Vec<StreamItem>, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if !text.is_empty() {
        items.push(StreamItem::Skipped(truncate_chars(text, MAX_LOGGED_CHARS)));
    }
}

pub(super) fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seaweedfs::test_support::*;

    /// Reproducible chunk sizes from 1 to `max`, drawn from a generator seeded with `seed`.
    fn chunk_sizes(seed: u64, max: usize) -> impl FnMut() -> usize {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        move || rng.gen_range(1..=max)
    }

    /// Feeds `stream` in chunks whose sizes `next_size` gives; everything that came out.
    fn split(stream: &[u8], mut next_size: impl FnMut() -> usize) -> Vec<StreamItem> {
        let mut splitter = ConcatenatedJson::default();
        let mut items = Vec::new();
        let mut rest = stream;
        while !rest.is_empty() {
            let n = next_size().min(rest.len());
            items.extend(splitter.push(&rest[..n]));
            rest = &rest[n..];
        }
        if let Some(text) = splitter.finish() {
            items.push(StreamItem::Skipped(text));
        }
        items
    }

    fn objects_of(items: &[StreamItem]) -> Vec<Value> {
        items
            .iter()
            .filter_map(|i| match i {
                StreamItem::Object(v) => Some(v.clone()),
                StreamItem::Skipped(_) => None,
            })
            .collect()
    }

    fn skipped_of(items: &[StreamItem]) -> Vec<String> {
        items
            .iter()
            .filter_map(|i| match i {
                StreamItem::Skipped(t) => Some(t.clone()),
                StreamItem::Object(_) => None,
            })
            .collect()
    }

    fn three_samples() -> Vec<Value> {
        [NEW_M3U8, DIRECTORY_CREATED, DELETED]
            .iter()
            .map(|s| serde_json::from_str(s).unwrap())
            .collect()
    }

    #[test]
    fn seaweedfs_splitter_byte_by_byte() {
        // as weed prints them ("}\n{"), and with nothing between them ("}{")
        let with_newlines = [NEW_M3U8, DIRECTORY_CREATED, DELETED].concat();
        let packed = [NEW_M3U8.trim(), DIRECTORY_CREATED.trim(), DELETED.trim()].concat();
        for stream in [with_newlines, packed] {
            let items = split(stream.as_bytes(), || 1);
            assert_eq!(items.len(), 3, "{items:?}");
            assert_eq!(objects_of(&items), three_samples());
        }
    }

    #[test]
    fn seaweedfs_splitter_random_chunks() {
        let stream = [NEW_M3U8, DIRECTORY_CREATED, DELETED].concat();
        for seed in 1..=200u64 {
            let max = [2, 7, 64, 300, 5000][(seed % 5) as usize];
            let items = split(stream.as_bytes(), chunk_sizes(seed, max));
            assert_eq!(items.len(), 3, "seed {seed}: {items:?}");
            assert_eq!(objects_of(&items), three_samples(), "seed {seed}");
        }
        // all at once
        assert_eq!(
            objects_of(&split(stream.as_bytes(), || usize::MAX)),
            three_samples()
        );
    }

    #[test]
    fn seaweedfs_splitter_resyncs_after_garbage() {
        let broken_object = "{\n  \"directory\":  \"/buckets/hls/repl\n";
        let stream = [
            FILER_DOWN_MESSAGE,
            NEW_M3U8,
            "garbage line\nmore garbage {not json\n",
            DIRECTORY_CREATED,
            broken_object,
            "}} ] stray closers\n",
            DELETED,
            FILER_DOWN_MESSAGE,
        ]
        .concat();
        for seed in 1..=100u64 {
            let max = [1, 3, 50, 400, 100_000][(seed % 5) as usize];
            let items = split(stream.as_bytes(), chunk_sizes(seed, max));
            assert_eq!(
                objects_of(&items),
                three_samples(),
                "seed {seed}: {items:?}"
            );
            let skipped = skipped_of(&items).join("\n");
            assert_eq!(
                skipped.matches("subscribing filer meta change").count(),
                2,
                "seed {seed}: {skipped}"
            );
            assert!(skipped.contains("garbage line"), "seed {seed}: {skipped}");
            assert!(skipped.contains("stray closers"), "seed {seed}: {skipped}");
        }
    }

    #[test]
    fn seaweedfs_splitter_reports_an_unfinished_object_at_the_end() {
        let mut splitter = ConcatenatedJson::default();
        let cut = NEW_M3U8.len() / 2;
        assert!(splitter.push(&NEW_M3U8.as_bytes()[..cut]).is_empty());
        let rest = splitter.finish().unwrap();
        assert!(rest.starts_with("{\n  \"directory\""), "{rest}");
        assert_eq!(splitter.finish(), None);
        // a message without its newline yet stays until it is complete
        assert!(splitter.push(b"tail: half a mess").is_empty());
        let items = splitter.push(format!("age\n{NEW_M3U8}").as_bytes());
        assert_eq!(skipped_of(&items), ["tail: half a message"]);
        assert_eq!(objects_of(&items).len(), 1);
        // a value that is no object is skipped
        assert_eq!(splitter.push(b"42 "), [StreamItem::Skipped("42".into())]);
    }

    #[test]
    fn seaweedfs_truncate_chars() {
        assert_eq!(truncate_chars("éééé", 2), "éé…");
    }
}

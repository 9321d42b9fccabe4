//! [`FsSink`]: objects as files under a root folder (benchmarks, local debugging).

use super::{ObjectPut, SegmentSink, SinkError};
use async_trait::async_trait;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes each object to `root/key`, atomically: the body goes to a temporary file in the same
/// folder, which is then renamed over the target, so a reader never sees half a file. Parent
/// folders are created as needed. No fsync (this sink is for benchmarks and local use).
#[derive(Debug)]
pub struct FsSink {
    root: PathBuf,
    tmp_seq: AtomicU64,
}

impl FsSink {
    /// A sink writing under `root` (created on first write if missing).
    pub fn new(root: PathBuf) -> FsSink {
        FsSink {
            root,
            tmp_seq: AtomicU64::new(0),
        }
    }

    /// The folder objects are written under.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// `key` as a relative path made only of normal components (no `..`, `.`, root or prefix).
fn checked_relative(key: &str) -> Result<&Path, &'static str> {
    if key.is_empty() {
        return Err("empty key");
    }
    if key.starts_with('/') || key.starts_with('\\') {
        return Err("key must not start with '/'");
    }
    if key.split(['/', '\\']).any(|part| part == "..") {
        return Err("key must not contain '..' components");
    }
    if key.split(['/', '\\']).any(|part| part == ".") {
        return Err("key must not contain '.' components");
    }
    let path = Path::new(key);
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err("key must be a relative path of plain names");
    }
    Ok(path)
}

fn write_atomically(target: &Path, tmp: &Path, body: &[u8]) -> io::Result<()> {
    let written = match std::fs::write(tmp, body) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = tmp.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(tmp, body)
        }
        other => other,
    };
    let result = written.and_then(|()| std::fs::rename(tmp, target));
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

#[async_trait]
impl SegmentSink for FsSink {
    async fn put(&self, object: &ObjectPut) -> Result<(), SinkError> {
        let fail = |message: String, retryable: bool| SinkError {
            key: object.key.clone(),
            message,
            retryable,
        };
        let relative = checked_relative(&object.key).map_err(|m| fail(m.to_string(), false))?;
        let target = self.root.join(relative);
        let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
            return Err(fail("key has no file name".into(), false));
        };
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}-{seq}.tmp", std::process::id()));
        let tmp = dir.join(tmp_name);
        let body = object.body.clone();
        let target_for_task = target.clone();
        // One blocking-pool hop for write + rename (tokio::fs would take one per call).
        match tokio::task::spawn_blocking(move || write_atomically(&target_for_task, &tmp, &body))
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(fail(format!("{}: {e}", target.display()), true)),
            Err(e) => Err(fail(format!("write task failed: {e}"), true)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn object(key: &str, body: &'static [u8]) -> ObjectPut {
        ObjectPut {
            key: key.into(),
            body: Bytes::from_static(body),
            content_type: "video/mp2t",
            cache_control: "max-age=1",
            metadata: Vec::new(),
        }
    }

    #[tokio::test]
    async fn writes_creates_parents_and_overwrites_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FsSink::new(dir.path().join("root"));
        sink.put(&object("live/a/1/index.m3u8", b"one"))
            .await
            .unwrap();
        sink.put(&object("live/a/1/index.m3u8", b"two!"))
            .await
            .unwrap();
        sink.put(&object("live/a/1/s/0.ts", b"seg")).await.unwrap();
        let folder = dir.path().join("root/live/a/1");
        assert_eq!(std::fs::read(folder.join("index.m3u8")).unwrap(), b"two!");
        assert_eq!(std::fs::read(folder.join("s/0.ts")).unwrap(), b"seg");
        let mut names: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["index.m3u8", "s"], "no temporary files left behind");
    }

    #[tokio::test]
    async fn a_reader_never_sees_a_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let sink = std::sync::Arc::new(FsSink::new(dir.path().to_path_buf()));
        let big_a = Bytes::from(vec![b'a'; 1 << 20]);
        let big_b = Bytes::from(vec![b'b'; 1 << 20]);
        sink.put(&ObjectPut {
            body: big_a.clone(),
            ..object("k.ts", b"")
        })
        .await
        .unwrap();
        let path = dir.path().join("k.ts");
        let reader = std::thread::spawn(move || {
            for _ in 0..200 {
                let read = std::fs::read(&path).unwrap();
                assert_eq!(read.len(), 1 << 20, "partial file seen");
                assert!(read.iter().all(|&b| b == read[0]), "mixed file seen");
            }
        });
        for i in 0..50 {
            let body = if i % 2 == 0 { &big_b } else { &big_a };
            sink.put(&ObjectPut {
                body: body.clone(),
                ..object("k.ts", b"")
            })
            .await
            .unwrap();
        }
        reader.join().unwrap();
    }

    #[tokio::test]
    async fn rejects_escaping_keys_as_not_retryable() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FsSink::new(dir.path().join("root"));
        for key in [
            "../x.ts",
            "a/../../x.ts",
            "a/..",
            "/etc/passwd",
            "",
            "./a.ts",
            "a/./b.ts",
            "..",
        ] {
            let err = sink.put(&object(key, b"x")).await.unwrap_err();
            assert!(!err.retryable, "{key}: {err}");
            assert_eq!(err.key, key);
        }
        assert!(!dir.path().join("x.ts").exists());
        // Names that merely contain dots are fine.
        sink.put(&object("a/..b/c..ts", b"x")).await.unwrap();
        assert!(dir.path().join("root/a/..b/c..ts").exists());
    }

    #[tokio::test]
    async fn io_errors_are_retryable() {
        let dir = tempfile::tempdir().unwrap();
        // The root is a file, so no folder can be created under it.
        let root = dir.path().join("file");
        std::fs::write(&root, b"").unwrap();
        let sink = FsSink::new(root);
        let err = sink.put(&object("a/b.ts", b"x")).await.unwrap_err();
        assert!(err.retryable, "{err}");
        assert!(err.message.contains("b.ts"), "{err}");
    }
}

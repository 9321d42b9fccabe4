//! [`FsSink`]: objects as files under a root folder (benchmarks, local debugging).

use super::{MediaObjects, ObjectError, ObjectHead, ObjectPut, PutCondition, StoredObject};
use async_trait::async_trait;
use bytes::Bytes;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use zhibo_store::media_objects::{Listing, MAX_LISTED};

/// Writes each object to `root/key`, atomically: the body goes to a temporary file in the same
/// folder, which is then renamed over the target, so a reader never sees half a file. Parent
/// folders are created as needed. No fsync (this sink is for benchmarks and local use).
#[derive(Debug)]
pub struct FsSink {
    root: PathBuf,
    tmp_seq: AtomicU64,
    /// Held by a conditional write from its check to its rename.
    conditional: Arc<Mutex<()>>,
}

impl FsSink {
    /// A sink writing under `root` (created on first write if missing).
    pub fn new(root: PathBuf) -> FsSink {
        FsSink {
            root,
            tmp_seq: AtomicU64::new(0),
            conditional: Arc::new(Mutex::new(())),
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

/// The sidecar file holding an object's user metadata: `.{name}.meta` next to it (hidden
/// names are never listed as objects).
fn meta_path(target: &Path) -> Option<PathBuf> {
    let name = target.file_name()?;
    let mut meta = std::ffi::OsString::from(".");
    meta.push(name);
    meta.push(".meta");
    Some(target.with_file_name(meta))
}

/// A content hash in ETag form (quoted hex).
fn etag_of(body: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    format!("\"{:016x}-{}\"", h.finish(), body.len())
}

fn read_head(target: &Path) -> io::Result<Option<(Vec<u8>, ObjectHead)>> {
    let body = match std::fs::read(target) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let metadata = meta_path(target)
        .and_then(|m| std::fs::read(m).ok())
        .and_then(|raw| serde_json::from_slice::<Vec<(String, String)>>(&raw).ok())
        .unwrap_or_default();
    let head = ObjectHead {
        etag: etag_of(&body),
        size: body.len() as u64,
        metadata,
    };
    Ok(Some((body, head)))
}

impl FsSink {
    fn target(&self, key: &str) -> Result<PathBuf, ObjectError> {
        let relative = checked_relative(key).map_err(|m| ObjectError::new(key, m, false))?;
        Ok(self.root.join(relative))
    }
}

#[async_trait]
impl MediaObjects for FsSink {
    async fn put(&self, object: &ObjectPut) -> Result<Option<String>, ObjectError> {
        let fail = |message: String, retryable: bool| {
            ObjectError::new(object.key.clone(), message, retryable)
        };
        let target = self.target(&object.key)?;
        let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
            return Err(fail("key has no file name".into(), false));
        };
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}-{seq}.tmp", std::process::id()));
        let tmp = dir.join(tmp_name);
        let body = object.body.clone();
        let condition = object.condition.clone();
        let metadata: Vec<(String, String)> = object
            .metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let target_for_task = target.clone();
        let lock = self.conditional.clone();
        // One blocking-pool hop for the whole write (tokio::fs would take one per call); a
        // conditional write holds the sink's lock from its check to its rename.
        let written = tokio::task::spawn_blocking(move || {
            let _guard = (condition != PutCondition::None)
                .then(|| lock.lock().unwrap_or_else(|e| e.into_inner()));
            let current = read_head(&target_for_task)?.map(|(_, h)| h.etag);
            let holds = match (&condition, &current) {
                (PutCondition::None, _) | (PutCondition::Absent, None) => true,
                (PutCondition::Match(want), Some(have)) => want == have,
                _ => false,
            };
            if !holds {
                return Ok(None);
            }
            if let Some(meta) = meta_path(&target_for_task) {
                if metadata.is_empty() {
                    let _ = std::fs::remove_file(meta);
                } else {
                    let raw = serde_json::to_vec(&metadata).unwrap_or_default();
                    let mut meta_tmp = tmp.clone().into_os_string();
                    meta_tmp.push(".meta");
                    write_atomically(&meta, Path::new(&meta_tmp), &raw)?;
                }
            }
            write_atomically(&target_for_task, &tmp, &body)?;
            Ok::<_, io::Error>(Some(etag_of(&body)))
        })
        .await;
        match written {
            Ok(Ok(Some(etag))) => Ok(Some(etag)),
            Ok(Ok(None)) => Err(ObjectError::precondition(
                &object.key,
                format!("{}: {:?} does not hold", target.display(), object.condition),
            )),
            Ok(Err(e)) => Err(fail(format!("{}: {e}", target.display()), true)),
            Err(e) => Err(fail(format!("write task failed: {e}"), true)),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<StoredObject>, ObjectError> {
        let target = self.target(key)?;
        let read = tokio::task::spawn_blocking(move || read_head(&target)).await;
        match read {
            Ok(Ok(found)) => Ok(found.map(|(body, head)| StoredObject {
                body: Bytes::from(body),
                head,
            })),
            Ok(Err(e)) => Err(ObjectError::new(key, e.to_string(), true)),
            Err(e) => Err(ObjectError::new(
                key,
                format!("read task failed: {e}"),
                true,
            )),
        }
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectHead>, ObjectError> {
        Ok(self.get(key).await?.map(|o| o.head))
    }

    async fn list(&self, prefix: &str, delimited: bool) -> Result<Listing, ObjectError> {
        let (dir_part, name_part) = match prefix.rfind('/') {
            Some(i) => (&prefix[..i], &prefix[i + 1..]),
            None => ("", prefix),
        };
        let dir = if dir_part.is_empty() {
            self.root.clone()
        } else {
            self.target(dir_part)?
        };
        let (dir_key, name_part) = (
            if dir_part.is_empty() {
                String::new()
            } else {
                format!("{dir_part}/")
            },
            name_part.to_string(),
        );
        let listed = tokio::task::spawn_blocking(move || {
            let mut listing = Listing::default();
            let mut stack = vec![(dir, dir_key, true)];
            while let Some((dir, key_prefix, top)) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(e) => e,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                for entry in entries {
                    let entry = entry?;
                    let Ok(name) = entry.file_name().into_string() else {
                        continue;
                    };
                    if name.starts_with('.') || (top && !name.starts_with(&name_part)) {
                        continue;
                    }
                    let key = format!("{key_prefix}{name}");
                    if entry.file_type()?.is_dir() {
                        if delimited {
                            listing.prefixes.push(format!("{key}/"));
                        } else {
                            stack.push((entry.path(), format!("{key}/"), false));
                        }
                    } else {
                        listing.objects.push((key, entry.metadata()?.len()));
                    }
                }
                if listing.objects.len() + listing.prefixes.len() > MAX_LISTED {
                    return Err(io::Error::other(format!("more than {MAX_LISTED} keys")));
                }
            }
            listing.objects.sort();
            listing.prefixes.sort();
            Ok(listing)
        })
        .await;
        match listed {
            Ok(Ok(listing)) => Ok(listing),
            Ok(Err(e)) => Err(ObjectError::new(prefix, e.to_string(), true)),
            Err(e) => Err(ObjectError::new(
                prefix,
                format!("list task failed: {e}"),
                true,
            )),
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
            condition: PutCondition::None,
        }
    }

    #[tokio::test]
    async fn conditional_writes_metadata_and_listings_behave_as_s3() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FsSink::new(dir.path().join("root"));
        let mut first = object("live/a/1/index.m3u8", b"one");
        first.condition = PutCondition::Absent;
        first.metadata = vec![("zhibo-session", "s1".into())];
        let etag = sink.put(&first).await.unwrap().unwrap();
        let again = sink.put(&first).await.unwrap_err();
        assert!(again.precondition_failed, "{again}");
        let got = sink.get("live/a/1/index.m3u8").await.unwrap().unwrap();
        assert_eq!(got.body.as_ref(), b"one");
        assert_eq!(got.head.etag, etag);
        assert_eq!(
            got.head.metadata,
            [("zhibo-session".to_string(), "s1".to_string())]
        );
        let mut next = object("live/a/1/index.m3u8", b"two");
        next.condition = PutCondition::Match(etag.clone());
        sink.put(&next).await.unwrap();
        let stale = sink.put(&next).await.unwrap_err();
        assert!(stale.precondition_failed, "the old ETag no longer matches");
        sink.put(&object("live/a/1/s1/0.ts", b"seg")).await.unwrap();
        sink.put(&object("live/a/1/s2/0.ts", b"seg2"))
            .await
            .unwrap();
        let top = sink.list("live/a/1/", true).await.unwrap();
        assert_eq!(top.prefixes, ["live/a/1/s1/", "live/a/1/s2/"]);
        assert_eq!(top.objects, [("live/a/1/index.m3u8".to_string(), 3)]);
        let all = sink.list("live/a/1/", false).await.unwrap();
        assert_eq!(all.objects.len(), 3, "{all:?}");
        assert!(sink.get("live/a/1/none").await.unwrap().is_none());
        assert!(sink
            .list("nothing/", true)
            .await
            .unwrap()
            .objects
            .is_empty());
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

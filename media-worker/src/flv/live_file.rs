//! A live's latest batch of FLV bytes in an in-memory file (`memfd_create`), sent to each
//! viewer's socket with `sendfile(2)`: the kernel takes references to the file's pages for
//! every viewer instead of copying the batch from user space once per viewer, as nginx does
//! for static files (bench/README.md, `floor-sendfile`: 20–25 % less CPU than `writev`).
//!
//! Only whole batches go through the file, within one flush: a viewer whose socket takes less
//! gets the rest queued as ordinary bytes. So no offset outlives its batch, and the file can
//! start over (a new file) whenever it has grown past [`ROTATE_BYTES`]: bytes already handed
//! to sockets stay referenced by them, whatever happens to the file.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};

use tokio::net::TcpStream;

/// The file starts over past this size, so a live holds at most about this much of it.
pub const ROTATE_BYTES: u64 = 1024 * 1024;

/// One live's file.
pub struct LiveFile {
    file: File,
    len: u64,
}

impl LiveFile {
    /// A new, empty in-memory file.
    pub fn create() -> io::Result<LiveFile> {
        // SAFETY: a valid NUL-terminated name and flags; the result is checked.
        let fd = unsafe { libc::memfd_create(c"zhibo-flv".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and nothing else owns it.
        let file = unsafe { File::from_raw_fd(fd) };
        Ok(LiveFile { file, len: 0 })
    }

    /// Appends `bytes` (to a new file when this one has grown past [`ROTATE_BYTES`]): the
    /// offset they start at.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<u64> {
        if self.len + bytes.len() as u64 > ROTATE_BYTES && self.len > 0 {
            *self = LiveFile::create()?;
        }
        let at = self.len;
        if let Err(e) = self.file.write_all(bytes) {
            // Whatever was written is unusable: start over on the next batch.
            self.len = ROTATE_BYTES;
            return Err(e);
        }
        self.len += bytes.len() as u64;
        Ok(at)
    }

    /// Bytes in the current file.
    pub fn bytes(&self) -> u64 {
        self.len
    }

    /// One non-blocking `sendfile` of `len` bytes at `offset` to `socket`: the bytes sent.
    pub fn send_now(&self, socket: &TcpStream, offset: u64, len: usize) -> io::Result<usize> {
        let mut off = libc::off_t::try_from(offset).map_err(io::Error::other)?;
        loop {
            // SAFETY: both descriptors are open for the duration of the call and `off` is a
            // valid, exclusive pointer.
            let n =
                unsafe { libc::sendfile(socket.as_raw_fd(), self.file.as_raw_fd(), &mut off, len) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn batches_reach_the_socket_byte_for_byte_across_rotations() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut got = Vec::new();
            c.read_to_end(&mut got).await.unwrap();
            got
        });
        let (server, _) = listener.accept().await.unwrap();
        let mut file = LiveFile::create().unwrap();
        let mut sent = Vec::new();
        let mut offsets = Vec::new();
        for i in 0..40u32 {
            let batch: Vec<u8> = (0..60_000u32).map(|j| (i * 7 + j) as u8).collect();
            let at = file.append(&batch).unwrap();
            offsets.push(at);
            let mut done = 0;
            while done < batch.len() {
                server.writable().await.unwrap();
                match file.send_now(&server, at + done as u64, batch.len() - done) {
                    Ok(n) => done += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => panic!("sendfile: {e}"),
                }
            }
            sent.extend_from_slice(&batch);
        }
        drop(server);
        assert_eq!(client.await.unwrap(), sent);
        // 40 batches of 60 kB went through several files.
        assert!(
            offsets.iter().filter(|&&o| o == 0).count() > 1,
            "{offsets:?}"
        );
        assert!(offsets.iter().all(|&o| o + 60_000 <= ROTATE_BYTES));
    }
}

//! Socket options the worker sets on its TCP connections, and the one read that goes around
//! tokio's readiness tracking (a paced publisher's, see [`crate::rtmp::connection`]).

use std::os::fd::AsRawFd;

use tokio::net::TcpStream;

/// Sets a connection's socket send buffer (`SO_SNDBUF`; `ZHIBO_HTTP_SNDBUF_KB`). The kernel
/// doubles the value for its bookkeeping and stops autotuning this socket.
pub fn set_send_buffer(stream: &TcpStream, bytes: usize) -> std::io::Result<()> {
    set_int_option(stream, libc::SO_SNDBUF, bytes)
}

/// Sets how many received bytes make the socket readable (`SO_RCVLOWAT`; 1 is the default).
/// Below it, arriving data wakes nothing (no epoll event): a paced reader raises it so its
/// publisher's every write does not wake the runtime between reads, and lowers it back to 1 to
/// read as data comes. The kernel caps it at half the largest receive buffer; a lowered mark
/// with enough data queued signals readable at once.
pub fn set_receive_low_water(stream: &TcpStream, bytes: usize) -> std::io::Result<()> {
    set_int_option(stream, libc::SO_RCVLOWAT, bytes.max(1))
}

/// Reads what the socket holds now, without waiting and whatever tokio believes about its
/// readiness (`TcpStream::try_read` does not even ask the kernel unless an event said
/// readable, and a raised [`set_receive_low_water`] holds those events back). `Ok(0)`: the
/// peer closed; `WouldBlock`: nothing there.
///
/// Tokio's readiness is not cleared by this read: a reader that goes back to awaiting
/// `readable()` may be woken once for nothing, and then clears it with `try_read`.
pub fn recv_now(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: recv writes at most `buf.len()` bytes into `buf`, which is live and exclusively
    // borrowed for the call, from a descriptor `stream` owns for the duration of the call.
    let n = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}

fn set_int_option(stream: &TcpStream, name: libc::c_int, value: usize) -> std::io::Result<()> {
    let value = libc::c_int::try_from(value).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a live local, on a socket
    // descriptor `stream` owns for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    #[tokio::test]
    async fn below_the_low_water_mark_data_is_read_but_wakes_no_reader() {
        let (mut writer, reader) = pair().await;
        set_receive_low_water(&reader, 64 * 1024).unwrap();
        writer.write_all(&[7u8; 1000]).await.unwrap();
        // The bytes are there for a direct read...
        let mut buf = vec![0u8; 4096];
        let mut got = 0;
        while got < 1000 {
            match recv_now(&reader, &mut buf[got..]) {
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    tokio::task::yield_now().await
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(&buf[..1000], &[7u8; 1000][..]);
        assert_eq!(
            recv_now(&reader, &mut buf).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
        // (tokio's own read clears the readiness an earlier event may have left)
        assert_eq!(
            reader.try_read(&mut buf).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
        // ...yet a reader awaiting readiness is not woken by less than the mark,
        writer.write_all(&[8u8; 1000]).await.unwrap();
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(200), reader.readable()).await;
        assert!(waited.is_err(), "woken below the low-water mark");
        // and is woken once the mark comes down to what is queued.
        set_receive_low_water(&reader, 1).unwrap();
        reader.readable().await.unwrap();
        assert_eq!(recv_now(&reader, &mut buf).unwrap(), 1000);
        // A closed peer reads as 0 whatever the mark.
        set_receive_low_water(&reader, 64 * 1024).unwrap();
        drop(writer);
        reader.readable().await.unwrap();
        assert_eq!(recv_now(&reader, &mut buf).unwrap(), 0);
    }
}

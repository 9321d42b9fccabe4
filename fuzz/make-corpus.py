#!/usr/bin/env python3
"""Seed corpora for the cargo-fuzz targets in this folder.

rtmp_ingest: real RTMP publish byte streams. Starts the media worker (auth off, filesystem
sink, free local ports), puts a recording TCP proxy in front of it and publishes a few short
ffmpeg test streams through the proxy. What the publisher sent after the 3073 handshake bytes
(C0+C1+C2; the fuzz target supplies its own) is cut to --max-bytes and saved in the target's
input format (`len: u8, bytes[len]` per socket read, `len == 0` = the rest in one read), both
as the reads the proxy actually saw and as one read.

chunk_guard: the same recorded streams after a flags byte (1: publish authorized), and, like
rtmp_ingest, hostile AMF seeds that need no worker: nested strict arrays, objects and ECMA arrays
(40 to 13,000 levels), and command/data messages near and above the 64 KiB cap.

flv_segmenter: the tags of media/tests/fixtures/tiny.flv and of the same ffmpeg test streams
written to FLV files, as `kind: u8 (0 video, 1 audio), timestamp: u32 LE, len: u16 LE, body`.

Needs python3 >= 3.8, ffmpeg with libx264 and aac, and a built worker:
    cargo build -p zhibo-media-worker        # from the repository root
    fuzz/make-corpus.py                      # writes fuzz/corpus/{rtmp_ingest,flv_segmenter}
"""

import argparse
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HANDSHAKE_LEN = 1 + 1536 + 1536

LAVFI_VIDEO = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"]
LAVFI_AUDIO = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25",
        "-pix_fmt", "yuv420p", "-b:v", "300k"]
AAC = ["-c:a", "aac", "-b:a", "64k"]

# name -> ffmpeg input and codec arguments (the output part is added per use)
VARIANTS = {
    "h264_aac": LAVFI_VIDEO + LAVFI_AUDIO + X264 + AAC,
    "h264_only": LAVFI_VIDEO + X264 + ["-an"],
    "aac_only": LAVFI_AUDIO + AAC + ["-vn"],
    "h264_aac_mono_22k": LAVFI_VIDEO + LAVFI_AUDIO + X264 + AAC + ["-ac", "1", "-ar", "22050"],
    # codecs the worker does not remux: exercises the "unsupported" paths
    "flv1_mp3": LAVFI_VIDEO + LAVFI_AUDIO + ["-c:v", "flv", "-c:a", "libmp3lame", "-ar", "44100"],
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout, proc):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the worker exited early (code %s)" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the worker did not listen on %d within %ds" % (port, timeout))


class RecordingProxy:
    """Forwards 127.0.0.1:listen_port to 127.0.0.1:upstream_port and records, per connection,
    the sizes and bytes of every client->server read."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.sessions = []  # list of lists of bytes (one entry per read)
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            reads = []
            with self.lock:
                self.sessions.append(reads)
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pipe, args=(client, upstream, reads), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None), daemon=True).start()

    @staticmethod
    def _pipe(src, dst, record):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record is not None:
                    record.append(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def take_last(self):
        with self.lock:
            return self.sessions[-1] if self.sessions else None


def strip_handshake(reads, max_bytes):
    """Drops the first HANDSHAKE_LEN bytes, keeps at most max_bytes, preserves read boundaries."""
    out, skip, left = [], HANDSHAKE_LEN, max_bytes
    for r in reads:
        if skip >= len(r):
            skip -= len(r)
            continue
        r = r[skip:]
        skip = 0
        r = r[:left]
        if r:
            out.append(r)
            left -= len(r)
        if left == 0:
            break
    return out


def frame_reads(reads):
    """`len: u8, bytes` per read; reads over 255 bytes are split (a socket may return less)."""
    out = bytearray()
    for r in reads:
        for i in range(0, len(r), 255):
            piece = r[i:i + 255]
            out.append(len(piece))
            out += piece
    return bytes(out)


def rtmp_message(csid, type_id, payload, chunk_size):
    """One RTMP message: a type-0 chunk header on csid (< 64), then type-3 continuations."""
    out = bytearray([csid, 0, 0, 0]) + struct.pack(">I", len(payload))[1:] + bytes([type_id, 1, 0, 0, 0])
    for i in range(0, max(len(payload), 1), chunk_size):
        if i:
            out.append(0xC0 | csid)
        out += payload[i:i + chunk_size]
    return bytes(out)


def amf_string(text):
    data = text.encode()
    return b"\x02" + struct.pack(">H", len(data)) + data


def hostile_amf_seeds():
    """name -> chunk stream after the handshake: deep and large AMF values."""
    set_chunk_size = rtmp_message(2, 1, struct.pack(">I", 4096), 128)
    command = amf_string("connect") + b"\x00" + struct.pack(">d", 1.0)
    levels = {
        "strict": lambda n: b"\x0a\x00\x00\x00\x01" * n + b"\x05",
        "object": lambda n: b"\x03\x00\x01k" * n + b"\x05",
        "ecma": lambda n: b"\x08\x00\x00\x00\x01\x00\x01k" * n + b"\x05",
    }
    seeds = {}
    for kind, make in levels.items():
        for n in (31, 33, 40, 1000, 13000):
            body = command + make(n)
            seeds["deep_%s_%d" % (kind, n)] = set_chunk_size + rtmp_message(3, 20, body, 4096)
    seeds["deep_amf3_command"] = set_chunk_size + rtmp_message(3, 17, b"\x00" + command + levels["strict"](40), 4096)
    seeds["deep_data"] = set_chunk_size + rtmp_message(4, 18, amf_string("@setDataFrame") + levels["ecma"](40), 4096)
    for size in (8 * 1024, 60 * 1024, 70 * 1024):
        seeds["large_command_%d" % size] = set_chunk_size + rtmp_message(
            3, 20, command + b"\x05" + amf_string("x" * 60000) * (size // 60000) + amf_string("y" * (size % 60000)), 4096)
    return seeds


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    print("  %-60s %7d bytes" % (os.path.relpath(path, ROOT), len(data)))


def flv_tags(data):
    """(tag_type, timestamp_ms, body) of an FLV file."""
    if data[:3] != b"FLV":
        raise ValueError("not an FLV file")
    pos = struct.unpack(">I", data[5:9])[0] + 4  # header, then PreviousTagSize0
    while pos + 11 <= len(data):
        tag_type = data[pos] & 0x1F
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        ts = int.from_bytes(data[pos + 4:pos + 7], "big") | (data[pos + 7] << 24)
        body = data[pos + 11:pos + 11 + size]
        pos += 11 + size + 4
        yield tag_type, ts, body


def segmenter_input(flv, max_bytes):
    out = bytearray()
    for tag_type, ts, body in flv_tags(flv):
        if tag_type not in (8, 9) or len(body) > 0xFFFF:
            continue
        rec = bytes([0 if tag_type == 9 else 1]) + struct.pack("<IH", ts, len(body)) + body
        if len(out) + len(rec) > max_bytes:
            break
        out += rec
    return bytes(out)


def ffmpeg(args, output, seconds, realtime):
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y"] + \
          (["-re"] if realtime else []) + args + ["-t", str(seconds), "-f", "flv", output]
    return subprocess.run(cmd, timeout=60 + 4 * seconds).returncode


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", default=os.path.join(ROOT, "target", "debug", "zhibo-media-worker"),
                    help="worker binary (default: target/debug/zhibo-media-worker)")
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"), help="corpus root (default: fuzz/corpus)")
    ap.add_argument("--seconds", type=float, default=2, help="length of each test stream")
    ap.add_argument("--max-bytes", type=int, default=64 * 1024, help="cut each seed to this size")
    ap.add_argument("--small-bytes", type=int, default=4 * 1024,
                    help="also save a seed cut to this size (commands + first frames; fast to run)")
    args = ap.parse_args()

    rtmp_dir = os.path.join(args.out, "rtmp_ingest")
    guard_dir = os.path.join(args.out, "chunk_guard")
    seg_dir = os.path.join(args.out, "flv_segmenter")
    for d in (rtmp_dir, guard_dir, seg_dir):
        os.makedirs(d, exist_ok=True)

    for name, stream in hostile_amf_seeds().items():
        write(os.path.join(rtmp_dir, name), b"\x00" + stream)
        write(os.path.join(guard_dir, name + "_preauth"), b"\x00\x00" + stream)
        write(os.path.join(guard_dir, name), b"\x01\x00" + stream)

    fixture = os.path.join(ROOT, "media", "tests", "fixtures", "tiny.flv")
    if os.path.exists(fixture):
        with open(fixture, "rb") as f:
            write(os.path.join(seg_dir, "tiny_flv"), segmenter_input(f.read(), args.max_bytes))

    if not os.access(args.worker, os.X_OK):
        raise SystemExit("%s not found: run `cargo build -p zhibo-media-worker` first" % args.worker)

    with tempfile.TemporaryDirectory(prefix="zhibo-fuzz-corpus-") as tmp:
        rtmp_port, http_port = free_port(), free_port()
        env = dict(os.environ,
                   ZHIBO_PUBLISH_AUTH="off", ZHIBO_SINK="fs", ZHIBO_FS_SINK_DIR=os.path.join(tmp, "hls"),
                   ZHIBO_SPILL_DIR=os.path.join(tmp, "spill"),
                   ZHIBO_RTMP_ADDR="127.0.0.1:%d" % rtmp_port, ZHIBO_HTTP_ADDR="127.0.0.1:%d" % http_port,
                   ZHIBO_SEGMENT_TARGET_MS="500", RUST_LOG="warn")
        env.pop("ZHIBO_HOOK_URL", None)
        log = open(os.path.join(tmp, "worker.log"), "wb")
        worker = subprocess.Popen([args.worker], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_port(rtmp_port, 30, worker)
            proxy = RecordingProxy(rtmp_port)
            for i, (name, ff_args) in enumerate(VARIANTS.items(), start=1):
                url = "rtmp://127.0.0.1:%d/live/fuzz_%d" % (proxy.port, i)
                rc = ffmpeg(ff_args, url, args.seconds, True)
                time.sleep(0.3)  # let the proxy see the end of the connection
                reads = proxy.take_last()
                if rc != 0 or not reads:
                    print("  %s: ffmpeg exited %s, %s reads recorded; skipped" % (name, rc, len(reads or [])))
                    continue
                body = strip_handshake(reads, args.max_bytes)
                raw = b"".join(body)
                write(os.path.join(rtmp_dir, name + "_reads"), frame_reads(body))
                write(os.path.join(rtmp_dir, name + "_one_read"), b"\x00" + raw)
                write(os.path.join(rtmp_dir, name + "_small"), frame_reads(strip_handshake(reads, args.small_bytes)))
                write(os.path.join(guard_dir, name + "_reads"), b"\x01" + frame_reads(body))

                flv = os.path.join(tmp, name + ".flv")
                if ffmpeg(ff_args, flv, args.seconds, False) == 0:
                    with open(flv, "rb") as f:
                        write(os.path.join(seg_dir, name), segmenter_input(f.read(), args.max_bytes))
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=40)
            except subprocess.TimeoutExpired:
                worker.kill()
            log.close()
        if not os.listdir(rtmp_dir):
            with open(os.path.join(tmp, "worker.log"), "rb") as f:
                sys.stderr.write(f.read().decode(errors="replace")[-4000:])
            raise SystemExit("no RTMP seed was recorded")


if __name__ == "__main__":
    main()

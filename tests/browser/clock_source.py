#!/usr/bin/env python3
"""Raw video frames with the wall clock burnt into them, for glass-to-glass latency.

Writes 640x360 yuv420p frames to stdout at FPS, in real time. Each frame carries, as a row of
48 black/white blocks across its top, the wall-clock milliseconds (40 bits) at which it was
written plus its CRC-8; tests/browser/latency.mjs reads them back from the <video> the
page shows and compares them with its own clock. Pipe into ffmpeg:

    clock_source.py | ffmpeg -f rawvideo -pix_fmt yuv420p -s 640x360 -r 30 -i pipe:0 ...

Runs until stdout closes or --seconds have passed. Stdlib only.
"""
import argparse
import sys
import time

W, H = 640, 360
BITS = 48  # 40 bits of milliseconds + their CRC-8
BLOCK_W, BLOCK_H, PITCH, LEFT, TOP = 12, 16, 13, 8, 8
BLACK, WHITE = 16, 235


def crc8(data: bytes) -> int:
    """CRC-8 (polynomial 0x07, initial 0): unlike a sum, it catches the compensating bit
    errors a blurred frame makes (a 0 read as 1 in one byte, a 1 as 0 in another)."""
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def encode(ms: int) -> list:
    value = ms & ((1 << 40) - 1)
    checksum = crc8(value.to_bytes(5, "big"))
    word = (value << 8) | checksum
    return [(word >> (BITS - 1 - i)) & 1 for i in range(BITS)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=600)
    args = ap.parse_args()
    y_size = W * H
    base = bytearray([128]) * (y_size + y_size // 2)  # mid-gray, neutral chroma
    out = sys.stdout.buffer
    start = time.monotonic()
    frame = 0
    while True:
        due = start + frame / args.fps
        now = time.monotonic()
        if now - start > args.seconds:
            return 0
        if due > now:
            time.sleep(due - now)
        buf = bytearray(base)
        # Something that moves (a bar sweeping down), so the encoder works as for a real picture.
        bar = 40 + (frame * 4) % (H - 60)
        buf[bar * W:(bar + 8) * W] = bytes([200]) * (8 * W)
        for i, bit in enumerate(encode(int(time.time() * 1000))):
            x = LEFT + i * PITCH
            value = bytes([WHITE if bit else BLACK]) * BLOCK_W
            for row in range(TOP, TOP + BLOCK_H):
                buf[row * W + x:row * W + x + BLOCK_W] = value
        try:
            out.write(buf)
            out.flush()
        except (BrokenPipeError, OSError):
            return 0
        frame += 1


if __name__ == "__main__":
    sys.exit(main())

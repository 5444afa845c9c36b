#!/usr/bin/env python3
"""Makes the 12-bit JPEG fixtures in fixtures/jpeg12/ for the tests of src/imaging/jpeg12.rs.

Run by hand when the fixtures are to change (tests never run it):

    python3 -m venv /tmp/decenv && /tmp/decenv/bin/pip install numpy imagecodecs
    /tmp/decenv/bin/python scripts/make-jpeg12-fixtures.py

The image is 40 x 24, value = 200 + 60x + 25y, plus 800 from column 20 on (a gradient with a sharp
edge), 0..4095; the tests compute the same integers. Two codestreams:

- gradient-q90.jpg: libjpeg-turbo (imagecodecs.jpeg8_encode, 12 bits, quality 90; SOF1 with
  optimised Huffman tables), no restart interval.
- gradient-q90-restart.jpg: the same image encoded by the small baseline encoder below (quality 90
  tables as libjpeg scales them, canonical Huffman tables that cover every 12-bit symbol) with a
  restart interval of 2 MCUs, since imagecodecs cannot set one.

For each, NAME.txt holds libjpeg-turbo's own decode (imagecodecs.jpeg8_decode, accurate integer
IDCT): `max_error E` (largest difference from the source image), `checksum C` (sum over the pixels
in row-major order of (index + 1) * value, modulo 2^64) and lines `x y value` at twelve points.
"""

import math
import os
import sys

import imagecodecs
import numpy as np

W, H = 40, 24
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "jpeg12")
POINTS = [(0, 0), (39, 0), (19, 5), (20, 5), (21, 5), (7, 11), (33, 11), (0, 23), (39, 23),
          (19, 17), (20, 17), (26, 20)]

NATURAL = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41,
           34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30,
           37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63]
# T.81 Annex K.1, luminance, natural order.
LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57,
        69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64,
        81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]


def image():
    return np.array([[200 + 60 * x + 25 * y + (800 if x >= 20 else 0) for x in range(W)]
                     for y in range(H)], dtype=np.uint16)


def quality_table(quality):
    """libjpeg's jpeg_quality_scaling and jpeg_add_quant_table (baseline-limited to 255)."""
    scale = 5000 // quality if quality < 50 else 200 - quality * 2
    return [min(max((q * scale + 50) // 100, 1), 255) for q in LUMA]


def canonical(symbols_by_length):
    """counts[16], values, and {symbol: (code, length)} for a canonical Huffman table."""
    counts, values, codes, code = [], [], {}, 0
    for length in range(1, 17):
        syms = symbols_by_length.get(length, [])
        counts.append(len(syms))
        for s in syms:
            codes[s] = (code, length)
            values.append(s)
            code += 1
        assert code < (1 << length) or not syms
        code <<= 1
    return counts, values, codes


# DC: categories 0..15, fifteen 4-bit codes and one 5-bit one (no code is all ones).
DC = canonical({4: list(range(15)), 5: [15]})
# AC: end of block, zero run of 16, and every run/size up to size 15: 242 8-bit codes.
AC = canonical({8: [0x00, 0xF0] + [r << 4 | s for r in range(16) for s in range(1, 16)]})


class BitWriter:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value, length):
        for i in range(length - 1, -1, -1):
            self.acc = self.acc << 1 | (value >> i) & 1
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)
                self.acc, self.n = 0, 0

    def flush(self):
        while self.n:
            self.put(1, 1)


def category(v):
    return 0 if v == 0 else int(abs(v)).bit_length()


def put_value(w, v, s):
    if s:
        w.put(v if v > 0 else v + (1 << s) - 1, s)


def encode_with_restarts(img, quality, restart):
    q = quality_table(quality)
    c = np.array([[(math.sqrt(0.5) if u == 0 else 1.0) / 2 * math.cos((2 * x + 1) * u * math.pi / 16)
                   for x in range(8)] for u in range(8)])
    ph, pw = -(-H // 8) * 8, -(-W // 8) * 8
    padded = np.pad(img.astype(np.float64), ((0, ph - H), (0, pw - W)), mode="edge")
    w = BitWriter()
    pred, mcu, rst = 0, 0, 0
    for by in range(0, ph, 8):
        for bx in range(0, pw, 8):
            if restart and mcu and mcu % restart == 0:
                w.flush()
                w.out += bytes([0xFF, 0xD0 + rst])
                rst = (rst + 1) % 8
                pred = 0
            mcu += 1
            f = c @ (padded[by:by + 8, bx:bx + 8] - 2048) @ c.T
            coef = [int(round(f.flat[NATURAL[k]] / q[NATURAL[k]])) for k in range(64)]
            diff = coef[0] - pred
            pred = coef[0]
            s = category(diff)
            w.put(*DC[2][s])
            put_value(w, diff, s)
            run = 0
            for k in range(1, 64):
                if coef[k] == 0:
                    run += 1
                    continue
                while run > 15:
                    w.put(*AC[2][0xF0])
                    run -= 16
                s = category(coef[k])
                w.put(*AC[2][run << 4 | s])
                put_value(w, coef[k], s)
                run = 0
            if run:
                w.put(*AC[2][0x00])
    w.flush()

    def segment(marker, body):
        return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + bytes(body)

    out = bytearray(b"\xff\xd8")
    out += segment(0xDB, [0x00] + [q[NATURAL[k]] for k in range(64)])
    out += segment(0xC1, [12, H >> 8, H & 255, W >> 8, W & 255, 1, 1, 0x11, 0])
    out += segment(0xC4, [0x00] + DC[0] + DC[1])
    out += segment(0xC4, [0x10] + AC[0] + AC[1])
    out += segment(0xDD, [restart >> 8, restart & 255])
    out += segment(0xDA, [1, 1, 0x00, 0, 63, 0])
    out += w.out + b"\xff\xd9"
    return bytes(out)


def write(name, jpeg, img):
    decoded = imagecodecs.jpeg8_decode(jpeg).astype(np.int64)
    assert decoded.shape == (H, W), decoded.shape
    flat = decoded.reshape(-1)
    checksum = int(sum((i + 1) * int(v) for i, v in enumerate(flat)) % (1 << 64))
    max_error = int(np.abs(decoded - img.astype(np.int64)).max())
    with open(os.path.join(OUT, name + ".jpg"), "wb") as f:
        f.write(jpeg)
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write(f"max_error {max_error}\nchecksum {checksum}\n")
        for x, y in POINTS:
            f.write(f"{x} {y} {decoded[y, x]}\n")
    print(f"{name}: {len(jpeg)} bytes, libjpeg max error {max_error}, checksum {checksum}")


def main():
    os.makedirs(OUT, exist_ok=True)
    img = image()
    write("gradient-q90", imagecodecs.jpeg8_encode(img, level=90, bitspersample=12), img)
    write("gradient-q90-restart", encode_with_restarts(img, 90, 2), img)


if __name__ == "__main__":
    sys.exit(main())

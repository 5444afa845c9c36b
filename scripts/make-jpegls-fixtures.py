#!/usr/bin/env python3
"""Writes the JPEG-LS test fixtures in fixtures/jpegls/ with CharLS, the reference codec.

The unit tests of src/imaging/jpegls.rs decode these files and compare them with the same synthetic
images, which they compute themselves (`synthetic` below and in src/imaging/jpegls_tests.rs are the
same integer formula): exactly for lossless files, within NEAR for near-lossless ones. The tests
never run this script and need no Python; it is here so that the fixtures can be checked and remade.

Run it from the repository root, in a virtual environment with pyjpegls (CharLS 2.x with its C API):

    python3 -m venv /tmp/jlsenv && /tmp/jlsenv/bin/pip install pyjpegls
    /tmp/jlsenv/bin/python scripts/make-jpegls-fixtures.py

CharLS is driven through its C API (ctypes on the library that pyjpegls ships) because neither
Python wrapper exposes the interleave mode and the preset coding parameters together. CharLS cannot
write restart markers, so the `*_restart` fixtures are spliced from the scans of separately coded
stripes: after a restart marker a decoder starts afresh as at the top of an image (T.87 A.2.1),
so a stripe coded on its own is exactly a restart interval. Every fixture is decoded again with
CharLS before it is written, and the script fails if that does not give back the image.
"""

import ctypes
import pathlib
import struct

import _CharLS  # the extension module of pyjpegls, which links CharLS with its C API
import jpeg_ls
import numpy as np

OUT = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "jpegls"
M32 = 0xFFFFFFFF


def synthetic(width, height, components, maxval):
    """Samples, interleaved by pixel: flat areas (run mode), gradients, mild and full noise."""
    out = []
    for y in range(height):
        for x in range(width):
            for c in range(components):
                h = (x * 0x9E3779B1 + y * 0x85EBCA77 + c * 0xC2B2AE3D + 0x27D4EB2F) & M32
                h ^= h >> 15
                h = (h * 0x2C1B3C6D) & M32
                h ^= h >> 12
                if y < height // 4 or (x >= width // 2 and y >= 3 * height // 4):
                    v = maxval // 3
                elif x < width // 3:
                    v = (x * 5 + y * 3 + c * 17) * maxval // (width * 5 + height * 3 + 34)
                elif x < 5 * width // 6:
                    base = (x * 5 + y * 3 + c * 17) * maxval // (width * 5 + height * 3 + 34)
                    v = min(maxval, base + h % (maxval // 64 + 2))
                else:
                    v = h % (maxval + 1)
                out.append(v)
    return out


class FrameInfo(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_uint32),
        ("height", ctypes.c_uint32),
        ("bits_per_sample", ctypes.c_int32),
        ("component_count", ctypes.c_int32),
    ]


class PcParameters(ctypes.Structure):
    _fields_ = [
        ("maximum_sample_value", ctypes.c_int32),
        ("threshold1", ctypes.c_int32),
        ("threshold2", ctypes.c_int32),
        ("threshold3", ctypes.c_int32),
        ("reset_value", ctypes.c_int32),
    ]


lib = ctypes.CDLL(_CharLS.__file__)
lib.charls_jpegls_encoder_create.restype = ctypes.c_void_p  # the others return an int error code


def check(err, what):
    if err != 0:
        raise RuntimeError(f"CharLS {what}: error {err}")


def encode(samples, width, height, components, bits, near, ilv, preset=None, comment=None):
    """One JPEG-LS codestream; ILV 0 takes the samples plane by plane, 1 and 2 pixel by pixel."""
    dtype = np.uint8 if bits <= 8 else np.uint16
    arr = np.array(samples, dtype=dtype).reshape(height, width, components)
    if ilv == 0:
        arr = arr.transpose(2, 0, 1)
    raw = np.ascontiguousarray(arr).tobytes()
    enc = ctypes.c_void_p(lib.charls_jpegls_encoder_create())
    try:
        info = FrameInfo(width, height, bits, components)
        check(lib.charls_jpegls_encoder_set_frame_info(enc, ctypes.byref(info)), "frame info")
        check(lib.charls_jpegls_encoder_set_near_lossless(enc, ctypes.c_int32(near)), "near")
        if components > 1:
            check(lib.charls_jpegls_encoder_set_interleave_mode(enc, ctypes.c_int(ilv)), "ilv")
        if preset:
            pc = PcParameters(*preset)
            check(lib.charls_jpegls_encoder_set_preset_coding_parameters(enc, ctypes.byref(pc)), "preset")
        size = ctypes.c_size_t()
        check(lib.charls_jpegls_encoder_get_estimated_destination_size(enc, ctypes.byref(size)), "size")
        dest = ctypes.create_string_buffer(size.value + 1024)
        check(lib.charls_jpegls_encoder_set_destination_buffer(enc, dest, ctypes.c_size_t(len(dest))), "dest")
        if comment:
            check(lib.charls_jpegls_encoder_write_comment(enc, comment, ctypes.c_size_t(len(comment))), "comment")
        check(lib.charls_jpegls_encoder_encode_from_buffer(enc, raw, ctypes.c_size_t(len(raw)), ctypes.c_uint32(0)), "encode")
        written = ctypes.c_size_t()
        check(lib.charls_jpegls_encoder_get_bytes_written(enc, ctypes.byref(written)), "bytes written")
        return dest.raw[: written.value]
    finally:
        lib.charls_jpegls_encoder_destroy(enc)


def segments(jls):
    """(marker, start, end) of each marker segment up to the first SOS, and the scan data's end."""
    pos, out = 2, []
    while True:
        marker = jls[pos + 1]
        length = struct.unpack(">H", jls[pos + 2 : pos + 4])[0]
        out.append((marker, pos, pos + 2 + length))
        pos += 2 + length
        if marker == 0xDA:
            end = jls.rindex(b"\xff\xd9")
            return out, pos, end


def with_restarts(samples, width, height, components, bits, near, ilv, interval):
    """A codestream with a DRI segment and RSTm markers every `interval` lines (see above)."""
    per_line = width * components
    stripes = [
        encode(samples[y * per_line : min(y + interval, height) * per_line], width,
               min(interval, height - y), components, bits, near, ilv)
        for y in range(0, height, interval)
    ]
    full = encode(samples, width, height, components, bits, near, ilv)
    segs, _, _ = segments(full)
    header = b"\xff\xd8"
    for marker, start, end in segs:
        if marker == 0xDA:
            header += b"\xff\xdd\x00\x04" + struct.pack(">H", interval)
        header += full[start:end]
    data = b""
    for i, stripe in enumerate(stripes):
        _, scan_start, scan_end = segments(stripe)
        if i > 0:
            data += bytes([0xFF, 0xD0 + (i - 1) % 8])
        data += stripe[scan_start:scan_end]
    return header + data + b"\xff\xd9"


# name: (width, height, components, bits, maxval, near, ilv, extra)
FIXTURES = {
    "grey8_lossless": (37, 23, 1, 8, 255, 0, 0, {"comment": b"consilium test fixture"}),
    "grey8_near3": (37, 23, 1, 8, 255, 3, 0, {}),
    "grey4_lossless": (37, 23, 1, 4, 15, 0, 0, {}),
    "grey4_near1": (37, 23, 1, 4, 15, 1, 0, {}),
    "grey12_lossless": (37, 23, 1, 12, 4095, 0, 0, {}),
    "grey12_near2": (37, 23, 1, 12, 4095, 2, 0, {}),
    "grey16_lossless": (37, 23, 1, 16, 65535, 0, 0, {}),
    "grey16_near3": (37, 23, 1, 16, 65535, 3, 0, {}),
    # LSE type 1 with T1, T2, T3 and RESET set (MAXVAL 0: the default).
    "grey12_preset": (37, 23, 1, 12, 4095, 1, 0, {"preset": (0, 5, 20, 70, 32)}),
    # LSE MAXVAL below 2^P - 1, coded the CharLS way (see `decode` in jpegls.rs).
    "grey12_maxval3000_charls": (37, 23, 1, 12, 3000, 0, 0, {"preset": (3000, 0, 0, 0, 0)}),
    "rgb8_none_lossless": (37, 23, 3, 8, 255, 0, 0, {}),
    "rgb8_line_lossless": (37, 23, 3, 8, 255, 0, 1, {}),
    "rgb8_sample_lossless": (37, 23, 3, 8, 255, 0, 2, {}),
    "rgb8_none_near2": (37, 23, 3, 8, 255, 2, 0, {}),
    "rgb8_line_near2": (37, 23, 3, 8, 255, 2, 1, {}),
    "rgb8_sample_near2": (37, 23, 3, 8, 255, 2, 2, {}),
    "rgb12_line_lossless": (19, 11, 3, 12, 4095, 0, 1, {}),
    "rgb16_sample_near3": (19, 11, 3, 16, 65535, 3, 2, {}),
    "grey8_restart": (37, 23, 1, 8, 255, 0, 0, {"restart": 5}),
    "rgb8_line_near2_restart": (37, 23, 3, 8, 255, 2, 1, {"restart": 4}),
    "rgb8_sample_restart": (37, 23, 3, 8, 255, 0, 2, {"restart": 7}),
    # For the render test in src/imaging/tests.rs: samples 0, 60, 120, ... 3780.
    "ramp12_8x8": (8, 8, 1, 12, 4095, 0, 0, {"ramp": True}),
}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, (w, h, nc, bits, maxval, near, ilv, extra) in FIXTURES.items():
        samples = [i * 60 for i in range(w * h)] if extra.get("ramp") else synthetic(w, h, nc, maxval)
        if "restart" in extra:
            jls = with_restarts(samples, w, h, nc, bits, near, ilv, extra["restart"])
        else:
            jls = encode(samples, w, h, nc, bits, near, ilv, extra.get("preset"), extra.get("comment"))
        back = jpeg_ls.jlsread(jls).reshape(-1).astype(np.int64)  # pixel order, any ILV
        error = int(np.abs(back - np.array(samples, dtype=np.int64)).max())
        if len(back) != len(samples) or error > near:
            raise RuntimeError(f"{name}: CharLS gives back an error of {error} (NEAR {near})")
        (OUT / f"{name}.jls").write_bytes(jls)
        total += len(jls)
        print(f"{name}.jls: {len(jls)} bytes, max error {error}")
    print(f"{len(FIXTURES)} files, {total} bytes")


if __name__ == "__main__":
    main()

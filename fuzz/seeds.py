#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, from the repository's fixtures and small generated files.

Usage: fuzz/seeds.py OUT_DIR  (writes OUT_DIR/<target>/...). Needs pydicom (`pip install
pydicom==3.0.2`) to pull the codestreams out of the DICOM corpus, and the corpus itself
(`scripts/fetch-dicom-corpus`). The committed corpora in fuzz/corpus/ were grown from these
seeds by fuzzing and minimised with `cargo fuzz cmin`; this script is only needed to start over.
"""

import hashlib
import hmac
import io
import os
import struct
import sys
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(sys.argv[1])
DICOM = ROOT / "fixtures" / "dicom-corpus"


def put(target, data, name=None):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    name = name or hashlib.sha1(data).hexdigest()
    (d / name).write_bytes(data)


def small_dicoms(limit=40_000):
    return sorted(p for p in DICOM.iterdir() if p.is_file() and p.stat().st_size <= limit)


# --- generated files of every kind intake accepts -------------------------------------------
def png(w=2, h=2):
    raw = b"".join(b"\0" + b"\x80" * w for _ in range(h))

    def chunk(t, b):
        return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
       b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
BMP = (b"BM" + struct.pack("<IHHI", 58, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 1, 1, 1, 24, 0, 4, 0, 0, 0, 0)
       + b"\x00\x00\xff\x00")
TIFF = (b"II*\x00\x08\x00\x00\x00" + struct.pack("<H", 4)
        + struct.pack("<HHII", 256, 3, 1, 1) + struct.pack("<HHII", 257, 3, 1, 1)
        + struct.pack("<HHII", 273, 4, 1, 62) + struct.pack("<HHII", 279, 4, 1, 1) + b"\0\0\0\0" + b"\x80")


def zip_of(entries, method=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


CT = b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>'
RELS = b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>'
DOCX = zip_of([("[Content_Types].xml", CT), ("_rels/.rels", RELS), ("word/document.xml", b"<w:document/>")])
PPTX = zip_of([("[Content_Types].xml", CT), ("_rels/.rels", RELS.replace(b"word/document", b"ppt/presentation")),
               ("ppt/presentation.xml", b"<p:presentation/>")])


def odf(mime):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), mime)
        z.writestr("content.xml", b"<office:document-content/>", zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", b"<manifest:manifest/>", zipfile.ZIP_DEFLATED)
    return buf.getvalue()


ODT = odf(b"application/vnd.oasis.opendocument.text")
ODP = odf(b"application/vnd.oasis.opendocument.presentation")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 1 1\n"
RTF = b"{\\rtf1\\ansi hello}"
HTML = b"<!DOCTYPE html><html><body>hi</body></html>"
TXT = "Befund: unauffällig.\n".encode()
# A minimal OLE2 header (the compound file reader refuses it; the fuzzer grows it).
OLE2 = bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 16 + struct.pack("<HHHH", 0x3E, 3, 0xFFFE, 9) + b"\0" * 476

JPEGS = [p.read_bytes() for p in sorted((ROOT / "fixtures" / "jpeg12").glob("*.jpg"))]
MANIFEST = sorted((ROOT / "fixtures" / "partner-manifest").rglob("*.*"))

# intake: first byte picks (field, name) from CASES in fuzz_targets/intake.rs.
CASES = ["gif", "jpg", "png", "bmp", "eps", "tif", "txt", "rtf", "html", "pdf", "doc", "docx", "odt", "ppt",
         "pptx", "odp", "zip", "dcm", "zip-image", "jpeg-image", "pdf-letter", "exe"]
kind_seeds = {
    "gif": [GIF], "png": [png()], "bmp": [BMP], "tif": [TIFF], "eps": [EPS], "txt": [TXT], "rtf": [RTF],
    "html": [HTML], "pdf": [PDF], "doc": [OLE2], "ppt": [OLE2], "docx": [DOCX], "pptx": [PPTX], "odt": [ODT],
    "odp": [ODP], "jpg": JPEGS[:1], "jpeg-image": JPEGS[:1], "pdf-letter": [PDF],
}
for p in MANIFEST:
    ext = p.suffix.lstrip(".")
    if ext in kind_seeds:
        kind_seeds[ext].append(p.read_bytes())
kind_seeds["dcm"] = [p.read_bytes() for p in small_dicoms(20_000)]
archive_seeds = [
    zip_of([("a.png", png()), ("dir/b.txt", TXT), (".DS_Store", b"x")]),
    zip_of([("scan/IM0001", kind_seeds["dcm"][0])] if kind_seeds["dcm"] else [("a.gif", GIF)]),
    zip_of([("a.pdf", PDF), ("inner.zip", zip_of([("b.png", png())]))], zipfile.ZIP_STORED),
    zip_of([("a.jpg", JPEGS[0] if JPEGS else GIF)]),
]
kind_seeds["zip"] = archive_seeds
kind_seeds["zip-image"] = archive_seeds
for i, ext in enumerate(CASES):
    for data in kind_seeds.get(ext, []):
        put("intake", bytes([i]) + data)
for data in archive_seeds + [DOCX, ODT]:
    put("archive", b"\0" + data)
    put("archive", b"\1" + data)

# --- DICOM: whole files, and the codestreams inside them -----------------------------------
for p in small_dicoms():
    put("dicom_prescan", p.read_bytes())
    put("dicom_index", p.read_bytes())

try:
    import pydicom
    from pydicom.encaps import generate_frames
except ImportError:
    pydicom = None
    print("pydicom missing: no codestream seeds for jpegls, jpeg12, rle", file=sys.stderr)

JLS = {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
JPEG = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}
RLE = "1.2.840.10008.1.2.5"
if pydicom:
    for p in sorted(DICOM.iterdir()):
        if p.stat().st_size > 300_000:
            continue
        try:
            ds = pydicom.dcmread(p)
            ts = str(ds.file_meta.TransferSyntaxUID)
            if ts not in JLS | JPEG | {RLE}:
                continue
            frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
            frame = next(generate_frames(ds.PixelData, number_of_frames=frames))
        except Exception:  # broken files are the corpus's point; skip what pydicom cannot split
            continue
        if ts in JLS:
            put("jpegls", frame)
        elif ts in JPEG:
            put("jpeg12", frame)
        else:
            pixels = (int(ds.Rows) * int(ds.Columns)) & 0xFFFF
            samples = int(ds.SamplesPerPixel)
            bits = {8: 0, 16: 1, 32: 2}[int(ds.BitsAllocated)]
            put("rle", struct.pack("<HBB", pixels, 0 if samples == 1 else 1, bits) + frame)
for p in sorted((ROOT / "fixtures" / "jpegls").glob("*.jls")):
    put("jpegls", p.read_bytes())
for data in JPEGS:
    put("jpeg12", data)


# --- link tokens: real ones (same ring as fuzz_targets/link_token.rs) and near misses -------
def subkey(kek, label=b"consilium-link-token-v1"):
    prk = hmac.new(b"consilium-kek-subkey-v1", kek, hashlib.sha256).digest()
    return hmac.new(prk, label + b"\x01", hashlib.sha256).digest()


def b64(b):
    import base64
    return base64.urlsafe_b64encode(b).rstrip(b"=")


for kek_id, byte in [(b"k1", 1), (b"k2", 2)]:
    payload = bytes(range(16)) + struct.pack(">q", 1_900_000_000) + kek_id
    tag = hmac.new(subkey(bytes([byte]) * 32), payload, hashlib.sha256).digest()
    put("link_token", b64(payload) + b"." + b64(tag))
    put("link_token", b64(payload) + b"." + b64(tag[:-1]))
put("link_token", b"not-a-token")

# --- multipart bodies as a browser sends them ------------------------------------------------
boundary = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"
body = b"".join([
    b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"full_name\"\r\n\r\nJane\r\n",
    b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"report\"; filename=\"Befund 1.pdf\"\r\n"
    b"Content-Type: application/pdf\r\n\r\n" + PDF + b"\r\n",
    b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"image\"; filename*=UTF-8''r%C3%B6ntgen.png\r\n"
    b"Content-Type: image/png\r\n\r\n" + png() + b"\r\n",
    b"--" + boundary + b"--\r\n",
])
ct = b"multipart/form-data; boundary=" + boundary
for chunk in (255, 7, 1):
    put("multipart", bytes([len(ct)]) + ct + bytes([chunk]) + body)

"""JPEG files that encoders do not write but libjpeg decodes, made by rewriting the byte
stream of Pillow-encoded files, and Pillow's decoded RGB of each (raw H*W*3 bytes + a
JSON index), for the exactness tests of the libjpeg-exact decoder:

* seq_multiscan_*_444: a baseline 4:4:4 file re-cut into several sequential scans whose
  headers list the components in another order than the frame header: Y alone then Cr
  and Cb interleaved (Cr first), or Cr, Cb, Y one per scan. Block bit strings are copied
  from the single-scan file: with 4:4:4 every component's blocks come in raster order in
  either layout, so the DC predictions are unchanged. The decoder must follow each scan
  header's order.
* seq_single_scan_out_of_order_444: one interleaved scan listing Y, Cr, Cb. libjpeg
  refuses it (its single-scan path wants frame order), so no RGB is stored; the decoder
  must refuse it too.
* prog_dqt_between_scans_420 / gray_prog_dqt_between_scans: progressive files with a DQT
  after the first (DC) scan redefining every table. libjpeg latches each component's
  table at its first scan, so the redefinition must not change the output.

Run with Pillow 13 (bundled libjpeg-turbo) from this folder: python make_cases.py
"""
import io
import json
import struct

import numpy as np
from PIL import Image

rng = np.random.default_rng(11)


def picture(w, h):
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x * y) % 256)], -1)
    a = a + rng.integers(-40, 41, a.shape)  # texture so that AC coefficients matter
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def encode(im, **kw):
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kw)
    return buf.getvalue()


def segments(b):
    """(marker, payload, entropy-coded bytes after it) for each marker after SOI."""
    out, i = [], 2
    while i < len(b):
        assert b[i] == 0xFF
        m = b[i + 1]
        i += 2
        if m == 0xD9:
            out.append((m, b"", b""))
            break
        n = struct.unpack(">H", b[i:i + 2])[0]
        payload = b[i + 2:i + n]
        i += n
        data = b""
        if m == 0xDA:
            j = i
            while not (b[j] == 0xFF and b[j + 1] not in (0x00,) and not 0xD0 <= b[j + 1] <= 0xD7):
                j += 1
            data, i = b[i:j], j
        out.append((m, payload, data))
    return out


def join(segs):
    b = bytearray(b"\xff\xd8")
    for m, payload, data in segs:
        b += bytes([0xFF, m])
        if m != 0xD9:
            b += struct.pack(">H", len(payload) + 2) + payload + data
    return bytes(b)


def huffman_tables(segs):
    tables = {}
    for m, p, _ in segs:
        if m != 0xC4:
            continue
        i = 0
        while i < len(p):
            tc, th = p[i] >> 4, p[i] & 15
            counts = p[i + 1:i + 17]
            values = p[i + 17:i + 17 + sum(counts)]
            codes, code, k = {}, 0, 0
            for length in range(1, 17):
                for _ in range(counts[length - 1]):
                    codes[(length, code)] = values[k]
                    code += 1
                    k += 1
                code <<= 1
            tables[(tc, th)] = codes
            i += 17 + sum(counts)
    return tables


def unstuff_bits(data):
    out = bytearray()
    i = 0
    while i < len(data):
        out.append(data[i])
        i += 2 if data[i] == 0xFF else 1
    return "".join(f"{x:08b}" for x in out)


def stuff_bits(bits):
    bits += "1" * (-len(bits) % 8)
    out = bytearray()
    for k in range(0, len(bits), 8):
        out.append(int(bits[k:k + 8], 2))
        if out[-1] == 0xFF:
            out.append(0)
    return bytes(out)


def split_blocks(jpeg):
    """Bit strings of every block of a baseline single-scan 4:4:4 file, per component
    id, in scan order; plus the parsed segments."""
    segs = segments(jpeg)
    tables = huffman_tables(segs)
    sof = next(p for m, p, _ in segs if m == 0xC0)
    h, w = struct.unpack(">HH", sof[1:5])
    sos, data = next((p, d) for m, p, d in segs if m == 0xDA)
    ns = sos[0]
    comps = [(sos[1 + 2 * k], sos[2 + 2 * k] >> 4, sos[2 + 2 * k] & 15) for k in range(ns)]
    bits = unstuff_bits(data)
    pos = 0

    def symbol(codes):
        nonlocal pos
        code = 0
        for length in range(1, 17):
            code = (code << 1) | int(bits[pos])
            pos += 1
            if (length, code) in codes:
                return codes[(length, code)]
        raise ValueError("bad code")

    blocks = {cid: [] for cid, _, _ in comps}
    for _ in range(((w + 7) // 8) * ((h + 7) // 8)):
        for cid, td, ta in comps:
            start = pos
            s = symbol(tables[(0, td)])
            pos += s
            k = 1
            while k < 64:
                rs = symbol(tables[(1, ta)])
                r, s = rs >> 4, rs & 15
                if s:
                    k += r + 1
                    pos += s
                elif r == 15:
                    k += 16
                else:
                    break
            blocks[cid].append(bits[start:pos])
    return segs, comps, blocks


cases = []


def add(name, jpeg):
    path = f"{name}.jpg"
    open(path, "wb").write(jpeg)
    back = Image.open(path)
    np.asarray(back.convert("RGB")).tofile(f"{name}.rgb")
    cases.append({"name": name, "width": back.width, "height": back.height,
                  "progressive": bool(back.info.get("progressive", 0))})


def rescan(jpeg, scans):
    """The baseline 4:4:4 file re-cut into sequential scans, each a tuple of component
    ids in the order its header lists them (and its data interleaves them)."""
    segs, comps, blocks = split_blocks(jpeg)
    tables = {cid: (td << 4) | ta for cid, td, ta in comps}
    n = len(blocks[comps[0][0]])
    out = []
    for seg in segs:
        if seg[0] != 0xDA:
            out.append(seg)
            continue
        for order in scans:
            header = bytes([len(order)]) + b"".join(bytes([c, tables[c]]) for c in order)
            bits = "".join("".join(blocks[c][k] for c in order) for k in range(n))
            out.append((0xDA, header + bytes([0, 63, 0]), stuff_bits(bits)))
    return join(out)


def dqt_between_scans(im, **kw):
    segs = segments(encode(im, progressive=True, **kw))
    dqts = [p for m, p, _ in segs if m == 0xDB]
    # Every table redefined with other steps (halved, at least 1).
    tables = b""
    for p in dqts:
        i = 0
        while i < len(p):
            assert p[i] >> 4 == 0
            tables += bytes([p[i]]) + bytes(max(1, v // 2) for v in p[i + 1:i + 65])
            i += 65
    out, scans = [], 0
    for seg in segs:
        out.append(seg)
        if seg[0] == 0xDA:
            scans += 1
            if scans == 1:
                out.append((0xDB, tables, b""))
    return join(out)


base = encode(picture(33, 17), quality=85, subsampling=0)
# Y, Cb, Cr are ids 1, 2, 3.
add("seq_multiscan_y_crcb_444_33x17", rescan(base, [(1,), (3, 2)]))
add("seq_multiscan_cr_cb_y_444_33x17", rescan(base, [(3,), (2,), (1,)]))
# One scan of every component out of frame order: libjpeg refuses it.
bad = rescan(base, [(1, 3, 2)])
open("seq_single_scan_out_of_order_444_33x17.jpg", "wb").write(bad)
try:
    Image.open(io.BytesIO(bad)).load()
    raise SystemExit("expected Pillow to refuse the out-of-order single scan")
except OSError:
    cases.append({"name": "seq_single_scan_out_of_order_444_33x17", "pillow_error": True})
add("prog_dqt_between_scans_420_32x24",
    dqt_between_scans(picture(32, 24), quality=80, subsampling=2))
add("gray_prog_dqt_between_scans_32x24",
    dqt_between_scans(picture(32, 24).convert("L"), quality=75))
json.dump(cases, open("cases.json", "w"), indent=1)

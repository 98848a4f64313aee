"""Writes small JPEG variants and Pillow's decoded RGB of each (raw H*W*3 bytes + a JSON index).

Run with Pillow 13 (bundled libjpeg-turbo) from this folder: python make_cases.py
"""
import io
import json

import numpy as np
from PIL import Image

rng = np.random.default_rng(7)


def picture(w, h):
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x * y) % 256)], -1)
    a = a + rng.integers(-40, 41, a.shape)  # texture so that AC coefficients matter
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


cases = []


def add(name, im, **kw):
    path = f"{name}.jpg"
    im.save(path, "JPEG", **kw)
    back = Image.open(path)
    rgb = np.asarray(back.convert("RGB"))
    rgb.tofile(f"{name}.rgb")
    cases.append({"name": name, "width": back.width, "height": back.height,
                  "progressive": bool(back.info.get("progressive", 0))})


add("s444_33x17", picture(33, 17), quality=85, subsampling=0)
add("s422_33x17", picture(33, 17), quality=85, subsampling=1)
add("s420_33x17", picture(33, 17), quality=85, subsampling=2)
add("s420_2x9", picture(2, 9), quality=90, subsampling=2)
add("s420_1x1", picture(1, 1), quality=90, subsampling=2)
add("s422_3x40", picture(3, 40), quality=70, subsampling=1)
add("gray_29x21", picture(29, 21).convert("L"), quality=80)
add("s420_q100_48x40", picture(48, 40), quality=100, subsampling=2)
add("s420_q5_40x24", picture(40, 24), quality=5, subsampling=2)
add("s420_restart_64x48", picture(64, 48), quality=80, subsampling=2, restart_marker_blocks=3)
add("s420_progressive_40x30", picture(40, 30), quality=80, subsampling=2, progressive=True)
add("s444_progressive_33x17", picture(33, 17), quality=90, subsampling=0, progressive=True)
add("gray_progressive_29x21", picture(29, 21).convert("L"), quality=75, progressive=True)
add("s420_progressive_restart_64x48", picture(64, 48), quality=85, subsampling=2,
    progressive=True, restart_marker_blocks=2)
add("s420_progressive_q100_40x30", picture(40, 30), quality=100, subsampling=2, progressive=True)
add("s422_2x9", picture(2, 9), quality=90, subsampling=1)


def s440(path):
    """4:4:0 (luma 1x2), which Pillow cannot write: a 32x32 4:2:2 file has as many MCUs
    (8) in either layout, so patching luma's sampling byte 0x21 -> 0x12 in SOF0 yields a
    valid 4:4:0 stream (with shuffled content)."""
    buf = io.BytesIO()
    picture(32, 32).save(buf, "JPEG", quality=85, subsampling=1)
    b = bytearray(buf.getvalue())
    sof = b.index(b"\xff\xc0")
    assert b[sof + 11] == 0x21, hex(b[sof + 11])
    b[sof + 11] = 0x12
    open(path, "wb").write(bytes(b))


def add_file(name, write):
    path = f"{name}.jpg"
    write(path)
    back = Image.open(path)
    np.asarray(back.convert("RGB")).tofile(f"{name}.rgb")
    cases.append({"name": name, "width": back.width, "height": back.height,
                  "progressive": False})


add_file("s440_patched_32x32", s440)
json.dump(cases, open("cases.json", "w"), indent=1)

"""Writes small GIF/WebP/BMP/PNG variants and Pillow 13's `convert("RGB")` of each
(raw H*W*3 bytes + cases.json). Run from this folder: python make_cases.py
"""
import json

import numpy as np
from PIL import Image

rng = np.random.default_rng(11)


def picture(w, h):
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), ((x * y) % 256)], -1)
    a = a + rng.integers(-30, 31, a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


cases = []


def add(name, ext, save):
    path = f"{name}.{ext}"
    save(path)
    im = Image.open(path)
    rgb = np.asarray(im.convert("RGB") if im.mode != "RGB" else im)
    rgb.tofile(f"{name}.rgb")
    cases.append({"name": name, "file": path, "mode": im.mode, "width": im.width, "height": im.height})


# GIF, one frame, 16 colours.
add("gif_single_20x12", "gif", lambda p: picture(20, 12).quantize(16).save(p))
# GIF with a transparent palette index: Pillow keeps the palette colour under it.
def transparent_gif(p):
    im = picture(20, 12).quantize(8)
    a = np.array(im)
    a[:4, :6] = 3
    Image.fromarray(a, "P").save(p, palette=None, transparency=3) if False else None
    im2 = Image.fromarray(a, "P")
    im2.putpalette(im.getpalette())
    im2.save(p, transparency=3)
add("gif_transparent_20x12", "gif", transparent_gif)
# Animated GIF: the first frame is what the reference loader sees.
def animated(p):
    frames = [picture(16, 10).quantize(16), picture(16, 10).quantize(16)]
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
add("gif_animated_16x10", "gif", animated)
add("bmp_rgb_13x7", "bmp", lambda p: picture(13, 7).save(p))
add("bmp_palette_13x7", "bmp", lambda p: picture(13, 7).quantize(16).save(p))
add("webp_lossless_18x10", "webp", lambda p: picture(18, 10).save(p, lossless=True))
add("webp_lossy_18x10", "webp", lambda p: picture(18, 10).save(p, quality=80))
add("webp_lossy_alpha_18x10", "webp",
    lambda p: Image.merge("RGBA", (*picture(18, 10).split(), Image.new("L", (18, 10), 128))).save(p, quality=80))


def png16(p, channels, colour_type):
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit colour)."""
    import struct
    import zlib
    w, h = 9, 6
    a = rng.integers(0, 65536, (h, w, channels)).astype(">u2")
    raw = b"".join(b"\0" + a[y].tobytes() for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    open(p, "wb").write(data)


add("png_rgb16_9x6", "png", lambda p: png16(p, 3, 2))
add("png_rgba16_9x6", "png", lambda p: png16(p, 4, 6))
add("png_la16_9x6", "png", lambda p: png16(p, 2, 4))
add("png_l16_9x6", "png", lambda p: png16(p, 1, 0))
add("png_la8_9x6", "png", lambda p: Image.merge("LA", (picture(9, 6).convert("L"), Image.new("L", (9, 6), 7))).save(p))
add("png_1bit_9x6", "png", lambda p: picture(9, 6).convert("1").save(p))
add("png_palette_trns_9x6", "png", lambda p: picture(9, 6).quantize(4).save(p, transparency=1))
json.dump(cases, open("cases.json", "w"), indent=1)

#!/usr/bin/env python3
"""Draws the quickstart's sample photos (simple shapes with Pillow; no third-party images).

    python examples/data/photos/draw_photos.py   # needs pillow; rewrites the .jpg files here
"""

import math
import pathlib
import random

from PIL import Image, ImageDraw, ImageFilter

HERE = pathlib.Path(__file__).resolve().parent
W, H = 320, 240


def beach():
    im = Image.new("RGB", (W, H))
    d = ImageDraw.Draw(im)
    for y in range(110):  # sky, lighter towards the horizon
        d.line([(0, y), (W, y)], fill=(90 + y, 150 + y // 2, 235))
    d.ellipse([240, 18, 285, 63], fill=(255, 226, 120))
    for y in range(110, 170):  # sea
        d.line([(0, y), (W, y)], fill=(20, 90 + (y - 110), 150 + (y - 110) // 2))
    for x in range(0, W, 24):  # foam
        d.arc([x, 160, x + 30, 176], 180, 360, fill=(245, 245, 245), width=3)
    d.rectangle([0, 170, W, H], fill=(222, 196, 140))
    # a surfboard standing in the sand
    d.ellipse([140, 92, 172, 210], fill=(230, 70, 50), outline=(120, 30, 20), width=2)
    d.line([(156, 96), (156, 206)], fill=(250, 250, 250), width=3)
    return im


def pizza():
    im = Image.new("RGB", (W, H), (120, 80, 50))
    d = ImageDraw.Draw(im)
    for y in range(0, H, 9):  # wood grain
        d.line([(0, y), (W, y + 4)], fill=(105, 68, 40), width=2)
    d.rounded_rectangle([40, 20, 280, 225], 30, fill=(196, 150, 96), outline=(150, 105, 60), width=3)
    d.ellipse([62, 28, 258, 218], fill=(214, 160, 80))
    d.ellipse([74, 40, 246, 206], fill=(200, 50, 30))
    rnd = random.Random(7)
    for _ in range(40):  # cheese
        x, y = rnd.randint(85, 230), rnd.randint(50, 192)
        d.ellipse([x - 9, y - 7, x + 9, y + 7], fill=(250, 225, 140))
    for _ in range(12):  # pepperoni
        a, r = rnd.uniform(0, 2 * math.pi), rnd.uniform(0, 62)
        x, y = 160 + r * math.cos(a), 123 + r * math.sin(a)
        d.ellipse([x - 10, y - 10, x + 10, y + 10], fill=(150, 25, 25))
    for k in range(4):  # slices
        a = k * math.pi / 4
        d.line([(160 - 86 * math.cos(a), 123 - 83 * math.sin(a)),
                (160 + 86 * math.cos(a), 123 + 83 * math.sin(a))], fill=(120, 60, 30), width=2)
    return im


def tennis():
    im = Image.new("RGB", (W, H), (40, 110, 170))
    d = ImageDraw.Draw(im)
    d.polygon([(30, 235), (290, 235), (240, 70), (80, 70)], fill=(60, 140, 80))
    for a, b in [((30, 235), (80, 70)), ((290, 235), (240, 70)), ((80, 70), (240, 70)),
                 ((55, 150), (265, 150)), ((160, 150), (160, 235))]:
        d.line([a, b], fill=(245, 245, 245), width=3)
    d.rectangle([50, 118, 270, 124], fill=(30, 30, 30))  # net
    for x in range(50, 271, 8):
        d.line([(x, 124), (x + 6, 150)], fill=(200, 200, 200), width=1)
    d.line([(205, 205), (238, 160)], fill=(40, 40, 40), width=6)  # racket handle
    d.ellipse([226, 118, 276, 170], outline=(40, 40, 40), width=5)
    d.ellipse([120, 176, 136, 192], fill=(215, 235, 60))  # ball
    return im


def main():
    for name, draw in [("beach", beach), ("pizza", pizza), ("tennis", tennis)]:
        im = draw().filter(ImageFilter.GaussianBlur(0.6))
        im.save(HERE / f"{name}.jpg", quality=88)


if __name__ == "__main__":
    main()

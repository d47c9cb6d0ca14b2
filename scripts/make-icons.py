#!/usr/bin/env python3
"""Draws Sickbay's icons into icons/ with nothing but the Python standard library.

Tray icons, one per verdict (green, yellow, red, grey):
    tray-<verdict>.png      22x22
    tray-<verdict>@2x.png   44x44
    tray-<verdict>-16.png   16x16
  a filled circle in the verdict's colour with a white medical cross, transparent around it.

App icons (Tauri's bundle and window icon):
    32x32.png, 128x128.png, 128x128@2x.png (256x256), icon.png (512x512), icon.ico (16..256)
  the green cross-circle on a dark rounded square.

Every PNG is 8-bit RGBA. Edges are anti-aliased by supersampling the pixels that a shape's
edge crosses; the cross is snapped to whole pixels so that it stays sharp at 16 px.
The output is deterministic: running the script again rewrites identical files.

Usage: python3 scripts/make-icons.py [OUTPUT_DIR]   (default: icons/ next to scripts/)
"""

import math
import os
import struct
import sys
import zlib

VERDICTS = {
    "green": "#2ea043",
    "yellow": "#d29922",
    "red": "#da3633",
    "grey": "#8b949e",
}
APP_BACKGROUND = "#161b22"
WHITE = (255, 255, 255)

# Samples per pixel side where an edge crosses the pixel.
SUPERSAMPLE = 8


def hex_rgb(value):
    value = value.lstrip("#")
    return tuple(int(value[i : i + 2], 16) for i in (0, 2, 4))


# --- shapes: each is a function (x, y) -> bool, in pixel coordinates (0,0 = top-left corner) ---


def circle(cx, cy, r):
    r2 = r * r
    return lambda x, y: (x - cx) ** 2 + (y - cy) ** 2 <= r2


def rect(x0, y0, x1, y1):
    return lambda x, y: x0 <= x < x1 and y0 <= y < y1


def union(*shapes):
    return lambda x, y: any(s(x, y) for s in shapes)


def rounded_square(x0, y0, x1, y1, radius):
    def inside(x, y):
        if not (x0 <= x < x1 and y0 <= y < y1):
            return False
        cx = min(max(x, x0 + radius), x1 - radius)
        cy = min(max(y, y0 + radius), y1 - radius)
        return (x - cx) ** 2 + (y - cy) ** 2 <= radius * radius

    return inside


def snap(length, size):
    """A whole number of pixels near `length` with the parity of `size`, so that a bar of that
    length centred on the canvas starts and ends on pixel boundaries."""
    n = max(1, int(round(length)))
    if n % 2 != size % 2:
        n = n + 1 if length >= n or n == 1 else n - 1
    return n


def cross(size, cx, cy, diameter):
    """A medical cross inside a circle of `diameter` centred on (cx, cy)."""
    arm = snap(diameter * 0.62, size)
    bar = snap(diameter * 0.24, size)
    half_arm, half_bar = arm / 2, bar / 2
    return union(
        rect(cx - half_bar, cy - half_arm, cx + half_bar, cy + half_arm),
        rect(cx - half_arm, cy - half_bar, cx + half_arm, cy + half_bar),
    )


def coverage(shape, px, py):
    """The part of pixel (px, py) that `shape` covers, 0.0 to 1.0."""
    probes = ((px, py), (px + 1, py), (px, py + 1), (px + 1, py + 1), (px + 0.5, py + 0.5))
    hits = [shape(x, y) for x, y in probes]
    if all(hits):
        return 1.0
    if not any(hits):
        return 0.0
    n = SUPERSAMPLE
    step = 1.0 / n
    inside = 0
    for j in range(n):
        y = py + (j + 0.5) * step
        for i in range(n):
            if shape(px + (i + 0.5) * step, y):
                inside += 1
    return inside / (n * n)


def render(size, layers):
    """Paints `layers` [(shape, (r, g, b)), ...] bottom to top over a transparent canvas.
    Returns rows of (r, g, b, a) with straight (not premultiplied) alpha."""
    rows = []
    for py in range(size):
        row = []
        for px in range(size):
            # Premultiplied "over" compositing.
            r = g = b = a = 0.0
            for shape, colour in layers:
                c = coverage(shape, px, py)
                if c == 0.0:
                    continue
                r = colour[0] * c + r * (1 - c)
                g = colour[1] * c + g * (1 - c)
                b = colour[2] * c + b * (1 - c)
                a = c + a * (1 - c)
            if a <= 0.0:
                row.append((0, 0, 0, 0))
            else:
                row.append(
                    (
                        min(255, int(round(r / a))),
                        min(255, int(round(g / a))),
                        min(255, int(round(b / a))),
                        min(255, int(round(a * 255))),
                    )
                )
        rows.append(row)
    return rows


def badge_layers(size, colour, cx, cy, diameter):
    return [
        (circle(cx, cy, diameter / 2), colour),
        (cross(size, cx, cy, diameter), WHITE),
    ]


def tray_icon(size, colour):
    c = size / 2
    # A hair of margin keeps the anti-aliased rim inside the canvas.
    diameter = size - max(0.5, size / 44)
    return render(size, badge_layers(size, colour, c, c, diameter))


def app_icon(size):
    c = size / 2
    margin = size * 0.04
    background = rounded_square(margin, margin, size - margin, size - margin, size * 0.2)
    layers = [(background, hex_rgb(APP_BACKGROUND))]
    layers += badge_layers(size, hex_rgb(VERDICTS["green"]), c, c, size * 0.66)
    return render(size, layers)


# --- file formats ---


def png_bytes(rows):
    height, width = len(rows), len(rows[0])
    raw = bytearray()
    for row in rows:
        raw.append(0)  # filter: none
        for pixel in row:
            raw.extend(pixel)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )


def ico_bytes(pngs):
    """An ICO holding PNG-compressed images (Windows Vista and later), smallest first."""
    entries = sorted(pngs.items())
    offset = 6 + 16 * len(entries)
    directory, data = bytearray(), bytearray()
    for size, png in entries:
        dim = 0 if size >= 256 else size  # 0 means 256
        directory += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(png), offset)
        data += png
        offset += len(png)
    return struct.pack("<HHH", 0, 1, len(entries)) + bytes(directory) + bytes(data)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    print(f"{os.path.relpath(path)} ({len(data)} bytes)")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, os.pardir, "icons")
    out = os.path.normpath(out)
    os.makedirs(out, exist_ok=True)

    for verdict, colour in VERDICTS.items():
        rgb = hex_rgb(colour)
        for suffix, size in (("", 22), ("@2x", 44), ("-16", 16)):
            write(os.path.join(out, f"tray-{verdict}{suffix}.png"), png_bytes(tray_icon(size, rgb)))

    app = {}
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        app[size] = png_bytes(app_icon(size))
    write(os.path.join(out, "32x32.png"), app[32])
    write(os.path.join(out, "128x128.png"), app[128])
    write(os.path.join(out, "128x128@2x.png"), app[256])
    write(os.path.join(out, "icon.png"), app[512])
    write(os.path.join(out, "icon.ico"), ico_bytes({s: app[s] for s in (16, 24, 32, 48, 64, 256)}))


if __name__ == "__main__":
    main()

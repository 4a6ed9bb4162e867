"""The QR code as the person sees it in a terminal, back into an image.

pam_ion draws a QR code with UTF-8 half blocks, one character cell for two
modules stacked: the *light* modules are drawn (terminals show light text on
a dark background) and the dark ones are left blank.  So a cell is

    '\u2588' (full block)   top light, bottom light
    '\u2580' (upper half)   top light, bottom dark
    '\u2584' (lower half)   top dark,  bottom light
    ' '                     top dark,  bottom dark

find_qr() takes the lines of a terminal transcript and returns the block of
QR lines; png() renders them as a grayscale PNG that a scanner (zbarimg)
can read.  Python 3 standard library only.
"""
import struct
import zlib

FULL, UPPER, LOWER, BLANK = "\u2588", "\u2580", "\u2584", " "
CELLS = {FULL: (1, 1), UPPER: (1, 0), LOWER: (0, 1), BLANK: (0, 0)}
MIN_WIDTH = 21 + 4  # a version 1 code and its 2-module quiet zones


def _is_qr(s):
    return s != "" and all(c in CELLS for c in s) and any(
        c != BLANK for c in s)


def find_qr(lines):
    """The QR block in LINES (str, without line ends): the longest run of
    consecutive lines made only of half blocks and spaces, all of one
    width.  The first line of the block may follow other text on its line
    (ssh prints "(user@host) " before a prompt's first line): its last
    WIDTH characters are taken when they are all half blocks or spaces.
    Returns (index of the first line, [rows]) or (None, [])."""
    best = (None, [])
    i = 0
    while i < len(lines):
        row = lines[i]
        if not (_is_qr(row) and len(row) >= MIN_WIDTH):
            i += 1
            continue
        width, j = len(row), i
        while j < len(lines) and len(lines[j]) == width and _is_qr(lines[j]):
            j += 1
        rows = lines[i:j]
        start = i
        if i > 0 and len(lines[i - 1]) > width:
            tail = lines[i - 1][-width:]
            if all(c in CELLS for c in tail):
                rows = [tail] + rows
                start = i - 1
        if len(rows) > len(best[1]):
            best = (start, rows)
        i = j
    return best


def modules(rows):
    """The rows of half blocks as a matrix of modules, 1 = light."""
    out = []
    for row in rows:
        top, bottom = [], []
        for c in row:
            t, b = CELLS[c]
            top.append(t)
            bottom.append(b)
        out.append(top)
        out.append(bottom)
    return out


def _chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(
        ">I", zlib.crc32(body) & 0xFFFFFFFF)


def png(rows, scale=8, border=8, border_light=True):
    """A grayscale PNG of the QR rows: light modules white, dark ones black,
    SCALE pixels a module, BORDER extra modules on every side: white, or
    black (BORDER_LIGHT false: the terminal's background around the code)."""
    grid = modules(rows)
    w = max(len(r) for r in grid)
    width = (w + 2 * border) * scale
    height = (len(grid) + 2 * border) * scale
    edge = b"\xff" if border_light else b"\x00"
    edge_line = b"\x00" + edge * width
    raw = bytearray()
    for _ in range(border * scale):
        raw += edge_line
    for r in grid:
        line = bytearray(edge * (border * scale))
        for x in range(w):
            light = r[x] if x < len(r) else 1
            line += (b"\xff" if light else b"\x00") * scale
        line += edge * (border * scale)
        for _ in range(scale):
            raw += b"\x00" + line
    for _ in range(border * scale):
        raw += edge_line
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) +
            _chunk(b"IDAT", zlib.compress(bytes(raw), 9)) +
            _chunk(b"IEND", b""))

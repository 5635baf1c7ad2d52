"""Hand-built image files for the upload attacks: written chunk by chunk, so a test can make a file no
image editor would (cut mid-row, a huge canvas of nothing, a sliver) without allocating its pixels."""

from __future__ import annotations

import io
import os
import struct
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_of_rows(width: int, height: int, *, rows: int | None = None) -> bytes:
    """A greyscale PNG of `width`×`height` whose pixels are all black, compressed as it goes (a 4,000,000-row
    image costs 44 MB of zlib input, never 44 MB of memory). With `rows`, the zlib stream is complete and
    every CRC right — so Pillow's verify() passes — but it holds only that many rows: the file is cut mid-image."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + width)
    parts = [compressor.compress(row) for _ in range(height if rows is None else rows)]
    data = b"".join(parts) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def png_cut_mid_row() -> bytes:
    """The 80-byte attack file: 16×16 grey, the image data stops half way through row 6."""
    data = zlib.compress((b"\x00" + b"\x7f" * 16) * 5 + b"\x00" + b"\x7f" * 8, 9)
    header = struct.pack(">IIBBBBB", 16, 16, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def noisy_png(width: int, height: int, noisy_rows: int) -> bytes:
    """A greyscale PNG whose first `noisy_rows` rows are random (incompressible) and the rest flat: a file
    size of about width × noisy_rows bytes, whatever the canvas."""
    noise = Image.frombytes("L", (width, noisy_rows), os.urandom(width * noisy_rows))
    image = Image.new("L", (width, height), 230)
    image.paste(noise, (0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def picture(width: int, height: int, fmt: str = "PNG", colour: str = "#1e293b") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, fmt)
    return buffer.getvalue()


def upload(name: str, data: bytes, content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)

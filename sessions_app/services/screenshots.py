"""Screenshot checks: by content (Pillow, every pixel decoded), size, shape, pixel count and number — before
anything is written."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from sessions_app.errors import DomainError, InvalidInput, PayloadTooLarge, UnsupportedMediaType

ALLOWED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
MIN_SIDE = 8
MAX_SIDE = 16_384
MAX_ASPECT_RATIO = 20


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    name: str
    content_type: str
    width: int
    height: int
    sha256: str

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def screenshots_check(files: list[IO[bytes]], *, already_attached: int = 0) -> list[CheckedImage]:
    limit = settings.HARNESS_MAX_SCREENSHOTS_PER_SESSION
    if already_attached + len(files) > limit:
        raise InvalidInput(
            f"At most {limit} screenshots per session; this request would make {already_attached + len(files)}.",
            errors={"screenshots": [f"At most {limit} screenshots per session."]},
        )
    return [screenshot_check(f, index=i) for i, f in enumerate(files)]


def screenshot_check(upload: IO[bytes], *, index: int = 0) -> CheckedImage:
    """Size first, then the header (format, shape, pixel count), then the structure (verify()), then every
    pixel (load() on a fresh handle: verify() reads chunks and checksums, not the image data, so a file cut
    mid-row passes it). Nothing here writes; a bad file is a 4xx that names it and says what is wrong."""
    name = getattr(upload, "name", "") or f"screenshot-{index + 1}"
    max_bytes = settings.HARNESS_MAX_SCREENSHOT_BYTES
    size = getattr(upload, "size", None)
    if size is not None and size > max_bytes:
        raise _too_large(name, size, max_bytes)
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_large(name, len(data), max_bytes)
    field = f"screenshots[{index}]"
    if not data:
        raise InvalidInput(f"Screenshot {name!r} is empty.", errors={field: ["The file is empty."]})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt, width, height = image.format, image.width, image.height
                if fmt not in ALLOWED_FORMATS:
                    raise UnsupportedMediaType(
                        f"Screenshot {name!r} is {fmt}; upload PNG, JPEG or WebP.",
                        errors={field: [f"Unsupported image format {fmt}; use PNG, JPEG or WebP."]},
                    )
                _check_shape(name, field, width, height)
                _check_pixels(name, field, width, height)
                image.verify()
            _decode_every_pixel(data)
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise UnsupportedMediaType(
                f"Screenshot {name!r} is not an image Harness can read; upload PNG, JPEG or WebP.",
                errors={field: ["Not a PNG, JPEG or WebP image (checked by content, not by name)."]},
            )
        raise PayloadTooLarge(
            f"Screenshot {name!r} has too many pixels.", errors={field: ["Image dimensions are too large."]}
        )
    except DomainError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a decoder raises on a hostile file is a bad upload, not a 500
        reason = str(exc) or type(exc).__name__
        raise InvalidInput(
            f"Screenshot {name!r} is damaged or truncated ({reason}); export it again.",
            errors={field: [f"The image data is damaged or truncated: {reason}."]},
        )
    return CheckedImage(
        data=data,
        name=name[:255],
        content_type=ALLOWED_FORMATS[fmt],
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _decode_every_pixel(data: bytes) -> None:
    """Decode the whole image once, here, so nothing later meets a file it cannot read. The pixel count
    was checked from the header first, so this costs at most HARNESS_MAX_SCREENSHOT_PIXELS × 4 bytes,
    freed on return. Only the first frame of an animated file is decoded: the only one Harness reads."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()


def _check_shape(name: str, field: str, width: int, height: int) -> None:
    """Shapes no screen has. A side under MIN_SIDE px shows nothing a team can build from; a side over
    MAX_SIDE is longer than the tallest capture browsers make (Chromium's full-page screenshots stop at
    16,384 px, WebP cannot go further); past MAX_ASPECT_RATIO (a full-page phone capture is ~14:1) an
    image is a strip, and scaling one to a usable width would multiply its pixels."""
    short, long = min(width, height), max(width, height)
    if long > MAX_ASPECT_RATIO * short:
        raise InvalidInput(
            f"Screenshot {name!r} is {width}×{height} pixels: longer than {MAX_ASPECT_RATIO}:1 is not a screen; "
            "crop it or split it into several screenshots.",
            errors={field: [f"The long side may be at most {MAX_ASPECT_RATIO}:1 the short side."]},
        )
    if short < MIN_SIDE:
        raise InvalidInput(
            f"Screenshot {name!r} is {width}×{height} pixels; each side must be at least {MIN_SIDE}.",
            errors={field: [f"Each side must be at least {MIN_SIDE} pixels."]},
        )
    if long > MAX_SIDE:
        raise PayloadTooLarge(
            f"Screenshot {name!r} is {width}×{height} pixels; a side may be at most {MAX_SIDE:,} pixels.",
            errors={field: [f"Each side must be at most {MAX_SIDE:,} pixels."]},
        )


def _check_pixels(name: str, field: str, width: int, height: int) -> None:
    max_pixels = settings.HARNESS_MAX_SCREENSHOT_PIXELS
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"Screenshot {name!r} is {width}×{height} = {width * height:,} pixels; the limit is {max_pixels:,}.",
            errors={field: [f"At most {max_pixels:,} pixels."]},
        )


def _too_large(name: str, size: int, max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"Screenshot {name!r} is larger than the {max_bytes // (1024 * 1024)} MB limit; export a smaller image.",
        errors={"screenshots": [f"Each screenshot must be at most {max_bytes} bytes."]},
    )

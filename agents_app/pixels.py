"""Screenshots → visual context without a model: facts measured from the pixels — dimensions and
device class, dominant colours, light or dark theme, and layout bands (header, sidebar, footer)
found where the luminance changes sharply. It cannot read text, and says so.

It works on a sample that fits SAMPLE_BOX and is never larger than the image (a narrow screenshot is
not enlarged), so its time and memory are bounded whatever the upload check let through. `load_scaled`
is the one decoder of stored screenshots (the vision path uses it too): a file it cannot decode raises
`ScreenshotUnreadable`, a fault no retry fixes."""

from __future__ import annotations

import io
import math
import warnings

from django.conf import settings
from PIL import Image

#: The sample is at most 160 px wide (as it always was, so a desktop or phone capture is measured as
#: before) and 480 px tall (a phone capture at 160 wide is ~350 tall; a full-page capture shrinks into it).
SAMPLE_BOX = (160, 480)
EDGE = 0.08  # luminance step that counts as a band edge (columns)
ROW_EDGE = 0.03  # headers and footers are often only a shade apart, with a border line


class ScreenshotUnreadable(Exception):
    """A stored screenshot that cannot be decoded (damaged on disk, or stored before the upload check
    decoded every pixel). Deterministic: planning fails with the category `image` instead of retrying."""


def fitted_size(width: int, height: int, box: tuple[int, int], max_pixels: int | None = None) -> tuple[int, int]:
    """The size that fits `box` (and `max_pixels`), keeping the aspect ratio, never larger than the image."""
    scale = min(1.0, box[0] / width, box[1] / height)
    if max_pixels is not None:
        scale = min(scale, math.sqrt(max_pixels / (width * height)))
    if scale >= 1.0:
        return width, height
    # floor, with a hair of slack so that 480 / 16000 × 16000 is 480 and not 479.99…
    return max(1, math.floor(width * scale + 1e-6)), max(1, math.floor(height * scale + 1e-6))


def load_scaled(
    data: bytes, box: tuple[int, int], *, max_pixels: int | None = None
) -> tuple[Image.Image, tuple[int, int], str]:
    """Decode `data` into an image that fits `box` (never enlarged): (image, original size, format).
    Refuses more pixels than the upload limit before decoding any (a file stored before the limit was
    lowered); a JPEG is decoded at a reduced scale when that is enough (`draft`)."""
    limit = settings.HARNESS_MAX_SCREENSHOT_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt, size = image.format or "", image.size
                if size[0] * size[1] > limit:
                    raise ScreenshotUnreadable(
                        f"is {size[0]}×{size[1]} = {size[0] * size[1]:,} pixels, over the {limit:,}-pixel limit"
                    )
                target = fitted_size(*size, box, max_pixels)
                if target != size:
                    image.draft(None, target)
                image.load()
                if image.size == target:
                    return image.copy(), size, fmt
                return image.resize(target, Image.Resampling.BILINEAR, reducing_gap=2.0), size, fmt
    except ScreenshotUnreadable:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a decoder raises on a damaged file is that file's fault
        raise ScreenshotUnreadable(f"cannot be decoded ({exc or type(exc).__name__})") from exc


def analyse_image_offline(data: bytes, *, name: str = "") -> dict:
    sample, (width, height), _ = load_scaled(data, SAMPLE_BOX)
    small = as_rgb(sample)
    palette = _palette(small)
    luma = _luminance_grid(small)
    regions = _regions(luma)
    background = palette[0]["hex"] if palette else "#ffffff"
    theme = "dark" if _hex_luminance(background) < 0.45 else "light"
    components = _components(regions, palette, small)
    device = device_class(width, height)
    return {
        "source": "offline",
        "image": {
            "width": width,
            "height": height,
            "aspect_ratio": round(width / max(1, height), 3),
            "orientation": "square" if abs(width - height) < 0.05 * max(width, height) else ("landscape" if width > height else "portrait"),
            "device_class": device,
        },
        "sample": {"width": small.width, "height": small.height},
        "palette": palette,
        "theme": theme,
        "layout": {"regions": regions, "columns": 2 if any(r["name"] == "sidebar" for r in regions) else 1},
        "components": components,
        "screens": [{"name": name or "screen", "description": f"{device} {theme} screen with " + (", ".join(r["name"] for r in regions) or "one region")}],
        "text": [],
        "notes": ["offline analysis measures pixels only: it cannot read text or name components with certainty"],
    }  # fmt: skip


def device_class(width: int, height: int) -> str:
    if width <= 600 or (height > 1.4 * width and width <= 1100):
        return "phone"
    if width < 1100 or height > width:
        return "tablet"
    return "desktop"


def as_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.split()[-1])
        return canvas
    return image.convert("RGB")


def _palette(small: Image.Image, colours: int = 6) -> list[dict]:
    quantized = small.quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    counts = sorted(quantized.getcolors() or [], reverse=True)
    lookup = quantized.getpalette() or []
    total = sum(count for count, _ in counts) or 1
    entries = []
    for count, index in counts:
        r, g, b = lookup[index * 3 : index * 3 + 3]
        hex_colour = f"#{r:02x}{g:02x}{b:02x}"
        if count / total < 0.01 or any(e["hex"] == hex_colour for e in entries):
            continue
        entries.append({"hex": hex_colour, "share": round(count / total, 3), "saturation": _saturation(r, g, b)})
    if not entries:
        return []
    entries[0]["role"] = "background"
    rest = entries[1:]
    if rest:
        accent = max(rest, key=lambda e: e["saturation"])
        if accent["saturation"] > 0.25:
            accent["role"] = "accent"
        background_luma = _hex_luminance(entries[0]["hex"])
        text = max(
            (e for e in rest if "role" not in e),
            key=lambda e: abs(_hex_luminance(e["hex"]) - background_luma),
            default=None,
        )
        if text is not None:
            text["role"] = "text"
    for entry in entries:
        entry.setdefault("role", "surface")
        entry.pop("saturation")
    return entries


def _saturation(r: int, g: int, b: int) -> float:
    high, low = max(r, g, b), min(r, g, b)
    return 0.0 if high == 0 else (high - low) / high


def _hex_luminance(hex_colour: str) -> float:
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _luminance_grid(small: Image.Image) -> list[list[float]]:
    grey = small.convert("L")
    w, h = grey.size
    pixels = grey.tobytes()
    return [[pixels[y * w + x] / 255 for x in range(w)] for y in range(h)]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _regions(luma: list[list[float]]) -> list[dict]:
    """Sidebars from column profiles first; header and footer from row profiles beside them."""
    h, w = len(luma), len(luma[0])
    columns = [_mean([row[x] for row in luma]) for x in range(w)]
    left = _band(columns, from_start=True, max_share=0.4)
    right = _band(columns, from_start=False, max_share=0.35)
    rows = [_mean(row[left : w - right] or row) for row in luma]
    top = _band(rows, from_start=True, edge=ROW_EDGE)
    bottom = _band(rows, from_start=False, edge=ROW_EDGE)
    y0, y1 = round(top / h, 3), round(1 - bottom / h, 3)
    x0, x1 = round(left / w, 3), round(1 - right / w, 3)
    regions: list[dict] = []
    if left:
        regions.append({"name": "sidebar", "box": [0.0, 0.0, x0, 1.0], "confidence": 0.7})
    if right:
        regions.append({"name": "sidebar-right", "box": [x1, 0.0, 1.0, 1.0], "confidence": 0.5})
    if top:
        regions.append({"name": "header", "box": [x0, 0.0, x1, y0], "confidence": 0.6})
    if bottom:
        regions.append({"name": "footer", "box": [x0, y1, x1, 1.0], "confidence": 0.6})
    regions.append({"name": "content", "box": [x0, y0, x1, y1], "confidence": 0.5})
    return regions


def _band(profile: list[float], *, from_start: bool, max_share: float = 0.22, edge: float = EDGE) -> int:
    """Length of a band at one end whose mean luminance steps sharply to the rest; 0 if none."""
    n = len(profile)
    values = profile if from_start else profile[::-1]
    best, best_step = 0, edge
    for size in range(max(2, n // 40), max(3, int(n * max_share))):
        inside, outside = _mean(values[:size]), _mean(values[size : size + max(4, n // 5)])
        step = abs(inside - outside)
        uniform = max(values[:size]) - min(values[:size]) < 0.35
        if step > best_step and uniform:
            best, best_step = size, step
    return best


def _components(regions: list[dict], palette: list[dict], small: Image.Image) -> list[dict]:
    names = {r["name"] for r in regions}
    components = []
    if "sidebar" in names:
        components.append({"type": "navigation", "count": 1, "evidence": "a full-height band on the left"})
    if "header" in names:
        components.append({"type": "header", "count": 1, "evidence": "a uniform band across the top"})
    if "footer" in names:
        components.append({"type": "input", "count": 1, "evidence": "a band across the bottom (composer or footer)"})
    accent = next((p["hex"] for p in palette if p.get("role") == "accent"), None)
    if accent:
        blobs = _accent_blobs(small, accent)
        if blobs:
            components.append(
                {"type": "button", "count": blobs, "evidence": f"{blobs} separate areas in the accent colour {accent}"}
            )
    return components


def _accent_blobs(small: Image.Image, accent: str) -> int:
    target = tuple(int(accent[i : i + 2], 16) for i in (1, 3, 5))
    w, h = small.size
    pixels = small.load()
    mask = {
        (x, y)
        for y in range(h)
        for x in range(w)
        if sum(abs(a - b) for a, b in zip(pixels[x, y], target, strict=True)) < 60
    }
    blobs = 0
    while mask:
        blobs += 1
        stack = [mask.pop()]
        while stack:
            x, y = stack.pop()
            for neighbour in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                if neighbour in mask:
                    mask.remove(neighbour)
                    stack.append(neighbour)
    return blobs

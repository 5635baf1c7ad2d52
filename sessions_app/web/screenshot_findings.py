"""What the session page says beside each screenshot: what its analysis found, in words, and the requirements
derived from it (a selector: reads only)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sessions_app.models import DevelopmentSession, RequirementStatus


@dataclass
class ScreenshotFindings:
    id: int
    name: str
    width: int
    height: int
    analysed: bool
    source: str = ""
    findings: list[str] = field(default_factory=list)
    palette: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)


def screenshot_findings(*, session: DevelopmentSession) -> list[ScreenshotFindings]:
    derived: dict[int, list[str]] = {}
    for requirement in session.requirements.filter(
        source_screenshot__isnull=False, status=RequirementStatus.ACTIVE
    ).order_by("id"):
        derived.setdefault(requirement.source_screenshot_id, []).append(requirement.text)
    return [
        ScreenshotFindings(
            id=shot.pk,
            name=shot.original_name or "screenshot",
            width=shot.width,
            height=shot.height,
            analysed=shot.analysed_at is not None,
            source=str((shot.analysis or {}).get("source") or ""),
            findings=findings_in_words(shot.analysis or {}),
            palette=_palette(shot.analysis or {}),
            requirements=derived.get(shot.pk, []),
        )
        for shot in session.screenshots.order_by("id")
    ]


def findings_in_words(analysis: dict) -> list[str]:
    """The analysis (agents_app.vision / pixels: screens, theme, layout, components, text) as short sentences."""
    said: list[str] = []
    image = analysis.get("image") or {}
    look = [
        f"{image['device_class']} screen" if image.get("device_class") else "",
        f"{analysis['theme']} theme" if analysis.get("theme") else "",
    ]
    if any(look):
        said.append(", ".join(w for w in look if w).capitalize() + ".")
    for screen in (analysis.get("screens") or [])[:3]:
        if isinstance(screen, dict) and screen.get("description"):
            said.append(f"Screen: {screen['description']}.")
    regions = [r.get("name") for r in (analysis.get("layout") or {}).get("regions", []) if isinstance(r, dict)]
    if regions:
        said.append(f"Layout: {', '.join(str(r) for r in regions if r)}.")
    components = [c for c in analysis.get("components") or [] if isinstance(c, dict) and c.get("type")]
    if components:
        named = [f"{c['type']} ×{c['count']}" if (c.get("count") or 1) > 1 else str(c["type"]) for c in components]
        said.append(f"Components: {', '.join(named)}.")
    texts = [str(t.get("text") if isinstance(t, dict) else t) for t in analysis.get("text") or []]
    if texts:
        said.append("Text read: " + "; ".join(f"“{t}”" for t in texts[:5]) + ".")
    said += [f"Note: {note}." for note in (analysis.get("notes") or [])[:2] if isinstance(note, str)]
    return said


def _palette(analysis: dict) -> list[str]:
    colours = [c.get("hex") for c in analysis.get("palette") or [] if isinstance(c, dict)]
    return [str(hex_) for hex_ in colours if hex_][:5]

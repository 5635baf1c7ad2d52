"""The session's files as a zip that unpacks cleanly anywhere (a read: nothing is written)."""

from __future__ import annotations

import io
import time
import zipfile

from django.db.models import F

from artifacts_app.models import ArtifactVersion, artifact_path_problem
from sessions_app.models import DevelopmentSession

FILE_MODE = 0o100644  # a regular file, rw-r--r--
DIR_MODE = 0o040755  # a folder, rwxr-xr-x


def session_export_zip(*, session: DevelopmentSession) -> tuple[bytes, list[str]]:
    """The latest version of every file under one top folder named after the session, and the paths left out.

    Writes refuse paths that do not unpack cleanly; files stored before those rules (an unsafe name, a file
    where another file's folder is, a second spelling of a name) are left out — the first written of a
    clashing pair stays — and named in the second value. Every folder gets one entry, every name appears
    once (letter case ignored)."""
    kept, skipped = _placeable(session)
    root = session.public_id
    stamp = time.localtime()[:6]
    folders_done: set[str] = set()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        _add_dir(archive, root, stamp)
        for path, content in sorted(kept.items()):
            for folder in _folders(path):
                if folder.lower() not in folders_done:
                    folders_done.add(folder.lower())
                    _add_dir(archive, f"{root}/{folder}", stamp)
            info = zipfile.ZipInfo(f"{root}/{path}", date_time=stamp)
            info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, FILE_MODE << 16
            archive.writestr(info, content)
    return buffer.getvalue(), sorted(skipped)


def _placeable(session: DevelopmentSession) -> tuple[dict[str, str], list[str]]:
    """path → content of the latest versions that fit one tree, taken in the order the files were created."""
    rows = (
        ArtifactVersion.objects.filter(artifact__session=session, number=F("artifact__latest_version_number"))
        .order_by("artifact_id")
        .values_list("artifact__path", "content")
    )
    taken: dict[str, str] = {}  # lowercased name → "file" / "dir"
    kept: dict[str, str] = {}
    skipped: list[str] = []
    for path, content in rows:
        folders = [f.lower() for f in _folders(path)]
        if artifact_path_problem(path) or path.lower() in taken or any(taken.get(f) == "file" for f in folders):
            skipped.append(path)
            continue
        taken.update(dict.fromkeys(folders, "dir"))
        taken[path.lower()] = "file"
        kept[path] = content
    return kept, skipped


def _folders(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _add_dir(archive: zipfile.ZipFile, name: str, stamp: tuple) -> None:
    info = zipfile.ZipInfo(f"{name}/", date_time=stamp)
    info.external_attr = (DIR_MODE << 16) | 0x10  # and the MS-DOS directory flag
    archive.writestr(info, b"")

"""The session's files as a zip that unpacks cleanly anywhere (a read: nothing is written).

The zip is streamed: it is written into a pipe as the contents are read, a batch of files at a time, and each
piece is handed on as soon as it is written, so a session of any size costs the memory of one batch."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator

from django.db.models import F

from artifacts_app.models import ArtifactVersion, artifact_path_problem
from sessions_app.models import DevelopmentSession

FILE_MODE = 0o100644  # a regular file, rw-r--r--
DIR_MODE = 0o040755  # a folder, rwxr-xr-x
BATCH_FILES = 50  # contents read per query (and held at once)


def session_export(*, session: DevelopmentSession) -> tuple[Iterator[bytes], list[str]]:
    """The zip, as pieces to send, of the latest version of every file under one top folder named after the
    session; and the paths left out.

    Writes refuse paths that do not unpack cleanly; files stored before those rules (an unsafe name, a file
    where another file's folder is, a second spelling of a name) are left out — the first written of a
    clashing pair stays — and named in the second value. Every folder gets one entry, every name appears
    once (letter case ignored). Which files go in is decided from their paths (one query) before any content
    is read; the contents follow in batches as the zip is written."""
    kept, skipped = _placeable(session)
    return _zip_pieces(session.public_id, kept), sorted(skipped)


def session_export_zip(*, session: DevelopmentSession) -> tuple[bytes, list[str]]:
    """The whole zip in memory (for callers that need bytes; the API streams `session_export`)."""
    pieces, skipped = session_export(session=session)
    return b"".join(pieces), skipped


class _Pipe(io.RawIOBase):
    """A write-only, unseekable file: zipfile writes into it (with data descriptors, as it cannot seek back),
    the generator takes out what was written."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._buffer += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self._buffer)
        self._buffer.clear()
        return data


def _zip_pieces(root: str, kept: dict[str, int]) -> Iterator[bytes]:
    stamp = time.localtime()[:6]
    folders_done: set[str] = set()
    paths = sorted(kept)
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as archive:
        _add_dir(archive, root, stamp)
        for start in range(0, len(paths), BATCH_FILES):
            batch = paths[start : start + BATCH_FILES]
            contents = _contents({kept[path] for path in batch})
            for path in batch:
                for folder in _folders(path):
                    if folder.lower() not in folders_done:
                        folders_done.add(folder.lower())
                        _add_dir(archive, f"{root}/{folder}", stamp)
                info = zipfile.ZipInfo(f"{root}/{path}", date_time=stamp)
                info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, FILE_MODE << 16
                archive.writestr(info, contents.pop(kept[path]))
                if piece := pipe.take():
                    yield piece
    yield pipe.take()  # the central directory, written on close


def _contents(artifact_ids: set[int]) -> dict[int, str]:
    """artifact id → content of its latest version, for one batch."""
    return dict(
        ArtifactVersion.objects.filter(
            artifact_id__in=artifact_ids, number=F("artifact__latest_version_number")
        ).values_list("artifact_id", "content")
    )


def _placeable(session: DevelopmentSession) -> tuple[dict[str, int], list[str]]:
    """path → artifact id of the latest versions that fit one tree, taken in the order the files were created."""
    rows = (
        ArtifactVersion.objects.filter(artifact__session=session, number=F("artifact__latest_version_number"))
        .order_by("artifact_id")
        .values_list("artifact__path", "artifact_id")
    )
    taken: dict[str, str] = {}  # lowercased name → "file" / "dir"
    kept: dict[str, int] = {}
    skipped: list[str] = []
    for path, artifact_id in rows:
        folders = [f.lower() for f in _folders(path)]
        if artifact_path_problem(path) or path.lower() in taken or any(taken.get(f) == "file" for f in folders):
            skipped.append(path)
            continue
        taken.update(dict.fromkeys(folders, "dir"))
        taken[path.lower()] = "file"
        kept[path] = artifact_id
    return kept, skipped


def _folders(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _add_dir(archive: zipfile.ZipFile, name: str, stamp: tuple) -> None:
    info = zipfile.ZipInfo(f"{name}/", date_time=stamp)
    info.external_attr = (DIR_MODE << 16) | 0x10  # and the MS-DOS directory flag
    archive.writestr(info, b"")

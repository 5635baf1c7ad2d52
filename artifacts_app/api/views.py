"""Artifacts API: files, versions with diffs, a person's edit, and the session's zip export."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from artifacts_app.api import serializers as s
from artifacts_app.export import session_export
from artifacts_app.selectors import artifact_get, artifact_list, session_changes, version_list
from artifacts_app.services import artifact_edit
from sessions_app.api.base import SessionScopedView, parse
from sessions_app.api.pagination import DefaultCursorPagination


class SessionArtifactListView(SessionScopedView):
    @extend_schema(responses=s.ArtifactOutput(many=True))
    def get(self, request: Request, session_id: str) -> Response:
        session = self.get_session(request, session_id)
        return Response(s.ArtifactOutput(artifact_list(session=session), many=True).data)


class SessionChangesView(SessionScopedView):
    """Every file changed in the session with each change's author and diff, in one request."""

    @extend_schema(parameters=[s.ChangesFilterInput], responses=s.SessionChangesOutput)
    def get(self, request: Request, session_id: str) -> Response:
        session = self.get_session(request, session_id)
        filters = parse(s.ChangesFilterInput, request.query_params)
        versions = session_changes(session=session, agent=filters.get("agent"), run=filters.get("run"))
        files: dict[int, dict] = {}
        authors: dict[tuple, dict] = {}
        for version in versions:
            artifact = version.artifact
            entry = files.setdefault(
                artifact.pk,
                {
                    "artifact": artifact.public_id,
                    "path": artifact.path,
                    "kind": artifact.kind,
                    "language": artifact.language,
                    "version": artifact.latest_version_number,
                    "authors": [],
                    "changes": [],
                },
            )
            entry["changes"].append(version)
            author = s.version_author(version)
            if author not in entry["authors"]:
                entry["authors"].append(author)
            authors.setdefault((author["kind"], author["name"], author.get("run")), author)
        return Response(s.SessionChangesOutput({"files": list(files.values()), "authors": list(authors.values())}).data)


class ArtifactDetailView(APIView):
    @extend_schema(responses=s.ArtifactDetailOutput)
    def get(self, request: Request, artifact_id: str) -> Response:
        artifact = artifact_get(user=request.user, public_id=artifact_id)
        artifact.latest = artifact.versions.order_by("-number").first()
        return Response(s.ArtifactDetailOutput(artifact).data)

    @extend_schema(request=s.ArtifactEditInput, responses={201: s.VersionWithContentOutput})
    def put(self, request: Request, artifact_id: str) -> Response:
        artifact = artifact_get(user=request.user, public_id=artifact_id)
        data = parse(s.ArtifactEditInput, request.data)
        version = artifact_edit(
            user=request.user, artifact=artifact, content=data["content"], base_number=data["base_version"]
        )
        return Response(s.VersionWithContentOutput(version).data, status=status.HTTP_201_CREATED)


class VersionCursorPagination(DefaultCursorPagination):
    """Versions read oldest first; `?cursor=` pages on."""

    ordering = "number"


class ArtifactVersionListView(APIView):
    """The file's versions with diffs, oldest first, paginated; the full contents only with `?content=1`."""

    pagination_class = VersionCursorPagination  # the schema shows the list in its {next, previous, results} envelope

    @extend_schema(parameters=[s.VersionListInput], responses=s.VersionListItemOutput(many=True))
    def get(self, request: Request, artifact_id: str) -> Response:
        artifact = artifact_get(user=request.user, public_id=artifact_id)
        with_content = parse(s.VersionListInput, request.query_params)["content"]
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            version_list(artifact=artifact, with_content=with_content), request, view=self
        )
        data = s.VersionListItemOutput(page, many=True, with_content=with_content).data
        return paginator.get_paginated_response(data)


class SessionExportView(SessionScopedView):
    @extend_schema(
        responses={(200, "application/zip"): OpenApiResponse(description="The files at their latest versions")}
    )
    def get(self, request: Request, session_id: str) -> StreamingHttpResponse:
        session = self.get_session(request, session_id)
        pieces, skipped = session_export(session=session)
        response = StreamingHttpResponse(_served(request, pieces), content_type="application/zip")
        if skipped:
            response["X-Harness-Skipped-Files"] = str(len(skipped))
        response["Content-Disposition"] = f'attachment; filename="{session.public_id}.zip"'
        return response


def _served(request: Request, pieces: Iterator[bytes]) -> Iterator[bytes] | AsyncIterator[bytes]:
    """Under ASGI (daphne) Django would read a plain iterator to its end before sending anything: hand it an
    async one that takes each piece from the database thread as it is written."""
    if not isinstance(request._request, ASGIRequest):
        return pieces

    async def each() -> AsyncIterator[bytes]:
        take = sync_to_async(next, thread_sensitive=True)
        while (piece := await take(pieces, None)) is not None:
            yield piece

    return each()

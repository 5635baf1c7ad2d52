"""Issue 14 (9b): paths that make the export zip fail to unpack, or that reach outside the workspace's
meaning (a newline, a `.git/` folder, a file where a folder is), are refused — to an agent as a refused
tool call it can act on, to a person as a 400 — and the export of a real session unpacks cleanly."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile

import pytest

from agents_app import planning
from agents_app.llm.base import ToolCall
from agents_app.models import AgentRun
from agents_app.selectors import policy_for
from agents_app.toolbox import Toolbox
from artifacts_app.models import Artifact, ArtifactVersion
from artifacts_app.services import artifact_write
from sessions_app.errors import InvalidInput
from sessions_app.events import Actor
from sessions_app.models import DevelopmentSession, SessionEvent


@pytest.fixture
def run(db, start):  # noqa: ANN001, ANN201
    session = start(agents=["backend"])
    assert planning.plan_session(session.pk) == "planned"
    return AgentRun.objects.select_related("agent", "session__organization").get(session=session)


def write(run: AgentRun, path: str, content: str = "x\n", call_id: str = "t1") -> dict:
    toolbox = Toolbox(run, {}, policy_for(run.session.organization), step=1)
    call = ToolCall(id=call_id, name="write_file", input={"path": path, "content": content})
    return toolbox.run_calls([call]).tool_results[0]


def paths(session: DevelopmentSession) -> list[str]:
    return list(Artifact.objects.filter(session=session).order_by("path").values_list("path", flat=True))


def legacy_file(session: DevelopmentSession, path: str) -> Artifact:
    """A file stored before the path rules existed (straight into the table)."""
    artifact = Artifact.objects.create(session=session, path=path, latest_version_number=1)
    ArtifactVersion.objects.create(artifact=artifact, number=1, content="old\n", sha256="0" * 64, author_kind="agent")
    return artifact


def refusals(session: DevelopmentSession) -> list[str]:
    events = SessionEvent.objects.filter(session=session, type="agent.tool_refused").order_by("seq")
    return [e.data["reason"] for e in events]


@pytest.mark.parametrize(
    ("first", "second", "reason"),
    [
        ("dir/child.txt", "dir", "dir is a folder here (it holds dir/child.txt)"),
        ("dir", "dir/child.txt", "dir is a file here, so it cannot also be a folder"),
        ("a/b/c.py", "a", "a is a folder here"),
        ("a", "a/b/c.py", "a is a file here"),
        ("app/models.py", "App/models.py", "differs only in letter case from app/models.py"),
    ],
)
def test_it_writes_a_file_where_a_folder_is(run, first, second, reason):
    assert write(run, first, call_id="t1")["content"].startswith("ok")

    refused = write(run, second, call_id="t2")

    assert refused["is_error"] and refused["content"].startswith("refused: ")
    assert reason in refused["content"]
    assert paths(run.session) == [first]
    assert len(refusals(run.session)) == 1 and reason in refusals(run.session)[0]


@pytest.mark.parametrize(
    "path",
    [
        "app/models.py\nrm -rf",
        "app\n/models.py",
        "app/mo\tdels.py",
        "app/mo\x00dels.py",
        "app/mo\x7fdels.py",
        "app/mo\u202edels.py",  # right-to-left override: shows a different name than it is
        ".git/config",
        "src/.git/hooks/pre-commit",
        ".GIT/config",
        "GIT~1/config",
        "../outside.py",
        "app/../../outside.py",
        "/etc/passwd",
        "C:/Windows/win.ini",
        "app//models.py",
        "app/",
        "app/./models.py",
        "app /models.py",
        "app/models.py.",
        "x" * 401,
        "a/" + "y" * 256,
        ".harness/verification.json",
        ".harness",
    ],
)
def test_it_writes_a_path_that_does_not_unpack_as_itself(run, path):
    refused = write(run, path)

    assert refused["is_error"] and refused["content"].startswith("refused: Path "), refused
    assert paths(run.session) == []
    assert len(refusals(run.session)) == 1


def test_the_agent_still_writes_ordinary_paths(run):
    for i, path in enumerate([".gitignore", "./app/models.py", "app\\views.py", "docs/README.md", ".github/ci.yml"]):
        assert write(run, path, call_id=f"t{i}")["content"].startswith("ok"), path

    assert paths(run.session) == [".github/ci.yml", ".gitignore", "app/models.py", "app/views.py", "docs/README.md"]


def test_it_writes_a_file_where_a_folder_is_as_a_person(cast, api, acme):
    """People only edit existing files; a file stored before these rules (a clash) cannot be edited into a
    second version, and the service refuses the same paths to a person."""
    session = DevelopmentSession.objects.create(
        organization=acme, created_by=cast["member"], intent="x", status="running"
    )
    for path in ("dir", "dir/child.txt"):  # written before the rules existed
        artifact = legacy_file(session, path)

    response = api(cast["member"]).put(
        f"/api/v1/artifacts/{artifact.public_id}/", {"content": "new\n", "base_version": 1}, format="json"
    )

    assert response.status_code == 400, response.content
    assert "dir is a file here" in response.json()["detail"] and response.json()["errors"]["path"]
    with pytest.raises(InvalidInput) as refused:
        artifact_write(
            session=session, path=".git/config", content="x", actor=Actor.for_user(cast["member"]), base_number=0
        )
    assert refused.value.status_code == 400 and ".git" in refused.value.errors["path"][0]
    assert ArtifactVersion.objects.filter(artifact__session=session).count() == 2


REALISTIC = {
    "README.md": "# Chat\n",
    ".gitignore": "__pycache__/\n",
    "app/__init__.py": "",
    "app/models.py": "class Message:\n    pass\n",
    "app/api/views.py": "def index():\n    return 'ok'\n",
    "tests/test_models.py": "def test_it():\n    assert True\n",
    "frontend/src/App.tsx": "export default function App() { return null }\n",
    "docs/adr/0001-record.md": "Use Django.\n",
}


def test_it_exports_a_session_that_unpacks_cleanly(run, api, cast, tmp_path):
    session = run.session
    for i, (path, content) in enumerate(REALISTIC.items()):
        assert write(run, path, content, call_id=f"t{i}")["content"].startswith("ok"), path
    report = ".harness/verification.json"
    artifact_write(session=session, path=report, content="{}\n", actor=Actor.system(), base_number=0)
    # Rows stored before the rules: a file where a folder is, a newline, a .git folder, a second spelling.
    for path in ("app", "evil\nname.py", ".git/config", "README.MD", "../escape.py"):
        legacy_file(session, path)

    response = api(cast["member"]).get(f"/api/v1/sessions/{session.public_id}/export.zip")

    assert response.status_code == 200
    body = response.getvalue()  # streamed: read once (a StreamingHttpResponse has no .content)
    archive = zipfile.ZipFile(io.BytesIO(body))
    names = archive.namelist()
    assert len(names) == len({n.lower() for n in names}), "a name appears twice"
    files = {n for n in names if not n.endswith("/")}
    folders = {n.rstrip("/") for n in names if n.endswith("/")}
    assert not files & folders
    root = session.public_id
    expected = {f"{root}/{p}" for p in [*REALISTIC, ".harness/verification.json"]}
    assert files == expected, sorted(files ^ expected)
    assert response["X-Harness-Skipped-Files"] == "5"
    assert archive.testzip() is None
    archive.extractall(tmp_path / "py")
    for path, content in REALISTIC.items():
        assert (tmp_path / "py" / root / path).read_text() == content
    if shutil.which("unzip") is None:
        pytest.skip("no unzip binary on this machine: the zipfile half ran, the unzip half cannot")
    (tmp_path / "export.zip").write_bytes(body)
    tested = subprocess.run(["unzip", "-t", str(tmp_path / "export.zip")], capture_output=True, text=True, check=False)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    unpacked = subprocess.run(
        ["unzip", "-n", str(tmp_path / "export.zip"), "-d", str(tmp_path / "unzip")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert unpacked.returncode == 0, unpacked.stdout + unpacked.stderr
    for path, content in REALISTIC.items():
        assert (tmp_path / "unzip" / root / path).read_text() == content


def test_it_writes_a_file_where_an_inherited_folder_is(cast, acme):
    """An epic's child reads its completed siblings' files as its own: the same tree, the same clashes."""
    epic = DevelopmentSession.objects.create(organization=acme, created_by=cast["lead"], intent="e", task_type="epic")
    sibling, child = (
        DevelopmentSession.objects.create(organization=acme, created_by=cast["lead"], intent=i, parent=epic)
        for i in ("a", "b")
    )
    agent = Actor.for_agent("backend", "Backend")
    artifact_write(session=sibling, path="lib/util.py", content="x = 1\n", actor=agent, base_number=0)
    DevelopmentSession.objects.filter(pk=sibling.pk).update(status="completed")

    with pytest.raises(InvalidInput, match="lib is a folder here"):
        artifact_write(session=child, path="lib", content="oops\n", actor=agent, base_number=0)
    assert artifact_write(session=child, path="lib/util.py", content="x = 2\n", actor=agent, base_number=0).version

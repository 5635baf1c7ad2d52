"""The password-reset flow: a real reset-token API, its tests and its forms (kind "password_reset").

Tokens are random (`secrets`), stored only as SHA-256 hashes, expire after the spec's TTL and work
once. Passwords are stored as salted PBKDF2 hashes. Offline mode sends no email: messages go to an
in-memory outbox (`application.outbox`), which is what a mail adapter would replace.
"""

from __future__ import annotations

import html
import json

from agents_app.offline_project.backend import CORE

API = '''

ITERATIONS = 100_000


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, ITERATIONS)
    return f"pbkdf2_sha256${ITERATIONS}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        _, iterations, salt, digest = stored.split("$")
        candidate = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def fields(data: object, names: list[str]) -> dict:
    """The named string fields of a JSON object, or a 400 naming each missing or wrong one."""
    if not isinstance(data, dict):
        raise invalid({"body": ["Send a JSON object."]})
    errors: dict[str, list[str]] = {}
    for name in names:
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors[name] = ["This field is required."]
        elif not isinstance(value, str):
            errors[name] = ["Must be a string."]
    if "password" in names and isinstance(data.get("password"), str) and "password" not in errors:
        if len(data["password"]) < MIN_PASSWORD_LENGTH:
            errors["password"] = [f"Use at least {MIN_PASSWORD_LENGTH} characters."]
    if errors:
        raise invalid(errors)
    return {name: data[name] for name in names}


class Accounts:
    """Users, reset tokens and the outbox, behind one lock."""

    def __init__(self, clock) -> None:  # noqa: ANN001
        self.clock = clock
        self.users: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.outbox: list[dict] = []
        self.lock = threading.Lock()


def register(accounts: Accounts, environ: dict) -> tuple[int, object]:
    data = fields(read_json(environ), ["email", "password"])
    email = data["email"].strip().lower()
    with accounts.lock:
        if email in accounts.users:
            raise invalid({"email": ["An account with this email exists."]})
        user = {"id": len(accounts.users) + 1, "email": email, "password": hash_password(data["password"])}
        accounts.users[email] = user
    return 201, {"id": user["id"], "email": email}


def login(accounts: Accounts, environ: dict) -> tuple[int, object]:
    data = fields(read_json(environ), ["email", "password"])
    user = accounts.users.get(data["email"].strip().lower())
    if user is None or not password_matches(data["password"], user["password"]):
        raise HTTPError(401, {"error": "Wrong email or password."})
    return 200, {"id": user["id"], "email": user["email"]}


def request_reset(accounts: Accounts, environ: dict) -> tuple[int, object]:
    """Always 202 with the same answer, so the response does not tell who has an account."""
    data = fields(read_json(environ), ["email"])
    email = data["email"].strip().lower()
    with accounts.lock:
        user = accounts.users.get(email)
        if user is not None:
            token = secrets.token_urlsafe(32)
            accounts.tokens[token_hash(token)] = {
                "user": email, "expires_at": accounts.clock() + TOKEN_TTL_SECONDS, "used": False,
            }
            accounts.outbox.append({"to": email, "subject": "Reset your password", "token": token})
    return 202, {"detail": "If an account exists for this email, a reset token has been sent."}


def confirm_reset(accounts: Accounts, environ: dict) -> tuple[int, object]:
    data = fields(read_json(environ), ["token", "password"])
    with accounts.lock:
        entry = accounts.tokens.get(token_hash(data["token"]))
        if entry is None or entry["used"] or accounts.clock() >= entry["expires_at"]:
            raise invalid({"token": ["This reset token is invalid, used or expired."]})
        entry["used"] = True
        for other in accounts.tokens.values():
            if other["user"] == entry["user"]:
                other["used"] = True  # one reset ends every outstanding token of the account
        accounts.users[entry["user"]]["password"] = hash_password(data["password"])
    return 200, {"detail": "Your password has been changed."}


ROUTES = [
    ("POST", "/api/users", register),
    ("POST", "/api/login", login),
    ("POST", "/api/password-reset/request", request_reset),
    ("POST", "/api/password-reset/confirm", confirm_reset),
]


def dispatch(accounts: Accounts, method: str, path: str, environ: dict) -> tuple[int, object, list]:
    path = path.rstrip("/") or "/"
    allowed = [m for m, pattern, _ in ROUTES if pattern == path]
    for route_method, pattern, handler in ROUTES:
        if pattern == path and route_method == method:
            status, payload = handler(accounts, environ)
            return status, payload, []
    if allowed:
        raise HTTPError(405, {"error": f"Use {', '.join(allowed)} on {path}."}, [("Allow", ", ".join(allowed))])
    raise HTTPError(404, {"error": f"No route for {path}."})


def create_app(clock=time.time):  # noqa: ANN001, ANN201
    """A WSGI application with its own accounts; `clock` is injectable so tests can expire tokens."""
    accounts = Accounts(clock)

    def application(environ: dict, start_response):  # noqa: ANN202
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        try:
            status, payload, headers = dispatch(accounts, method, environ.get("PATH_INFO") or "/", environ)
        except HTTPError as exc:
            status, payload, headers = exc.status, exc.payload, exc.headers
        body = json.dumps(payload).encode("utf-8")
        start_response(
            f"{status} {REASONS.get(status, 'Unknown')}",
            [("Content-Type", JSON_TYPE), ("Content-Length", str(len(body))), *headers],
        )
        return [body]

    application.accounts = accounts
    application.outbox = accounts.outbox
    return application


application = create_app()
'''


def api_source(spec: dict) -> str:
    reset = spec["reset"]
    return (
        '"""Password reset for the login flow: register, log in, request a reset token, confirm it.\n\n'
        "Routes:\n" + "".join(f"    {r['method']:<6} {r['path']}\n" for r in spec["routes"]) + "\n"
        "Tokens are random, stored hashed, expire and work once. Offline mode sends no email: each message is\n"
        'appended to `application.outbox`; a mail adapter replaces that in production.\n"""\n\n'
        "from __future__ import annotations\n\nimport hashlib\nimport hmac\nimport json\nimport secrets\n"
        "import threading\nimport time\n" + CORE + f"\nTOKEN_TTL_SECONDS = {int(reset['token_ttl_seconds'])!r}\n"
        f"MIN_PASSWORD_LENGTH = {int(reset['min_password_length'])!r}\n" + API
    )


TESTS = """

import io
import json
from wsgiref.util import setup_testing_defaults

import pytest

from app.api import ROUTES, TOKEN_TTL_SECONDS, create_app


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Client:
    def __init__(self) -> None:
        self.clock = Clock()
        self.app = create_app(clock=self.clock)

    def request(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        raw = b"" if body is None else json.dumps(body).encode("utf-8")
        environ: dict = {}
        setup_testing_defaults(environ)
        environ.update({"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_TYPE": "application/json",
                        "CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw)})
        seen: dict = {}

        def start_response(status: str, headers: list, exc_info: object = None) -> None:
            seen["status"] = int(status.split()[0])

        chunks = b"".join(self.app(environ, start_response))
        return seen["status"], json.loads(chunks) if chunks else None

    def post(self, path: str, body: object = None) -> tuple[int, object]:
        return self.request("POST", path, body)

    def token(self) -> str:
        return self.app.outbox[-1]["token"]


EMAIL, OLD, NEW = "ada@example.com", "old password 1", "new password 2"


@pytest.fixture
def client() -> Client:
    c = Client()
    assert c.post("/api/users", {"email": EMAIL, "password": OLD})[0] == 201
    return c


def test_a_registered_user_logs_in(client):
    assert client.post("/api/login", {"email": EMAIL, "password": OLD}) == (200, {"id": 1, "email": EMAIL})
    assert client.post("/api/login", {"email": EMAIL, "password": "wrong password"})[0] == 401


def test_requesting_a_reset_sends_a_token(client):
    status, body = client.post("/api/password-reset/request", {"email": EMAIL})
    assert status == 202 and "token" not in body
    assert client.app.outbox[-1]["to"] == EMAIL and len(client.token()) >= 32


def test_an_unknown_email_gets_the_same_answer_and_no_message(client):
    known = client.post("/api/password-reset/request", {"email": EMAIL})
    unknown = client.post("/api/password-reset/request", {"email": "nobody@example.com"})
    assert known == unknown
    assert [m["to"] for m in client.app.outbox] == [EMAIL]


def test_confirming_with_the_token_changes_the_password(client):
    client.post("/api/password-reset/request", {"email": EMAIL})
    assert client.post("/api/password-reset/confirm", {"token": client.token(), "password": NEW})[0] == 200
    assert client.post("/api/login", {"email": EMAIL, "password": NEW})[0] == 200
    assert client.post("/api/login", {"email": EMAIL, "password": OLD})[0] == 401


def test_a_token_works_once(client):
    client.post("/api/password-reset/request", {"email": EMAIL})
    token = client.token()
    assert client.post("/api/password-reset/confirm", {"token": token, "password": NEW})[0] == 200
    status, body = client.post("/api/password-reset/confirm", {"token": token, "password": "another one 3"})
    assert status == 400 and "token" in body["errors"]
    assert client.post("/api/login", {"email": EMAIL, "password": NEW})[0] == 200


def test_an_expired_token_is_refused(client):
    client.post("/api/password-reset/request", {"email": EMAIL})
    client.clock.now += TOKEN_TTL_SECONDS + 1
    status, body = client.post("/api/password-reset/confirm", {"token": client.token(), "password": NEW})
    assert status == 400 and "token" in body["errors"]
    assert client.post("/api/login", {"email": EMAIL, "password": OLD})[0] == 200


def test_an_unknown_token_is_refused(client):
    status, body = client.post("/api/password-reset/confirm", {"token": "made-up", "password": NEW})
    assert status == 400 and "token" in body["errors"]


def test_missing_fields_and_short_passwords_are_400(client):
    status, body = client.post("/api/password-reset/confirm", {})
    assert status == 400 and set(body["errors"]) == {"token", "password"}
    client.post("/api/password-reset/request", {"email": EMAIL})
    status, body = client.post("/api/password-reset/confirm", {"token": client.token(), "password": "short"})
    assert status == 400 and "password" in body["errors"]
    assert client.post("/api/password-reset/request", {})[0] == 400


def test_wrong_methods_and_unknown_paths(client):
    assert client.request("GET", "/api/password-reset/request")[0] == 405
    assert client.request("GET", "/api/nowhere")[0] == 404


def test_every_route_is_tested():
    tested = {("POST", "/api/users"), ("POST", "/api/login"), ("POST", "/api/password-reset/request"),
              ("POST", "/api/password-reset/confirm")}
    assert {(method, path) for method, path, _ in ROUTES} == tested
"""


def tests_source(spec: dict) -> str:
    return '"""Tests of the password-reset flow, driven through the WSGI app in process (no network)."""\n' + TESTS


def frontend(spec: dict) -> tuple[str, str]:
    """index.html body (forms) and app.js for the reset flow."""
    forms = []
    for route in spec["routes"]:
        inputs = "".join(
            f'      <label>{html.escape(f["name"])} <input name="{html.escape(f["name"])}" '
            f'type="{"password" if f["name"] == "password" else "email" if f["name"] == "email" else "text"}" '
            f'data-field="{html.escape(f["name"])}" data-required="{str(f["required"]).lower()}"'
            f"{' required' if f['required'] else ''}></label>\n"
            for f in route["body"]
        )
        forms.append(
            f'    <form class="flow" data-path="{html.escape(route["path"])}" data-action="{route["action"]}">\n'
            f"      <h2>{html.escape(route['action'].replace('_', ' ').capitalize())}</h2>\n{inputs}"
            f"      <button>Send</button>\n    </form>\n"
        )
    routes = [
        {"path": r["path"], "action": r["action"], "fields": [f["name"] for f in r["body"]]} for r in spec["routes"]
    ]
    js = (
        f"const ROUTES = {json.dumps(routes, indent=2)};\n\n"
        'const status = document.getElementById("status");\n\n'
        "function show(message) {\n  status.textContent = message;\n}\n\n"
        'for (const form of document.querySelectorAll("form.flow")) {\n'
        '  form.addEventListener("submit", async (event) => {\n'
        "    event.preventDefault();\n"
        "    const route = ROUTES.find((r) => r.path === form.dataset.path);\n"
        "    const body = {};\n"
        "    for (const name of route.fields) body[name] = form.elements[name].value;\n"
        '    const response = await fetch(route.path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });\n'
        "    const data = await response.json().catch(() => ({}));\n"
        "    if (response.ok) show(data.detail || `done (${response.status})`);\n"
        "    else show(Object.entries(data.errors || { error: [data.error] }).map(([k, v]) => `${k}: ${v.join(' ')}`).join('; '));\n"
        "  });\n}\n"
    )
    return "".join(forms), js

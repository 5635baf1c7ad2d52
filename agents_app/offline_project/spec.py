"""One spec per session: what the offline agents build, computed from the intent and requirements.

`spec_for(intent, requirements, task_type)` is deterministic and returns plain JSON data:

- `kind`: "crud" (an app of entities), "documentation" (document a named service) or
  "password_reset" (a reset-token flow);
- `entities`: name (a Python class name), label, snake, plural, route and table names (all
  `[a-z0-9_-]`), a display field and typed fields — `str`, `int`, `float`, `bool`, `date` or
  `datetime` (ISO strings) — each required or optional, foreign keys with `references`;
- `relations` and `routes` (`GET/POST /api/<route>`, `GET/PUT/DELETE /api/<route>/<id>`).

Required or optional comes from the requirements ("optional", "may have", "can have" near a field
make it optional; "must have", "required" make it required); otherwise the display field and
foreign keys are required and the rest follow the domain's defaults.
"""

from __future__ import annotations

import keyword
import re

from agents_app.offline_project.text import one_line

VERSION = 1
TYPES = ("str", "int", "float", "bool", "date", "datetime")
MAX_ENTITIES, MAX_FIELDS = 4, 8

# field: (name, type, required, references or None, extra aliases)
F = tuple[str, str, bool, str | None, tuple[str, ...]]
DOMAINS: dict[str, list[tuple[str, str, list[F]]]] = {
    # domain → [(entity class name, display field, fields)]
    "todo": [
        ("TaskList", "title", [("title", "str", True, None, ("list name",))]),
        ("Task", "title", [("list_id", "int", True, "TaskList", ("list",)), ("title", "str", True, None, ()),
                           ("done", "bool", False, None, ("completed", "complete")),
                           ("due", "date", False, None, ("due date", "deadline"))]),
    ],
    "notes": [
        ("Note", "title", [("title", "str", True, None, ()), ("body", "str", False, None, ("text", "content")),
                           ("tags", "str", False, None, ("tag",))]),
    ],
    "blog": [
        ("Post", "title", [("title", "str", True, None, ()), ("body", "str", True, None, ("text", "content")),
                           ("published", "bool", False, None, ("publish",))]),
        ("Comment", "text", [("post_id", "int", True, "Post", ("post",)), ("author", "str", True, None, ("name",)),
                             ("text", "str", True, None, ("comment text",))]),
    ],
    "shop": [
        ("Product", "name", [("name", "str", True, None, ()), ("price", "float", True, None, ("cost",)),
                             ("stock", "int", False, None, ("quantity in stock", "inventory"))]),
        ("Order", "customer", [("product_id", "int", True, "Product", ("product",)),
                               ("customer", "str", True, None, ("buyer",)), ("quantity", "int", True, None, ()),
                               ("status", "str", False, None, ())]),
    ],
    "booking": [
        ("Resource", "name", [("name", "str", True, None, ("room",)), ("capacity", "int", False, None, ())]),
        ("Booking", "who", [("resource_id", "int", True, "Resource", ("resource",)),
                            ("who", "str", True, None, ("guest", "customer", "name")),
                            ("starts_at", "datetime", True, None, ("start", "starts")),
                            ("ends_at", "datetime", True, None, ("end", "ends"))]),
    ],
    "chat": [
        ("Channel", "name", [("name", "str", True, None, ()), ("topic", "str", False, None, ())]),
        ("Message", "text", [("channel_id", "int", True, "Channel", ("channel",)),
                             ("author", "str", True, None, ("sender",)), ("text", "str", True, None, ("content", "body")),
                             ("sent_at", "datetime", False, None, ("timestamp", "sent"))]),
    ],
    "dashboard": [
        ("Metric", "name", [("name", "str", True, None, ()), ("unit", "str", False, None, ())]),
        ("Reading", "value", [("metric_id", "int", True, "Metric", ("metric",)), ("value", "float", True, None, ()),
                              ("recorded_at", "datetime", False, None, ("at", "time", "timestamp"))]),
    ],
}  # fmt: skip
SYNONYMS = {
    "chat": ["chat", "messag", "slack", "convers"], "todo": ["todo", "to-do", "task", "remind", "checklist"],
    "blog": ["blog", "cms", "post", "article"], "shop": ["shop", "store", "commerce", "cart", "product", "order"],
    "booking": ["booking", "book a", "reserv", "appointment", "schedul"], "notes": ["note", "journal", "wiki"],
    "dashboard": ["dashboard", "analytic", "metric", "chart", "kpi"],
}  # fmt: skip
_STOP_WORDS = (
    "a an the and or of to in on at by for per with from into across within about my our your their its this that "
    "these those which who where when build make create write develop design implement add give let lets allow "
    "simple small basic tiny new quick minimal full complete app apps application applications api apis rest json "
    "http web website site service services system systems platform tool tools tracker tracking track manager "
    "management manage managing portal backend frontend crud using use based tests test testing endpoint "
    "endpoints page pages ui interface store stores keep keeps share sharing users user people team teams can "
    "should must will want need needs list lists some all each every one two it is are be has have"
)
STOP = set(_STOP_WORDS.split())
COLLECTIVE = {"inventory": "item", "stock": "item", "library": "book", "menu": "dish", "crm": "contact",
              "gallery": "photo", "catalog": "product", "catalogue": "product", "fleet": "vehicle",
              "roster": "member", "payroll": "employee", "helpdesk": "ticket", "recipes": "recipe"}  # fmt: skip
PARENT_WORDS = {"for", "per", "across", "in", "at", "of", "by", "within"}
TYPE_WORDS = {
    "int": {"quantity", "count", "stock", "capacity", "age", "number", "qty", "seats", "pages", "year", "rank",
            "priority", "level", "size", "units"},
    "float": {"price", "amount", "cost", "weight", "value", "total", "balance", "rating", "score", "height",
              "width", "length", "distance", "rate", "salary", "budget"},
    "bool": {"done", "active", "published", "enabled", "archived", "completed", "paid", "available", "public",
             "visible", "verified", "read", "flagged"},
    "date": {"date", "due", "deadline", "birthday", "day"},
    "datetime": {"time", "timestamp", "datetime", "starts", "ends", "start", "end", "at"},
}  # fmt: skip
OPTIONAL_MARKERS = ("optional", "optionally", "may have", "can have", "may include", "can include", "may add",
                    "can add", "may set", "can set", "may be empty", "may be blank", "not required", "if any",
                    "may specify", "can specify", "may give", "can give", "may attach", "can attach")  # fmt: skip
REQUIRED_MARKERS = ("must have", "must include", "required", "requires", "mandatory", "always have", "must set")
FIELD_VERBS = r"(?:has|have|with|includes?|stores?|tracks?|records?|needs?|gets?|holds?|contains?)"
RESERVED_NAMES = {"id", "self", "cls", "store", "request", "data", "errors", "json", "date", "datetime", "re"}


# --- words -------------------------------------------------------------------------------------------


def singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zzes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def plural(word: str) -> str:
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh", "z")):
        return word + "es"
    return word + "s"


def snake(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    name = "_".join(words)[:40].strip("_") or "item"
    if name[0].isdigit():
        name = "n_" + name
    return name


def camel(snake_name: str) -> str:
    name = "".join(part.capitalize() for part in snake_name.split("_") if part) or "Item"
    if name[0].isdigit() or keyword.iskeyword(name) or name in {"None", "True", "False"}:
        name = "Record" + name
    return name


def field_name(text: str) -> str:
    name = snake(text)
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in RESERVED_NAMES:
        name += "_value"
    return name


def guess_type(name: str) -> str:
    words = name.split("_")
    if name.endswith("_at") or words[-1] in TYPE_WORDS["datetime"]:
        return "datetime"
    for kind in ("date", "bool", "int", "float"):
        if words[-1] in TYPE_WORDS[kind] or (kind == "date" and words[-1].endswith("date")):
            return kind
    return "str"


# --- entities ---------------------------------------------------------------------------------------


CLASHING = {"app", "application", "store", "entity", "entities", "route", "routes", "json", "field", "fields"}


def _entity(name: str, display: str, fields: list[dict]) -> dict:
    snake_name = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    if snake_name in CLASHING:  # names the generated modules use themselves
        name, snake_name = name + "Record", snake_name + "_record"
    label = snake_name.replace("_", " ")
    parts = snake_name.split("_")
    plural_snake = "_".join(parts[:-1] + [plural(parts[-1])])
    return {
        "name": name, "label": label, "snake": snake_name, "plural": plural_snake,
        "route": plural_snake.replace("_", "-"), "table": plural_snake, "display": display, "fields": fields,
    }  # fmt: skip


def _field(name: str, type_: str, required: bool, references: str | None, aliases: tuple[str, ...] = ()) -> dict:
    label = name.replace("_", " ")
    if references:
        label = label.removesuffix(" id")
    alias_list = [label] + [a for a in aliases if a != label]
    return {"name": name, "type": type_, "required": required, "references": references, "label": label,
            "default": False if type_ == "bool" and not required else None, "aliases": alias_list}  # fmt: skip


def _domain_of(text: str) -> str | None:
    lowered = text.lower()
    for domain, stems in SYNONYMS.items():
        if any(re.search(r"\b" + re.escape(stem), lowered) for stem in stems):
            return domain
    return None


def _nouns(intent: str) -> tuple[list[str], str | None]:
    """Entity nouns read from the intent, in order, and the one that owns the others (after "for", "per"…)."""
    tokens = re.findall(r"[a-z][a-z0-9]*", intent.lower())
    nouns: list[str] = []
    parent = None
    previous = ""
    for token in tokens:
        if token in STOP or len(token) < 3:
            previous = token if token in PARENT_WORDS else (previous if token in {"a", "an", "the", "each"} else "")
            continue
        word = COLLECTIVE.get(token) or singular(token)
        if word not in nouns:
            nouns.append(word)
        if previous in PARENT_WORDS and parent is None:
            parent = word
        previous = ""
    return nouns[:MAX_ENTITIES], parent


def _domain_entities(domain: str) -> list[dict]:
    entities = []
    for name, display, fields in DOMAINS[domain]:
        entities.append(_entity(name, display, [_field(*f) for f in fields]))
    return entities


def _noun_entities(intent: str) -> list[dict]:
    nouns, parent = _nouns(intent)
    if not nouns:
        nouns = ["item"]
    if parent is None and len(nouns) > 1:
        parent = nouns[0]
    ordered = ([parent] if parent else []) + [n for n in nouns if n != parent]
    entities = []
    names: set[str] = set()
    for noun in ordered:
        name = camel(snake(noun))
        if name in names:
            continue
        names.add(name)
        fields = [_field("name", "str", True, None, ("title",)), _field("description", "str", False, None, ("notes",))]
        if parent and noun != parent:
            fields.insert(0, _field(field_name(snake(parent)) + "_id", "int", True, camel(snake(parent)), (parent,)))
        entities.append(_entity(name, "name", fields))
    return entities


def _sentences(requirements: list[str]) -> list[str]:
    out = []
    for requirement in requirements:
        out += [s.strip() for s in re.split(r"[.;!?\n]+", str(requirement).lower()) if s.strip()]
    return out


def _mentions(sentence: str, alias: str) -> list[int]:
    return [m.start() for m in re.finditer(r"\b" + re.escape(alias) + r"s?\b", sentence)]


def _modality(sentence: str, position: int) -> str | None:
    """'optional' / 'required' when a marker stands shortly before the mention (or 'is optional' after it)."""
    before = sentence[max(0, position - 60) : position]
    after = sentence[position : position + 60]
    if re.search(r"\b(but|must)\b[^,]*$", before) and any(m in before for m in REQUIRED_MARKERS):
        return "required"
    hits = [(before.rfind(m), "optional") for m in OPTIONAL_MARKERS if m in before]
    hits += [(before.rfind(m), "required") for m in REQUIRED_MARKERS if m in before]
    if re.match(r"^[a-z ]{0,30}\b(is|are) (optional|not required)\b", after):
        return "optional"
    if re.match(r"^[a-z ]{0,30}\b(is|are) (required|mandatory)\b", after):
        return "required"
    if not hits:
        return None
    return max(hits)[1]


def _entity_words(entity: dict) -> list[str]:
    return [entity["label"], entity["plural"].replace("_", " ")]


def _extra_fields(sentences: list[str], entities: list[dict]) -> None:
    """Fields a requirement names: "Items have a SKU, a quantity and an optional location"."""
    by_word = {w: e for e in entities for w in _entity_words(e)}
    for sentence in sentences:
        for entity in entities:
            for word in _entity_words(entity):
                match = re.search(
                    r"\b" + re.escape(word) + r"s?\b(?:\s+(?:must|may|can|should|will|always|also))?\s+" + FIELD_VERBS
                    + r"\s+(.*)", sentence)  # fmt: skip
                if match:
                    _add_fields(entity, match.group(1), by_word)
                    break


def _add_fields(entity: dict, rest: str, by_word: dict[str, dict]) -> None:
    rest = re.sub(r"\([^)]*\)", " ", rest)
    for chunk in re.split(r",|\band\b|\bor\b|\bplus\b", rest):
        words = [w for w in re.findall(r"[a-z][a-z0-9]*", chunk) if w not in {"a", "an", "the", "its", "their",
                 "optional", "optionally", "some", "one", "required", "mandatory", "own", "each"}]  # fmt: skip
        cut = next((i for i, w in enumerate(words) if w in {"that", "which", "who", "for", "to", "of", "from",
                    "in", "on", "with", "by", "when", "if", "per"}), len(words))  # fmt: skip
        words = words[:cut][:3]
        if not words or words[0] in STOP and len(words) == 1:
            continue
        phrase = " ".join(words)
        other = by_word.get(phrase) or by_word.get(singular(phrase))
        if other is entity:
            continue
        existing = {a for f in entity["fields"] for a in f["aliases"]} | {f["name"] for f in entity["fields"]}
        if phrase in existing or singular(phrase) in existing or len(entity["fields"]) >= MAX_FIELDS:
            continue
        if other is not None:
            if any(f["references"] == entity["name"] for f in other["fields"]):
                continue  # the other side already points here; no cycles
            entity["fields"].append(_field(other["snake"] + "_id", "int", True, other["name"], (other["label"],)))
            continue
        name = field_name(phrase)
        if name in {f["name"] for f in entity["fields"]}:
            continue
        entity["fields"].append(_field(name, guess_type(name), True, None, (phrase,)))


def _apply_modality(sentences: list[str], entities: list[dict]) -> None:
    for entity in entities:
        for field in entity["fields"]:
            if field["name"] == entity["display"] or field["references"]:
                continue  # a record needs its display field and its parent
            verdict = None
            for sentence in sentences:
                for alias in field["aliases"]:
                    for position in _mentions(sentence, alias):
                        verdict = _modality(sentence, position) or verdict
            if verdict:
                field["required"] = verdict == "required"
                field["default"] = False if field["type"] == "bool" and not field["required"] else None


def _routes(entities: list[dict]) -> list[dict]:
    routes = []
    for e in entities:
        collection, item = f"/api/{e['route']}", f"/api/{e['route']}/<id>"
        routes += [
            {"method": "GET", "path": collection, "entity": e["name"], "action": "list", "status": 200},
            {"method": "POST", "path": collection, "entity": e["name"], "action": "create", "status": 201},
            {"method": "GET", "path": item, "entity": e["name"], "action": "get", "status": 200},
            {"method": "PUT", "path": item, "entity": e["name"], "action": "update", "status": 200},
            {"method": "DELETE", "path": item, "entity": e["name"], "action": "delete", "status": 204},
        ]
    return routes


# --- special kinds ----------------------------------------------------------------------------------


def _is_password_reset(text: str) -> bool:
    lowered = text.lower()
    return "password" in lowered and bool(re.search(r"\b(reset|forgot|forgotten|recover|recovery)", lowered))


def _documented_service(intent: str, task_type: str) -> str | None:
    lowered = intent.lower()
    if task_type != "documentation" and not re.search(r"\b(document|documentation|docs|document the)\b", lowered):
        return None
    match = re.search(
        r"\b(?:for|of|about|on|document)\s+(?:the\s+|our\s+|a\s+|an\s+|my\s+)?((?:[a-z][a-z0-9_-]*\s+){0,2}?)"
        r"([a-z][a-z0-9_-]*)\s+(?:service|api|module|system|app|application|backend|endpoints?|microservice|server)\b",
        lowered,
    )
    if match:
        return snake(match.group(2))
    nouns, _ = _nouns(re.sub(r"\b(document|documentation|docs)\b", " ", lowered))
    return nouns[0] if nouns else "api"


def _reset_spec(base: dict) -> dict:
    user = _entity("User", "email", [_field("email", "str", True, None), _field("password", "str", True, None)])
    token = _entity("PasswordResetToken", "token_hash", [
        _field("user_id", "int", True, "User", ("user",)), _field("token_hash", "str", True, None),
        _field("expires_at", "datetime", True, None), _field("used_at", "datetime", False, None)])  # fmt: skip
    email = {"name": "email", "type": "str", "required": True}
    password = {"name": "password", "type": "str", "required": True}
    routes = [
        {"method": "POST", "path": "/api/users", "action": "register", "status": 201, "body": [email, password]},
        {"method": "POST", "path": "/api/login", "action": "login", "status": 200, "body": [email, password]},
        {"method": "POST", "path": "/api/password-reset/request", "action": "request_reset", "status": 202,
         "body": [email]},
        {"method": "POST", "path": "/api/password-reset/confirm", "action": "confirm_reset", "status": 200,
         "body": [{"name": "token", "type": "str", "required": True}, password]},
    ]  # fmt: skip
    return {**base, "kind": "password_reset", "domain": "auth", "entities": [user, token],
            "relations": [{"from": "PasswordResetToken", "field": "user_id", "to": "User"}], "routes": routes,
            "reset": {"token_ttl_seconds": 900, "min_password_length": 8}}  # fmt: skip


# --- the spec ---------------------------------------------------------------------------------------


def spec_for(intent: str, requirements: list[str] | None = None, task_type: str = "feature") -> dict:
    requirements = [str(r) for r in (requirements or [])]
    text = " ".join([intent, *requirements])
    base = {"version": VERSION, "title": one_line(intent, 120) or "An offline project", "task_type": task_type,
            "service": None, "notes": []}  # fmt: skip
    if _is_password_reset(intent) or (_is_password_reset(text) and not _domain_of(intent)):
        return _reset_spec(base)
    service = _documented_service(intent, task_type)
    if service is not None:
        word = singular(service.split("_")[-1])
        domain = next((d for d, ents in DOMAINS.items() for name, _, _ in ents if name.lower() == word), None)
        if domain:
            entities = [e for e in _domain_entities(domain) if e["snake"] == word]
            kept = {e["name"] for e in entities}
            for e in entities:
                e["fields"] = [f for f in e["fields"] if not f["references"] or f["references"] in kept]
        else:
            entities = _noun_entities(word)
        base.update(kind="documentation", domain=domain or "nouns", service=service)
    else:
        domain = _domain_of(intent) or _domain_of(text)
        entities = _domain_entities(domain) if domain else _noun_entities(intent)
        base.update(kind="crud", domain=domain or "nouns")
    sentences = _sentences(requirements)
    _extra_fields(sentences, entities)
    _apply_modality(sentences, entities)
    relations = [{"from": e["name"], "field": f["name"], "to": f["references"]}
                 for e in entities for f in e["fields"] if f["references"]]  # fmt: skip
    return {**base, "entities": entities, "relations": relations, "routes": _routes(entities)}


def entity_by_name(spec: dict, name: str) -> dict:
    return next(e for e in spec["entities"] if e["name"] == name)

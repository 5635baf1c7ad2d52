"""The frontend agent's files: web/index.html, web/app.js and web/styles.css.

One form per entity with exactly the spec's fields (`data-required="true"` and the `required`
attribute on required ones), a list that renders with `textContent` only, and a status line that
shows the API's field errors. User text reaches HTML through `html.escape` and JS through `json.dumps`.
"""

from __future__ import annotations

import html
import json

from agents_app.offline_project import reset
from agents_app.offline_project.text import one_line

INPUT_TYPES = {"str": "text", "int": "number", "float": "number", "bool": "checkbox", "date": "date",
               "datetime": "datetime-local"}  # fmt: skip


def _input(entity: dict, field: dict) -> str:
    ident = f"{entity['snake']}-{field['name']}"
    attrs = [f'id="{ident}"', f'name="{field["name"]}"', f'type="{INPUT_TYPES[field["type"]]}"',
             f'data-field="{field["name"]}"', f'data-type="{field["type"]}"',
             f'data-required="{"true" if field["required"] else "false"}"']  # fmt: skip
    if field["type"] == "float":
        attrs.append('step="any"')
    if field["type"] == "int":
        attrs.append('step="1"')
    if field["required"] and field["type"] != "bool":
        attrs.append("required")
    label = html.escape(field["label"]) + ("" if field["required"] else " (optional)")
    return f'        <label for="{ident}">{label}</label>\n        <input {" ".join(attrs)}>\n'


def _section(entity: dict) -> str:
    inputs = "".join(_input(entity, f) for f in entity["fields"])
    name = html.escape(entity["plural"].replace("_", " ").capitalize())
    return (
        f'    <section class="entity" data-entity="{entity["name"]}" aria-labelledby="{entity["snake"]}-title">\n'
        f'      <h2 id="{entity["snake"]}-title">{name}</h2>\n'
        f'      <ul class="items" id="{entity["snake"]}-items" aria-live="polite"></ul>\n'
        f'      <form class="create" data-entity="{entity["name"]}">\n{inputs}'
        f"        <button>Add {html.escape(entity['label'])}</button>\n      </form>\n    </section>\n"
    )


def index_html(spec: dict, visual: dict) -> str:
    title = html.escape(one_line(spec["title"], 80))
    regions = [str(r.get("name", "")) for r in (visual.get("layout") or {}).get("regions", []) if isinstance(r, dict)]
    sidebar = '  <nav class="sidebar" aria-label="Sections"></nav>\n' if "sidebar" in regions else ""
    if spec["kind"] == "password_reset":
        body = reset.frontend(spec)[0]
    else:
        body = "".join(_section(e) for e in spec["entities"])
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n  <meta charset="utf-8">\n'
        '  <meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'  <title>{title}</title>\n  <link rel="stylesheet" href="styles.css">\n</head>\n<body>\n'
        f'  <header class="header"><h1>{title}</h1></header>\n{sidebar}'
        f'  <main id="main">\n    <p id="status" role="status" aria-live="polite"></p>\n{body}  </main>\n'
        '  <script type="module" src="app.js"></script>\n</body>\n</html>\n'
    )


CRUD_JS = """
const status = document.getElementById("status");

function show(message) {
  status.textContent = message;
}

function errorText(data) {
  if (data && data.errors) {
    return Object.entries(data.errors).map(([field, messages]) => `${field}: ${messages.join(" ")}`).join("; ");
  }
  return (data && data.error) || "The request failed.";
}

async function call(method, path, body) {
  const options = { method, headers: { "Content-Type": "application/json" } };
  if (body !== undefined) options.body = JSON.stringify(body);
  const response = await fetch(path, options);
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new Error(errorText(data));
  return data;
}

// The request body: every required field, and optional fields only when filled in.
function payload(entity, form) {
  const body = {};
  for (const field of entity.fields) {
    const input = form.elements[field.name];
    if (field.type === "bool") {
      body[field.name] = input.checked;
      continue;
    }
    const raw = input.value.trim();
    if (raw === "" && !field.required) continue;
    if (field.type === "int") body[field.name] = Number.parseInt(raw, 10);
    else if (field.type === "float") body[field.name] = Number.parseFloat(raw);
    else if (field.type === "datetime") body[field.name] = raw.length === 16 ? `${raw}:00` : raw;
    else body[field.name] = raw;
  }
  return body;
}

function render(entity, items) {
  const list = document.getElementById(`${entity.snake}-items`);
  list.replaceChildren(
    ...items.map((item) => {
      const row = document.createElement("li");
      const text = document.createElement("span");
      text.textContent = `#${item.id} ${item[entity.display] ?? ""}`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.textContent = "Delete";
      remove.addEventListener("click", () => removeItem(entity, item.id));
      row.append(text, remove);
      return row;
    }),
  );
}

async function load(entity) {
  try {
    render(entity, await call("GET", entity.path));
  } catch (error) {
    show(error.message);
  }
}

async function removeItem(entity, id) {
  try {
    await call("DELETE", `${entity.path}/${id}`);
    show(`Deleted ${entity.label} #${id}.`);
    await load(entity);
  } catch (error) {
    show(error.message);
  }
}

for (const entity of ENTITIES) {
  const form = document.querySelector(`form[data-entity="${entity.name}"]`);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const created = await call("POST", entity.path, payload(entity, form));
      show(`Added ${entity.label} #${created.id}.`);
      form.reset();
      await load(entity);
    } catch (error) {
      show(error.message);
    }
  });
  load(entity);
}
"""


def app_js(spec: dict) -> str:
    if spec["kind"] == "password_reset":
        return reset.frontend(spec)[1]
    entities = [
        {
            "name": e["name"], "label": e["label"], "snake": e["snake"], "display": e["display"],
            "path": f"/api/{e['route']}",
            "fields": [{"name": f["name"], "type": f["type"], "required": f["required"]} for f in e["fields"]],
        }
        for e in spec["entities"]
    ]  # fmt: skip
    return f"// The API this page calls, from the session's spec (app/api.py serves the same routes).\nconst ENTITIES = {json.dumps(entities, indent=2)};\n{CRUD_JS}"


def styles_css(visual: dict) -> str:
    palette = {str(c.get("role")): str(c.get("hex")) for c in visual.get("palette", []) if isinstance(c, dict)}

    def colour(role: str, default: str) -> str:
        value = palette.get(role, default)
        return value if len(value) in (4, 7) and value.startswith("#") and all(
            ch in "0123456789abcdefABCDEF" for ch in value[1:]) else default  # fmt: skip

    return (
        f":root {{ --background: {colour('background', '#ffffff')}; --accent: {colour('accent', '#2563eb')}; }}\n"
        "body { margin: 0; font-family: system-ui, sans-serif; background: var(--background); }\n"
        ".header { padding: 12px 16px; border-bottom: 2px solid var(--accent); }\n"
        ".sidebar { width: 240px; float: left; min-height: 100vh; }\n"
        "main { padding: 16px; max-width: 60rem; }\n"
        "section.entity, form.flow { margin-bottom: 24px; }\n"
        "form { display: grid; gap: 6px; max-width: 28rem; }\n"
        "label { font-weight: 600; }\n"
        "#status { min-height: 1.5em; color: #b91c1c; }\n"
        "button { background: var(--accent); color: #fff; border: 0; padding: 8px 12px; cursor: pointer; }\n"
        ":focus-visible { outline: 3px solid orange; }\n"
        "@media (max-width: 600px) { .sidebar { display: none; } }\n"
    )


def files(spec: dict, visual: dict) -> list[tuple[str, str, str]]:
    return [
        ("web/index.html", "code", index_html(spec, visual)),
        ("web/app.js", "code", app_js(spec)),
        ("web/styles.css", "code", styles_css(visual)),
    ]

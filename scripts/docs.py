#!/usr/bin/env python3
"""Write each role's variable docs from its meta/argument_specs.yml, the one place they are kept:
defaults/main.yml (every value with its description above it) and the variable tables of the role's
README.md (between the two generated-section markers).

    python scripts/docs.py          rewrite what is stale
    python scripts/docs.py --check  list what is stale and exit 1 (tests/test_static.py runs this)
"""

import sys
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- BEGIN VARIABLES: generated from meta/argument_specs.yml by scripts/docs.py -->"
END = "<!-- END VARIABLES -->"

# Section headings in defaults/main.yml, at the variable each section starts with.
SECTIONS = {
    "fastapi_gunicorn": {
        "fastapi_gunicorn_app_name": "Names and places",
        "fastapi_gunicorn_app_src": "Application",
        "fastapi_gunicorn_python": "Python and packages",
        "fastapi_gunicorn_worker_class": "Gunicorn",
        "fastapi_gunicorn_environment": "systemd",
        "fastapi_gunicorn_health_path": "Health",
        "fastapi_gunicorn_lock_timeout": "Runs",
        "fastapi_gunicorn_rollback_release": "Rollback (tasks_from: rollback, playbooks/rollback.yml)",
    },
    "fastapi_gunicorn_haproxy": {
        "fastapi_gunicorn_haproxy_app_group": "Frontend and backend servers",
        "fastapi_gunicorn_haproxy_tls_pem": "TLS at the front door",
        "fastapi_gunicorn_haproxy_frontend_name": "Names and servers",
        "fastapi_gunicorn_haproxy_health_path": "Health checks and retries",
        "fastapi_gunicorn_haproxy_timeouts": "Timeouts and the runtime API",
        "fastapi_gunicorn_haproxy_defaults_extra": "Extra configuration lines",
        "fastapi_gunicorn_haproxy_server": "One server (tasks_from: server, run by the rollout playbooks)",
    },
    "fastapi_gunicorn_rollout": {
        "fastapi_gunicorn_rollout_entry_point": "One host of a rollout or a rollback",
    },
}


def description(spec) -> str:
    text = spec.get("description", "")
    return " ".join(text) if isinstance(text, list) else str(text)


def flow(value) -> str:
    """A value as one line of YAML (flow style)."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True).strip().removesuffix("\n...").strip()


def render_defaults(role: str, options: dict) -> str:
    lines = [
        "---",
        "# Generated from meta/argument_specs.yml by scripts/docs.py: edit the descriptions and defaults",
        "# there, then run `python scripts/docs.py`.",
    ]
    for name, spec in options.items():
        if name in SECTIONS[role]:
            lines += ["", f"# --- {SECTIONS[role][name]} ".ljust(96, "-")]
        lines += textwrap.wrap(description(spec), width=98, initial_indent="# ", subsequent_indent="# ",
                               break_long_words=False, break_on_hyphens=False)
        lines.append(f"{name}: {flow(spec['default'])}")
    return "\n".join(lines) + "\n"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_tables(specs: dict) -> str:
    parts = []
    for entry, entry_spec in specs.items():
        parts += [f"### Entry point `{entry}`", "", cell(entry_spec.get("short_description", "")) + ".", "",
                  "| Variable | Type | Default | Description |", "| --- | --- | --- | --- |"]
        for name, spec in entry_spec.get("options", {}).items():
            kind = spec.get("type", "str") + (f" of {spec['elements']}" if spec.get("elements") else "")
            if spec.get("choices"):
                kind += " (" + ", ".join(f"`{c}`" for c in spec["choices"]) + ")"
            default = spec.get("default")
            shown = default if isinstance(default, str) and default else flow(default)
            parts.append(f"| `{name}` | {kind} | `{cell(shown)}` | {cell(description(spec))} |")
        parts.append("")
    return "\n".join([BEGIN, "", *parts, END])


def expected(role: str) -> dict[Path, str]:
    base = ROOT / "roles" / role
    specs = yaml.safe_load((base / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))["argument_specs"]
    readme = base / "README.md"
    text = readme.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme}: the generated-section markers are missing")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    return {base / "defaults" / "main.yml": render_defaults(role, specs["main"]["options"]),
            readme: head + render_tables(specs) + tail}


def main(check: bool) -> int:
    stale = []
    for role in SECTIONS:
        for path, text in expected(role).items():
            if path.read_text(encoding="utf-8") != text:
                stale.append(path.relative_to(ROOT))
                if not check:
                    path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'stale' if check else 'wrote'}: {path}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))

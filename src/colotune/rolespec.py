"""Each role's `defaults/main.yml` and `meta/argument_specs.yml`, rendered from the profile.

The pydantic models in `colotune.profile` are the single description of every
role input. This module renders what Ansible needs from them, and
`tests/unit/test_role_specs.py` fails when a committed file differs from the
rendering. After changing a model, run:

    python -m colotune.rolespec --write
"""

from __future__ import annotations

import argparse
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from colotune.profile import ROLE_MODELS, SiteProfile

ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"
HEADER = (
    "---\n# Rendered from colotune.profile; edit the model, then run\n"
    "# `python -m colotune.rolespec --write`.\n"
)

ROLE_SUMMARY = {
    "tuning": "CPU isolation, hugepages, frequency and idle states, IRQs, NIC and kernel settings "
    "from the host's plan",
    "ptp": "linuxptp (ptp4l, phc2sys) on the plan's NIC, with exactly one discipline per clock",
    "onload": "OpenOnload from a package the user supplies, pinned to a version",
    "trader": "the trading engine, its launcher, config, plan.json and systemd unit",
}


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, as yamllint wants."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _spec(annotation: Any) -> dict[str, Any]:
    """Ansible argument spec type keys for a Python annotation."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _spec(rest[0])
        return {"type": "raw"}
    if origin is Literal:
        return {"type": "str", "choices": list(args)}
    if origin is list:
        spec: dict[str, Any] = {"type": "list"}
        inner = _spec(args[0]) if args else {"type": "raw"}
        spec["elements"] = inner["type"]
        if "choices" in inner:
            spec["choices"] = inner["choices"]
        return spec
    if origin is dict:
        return {"type": "dict"}
    if annotation is bool:
        return {"type": "bool"}
    if annotation is int:
        return {"type": "int"}
    if origin is typing.Annotated:  # a checked type (CpuList, Count): the type it checks
        return _spec(args[0])
    if annotation is str:
        return {"type": "str"}
    raise TypeError(f"no argument spec type for {annotation!r}")


def _default(info: FieldInfo) -> Any:
    return info.get_default(call_default_factory=True)


def argument_specs(model: type[BaseModel], role: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        spec = {"description": info.description or name, **_spec(info.annotation)}
        default = _default(info)
        if default is not None:
            spec["default"] = default
        options[name] = spec
    return {
        "argument_specs": {
            "main": {
                "short_description": ROLE_SUMMARY[role],
                "options": options,
            }
        }
    }


def render_argument_specs(role: str) -> str:
    spec = argument_specs(ROLE_MODELS[role], role)
    return HEADER + yaml.dump(spec, Dumper=_Dumper, sort_keys=False, width=90)


def render_defaults(role: str) -> str:
    lines = [HEADER.rstrip("\n")]
    for name, info in ROLE_MODELS[role].model_fields.items():
        lines.append("")
        lines += textwrap.wrap(
            info.description or name, width=96, initial_indent="# ", subsequent_indent="# "
        )
        value = yaml.safe_dump(_default(info), default_flow_style=True, width=1000)
        lines.append(f"{name}: {value.removesuffix(chr(10)).removesuffix('...').strip()}")
    return "\n".join(lines) + "\n"


def render_variables_doc() -> str:
    """docs/profile-variables.md: every variable, its type, default and meaning."""
    lines = [
        "# Profile variables",
        "",
        "<!-- Rendered from colotune.profile by `python -m colotune.rolespec --write`. -->",
        "",
        "Rules for pinned values and how the plan uses them: [profile.md](profile.md).",
    ]
    groups: list[tuple[str, type[BaseModel]]] = [*ROLE_MODELS.items(), ("site", SiteProfile)]
    for group, model in groups:
        where = f"roles/{group}" if group in ROLE_MODELS else "every role (site facts)"
        lines += ["", f"## {group}", "", f"Read by {where}.", ""]
        lines += ["| variable | type | default | meaning |", "|---|---|---|---|"]
        for name, info in model.model_fields.items():
            try:
                kind = _spec(info.annotation)
            except TypeError:
                kind = {"type": "dict" if name.endswith("hours") else "list"}
            if "choices" in kind:
                kind_text = " / ".join(str(c) for c in kind["choices"])
            else:
                kind_text = kind["type"]
            default = info.get_default(call_default_factory=True)
            if isinstance(default, BaseModel):
                default = default.model_dump()
            shown = yaml.safe_dump(default, default_flow_style=True, width=1000).strip()
            shown = shown.removesuffix("...").strip()
            lines.append(f"| `{name}` | {kind_text} | `{shown}` | {info.description or ''} |")
    return "\n".join(lines) + "\n"


def rendered_files(roles_dir: Path = ROLES_DIR) -> dict[Path, str]:
    files: dict[Path, str] = {
        roles_dir.parent / "docs" / "profile-variables.md": (render_variables_doc())
    }
    for role in ROLE_MODELS:
        files[roles_dir / role / "defaults" / "main.yml"] = render_defaults(role)
        files[roles_dir / role / "meta" / "argument_specs.yml"] = render_argument_specs(role)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="write the files")
    args = parser.parse_args(argv)
    stale = 0
    for path, text in rendered_files().items():
        current = path.read_text() if path.exists() else None
        if current != text:
            stale += 1
            if args.write:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            print(("wrote " if args.write else "stale ") + str(path))
    return 1 if stale and not args.write else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Role argument specs and defaults stay in step with the profile model, defaults included."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from colotune import rolespec
from colotune.profile import ROLE_MODELS

ROLES = Path(__file__).resolve().parents[2] / "roles"


def test_committed_files_match_the_model() -> None:
    stale = [
        str(path.relative_to(ROLES))
        for path, text in rolespec.rendered_files(ROLES).items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"run `python -m colotune.rolespec --write`; stale: {stale}"


@pytest.mark.parametrize("role", sorted(ROLE_MODELS))
def test_specs_defaults_and_model_agree(role: str) -> None:
    model = ROLE_MODELS[role]
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert set(options) == set(model.model_fields) == set(defaults)
    assert all(name.startswith(f"{role}_") for name in options)
    for name, info in model.model_fields.items():
        value = info.get_default(call_default_factory=True)
        assert defaults[name] == value, name
        assert options[name].get("default") == value, name


@pytest.mark.parametrize("role", sorted(ROLE_MODELS))
def test_ansible_accepts_the_defaults_under_the_spec(role: str) -> None:
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    spec = {k: {kk: vv for kk, vv in v.items() if kk != "description"} for k, v in options.items()}
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    result = ArgumentSpecValidator(spec).validate(defaults)
    assert not result.error_messages

#!/usr/bin/python
"""Ansible module colotune_venv: a venv holding exactly the given wheels, without pip or internet.

The host needs only python3 (no pip, no python3-venv's ensurepip): the venv is
made with `--without-pip` and each wheel is unpacked into its site-packages
with zipfile, then the wheels' console scripts are written into bin/. The
sha256 of every wheel is recorded in the venv; the same wheels again change
nothing, different ones rebuild the venv from scratch (no stale modules).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: colotune_venv
short_description: A venv containing exactly a set of wheels, unpacked without pip
options:
  dest:
    description: The venv directory.
    type: path
    required: true
  wheels:
    description: Wheel files on the host to unpack into the venv.
    type: list
    elements: path
    required: true
  python:
    description: The interpreter that makes the venv.
    type: path
    default: /usr/bin/python3
"""

import configparser
import hashlib
import json
import os
import shutil
import subprocess
import zipfile

from ansible.module_utils.basic import AnsibleModule

STATE = ".colotune-wheels.json"
SCRIPT = """#!{python}
# Written by roles/trader (colotune_venv) for {name}.
import sys
from {module} import {func}
sys.exit({func}())
"""


def digest(path: str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def wanted_state(wheels: list[str]) -> dict[str, str]:
    return {os.path.basename(w): digest(w) for w in sorted(wheels)}


def current_state(dest: str) -> dict[str, str] | None:
    try:
        with open(os.path.join(dest, STATE)) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def site_packages(dest: str) -> str:
    out = subprocess.run(
        [
            os.path.join(dest, "bin", "python"),
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def build(module: AnsibleModule, dest: str, wheels: list[str], state: dict[str, str]) -> None:
    # A venv's own paths name its directory: the old one moves aside, the new one is
    # made under the final name, and the old one comes back if that fails.
    old = dest + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(dest):
        os.rename(dest, old)
    done = subprocess.run(
        [module.params["python"], "-m", "venv", "--without-pip", dest],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        if os.path.exists(old):
            shutil.rmtree(dest, ignore_errors=True)
            os.rename(old, dest)
        module.fail_json(msg=f"python3 -m venv {dest} failed: {done.stderr.strip()}")
    site = site_packages(dest)
    python = os.path.join(dest, "bin", "python")
    for wheel in sorted(wheels):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
            for name in archive.namelist():
                if name.endswith(".dist-info/entry_points.txt"):
                    parser = configparser.ConfigParser()
                    parser.read_string(archive.read(name).decode())
                    if parser.has_section("console_scripts"):
                        for script, target in parser.items("console_scripts"):
                            mod, func = target.strip().split(":")
                            path = os.path.join(dest, "bin", script)
                            with open(path, "w") as handle:
                                handle.write(
                                    SCRIPT.format(python=python, name=script, module=mod, func=func)
                                )
                            os.chmod(path, 0o755)
    # Byte-compile once, as root, so that the unprivileged engine user never writes here.
    subprocess.run([python, "-m", "compileall", "-q", site], capture_output=True)
    with open(os.path.join(dest, STATE), "w") as handle:
        json.dump(state, handle, indent=2, sort_keys=True)
    shutil.rmtree(old, ignore_errors=True)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "dest": {"type": "path", "required": True},
            "wheels": {"type": "list", "elements": "path", "required": True},
            "python": {"type": "path", "default": "/usr/bin/python3"},
        },
        supports_check_mode=True,
    )
    dest = module.params["dest"]
    wheels = module.params["wheels"]
    missing = [w for w in wheels if not os.path.isfile(w)]
    if missing and not module.check_mode:
        module.fail_json(msg=f"wheel(s) not found on the host: {', '.join(missing)}")
    state = {} if missing else wanted_state(wheels)
    current = current_state(dest)
    changed = current != state or bool(missing)
    diff = {
        "before": json.dumps(current, indent=2, sort_keys=True) + "\n" if current else "",
        "after": json.dumps(state, indent=2, sort_keys=True) + "\n",
        "before_header": os.path.join(dest, STATE),
        "after_header": os.path.join(dest, STATE),
    }
    if changed and not module.check_mode:
        build(module, dest, wheels, state)
    module.exit_json(changed=changed, dest=dest, wheels=sorted(state), diff=diff)


if __name__ == "__main__":
    main()

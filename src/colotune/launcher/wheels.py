"""On the controller: the wheels roles/trader installs into the launcher's venv on a host.

    python -m colotune.launcher.wheels --out DIR --python-version 3.11 --platform x86_64

- colotune itself, as a reproducible wheel built here from the installed
  package with the standard library (sorted entries, fixed timestamps), so that
  an unchanged source gives a byte-identical wheel and a rerun of the role
  changes nothing. Only the package's own files go in, no dependencies.
- the few wheels the launcher's preflight needs (pydantic and what it imports),
  at the versions installed on the controller, for the host's Python and
  architecture: taken from DIR when already there (a controller without
  internet can pre-seed it), else fetched with `pip download`.

The host needs no internet and no pip: the trader role copies these files and
unpacks them into a venv. Prints JSON: {"wheels": [file names], "changed": bool}.
"""

from __future__ import annotations

import argparse
import ast
import base64
import hashlib
import importlib.metadata
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import colotune

# What the launcher's preflight imports beyond the standard library (colotune.checks).
PREFLIGHT_DEPENDENCIES = (
    "pydantic",
    "pydantic-core",
    "annotated-types",
    "typing-extensions",
    "typing-inspection",
)
ENTRY_POINTS = {"colotune-launch": "colotune.launcher:main"}
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def _module_file(package: Path, name: str) -> Path | None:
    parts = name.split(".")[1:]
    base = package.joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def launcher_modules(package: Path) -> list[Path]:
    """The colotune modules the launcher can import (its own, then what they import, lazily
    imported ones too), so that a change elsewhere in colotune leaves the wheel unchanged."""
    todo = [package / "__init__.py", *sorted((package / "launcher").glob("*.py"))]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for name in names:
                if name == "colotune" or name.startswith("colotune."):
                    # every package on the way is imported too (its __init__ runs)
                    parts = name.split(".")
                    for depth in range(1, len(parts) + 1):
                        found = _module_file(package, ".".join(parts[:depth]))
                        if found is not None and found not in seen:
                            todo.append(found)
    return sorted(seen)


def colotune_wheel(out: Path) -> Path:
    """Write colotune-<version>-py3-none-any.whl into `out`; identical input, identical bytes.

    It holds the launcher and the colotune modules it imports (the preflight's controls,
    the collector, the plan and profile models), nothing else of colotune.
    """
    package = Path(colotune.__file__).resolve().parent
    version = colotune.__version__
    dist_info = f"colotune-{version}.dist-info"
    files: list[tuple[str, bytes]] = [
        (f"colotune/{path.relative_to(package).as_posix()}", path.read_bytes())
        for path in [*launcher_modules(package), package / "py.typed"]
    ]
    metadata = (
        f"Metadata-Version: 2.1\nName: colotune\nVersion: {version}\n"
        "Summary: colotune launcher and controls (host install by roles/trader)\n"
        "Requires-Python: >=3.11\n"
    )
    wheel = (
        "Wheel-Version: 1.0\nGenerator: colotune.launcher.wheels\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n"
    )
    scripts = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in ENTRY_POINTS.items())
    files += [
        (f"{dist_info}/METADATA", metadata.encode()),
        (f"{dist_info}/WHEEL", wheel.encode()),
        (f"{dist_info}/entry_points.txt", scripts.encode()),
    ]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files)
    record += f"{dist_info}/RECORD,,\n"
    files.append((f"{dist_info}/RECORD", record.encode()))
    target = out / f"colotune-{version}-py3-none-any.whl"
    tmp = target.with_suffix(".partial")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    if target.exists() and target.read_bytes() == tmp.read_bytes():
        tmp.unlink()
    else:
        tmp.replace(target)
    return target


def _normal(name: str) -> str:
    return name.replace("-", "_").lower()


def dependency_wheels(out: Path, *, python_version: str, arch: str) -> list[Path]:
    """The preflight's dependency wheels for the host, from `out` or from the index."""
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in PREFLIGHT_DEPENDENCIES]
    platforms = [f"manylinux2014_{arch}", f"manylinux_2_17_{arch}", f"manylinux_2_28_{arch}"]
    base = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    base += ["--only-binary=:all:", "--python-version", python_version, "--dest", str(out)]
    for platform in platforms:
        base += ["--platform", platform]
    local = subprocess.run(
        [*base, "--no-index", "--find-links", str(out), *pins], capture_output=True, text=True
    )
    if local.returncode != 0:
        fetched = subprocess.run([*base, *pins], capture_output=True, text=True)
        if fetched.returncode != 0:
            raise SystemExit(
                f"cannot get the wheels {', '.join(pins)} for Python {python_version} on {arch}: "
                f"{fetched.stderr.strip()[-800:]}\nput them into {out} (pip download) and rerun"
            )
    found = []
    for pin in pins:
        name, version = pin.split("==")
        matches = sorted(out.glob(f"{_normal(name)}-{version}-*.whl"))
        if not matches:
            raise SystemExit(f"pip reported success but no wheel of {pin} is in {out}")
        found.append(matches[-1])
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="directory for the wheels")
    parser.add_argument("--python-version", required=True, help="the host's Python, e.g. 3.11")
    parser.add_argument("--platform", required=True, help="the host's machine, e.g. x86_64")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    before = {p.name: p.read_bytes() for p in args.out.glob("*.whl")}
    wheels = [
        colotune_wheel(args.out),
        *dependency_wheels(args.out, python_version=args.python_version, arch=args.platform),
    ]
    changed = any(before.get(p.name) != p.read_bytes() for p in wheels)
    print(
        json.dumps({"wheels": [p.name for p in wheels], "dir": str(args.out), "changed": changed})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

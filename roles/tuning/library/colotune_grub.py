#!/usr/bin/python
"""Ansible module colotune_grub: the plan's kernel arguments on the GRUB command line.

Writes them to a drop-in (/etc/default/grub.d/colotune.cfg) and removes earlier
copies of the same arguments from /etc/default/grub and the other drop-ins, so
the next boot carries exactly one copy of each. Reboot-class: outside the
allowed risk classes it only reports what it would change. On a host without
update-grub (RHEL-family hosts boot from BLS entries that grubby edits) it
fails before writing anything and says how to go on (tuning_cmdline: check).
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: colotune_grub
short_description: Put the plan's kernel arguments on the GRUB command line, once each
options:
  args:
    description: The plan's kernel arguments (colotune_plan.kernel_args).
    type: list
    elements: str
    required: true
  owned_keys:
    description: Argument names the plan owns; earlier copies of them are removed elsewhere.
    type: list
    elements: str
    required: true
  allow:
    description: Risk classes allowed now; without reboot, changes are refused and reported.
    type: list
    elements: str
    default: [live, disruptive, reboot]
  grub_default:
    description: The main GRUB defaults file.
    type: path
    default: /etc/default/grub
  dropin:
    description: colotune's drop-in.
    type: path
    default: /etc/default/grub.d/colotune.cfg
  probe:
    description: Only say whether colotune can drive this host's boot loader (fails when it
      cannot, naming why); no GRUB file is read and nothing is written.
    type: bool
    default: false
"""

import glob
import os
import re
import shlex

from ansible.module_utils.basic import AnsibleModule

LINE = re.compile(r'^(\s*GRUB_CMDLINE_LINUX(?:_DEFAULT)?=)(["\']?)(.*?)\2\s*$')


# What may reach the drop-in at all (printable, no newline): anything else fails the task.
SAFE_ARG = re.compile(r"[!-~]+")


def dropin_line(args: list[str]) -> str:
    """The drop-in's one line: the arguments single-quoted, so that update-grub, which
    sources the file as root, reads them as text and never runs or splits them."""
    return f'GRUB_CMDLINE_LINUX="${{GRUB_CMDLINE_LINUX}}"{shlex.quote(" " + " ".join(args))}\n'


def strip_owned(text: str, owned: set[str]) -> str:
    """The file with owned arguments removed from its GRUB_CMDLINE_LINUX* lines."""
    out = []
    for line in text.splitlines(keepends=True):
        match = LINE.match(line.rstrip("\n"))
        if match and "$" not in match.group(3):
            kept = [w for w in match.group(3).split() if w.split("=", 1)[0] not in owned]
            quote = match.group(2) or '"'
            line = f"{match.group(1)}{quote}{' '.join(kept)}{quote}\n"
        out.append(line)
    return "".join(out)


def boot_loader_problem(update_grub: str | None, bls_entries: list[str]) -> str | None:
    """Why colotune cannot write this host's kernel command line, or None when it can."""
    if update_grub:
        return None
    if bls_entries:
        found = (
            f"boots from Boot Loader Specification entries ({len(bls_entries)} in "
            "/boot/loader/entries; RHEL-family hosts edit them with grubby)"
        )
    else:
        found = "has no update-grub in PATH"
    return (
        "colotune writes kernel arguments through /etc/default/grub.d and update-grub (Debian "
        f"and Ubuntu GRUB); this host {found}, which colotune does not drive. Nothing was "
        "changed. Put the plan's arguments on the command line with the host's own tool "
        "(`colotune plan -l HOST` lists them, TUN-001 audits them) and set tuning_cmdline: "
        "check for this host."
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "args": {"type": "list", "elements": "str", "required": True},
            "owned_keys": {"type": "list", "elements": "str", "required": True},
            "allow": {
                "type": "list",
                "elements": "str",
                "default": ["live", "disruptive", "reboot"],
            },
            "grub_default": {"type": "path", "default": "/etc/default/grub"},
            "dropin": {"type": "path", "default": "/etc/default/grub.d/colotune.cfg"},
            "probe": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    problem = boot_loader_problem(
        module.get_bin_path("update-grub"), sorted(glob.glob("/boot/loader/entries/*.conf"))
    )
    if problem:  # before anything is written
        module.fail_json(msg=problem)
    if params["probe"]:
        module.exit_json(changed=False, msg="update-grub found: colotune can drive GRUB here")
    owned = set(params["owned_keys"])
    unsafe = [arg for arg in params["args"] if not SAFE_ARG.fullmatch(arg)]
    if unsafe:  # the profile refuses these; a drop-in that update-grub sources must never hold one
        module.fail_json(
            msg=f"kernel arguments {unsafe!r} are not key or key=value; nothing written"
        )
    header = "# Managed by colotune (roles/tuning): the plan's kernel arguments.\n"
    wanted = {params["dropin"]: header + dropin_line(params["args"])}
    dropins = glob.glob(os.path.join(os.path.dirname(params["dropin"]), "*.cfg"))
    others = [params["grub_default"], *sorted(p for p in dropins if p != params["dropin"])]
    for path in others:
        if os.path.exists(path):
            with open(path) as handle:
                text = handle.read()
            stripped = strip_owned(text, owned)
            if stripped != text:
                wanted[path] = stripped
    diffs = []
    for path, text in wanted.items():
        before = ""
        if os.path.exists(path):
            with open(path) as handle:
                before = handle.read()
        if before != text:
            diffs.append(
                {"before_header": path, "after_header": path, "before": before, "after": text}
            )
    changed = bool(diffs)
    if changed and "reboot" not in params["allow"]:
        module.exit_json(
            changed=False,
            refused=[
                f"kernel command line ({d['after_header']}): reboot-class change refused "
                "in market hours"
                for d in diffs
            ],
            reboot_required=False,
        )
    if changed and not module.check_mode:
        for item in diffs:
            path = item["after_header"]
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = path + ".colotune-tmp"
            with open(tmp, "w") as handle:
                handle.write(item["after"])
            os.replace(tmp, path)
    module.exit_json(changed=changed, diff=diffs, reboot_required=changed, refused=[])


if __name__ == "__main__":
    main()

"""Waivers: a control's failure accepted on some hosts, with a justification and an expiry date.

validators/waivers/<env>.yml:

    waivers:
      - control: TUN-007
        hosts: ["lab-*"]            # fnmatch patterns; default every host
        justification: "QEMU guests have no cpufreq; tracked in INFRA-123"
        expires: 2026-12-31         # from the day after, the waiver stops applying

The audit and the testinfra suite read the same files. An expired waiver is
reported and no longer applies.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from colotune import yamlinput
from colotune.errors import ColotuneError


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    control: str
    hosts: list[str] = Field(default_factory=lambda: ["*"])
    justification: str = Field(min_length=10)
    expires: dt.date

    @field_validator("control")
    @classmethod
    def _control_id(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{2,5}-\d{3}", value):
            raise ValueError(f"{value!r} is not a control ID (e.g. TUN-007, PTP-003)")
        return value

    def covers(self, control: str, host: str) -> bool:
        return control == self.control and any(fnmatch.fnmatch(host, p) for p in self.hosts)

    def expired(self, today: dt.date) -> bool:
        return today > self.expires


class WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    waivers: list[Waiver] = Field(default_factory=list)


def load(path: Path | str | None) -> list[Waiver]:
    """The waivers of a file; no file given: none. Bad files are errors that say what is wrong."""
    if path is None:
        return []
    source = Path(path)
    data = yamlinput.load_file(source, "--waivers") or {}
    try:
        return list(WaiverFile.model_validate(data).waivers)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ColotuneError(
            f"waivers {source}: {problems} (each waiver needs control, justification, expires "
            "as YYYY-MM-DD, and optionally hosts)"
        ) from None


def find(
    waivers: list[Waiver], control: str, host: str, today: dt.date
) -> tuple[Waiver | None, Waiver | None]:
    """(the waiver that applies, an expired one that would have) for a control on a host."""
    active = expired = None
    for waiver in waivers:
        if waiver.covers(control, host):
            if waiver.expired(today):
                expired = expired or waiver
            else:
                active = active or waiver
    return active, expired

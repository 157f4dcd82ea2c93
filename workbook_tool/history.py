"""Spec history: what the spec said when a period was generated is what that period uses.

``generate`` keeps a snapshot of the spec's files for the period in the ledger; consolidating,
reporting status or airing a bulletin for that period later loads the spec from that snapshot,
so a unit added in October is not missing in July and a later target never rewrites an earlier
month. Periods generated before snapshots existed use the current spec.
"""
from __future__ import annotations

import base64
import dataclasses
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .spec import Spec, load_spec

if TYPE_CHECKING:
    from .desk import Period
    from .ledger import Ledger


def snapshot(folder: Path) -> dict[str, str]:
    """{relative path: base64 bytes} of every file of a spec folder (YAML or workbook alike)."""
    folder = Path(folder)
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            out[rel.as_posix()] = base64.b64encode(path.read_bytes()).decode("ascii")
    return out


def record(ledger: Ledger, spec: Spec, period: Period, folder: Path) -> None:
    ledger.record_spec(spec.code, str(period), snapshot(folder))


def spec_for_period(ledger: Ledger, spec: Spec, period: Period) -> Spec:
    """The spec as it stood when ``period``'s templates were generated (else ``spec``)."""
    files = ledger.spec_files(spec.code, str(period))
    if not files:
        return spec
    with tempfile.TemporaryDirectory(prefix="workbook-tool-spec-") as tmp:
        root = Path(tmp) / spec.code
        for rel, data in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(base64.b64decode(data))
        then = load_spec(root)
    # the desk's safety limits are today's, not the period's: they guard this run, not the report
    return dataclasses.replace(then, **{f: getattr(spec, f) for f in CURRENT_SETTINGS})


CURRENT_SETTINGS = ("max_file_mb", "max_unpacked_mb", "max_read_seconds", "max_memory_mb")

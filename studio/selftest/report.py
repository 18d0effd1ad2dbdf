"""The self-test's report: each check with its verdict, timings, versions, written as JSON."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    ok: bool = False
    reason: str | None = None
    frozen: bool = bool(getattr(sys, "frozen", False))
    model: str | None = None
    image: str | None = None
    screenshot: str | None = None
    data_dir: str | None = None
    app_dir: str | None = None
    checks: list[Check] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)

    def check(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, bool(ok), detail))
        return bool(ok)

    def finish(self) -> None:
        failed = [c for c in self.checks if not c.ok]
        if not self.checks and self.reason is None:
            self.reason = "No check ran."
        if failed and self.reason is None:
            self.reason = f"{failed[0].name}: {failed[0].detail}"
        self.ok = bool(self.checks) and not failed and self.reason is None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)


def write_report(report: Report, target: Path | None) -> int:
    text = report.to_json()
    summary = (
        f"self-test passed in {report.timings_s.get('total', 0):.1f} s"
        if report.ok
        else f"self-test FAILED: {report.reason}"
    )
    if target is not None:
        try:
            target.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            summary += f" (the report could not be written to {target}: {exc})"
            report.ok = False
    out = sys.stdout if sys.stdout is not None else None
    if out is not None:
        if target is None:
            print(text, file=out)
        print(summary + (f" — report: {target}" if target else ""), file=out, flush=True)
    return 0 if report.ok else 1

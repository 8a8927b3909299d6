"""The settings of `spot report` (its flags and YAML files are built from them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from spot import checks


@dataclass
class ReportConfig:
    run_dir: Path = field(metadata={"argument": True})
    """Directory to report on: a `spot run` directory, or any stage's output directory
    (its contents are found by their files, wherever they sit below it)."""
    out: Path | None = None
    """Where report.html is written (default: RUN_DIR/report.html); the PNG of every plot
    is written beside it."""
    pairs: int = 40
    """Pairs shown side by side, spread over the change ratios (0: none)."""

    def check(self) -> None:
        run_dir = Path(self.run_dir)
        if not run_dir.exists():
            raise checks.OptionError(f"RUN_DIR {run_dir}: no such directory")
        if not run_dir.is_dir():
            raise checks.OptionError(f"RUN_DIR {run_dir}: not a directory")
        checks.at_least("pairs", self.pairs, 0)
        checks.output_file("out", self.out_path())

    def out_path(self) -> Path:
        return Path(self.out) if self.out else Path(self.run_dir) / "report.html"

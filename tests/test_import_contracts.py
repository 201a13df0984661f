"""The walls between the parts (ARCHITECTURE.md), as import-linter contracts (pyproject.toml,
[tool.importlinter]): they hold in this tree, and an import that crosses one breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("cli", "api", "worker", "mailprobe")

LAYERS = "The command line over the front-end and the worker"
ACYCLIC = "No import cycle between the modules"
TRANSPORT_FREE = "The core and the worker speak no transport"


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # Run from `root`, whose packages then come first on the path; no cache, so nothing of an
    # earlier tree is reused.
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_contract_holds() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    # `named`: how the report names the import that broke it.
    ("module", "source", "broken", "named"),
    [
        # The core reaching up into the worker.
        ("mailprobe/crossing.py", "import worker.tasks\n", LAYERS, "mailprobe.crossing"),
        # The API importing the worker, its sibling.
        ("api/crossing.py", "from worker.app import celery_app\n", LAYERS, "api.crossing"),
        # The command line below someone: the worker importing it.
        ("worker/crossing.py", "import cli.main\n", LAYERS, "worker.crossing"),
        # A cycle: worker.probe imports worker.smtp, which would import it back, even hidden
        # inside a function.
        (
            "worker/smtp.py",
            "def _hidden() -> None:\n    import worker.probe\n",
            ACYCLIC,
            ".smtp -> .probe",
        ),
        # A transport in the core.
        ("mailprobe/crossing.py", "import flask\n", TRANSPORT_FREE, "mailprobe.crossing"),
    ],
)
def test_an_import_across_a_wall_breaks_a_contract(
    tmp_path: Path, module: str, source: str, broken: str, named: str
) -> None:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "static", "*.html"),
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / module).open("a") as file:
        file.write("\n" + source)

    result = _lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    broken_section = result.stdout.split("Broken contracts", 1)[1]
    assert broken in broken_section.replace("\n", " ")
    assert named in broken_section

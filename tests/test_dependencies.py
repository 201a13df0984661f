"""pyproject.toml's version ranges hold what is tested.

scripts/test-lowest installs the lowest versions the ranges allow and runs the quick tests
against them: there, each floor must be the version installed, or that floor was never tested.
"""

from __future__ import annotations

import os
import tomllib
from importlib.metadata import version

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support import ROOT


def _project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        project: dict[str, object] = tomllib.load(file)["project"]
    return project


def runtime_requirements() -> list[Requirement]:
    dependencies = _project()["dependencies"]
    assert isinstance(dependencies, list)
    return [Requirement(line) for line in dependencies]


def all_requirements() -> list[Requirement]:
    """The runtime dependencies and those of every extra, but mailprobe itself."""
    extras = _project()["optional-dependencies"]
    assert isinstance(extras, dict)
    found = runtime_requirements()
    for lines in extras.values():
        found += [Requirement(line) for line in lines]
    return [r for r in found if canonicalize_name(r.name) != "mailprobe"]


def floor(requirement: Requirement) -> Version | None:
    for spec in requirement.specifier:
        if spec.operator in (">=", "~=", "=="):
            return Version(spec.version)
    return None


@pytest.mark.skipif(
    not os.environ.get("TEST_LOWEST_VERSIONS"),
    reason="for the venv of the lowest versions (scripts/test-lowest)",
)
def test_each_floor_is_the_version_installed() -> None:
    untested = []
    for requirement in all_requirements():
        lowest = floor(requirement)
        installed = Version(version(requirement.name))
        if lowest is not None and Version(installed.base_version) != lowest:
            untested.append(f"{requirement.name}: floor {lowest}, installed {installed}")
    assert not untested, (
        "these floors cannot be installed with the others, so no test ran them: raise each "
        "to the version installed (pyproject.toml): " + "; ".join(untested)
    )

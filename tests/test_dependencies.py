"""pyproject.toml's version ranges hold what is shipped and what is tested.

The Docker image installs the versions pinned in constraints.txt: each runtime dependency is
pinned there, inside its range. scripts/test-lowest installs the lowest versions the ranges
allow and runs the quick tests against them: there, each floor must be the version installed,
or that floor was never tested.
"""

from __future__ import annotations

import os
import tomllib
from importlib.metadata import version

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from tests.support import ROOT

REFRESH = "refresh it as the README says (Development)"


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


def pins(text: str) -> dict[NormalizedName, Version]:
    """name == version for each line of a constraints file (comments and markers aside)."""
    pinned: dict[NormalizedName, Version] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"constraints.txt pins exact versions, not {line!r}"
        pinned[canonicalize_name(requirement.name)] = Version(spec.version)
    return pinned


def floor(requirement: Requirement) -> Version | None:
    for spec in requirement.specifier:
        if spec.operator in (">=", "~=", "=="):
            return Version(spec.version)
    return None


def pin_problems(
    requirements: list[Requirement], pinned: dict[NormalizedName, Version]
) -> list[str]:
    problems = []
    for requirement in requirements:
        pin = pinned.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement.name} is not pinned")
        elif not requirement.specifier.contains(pin, prereleases=True):
            problems.append(f"{requirement.name}=={pin} is outside {requirement.specifier}")
    return problems


def test_constraints_pin_every_runtime_dependency_inside_its_range() -> None:
    problems = pin_problems(runtime_requirements(), pins((ROOT / "constraints.txt").read_text()))
    assert not problems, f"constraints.txt: {'; '.join(problems)}: {REFRESH}"


def test_a_pin_outside_its_range_and_a_missing_pin_are_problems() -> None:
    pinned = pins("redis==5.0.1 ; python_version >= '3.11'\n    # via mailprobe\n")
    assert pinned == {"redis": Version("5.0.1")}
    requirements = [Requirement("redis>=6.4"), Requirement("kombu>=5.7,<5.8")]
    assert pin_problems(requirements, pinned) == [
        "redis==5.0.1 is outside >=6.4",
        "kombu is not pinned",
    ]
    with pytest.raises(AssertionError, match="exact versions"):
        pins("redis>=6.4\n")


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

"""environment.yml is the single source of truth: the pip-only setup and this environment match it."""
from __future__ import annotations

from importlib import metadata

import pytest
import yaml

from jeugdhulp_wijken import environment

DESIGN_CARD = {"jupyterlab", "papermill", "pandas", "geopandas", "seaborn", "statsmodels", "nbval"}


def test_stdlib_parser_agrees_with_yaml():
    doc = yaml.safe_load(environment.ENVIRONMENT_YML.read_text())
    pip_lists = [d["pip"] for d in doc["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1
    parsed = environment.parse_pip_requirements(environment.ENVIRONMENT_YML.read_text())
    assert parsed == pip_lists[0]


def test_every_package_is_pinned_exactly_and_design_card_is_covered():
    pins = environment.read_pins()
    assert DESIGN_CARD <= set(pins)
    assert all(v[0].isdigit() for v in pins.values())


@pytest.mark.parametrize("name,version", sorted(environment.read_pins().items()))
def test_installed_version_matches_pin(name, version):
    assert metadata.version(name) == version


def test_unpinned_entry_is_rejected():
    text = "dependencies:\n  - pip\n  - pip:\n      - pandas>=2\n"
    with pytest.raises(environment.EnvironmentSpecError, match="not pinned exactly"):
        environment.parse_pip_requirements(text)


def test_setup_requirements_file_matches_environment_yml():
    """The lock file that scripts/setup_env.py wrote for this environment lists the same pins."""
    req = environment.ENVIRONMENT_YML.parent / ".venv" / "requirements-from-environment.txt"
    if not req.is_file():
        pytest.skip("environment not created by scripts/setup_env.py (conda setup)")
    lines = [ln for ln in req.read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines == environment.parse_pip_requirements(environment.ENVIRONMENT_YML.read_text())

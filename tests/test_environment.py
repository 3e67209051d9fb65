"""The environment: pins in environment.yml, a hashed lock made from them, and this environment matching it."""
from __future__ import annotations

from importlib import metadata

import pytest
import yaml

from jeugdhulp_wijken import environment

DESIGN_CARD = {"jupyterlab", "papermill", "pandas", "geopandas", "seaborn", "statsmodels", "nbval"}
LOCK = environment.read_lock()


def test_conda_route_installs_from_the_lock():
    """conda reads only the pip section, and that section is the lock (relative to environment.yml)."""
    doc = yaml.safe_load(environment.ENVIRONMENT_YML.read_text(encoding="utf-8"))
    pip_lists = [d["pip"] for d in doc["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip_lists == [[environment.LOCK_LINE]]
    assert environment.parse_pip_section(environment.ENVIRONMENT_YML.read_text()) == [environment.LOCK_LINE]
    assert (environment.ENVIRONMENT_YML.parent / "requirements.lock") == environment.LOCK


def test_every_pin_is_exact_and_the_design_card_is_covered():
    pins = environment.read_pins()
    assert DESIGN_CARD <= set(pins)
    assert all(v[0].isdigit() for v in pins.values())


def test_the_lock_holds_every_pin_at_its_version():
    """Regenerate with `make lock` when this fails after a pin changed."""
    stale = {n: (v, LOCK.get(n, ("missing",))[0]) for n, v in environment.read_pins().items()
             if LOCK.get(n, ("",))[0] != v}
    assert not stale, f"environment.yml pin vs requirements.lock: {stale}; run `make lock`"


def test_every_locked_package_has_hashes():
    assert len(LOCK) > len(environment.read_pins())  # transitive packages are locked too
    assert all(hashes for _, hashes in LOCK.values())
    assert all(len(h) == 64 for _, hashes in LOCK.values() for h in hashes)


@pytest.mark.parametrize("name,version", sorted((n, v) for n, (v, _) in LOCK.items()))
def test_installed_version_matches_the_lock(name, version):
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{name}=={version} is in requirements.lock but not installed; run `make setup`")
    assert installed == version, f"{name}: installed {installed}, locked {version}; run `make setup`"


@pytest.mark.parametrize("bad", ["#   - pandas>=2", "#   - pandas", "  - pandas==2.3.3"])
def test_a_pin_that_is_not_exact_is_refused(bad):
    text = "dependencies:\n  - pip\n  - pip:\n      - -r requirements.lock\n# pins (x):\n#   - numpy==2.4.6\n" + bad
    with pytest.raises(environment.EnvironmentSpecError, match=r":7: "):
        environment.parse_pins(text)


def test_lock_parser_reads_versions_and_hashes(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("# header\nPyYAML==6.0.3 \\\n    --hash=sha256:" + "a" * 64 + " \\\n    --hash=sha256:"
                    + "b" * 64 + "\n    # via -r x.in\nsix==1.17.0 \\\n    --hash=sha256:" + "c" * 64 + "\n")
    assert environment.read_lock(lock) == {"pyyaml": ("6.0.3", ("a" * 64, "b" * 64)), "six": ("1.17.0", ("c" * 64,))}
    with pytest.raises(environment.EnvironmentSpecError, match="make lock"):
        environment.read_lock(tmp_path / "missing.lock")


def test_setup_and_lock_are_documented_commands():
    makefile = (environment.ROOT / "Makefile").read_text(encoding="utf-8")
    assert "scripts/lock.py" in makefile and "scripts/setup_env.py" in makefile
    setup = (environment.ROOT / "scripts" / "setup_env.py").read_text(encoding="utf-8")
    assert '"--require-hashes", "-r", str(LOCK)' in setup and '"--no-deps", "-e"' in setup
    assert "make lock" in (environment.ROOT / "README.md").read_text(encoding="utf-8")


def test_the_run_names_the_installed_version_of_every_pin_and_reads_the_pins_again_when_they_change(
        tmp_path, monkeypatch):
    from jeugdhulp_wijken.pipeline import runner

    versions = runner.package_versions()
    assert versions == {name: metadata.version(name) for name in environment.read_pins()}
    copy = tmp_path / "environment.yml"
    text = environment.ENVIRONMENT_YML.read_text(encoding="utf-8")
    copy.write_text(text, encoding="utf-8")
    monkeypatch.setattr(environment, "ENVIRONMENT_YML", copy)
    assert runner.package_versions() == versions
    copy.write_text(text.replace("#   - seaborn==", "#   - not-installed-here==0.1\n#   - seaborn=="), encoding="utf-8")
    changed = runner.package_versions()
    assert changed["not-installed-here"] is None and changed["seaborn"] == versions["seaborn"]

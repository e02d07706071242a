"""`make test` installs the Debian packages the tests drive (Chromium) when it can."""

import os
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _fake_bin(tmp_path: Path, uid: str) -> tuple[Path, Path]:
    """`id` and `apt-get` stand-ins on PATH: the recipe's calls are recorded, nothing installed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    scripts = {
        "id": f'#!/bin/sh\necho "{uid}"\n',
        "apt-get": f'#!/bin/sh\necho "$@" >> "{log}"\n',
    }
    for name, body in scripts.items():
        script = bin_dir / name
        script.write_text(body)
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bin_dir, log


def _make_system_deps(bin_dir: Path, packages: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return subprocess.run(
        ["make", "--no-print-directory", "system-deps", f"SYSTEM_PACKAGES={packages}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_test_runs_system_deps_first() -> None:
    makefile = (ROOT / "Makefile").read_text()
    test_rule = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert "system-deps" in test_rule.split()
    assert "chromium" in next(
        line for line in makefile.splitlines() if line.startswith("SYSTEM_PACKAGES")
    )


def test_it_installs_a_missing_package_with_apt_as_root(tmp_path: Path) -> None:
    bin_dir, log = _fake_bin(tmp_path, uid="0")
    result = _make_system_deps(bin_dir, "prism-no-such-package")
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "update -qq"
    assert calls[1] == "install -y -qq prism-no-such-package"


def test_it_installs_nothing_when_the_packages_are_there(tmp_path: Path) -> None:
    bin_dir, log = _fake_bin(tmp_path, uid="0")
    result = _make_system_deps(bin_dir, "coreutils")
    assert result.returncode == 0, result.stderr
    assert not log.exists()


def test_it_says_what_will_skip_when_it_cannot_install(tmp_path: Path) -> None:
    bin_dir, log = _fake_bin(tmp_path, uid="1000")
    result = _make_system_deps(bin_dir, "prism-no-such-package")
    assert result.returncode == 0
    assert "prism-no-such-package will skip" in result.stdout
    assert not log.exists()

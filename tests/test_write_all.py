"""write_all: generated files land atomically, readable by others (a Grafana container runs as uid 472)."""
import os
import stat

import pytest

from hermes_dash.build import generated_files, write_all
from hermes_dash.config import DEFAULT

from conftest import cli


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_077():
    old = os.umask(0o077)
    yield
    os.umask(old)


def test_written_files_are_0644_whatever_the_umask(tmp_path, umask_077):
    """Every file write_all writes has mode 0644, even under umask 077 (mkstemp alone gives 0600)."""
    write_all(str(tmp_path), {"dashboards/a.json": "{}\n", "rules/r.yml": "groups: []\n"})
    assert {p.relative_to(tmp_path).as_posix(): mode(p) for p in tmp_path.rglob("*") if p.is_file()} == {
        "dashboards/a.json": 0o644, "rules/r.yml": 0o644}


def test_rewritten_file_becomes_0644(tmp_path):
    """A file that was 0600 (or 0666) before is replaced by one with mode 0644 and the new content."""
    (tmp_path / "a.yml").write_text("old\n")
    os.chmod(tmp_path / "a.yml", 0o600)
    (tmp_path / "b.yml").write_text("old\n")
    os.chmod(tmp_path / "b.yml", 0o666)
    write_all(str(tmp_path), {"a.yml": "new\n", "b.yml": "new\n"})
    assert [(mode(tmp_path / n), (tmp_path / n).read_text()) for n in ("a.yml", "b.yml")] == [
        (0o644, "new\n"), (0o644, "new\n")]


def test_build_writes_every_generated_file_0644(tmp_path):
    """`hermes-dash build` leaves every generated file readable by group and others (0644)."""
    r = cli("build", "--root", str(tmp_path))
    assert r.returncode == 0, r.stderr
    modes = {p.relative_to(tmp_path).as_posix(): mode(p) for p in tmp_path.rglob("*") if p.is_file()}
    assert sorted(modes) == sorted(generated_files(DEFAULT)) and set(modes.values()) == {0o644}, modes


def test_failed_write_leaves_old_files_and_no_temporaries(tmp_path):
    """When staging fails (a destination directory is a file), nothing is replaced and no temporary is left."""
    (tmp_path / "a.yml").write_text("old\n")
    (tmp_path / "rules").write_text("I am a file, not a directory\n")
    with pytest.raises(OSError):
        write_all(str(tmp_path), {"a.yml": "new\n", "rules/r.yml": "x\n"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yml", "rules"]
    assert (tmp_path / "a.yml").read_text() == "old\n"

"""What a Dask worker writes from a submission payload (grader/cluster.py): a student's file
names travel to another host, so a name that climbs out of the private task folder is refused
before any byte is written. No Dask needed: the worker-side function is plain Python."""
from __future__ import annotations

import pytest

from grader import __version__, cluster
from grader.batch import current_build


@pytest.mark.parametrize("name", ["../escape.txt", "../../escape.txt", "ABSOLUTE",
                                  "a/../../escape.txt", ""])
def test_a_payload_name_outside_the_task_folder_is_refused(name, tmp_path, monkeypatch):
    monkeypatch.setattr(cluster.tempfile, "tempdir", str(tmp_path))   # the task folder's parent
    task = {"assignment": "softmax", "build_id": current_build("softmax")}
    if name == "ABSOLUTE":
        name = str(tmp_path / "escape.txt")
    with pytest.raises(ValueError, match="unsafe path"):
        cluster.grade_remote(task, {"softmax.py": b"x = 1\n", name: b"pwned"}, __version__)
    assert not list(tmp_path.rglob("escape.txt")) and not (tmp_path.parent / "escape.txt").exists()


@pytest.mark.parametrize("name", ["softmax.py", "sub/dir/softmax.py", "REPORT.md"])
def test_an_ordinary_relative_name_is_kept(name):
    assert cluster._safe_relpath(name).as_posix() == name

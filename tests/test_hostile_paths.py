"""What an untrusted spec may reach on this machine: uploads only under the spec's
directory, downloads only under the current directory, unless the person running bwf
passes --allow-path; paths inside a container may not climb out. The plan shows every
local file that would leave the machine, and nothing from a spec reaches the terminal
as raw control characters."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner import pipeline
from runner.paths import Allowed
from runner.plan import diff
from runner.progress import Ui
from runner.show import render_plan
from runner.state import Observed
from tests.helpers import MINIMAL, write_spec

SECONDS = 60
UPLOAD = 'input: {upload: ["data/*.txt"]}'  # line 5, the pattern at column 22
AT = "5:22: storage.containers.input.upload[0]"


def with_upload(directory: Path, pattern: str, files: dict[str, str] | None = None) -> Path:
    return write_spec(
        directory, MINIMAL.replace(UPLOAD, f'input: {{upload: ["{pattern}"]}}'), files
    )


def problems(spec: Path, allowed: Allowed | None = None) -> list[str]:
    started = time.monotonic()
    found = [str(p) for p in pipeline.validate([spec], allowed=allowed)]
    assert time.monotonic() - started < SECONDS
    return found


def outside_refusal(spec: Path, pattern: str, reached: str) -> str:
    return (
        f"{spec}:{AT}: '{pattern}' reaches {reached}, outside the spec's directory "
        f"{os.path.realpath(spec.parent)}; uploads read only from there unless you pass "
        "--allow-path DIR"
    )


def bwf(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BWF_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


@pytest.fixture()
def secret(tmp_path: Path) -> Path:
    """A file outside the spec's directory, standing for /etc/passwd or a key."""
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text("the secret\n")
    return path


@pytest.fixture()
def spec_dir(tmp_path: Path) -> Path:
    (tmp_path / "repo").mkdir()
    return tmp_path / "repo"


def test_an_upload_that_climbs_out_of_the_spec_directory_is_refused(
    spec_dir: Path, secret: Path
) -> None:
    pattern = "../outside/secret.txt"
    spec = with_upload(spec_dir, pattern)
    assert problems(spec) == [outside_refusal(spec, pattern, os.path.realpath(secret))]


def test_etc_passwd_by_a_relative_or_an_absolute_path_is_refused(spec_dir: Path) -> None:
    relative = os.path.relpath("/etc/passwd", spec_dir)
    for pattern in (relative, "/etc/passwd"):
        spec = with_upload(spec_dir, pattern)
        assert problems(spec) == [outside_refusal(spec, pattern, "/etc/passwd")]


def test_an_absolute_glob_is_refused_before_anything_is_listed(spec_dir: Path) -> None:
    spec = with_upload(spec_dir, "/**/*")
    assert problems(spec) == [outside_refusal(spec, "/**/*", "/")]


def test_a_link_to_a_directory_outside_is_refused(spec_dir: Path, secret: Path) -> None:
    (spec_dir / "data").mkdir()
    (spec_dir / "data" / "etc").symlink_to(secret.parent)
    spec = with_upload(spec_dir, "data/etc/*.txt", files={})
    assert problems(spec) == [
        outside_refusal(
            spec,
            "data/etc/*.txt",
            f"{spec_dir}/data/etc (which resolves to {os.path.realpath(secret.parent)})",
        )
    ]


def test_a_link_to_a_file_outside_is_refused_even_through_a_wildcard(
    spec_dir: Path, secret: Path
) -> None:
    spec = with_upload(spec_dir, "data/*.txt")  # data/a.txt and data/b.txt are real
    (spec_dir / "data" / "c.txt").symlink_to(secret)
    assert problems(spec) == [
        outside_refusal(
            spec,
            "data/*.txt",
            f"{spec_dir}/data/c.txt (which resolves to {os.path.realpath(secret)})",
        )
    ]


def test_links_that_loop_do_not_hang_a_recursive_glob(spec_dir: Path) -> None:
    spec = with_upload(spec_dir, "data/**/*.txt")
    for name in ("a", "b", "c"):
        (spec_dir / "data" / f"loop-{name}").symlink_to(".")
    (spec_dir / "data" / "root").symlink_to("/")
    desired = pipeline.desired_state(spec)
    assert [u.blob for u in desired.container("input").uploads] == ["a.txt", "b.txt"]


def test_a_file_a_glob_reaches_twice_is_listed_once_and_a_link_still_checked(
    spec_dir: Path, secret: Path
) -> None:
    spec = with_upload(spec_dir, "data/**/**/*.txt")  # `**` twice: every file found again
    (spec_dir / "data" / "sub").mkdir()
    (spec_dir / "data" / "sub" / "d.txt").write_text("d\n")
    desired = pipeline.desired_state(spec)
    blobs = ["a.txt", "b.txt", "sub/d.txt"]
    assert [u.blob for u in desired.container("input").uploads] == blobs
    (spec_dir / "data" / "sub" / "c.txt").symlink_to(secret)
    assert problems(spec) == [
        outside_refusal(
            spec,
            "data/**/**/*.txt",
            f"{spec_dir}/data/sub/c.txt (which resolves to {os.path.realpath(secret)})",
        )
    ]


def test_after_a_wildcard_a_glob_does_not_climb_back_up(spec_dir: Path, secret: Path) -> None:
    pattern = "data/*/../../../outside/secret.txt"
    spec = with_upload(spec_dir, pattern, {"data/sub/a.txt": "a\n"})
    assert problems(spec) == [
        f"{spec}:{AT}: '{pattern}' matches no file (paths are relative to the spec file)"
    ]


def test_a_link_inside_the_spec_directory_is_followed(spec_dir: Path) -> None:
    spec = with_upload(spec_dir, "data/*.txt")
    (spec_dir / "shared.txt").write_text("shared\n")
    (spec_dir / "data" / "c.txt").symlink_to(spec_dir / "shared.txt")
    desired = pipeline.desired_state(spec)
    assert [u.blob for u in desired.container("input").uploads] == ["a.txt", "b.txt", "c.txt"]


def test_allow_path_lets_an_upload_read_outside(spec_dir: Path, secret: Path) -> None:
    spec = with_upload(spec_dir, "../outside/*.txt")
    assert problems(spec, Allowed.of([str(secret.parent)])) == []
    r = bwf("validate", str(spec), cwd=spec_dir, home=spec_dir.parent / "home")
    assert r.returncode == 2 and "--allow-path DIR" in r.stderr
    r = bwf(
        "validate",
        "--allow-path",
        "../outside",
        str(spec),
        cwd=spec_dir,
        home=spec_dir.parent / "home",
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{spec}: ok\n", "")


def test_a_download_outside_the_current_directory_is_refused(
    spec_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(spec_dir)
    cwd = os.path.realpath(spec_dir)
    for to, lands in (("../../x", os.path.realpath(spec_dir / "../../x")), ("/tmp/x", "/tmp/x")):
        spec = write_spec(spec_dir, MINIMAL + f"download: [{{container: output, to: {to}}}]\n")
        assert problems(spec) == [
            f"{spec}:19:36: download[0].to: '{to}' writes to {lands}, outside the current "
            f"directory {cwd}; downloads write only under it unless you pass --allow-path DIR"
        ]
    spec = write_spec(spec_dir, MINIMAL + "download: [{container: output, to: out/x}]\n")
    assert problems(spec) == []
    link = write_spec(spec_dir, MINIMAL + "download: [{container: output, to: escape/x}]\n")
    (spec_dir / "escape").symlink_to("/tmp")
    assert problems(link)[0].startswith(f"{link}:19:36: download[0].to: 'escape/x' writes to")


def test_allow_path_lets_a_download_write_outside(spec_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    spec = write_spec(spec_dir, MINIMAL + f"download: [{{container: output, to: {out}}}]\n")
    assert problems(spec, Allowed.of([str(out)])) == []
    r = bwf("validate", "--allow-path", str(out), str(spec), cwd=spec_dir, home=tmp_path / "h")
    assert r.returncode == 0, r.stderr


def test_an_output_path_that_climbs_out_is_refused_at_validate(spec_dir: Path) -> None:
    text = MINIMAL.replace(
        'outputs: [{pattern: "*.out", container: output}]',
        'outputs: [{pattern: "*.out", container: output, path: "../../x/"}]',
    )
    spec = write_spec(spec_dir, text)
    assert problems(spec) == [
        f"{spec}:18:59: job.tasks.outputs[0].path: '../../x/' must stay inside the container "
        "(no absolute path, no '..') for a.txt"
    ]


def test_a_refused_spec_sends_nothing_to_any_service(spec_dir: Path, tmp_path: Path) -> None:
    spec = with_upload(spec_dir, "/etc/passwd")
    home = tmp_path / "home"
    for command in (("plan",), ("apply", "--yes")):
        r = bwf(*command, str(spec), cwd=spec_dir, home=home)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr
        assert r.stderr.splitlines() == [outside_refusal(spec, "/etc/passwd", "/etc/passwd")]
    assert not (home / "local").exists(), "the local stack was started"


def test_the_plan_lists_the_local_files_each_container_sends(
    spec_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"data/f{i}.txt": "x\n" for i in range(5)}
    spec = write_spec(spec_dir, MINIMAL, files)
    monkeypatch.chdir(spec_dir.parent)
    text = render_plan(diff(pipeline.desired_state(spec), Observed.empty()))
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "container  t-input" in line)
    assert "upload 5 blobs" in lines[at]
    assert [line.strip() for line in lines[at + 1 : at + 5]] == [
        "from repo/data/f0.txt",
        "from repo/data/f1.txt",
        "from repo/data/f2.txt",
        "... and 2 more local files",
    ]


def test_control_characters_in_values_and_paths_are_escaped_in_the_plan(
    spec_dir: Path, tmp_path: Path
) -> None:
    text = (
        MINIMAL.replace(UPLOAD, 'input: {upload: ["d\\e]0;t\\a/*.txt"]}')
        .replace("for_each: {container: input}", 'for_each: {values: ["\\e]0;owned\\a\\r"]}')
        .replace("t-{{ item.stem }}", "t-{{ index }}")
        .replace("cat {{ item.name }}", "cat {{ item }}")
        .replace("    resource_files: [item]\n", "")
    )
    spec = write_spec(spec_dir, text, {"d\x1b]0;t\x07/a.txt": "a\n"})
    r = bwf("plan", "--offline", str(spec), cwd=spec_dir, home=tmp_path / "home")
    assert r.returncode == 0, r.stderr
    assert not any(c in r.stdout for c in "\x1b\x07\r")
    assert "from d\\x1b]0;t\\x07/a.txt" in r.stdout
    assert "t-0: cat '\\x1b]0;owned\\x07\\x0d'" in r.stdout


def test_control_characters_in_file_names_are_escaped_in_errors(
    spec_dir: Path, tmp_path: Path
) -> None:
    spec = write_spec(spec_dir, MINIMAL, {"data/x\x1b[2J\r.txt": "x\n"})
    r = bwf("validate", str(spec), cwd=spec_dir, home=tmp_path / "home")
    assert r.returncode == 2
    assert "\x1b" not in r.stderr and "\r" not in r.stderr
    assert "blob name 'x\\x1b[2J\\x0d.txt' is not valid" in r.stderr


def test_control_characters_in_errors_are_escaped(spec_dir: Path, tmp_path: Path) -> None:
    spec = with_upload(spec_dir, "nothing\\x1b[31m*.txt")
    r = bwf("validate", str(spec), cwd=spec_dir, home=tmp_path / "home")
    assert r.returncode == 2
    assert "\x1b" not in r.stderr
    assert "'nothing\\x1b[31m*.txt' matches no file" in r.stderr


def test_apply_progress_escapes_control_characters(capsys: pytest.CaptureFixture[str]) -> None:
    Ui().say("Downloading x\x1b[2J.txt\nnext line \u202etxt.exe")
    assert capsys.readouterr().out == "Downloading x\\x1b[2J.txt\nnext line \\u202etxt.exe\n"


def test_a_spec_in_a_repository_may_read_the_repository_but_not_its_git_dir(
    tmp_path: Path, secret: Path
) -> None:
    """The shipped workflows upload ../node_scripts/topn.py: a repository's own files are
    what its pull requests can already see, but .git (remote URLs with tokens, hooks) and
    anything above the repository stay out of reach."""
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "config").write_text("[remote]\n url = https://token@example.invalid\n")
    (repo / "node_scripts").mkdir()
    (repo / "node_scripts" / "task.py").write_text("print('hi')\n")
    workflows = repo / "workflows"
    workflows.mkdir()

    spec = with_upload(workflows, "../node_scripts/*.py", files={})
    assert problems(spec) == []
    desired = pipeline.desired_state(str(spec), {})
    assert [u.blob for u in desired.container("input").uploads] == ["task.py"]

    spec = with_upload(workflows, "../.git/config", files={})
    real = os.path.realpath(repo / ".git" / "config")
    assert problems(spec) == [
        f"{spec}:{AT}: '../.git/config' reaches {real}, inside .git, which bwf never uploads"
    ]

    climb = os.path.relpath(secret, workflows)
    spec = with_upload(workflows, climb, files={})
    assert problems(spec) == [
        f"{spec}:{AT}: '{climb}' reaches {os.path.realpath(secret)}, outside the repository "
        f"{os.path.realpath(repo)} that holds the spec; uploads read only from there unless "
        "you pass --allow-path DIR"
    ]

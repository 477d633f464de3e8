"""The package as installed: its command line, its files, its metadata."""
import importlib.metadata
import os
import pathlib
import subprocess
import sys

import pytest

import fastconv


def run_cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "fastconv", *args], capture_output=True, text=True,
                          timeout=120, **kw)


def test_cli_version():
    r = run_cli("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"fastconv {fastconv.__version__}"
    assert r.stderr == ""


@pytest.mark.parametrize("unbuffered", ["", "1"])
@pytest.mark.parametrize("args", [["config"], ["--version"]])
def test_cli_closed_pipe_is_quiet(args, unbuffered):
    """Output into a pipe whose reader has gone: no BrokenPipeError traceback, and the exit
    status a shell gives a process that SIGPIPE ended (128 + 13), buffered or not, on every
    Python (argparse's own --version swallowed the failed write on 3.11.7 and not on 3.11.2)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = unbuffered
    rd, wr = os.pipe()
    os.close(rd)
    try:
        r = subprocess.run([sys.executable, "-m", "fastconv", *args], stdout=wr, stderr=subprocess.PIPE,
                           text=True, timeout=120, env=env)
    finally:
        os.close(wr)
    assert r.stderr == ""
    assert r.returncode == 141


def test_cli_config_into_head():
    r = subprocess.run(f"'{sys.executable}' -m fastconv config | head -1", shell=True, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0
    assert r.stdout.startswith("version")
    assert "Traceback" not in r.stderr and "BrokenPipeError" not in r.stderr


def test_package_files():
    """The type stubs and the PEP 561 marker are installed beside the modules."""
    pkg = pathlib.Path(fastconv.__file__).parent
    for name in ("py.typed", "_core.pyi", "_kernel_tests.pyi"):
        assert (pkg / name).is_file(), name


def test_metadata():
    try:
        md = importlib.metadata.metadata("fastconv")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("fastconv is not installed (run from the source tree)")
    assert md["Version"] == fastconv.__version__
    assert md["License-Expression"] == "MIT"
    assert "LICENSE" in (md.get_all("License-File") or [])
    classifiers = md.get_all("Classifier") or []
    assert "Operating System :: POSIX :: Linux" in classifiers
    assert "Programming Language :: C++" in classifiers

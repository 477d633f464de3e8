"""The kernels' shared algorithms at AVX-512 widths (16 float / 8 double lanes, the 8 x 48
GEMM tile), over emulated lanes: this CPU may lack AVX-512, but everything of that path
except its intrinsics is checked everywhere. Needs a C++17 compiler (skips without one)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_wide_lane_kernels(tmp_path):
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    exe = tmp_path / "wide_lanes"
    build = subprocess.run([cxx, "-std=c++17", "-O1", "-I", str(ROOT / "csrc"), str(ROOT / "tests" / "emu" / "wide_lanes.cpp"),
                            "-o", str(exe)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stdout[-3000:]

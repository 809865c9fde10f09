"""Collectives across processes: launch ``mpiexec -n 2`` (and ``-n 3``,
oversubscribed on two cores, for uneven shards) on this machine, each rank
checking itself against NumPy (tests/mpi_programs.py). Skipped, saying why,
where MPI is not installed (``pip install 'chainrule[distributed]'``)."""

import importlib.util
import os
import shutil
import subprocess
import sys
import time

import pytest

MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))
pytestmark = pytest.mark.skipif(
    MPIEXEC is None or importlib.util.find_spec("mpi4py") is None,
    reason="MPI is not installed: pip install 'chainrule[distributed]' (mpi4py and mpich)")

PROGRAMS = os.path.join(os.path.dirname(__file__), "mpi_programs.py")
SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def launch(n, scenario, timeout=240):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    start = time.perf_counter()
    proc = subprocess.run([MPIEXEC, "-n", str(n), sys.executable, PROGRAMS, scenario],
                          capture_output=True, text=True, timeout=timeout, env=env)
    return proc, time.perf_counter() - start


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("scenario", ["collectives", "data_parallel"])
def test_every_rank_agrees_with_numpy(n, scenario):
    proc, _ = launch(n, scenario)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for r in range(n):
        assert f"ok {scenario} rank {r} of {n}" in proc.stdout, proc.stdout + proc.stderr


def test_mismatched_shapes_are_an_error_with_debug_collectives():
    proc, _ = launch(2, "debug_mismatch")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_an_exception_on_one_rank_ends_the_job_with_its_traceback():
    proc, seconds = launch(2, "raise_on_rank1", timeout=120)
    assert proc.returncode != 0
    assert "ValueError: boom from rank 1" in proc.stderr
    assert "uncaught exception on rank 1 of 2" in proc.stderr
    assert "did not abort" not in proc.stdout
    assert seconds < 60   # ended by the abort, not by the timeout

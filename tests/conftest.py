"""Shared test fixtures."""

import os

import pytest

# Kernels compile in the test process before a jit call returns, so that tests
# counting compiles or comparing compiled results see the compiled tier every
# time (and subprocesses inherit it); tests/test_jit_tiered.py tests "async".
os.environ.setdefault("CHAINRULE_JIT_COMPILE", "sync")


@pytest.fixture(scope="module")
def jit_cache_dir(tmp_path_factory):
    """A fresh CHAINRULE_CACHE_DIR per test module, restored afterwards, so
    jit tests see a cold disk cache and never touch the user's."""
    old = os.environ.get("CHAINRULE_CACHE_DIR")
    os.environ["CHAINRULE_CACHE_DIR"] = str(tmp_path_factory.mktemp("crcache"))
    yield
    if old is None:
        os.environ.pop("CHAINRULE_CACHE_DIR", None)
    else:
        os.environ["CHAINRULE_CACHE_DIR"] = old


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    """A fresh disk cache and a cold in-memory cache of compiled kernels, for
    one test (the cache tests of test_faults.py and test_security.py)."""
    from chainrule.jit import cache
    root = tmp_path / "crcache"
    monkeypatch.setenv("CHAINRULE_CACHE_DIR", str(root))
    monkeypatch.delenv("CHAINRULE_DISABLE_JIT_CACHE", raising=False)
    monkeypatch.setattr(cache, "_memory", {})
    return root


@pytest.fixture(scope="module")
def jax_x64():
    """JAX with float64 enabled, for comparisons (skipped when JAX, an optional
    extra, is not installed); the setting is restored afterwards."""
    jax = pytest.importorskip("jax")
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield jax
    jax.config.update("jax_enable_x64", old)

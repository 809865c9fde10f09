"""Nox sessions for chainrule.

    nox                 # runs the default sessions: tests, lint
    nox -s tests -- -k grad
    nox -s examples
    nox -s bench
    nox -s docs         # builds site/ with MkDocs (warnings are errors)
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (extra arguments are passed to pytest)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Run ruff over the source, tests, examples and benchmarks."""
    session.install("ruff")
    targets = [d for d in ("src", "tests", "examples", "benchmarks") if (ROOT / d).exists()]
    session.run("ruff", "check", *targets, *session.posargs)


def _run_scripts(session: nox.Session, folder: str) -> None:
    scripts = sorted(p for p in (ROOT / folder).glob("*.py") if not p.name.startswith("_"))
    if not scripts:
        session.error(f"no scripts found in {folder}/")
    for script in scripts:
        # session.run raises (failing the session) on any nonzero exit code.
        session.run("python", str(script.relative_to(ROOT)))


@nox.session
def examples(session: nox.Session) -> None:
    """Run every examples/*.py in sorted order; fail on any nonzero exit."""
    session.install("-e", ".[examples]")
    _run_scripts(session, "examples")


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmarks/*.py (installs JAX, autograd, torch for comparison)."""
    session.install("-e", ".[bench,examples]")
    _run_scripts(session, "benchmarks")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with MkDocs Material; warnings fail the build.

    The tutorial's pictures are committed in docs/img/; redraw them with
    `python docs/figures.py` (needs Graphviz's `dot`).
    """
    session.install("-e", ".[docs,viz]")
    session.run("mkdocs", "build", "--strict", *session.posargs)

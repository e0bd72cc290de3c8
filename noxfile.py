"""Developer sessions: ``nox -s tests lint typecheck docs dist bench soak generate_sync``."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PACKAGES = ["cwpro", "cwpro_sync"]


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite, exactly as the README and CI run it."""
    session.install("-e", ".[test]")
    session.run("python", "scripts/generate_sync.py", "--check")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff>=0.17,<0.18")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the packages."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", *[arg for p in PACKAGES for arg in ("-p", p)])


@nox.session
def generate_sync(session: nox.Session) -> None:
    """Regenerate cwpro_sync/ from the async surface (``-- --check`` only verifies)."""
    session.install("-e", ".[test]")  # the generator formats its output with ruff
    session.run("python", "scripts/generate_sync.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (ratios measured in one run); writes benchmarks/RESULTS.md."""
    session.install("-e", ".[dev,speed]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """The fault matrix at scale: >= 1,000 seeded runs, reports lost/duplicated counts."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "tests.fault_matrix", "--runs", "1000", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site: ``mkdocs build --strict`` (``-- serve`` to preview it)."""
    session.install("-e", ".[docs]")
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:])
    else:
        session.run("mkdocs", "build", "--strict", *session.posargs)


@nox.session
def dist(session: nox.Session) -> None:
    """Build the sdist and wheel into dist/ and check them with ``twine check --strict``."""
    session.install("build", "twine")
    session.run("python", "-m", "build", "--outdir", "dist", ".")
    session.run("twine", "check", "--strict", *sorted(str(p) for p in Path("dist").glob("*")))

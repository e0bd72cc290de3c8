"""Every code block of README.md and docs/ runs, and every Python block passes ``mypy --strict``.

How a block is treated depends on its fence's language:

- ``python``: a complete program. It runs as ``python block.py`` in the page's working directory
  with ``CWPRO_BASE_URL``, ``CWPRO_CLIENT_ID`` and ``CWPRO_CLIENT_SECRET`` pointing at an
  emulator started for the page (ids come from the emulator, never invented), and must exit 0.
  All Python blocks are type-checked together with ``mypy --strict`` from a directory outside
  the repository, against the installed package (so this also checks that the editable install
  is one mypy follows).
- ``console``: a shell session. Lines starting with ``$ `` are commands (a trailing ``\\``
  continues one); the lines up to the next command are its expected output, compared loosely
  (the command's stdout and stderr together, as a terminal shows them; numbers, 24-hex ids and
  link tokens may differ, runs of spaces match any spacing, JSON lines
  must have the same keys and the same ``event``; ``…`` matches anything, e.g. a path; ``  # ...``
  starts a comment). ``export
  NAME=VALUE ...`` sets variables for the rest of the page. ``COMMAND &`` starts a background
  process (its first output line is awaited and compared; it is interrupted when the page
  ends). Output starting with ``^C`` means: interrupt the command with SIGINT once it has
  written an export checkpoint (``*.checkpoint.json``), then expect exit status 130 and the rest
  of the line on stderr. Ports 8765 to 8769 are each replaced by a free port throughout a page.
- ``bash``: commands only (no prompt, no output), run one line at a time like ``console``.
- ``text``: the expected stdout of the Python block just above it (compared loosely); after
  anything else, a figure (a diagram, a tree) that is not run.
- ``toml`` / ``json``: configuration; parsed, not run.

An HTML comment just above a block changes that (the comment does not show on the site):

- ``<!-- docs-test: skip REASON -->``: not run, e.g. a command that installs the package or
  runs this test suite. The reason is required; keep these rare.
- ``<!-- docs-test: requires DOTTED.NAME -->``: skipped while that module (or attribute) cannot be
  imported (an optional extra that is not installed); run as usual once it can.
- ``<!-- docs-test: file NAME -->`` (Python only): written to NAME in the page's working
  directory for a later command (``python NAME``) instead of being run on its own.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cwpro.emulator import EmulatorThread
from tests._support import mypy_strict

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
PORTS_IN_DOCS = [str(port) for port in range(8765, 8770)]
RUNNABLE = {"python", "console", "bash", "text", "toml", "json"}

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+)(?P<lang>[\w-]*)[^\n]*$")
_MARKER = re.compile(
    r"^\s*<!--\s*docs-test:\s*(?P<kind>skip|requires|file)\s*(?P<arg>.*?)\s*-->\s*$"
)


@dataclass
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int
    lang: str
    code: str
    marker: tuple[str, str] | None = None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def parse_blocks(page: Path) -> list[Block]:
    """The fenced blocks of ``page``, each with the docs-test marker just above it (if any)."""
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    marker: tuple[str, str] | None = None
    index = 0
    while index < len(lines):
        text = lines[index]
        found = _MARKER.match(text)
        if found:
            marker = (found["kind"], found["arg"])
            index += 1
            continue
        fence = _FENCE.match(text)
        if not fence:
            if text.strip():
                marker = None
            index += 1
            continue
        indent, start = len(fence["indent"]), index
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != fence["fence"]:
            body.append(lines[index][indent:])
            index += 1
        blocks.append(Block(page, start + 1, fence["lang"], "\n".join(body) + "\n", marker))
        marker = None
        index += 1
    return blocks


def _importable(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                target = getattr(target, name)
        except (AttributeError, ImportError):  # a lazy name whose import fails: cwpro.dlt
            return False
        return True
    return False


def _skipped(block: Block) -> str | None:
    """Why ``block`` is not run (None: it runs)."""
    if block.marker is None:
        return None
    kind, arg = block.marker
    if kind == "skip":
        assert arg, f"{block.where}: 'docs-test: skip' needs a reason"
        return arg
    if kind == "requires" and not _importable(arg):
        return f"needs {arg}"
    return None


# -- loose comparison of output -------------------------------------------------------------

_VARIABLE = re.compile(r"[0-9a-f]{24}|wpl_[0-9a-f]+|\d[\d,]*(?:\.\d+)?")


def _line_pattern(expected: str) -> re.Pattern[str]:
    pieces, position = [], 0
    for match in _VARIABLE.finditer(expected):
        pieces.append(_literal(expected[position : match.start()]))
        token = match.group(0)
        if len(token) == 24 and not token.isdigit():
            pieces.append("[0-9a-f]{24}")
        elif token.startswith("wpl_"):
            pieces.append("wpl_[0-9a-f]+")
        else:
            pieces.append(r"\d[\d,]*(?:\.\d+)?")
        position = match.end()
    pieces.append(_literal(expected[position:]))
    return re.compile("".join(pieces))


def _literal(text: str) -> str:
    words = (re.escape(part) for part in re.split(r"\s+", text))
    return r"\s+".join(words).replace(re.escape("…"), ".*?")


def _strip_comment(line: str) -> str:
    return re.sub(r"\s{2,}# .*$", "", line).rstrip()


def assert_output_matches(expected: str, actual: str, where: str) -> None:
    """``actual`` has the lines of ``expected``, compared loosely (see the module docstring)."""
    want = [_strip_comment(line) for line in expected.splitlines()]
    want = [line for line in want if line.strip()]
    got = [line.rstrip() for line in actual.splitlines() if line.strip()]
    assert len(got) == len(want), f"{where}: expected {len(want)} lines, got:\n{actual}"
    for expected_line, actual_line in zip(want, got):
        if expected_line.lstrip().startswith("{"):
            wanted, seen = json.loads(expected_line), json.loads(actual_line)
            assert sorted(seen) == sorted(wanted), f"{where}: keys differ in {actual_line}"
            assert seen.get("event") == wanted.get("event"), f"{where}: {actual_line}"
        else:
            pattern = _line_pattern(expected_line.strip())
            assert pattern.fullmatch(actual_line.strip()), (
                f"{where}: {actual_line!r} does not match {expected_line!r}"
            )


# -- running a page -----------------------------------------------------------------------


def _free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


@dataclass
class Session:
    """A page's shell: working directory, environment, background processes."""

    cwd: Path
    env: dict[str, str]
    ports: dict[str, str]
    background: list[subprocess.Popen[str]] = field(default_factory=list)
    last_stdout: str | None = None

    def localize(self, text: str) -> str:
        """``text`` with the ports of the docs replaced by this session's free ports."""
        for documented, free in self.ports.items():
            text = text.replace(documented, free)
        return text

    def run_python(self, block: Block, name: str) -> None:
        path = self.cwd / name
        path.write_text(block.code, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, name],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, f"{block.where} failed:\n{result.stdout}\n{result.stderr}"
        self.last_stdout = result.stdout

    def run_shell(self, block: Block, commands: list[tuple[str, str]]) -> None:
        for command, expected in commands:
            command, expected = self.localize(command), self.localize(expected)
            where = f"{block.where}: $ {command}"
            words = shlex.split(command)
            if words[:1] == ["export"]:
                for assignment in words[1:]:
                    name, _, value = assignment.partition("=")
                    self.env[name] = os.path.expandvars(value)
            elif _without_comment(command).endswith("&"):
                self._start(_without_comment(command)[:-1].strip(), expected, where)
            elif expected.lstrip().startswith("^C"):
                self._interrupt(command, expected.lstrip()[2:], where)
            else:
                process = self._bash(  # stdout and stderr in one stream, as a terminal
                    command,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a timeout stops everything the command started
                )
                try:
                    output, _ = process.communicate(timeout=300)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.communicate()
                    raise AssertionError(f"{where}: still running after 300 s") from None
                assert process.returncode == 0, f"{where} failed:\n{output}"
                if expected.strip():
                    assert_output_matches(expected, output, where)

    def _bash(self, script: str, **streams: Any) -> subprocess.Popen[str]:
        """``bash -c script`` in the page's directory and environment, with text streams."""
        return subprocess.Popen(
            ["bash", "-c", script], cwd=self.cwd, env=self.env, text=True, **streams
        )

    def _start(self, command: str, expected: str, where: str) -> None:
        process = self._bash(
            f"exec {command}",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.background.append(process)
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first, f"{where}: the background command printed nothing"
        if expected.strip():
            assert_output_matches(expected, first, where)

    def _interrupt(self, command: str, rest: str, where: str) -> None:
        process = self._bash(f"exec {command}", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not list(self.cwd.glob("*.checkpoint.json")):
            assert process.poll() is None, f"{where}: ended before writing a checkpoint"
            assert time.monotonic() < deadline, f"{where}: no checkpoint after 120 s"
            time.sleep(0.005)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, f"{where}: exit {process.returncode}\n{stderr}"
        wanted = _strip_comment(rest).strip()
        assert _line_pattern(wanted).search(stderr), f"{where}: {wanted!r} not in {stderr!r}"

    def close(self) -> None:
        for process in self.background:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.background:
            try:
                process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


def _without_comment(command: str) -> str:
    """``command`` without a trailing ``  # comment``."""
    return re.sub(r"\s+#\s.*$", "", command).rstrip()


def console_commands(code: str) -> list[tuple[str, str]]:
    """``(command, expected output)`` pairs of a console block."""
    pairs: list[tuple[str, list[str]]] = []
    lines = iter(code.splitlines())
    for line in lines:
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\"):
                command = command[:-1].rstrip() + " " + next(lines).strip()
            pairs.append((command.strip(), []))
        elif pairs:
            pairs[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"output before the first command: {line!r}")
    return [(command, "\n".join(output)) for command, output in pairs]


def bash_commands(code: str) -> list[tuple[str, str]]:
    """The commands of a bash block (one a line, ``\\`` continues, ``#`` comments skipped)."""
    return console_commands(
        "\n".join(
            "$ " + line if not line.startswith((" ", "\t")) else line
            for line in code.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        )
    )


@pytest.fixture(scope="module")
def shim_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``cwpro`` on PATH that runs this checkout with this interpreter."""
    directory = tmp_path_factory.mktemp("bin")
    shim = directory / "cwpro"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m cwpro "$@"\n')
    shim.chmod(0o755)
    python = directory / "python"
    python.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    return directory


@pytest.fixture
def page_session(tmp_path: Path, shim_bin: Path) -> Iterator[Session]:
    """A working directory and an environment pointing at a fresh emulator."""
    with EmulatorThread(
        seed=7, workorders=600, sites=30, work_types=8, portal_links=25
    ) as emulator:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CWPRO_", "PYTHON"))}
        env.update(
            PATH=f"{shim_bin}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
            PYTHONPATH=str(ROOT),
            CWPRO_BASE_URL=emulator.base_url,
            CWPRO_CLIENT_ID=emulator.client_id,
            CWPRO_CLIENT_SECRET=emulator.client_secret,
            DLT_DATA_DIR=str(tmp_path / ".dlt-data"),  # dlt's pipeline state: fresh per page
        )
        session = Session(tmp_path, env, {port: _free_port() for port in PORTS_IN_DOCS})
        try:
            yield session
        finally:
            session.close()


def _ids(pages: list[Path]) -> list[str]:
    return [str(page.relative_to(ROOT)) for page in pages]


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_every_block_of_the_page_runs(page: Path, page_session: Session) -> None:
    blocks = parse_blocks(page)
    previous: Block | None = None
    for number, block in enumerate(blocks):
        assert block.lang in RUNNABLE, (
            f"{block.where}: a block needs one of the languages {sorted(RUNNABLE)} "
            f"(got {block.lang!r}); see tests/test_docs.py"
        )
        reason = _skipped(block)
        if block.lang == "text":
            if previous is None or previous.lang != "python":
                previous = block  # a figure (a diagram, a tree), not program output
                continue
            if reason is None and _skipped(previous) is None:
                assert page_session.last_stdout is not None
                assert_output_matches(block.code, page_session.last_stdout, block.where)
        elif reason is not None:
            pass
        elif block.lang == "python":
            if block.marker is not None and block.marker[0] == "file":
                (page_session.cwd / block.marker[1]).write_text(block.code, encoding="utf-8")
                page_session.last_stdout = None
            else:
                page_session.run_python(block, f"block_{number}.py")
        elif block.lang == "console":
            page_session.run_shell(block, console_commands(block.code))
        elif block.lang == "bash":
            page_session.run_shell(block, bash_commands(block.code))
        elif block.lang == "toml" and sys.version_info >= (3, 11):
            import tomllib

            tomllib.loads(block.code)
        elif block.lang == "json":
            json.loads(block.code)
        previous = block


def _python_blocks() -> list[Block]:
    return [
        block
        for page in PAGES
        for block in parse_blocks(page)
        if block.lang == "python" and _skipped(block) is None
    ]


def test_every_python_block_passes_mypy_strict(tmp_path: Path) -> None:
    """From a directory outside the repository, against the installed package."""
    blocks = _python_blocks()
    assert len(blocks) >= 10
    names = {}
    for number, block in enumerate(blocks):
        name = f"docs_block_{number}.py"
        (tmp_path / name).write_text(block.code, encoding="utf-8")
        names[name] = block
    result = mypy_strict(tmp_path, *names)
    report = result.stdout
    for name, block in names.items():
        report = report.replace(name, f"{block.where} (block line)")
    assert result.returncode == 0, report


def test_an_installed_package_is_what_mypy_sees_outside_the_repo(tmp_path: Path) -> None:
    """The editable install is a plain path entry: ``mypy --strict user.py`` finds cwpro."""
    user = tmp_path / "user.py"
    user.write_text(
        "import cwpro\nimport cwpro_sync\n\n\n"
        "async def name(client: cwpro.AsyncClient, id: str) -> str:\n"
        "    work_order = await client.workorders.get(id)\n"
        "    return work_order.name or ''\n\n\n"
        "def count(client: cwpro_sync.Client) -> int:\n"
        "    return len(client.workorders.list(limit=10).to_list(max_items=10))\n\n\n"
        "wrong: int = cwpro.__version__\n"
    )
    result = mypy_strict(tmp_path, "user.py")
    # Exactly the one planted error: cwpro and cwpro_sync were found, with their types.
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and "user.py:14:" in errors[0] and "str" in errors[0], result.stdout


def test_the_readme_test_command_is_what_ci_runs() -> None:
    commands = [
        block.code.strip()
        for block in parse_blocks(ROOT / "README.md")
        if block.lang == "bash" and "pytest" in block.code
    ]
    assert commands == ["pip install -e '.[test]' && pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\npip install -e '.[test]'\n" in ci and "\npytest\n" in ci


def test_loose_comparison() -> None:
    expected = "exported 20,000 workorders to w.jsonl (21,576,054 bytes) in 3.06 s  # comment"
    assert_output_matches(
        expected, "exported 600 workorders to w.jsonl (1,054 bytes) in 0.1 s", "x"
    )
    with pytest.raises(AssertionError):
        assert_output_matches(expected, "exported 600 sites to w.jsonl (1 bytes) in 0.1 s", "x")
    assert_output_matches('{"event": "a", "n": 1}', '{"n": 2, "event": "a"}', "x")
    assert_output_matches(
        "into 'cwp' (…) in 4.20 s", "into 'cwp' (duckdb:////tmp/x.duckdb) in 1 s", "x"
    )
    with pytest.raises(AssertionError):
        assert_output_matches('{"event": "a", "n": 1}', '{"event": "a"}', "x")
    assert_output_matches(
        "6a1da8208bfcfb2b94000001  public   active=True  http://127.0.0.1:36151/portal/wpl_82d6",
        "6b0491ed3b38860000001388  public active=True  http://127.0.0.1:1/portal/wpl_01",
        "x",
    )


def test_markers_and_console_parsing(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "<!-- docs-test: skip installs the package -->\n```bash\npip install .\n```\n\n"
        "```console\n$ cwpro export workorders \\\n    --out w.jsonl\nexported 1\n$ ls\n```\n"
    )
    first, second = parse_blocks(page)
    assert first.marker == ("skip", "installs the package") and second.marker is None
    assert console_commands(second.code) == [
        ("cwpro export workorders --out w.jsonl", "exported 1"),
        ("ls", ""),
    ]
    assert _importable("cwpro.emulator.Emulator") and not _importable("cwpro.no_such_thing")


def test_the_site_navigation_has_every_page_and_guide() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md"))
    assert [page for page in pages if f": {page}\n" not in config] == []
    for guide in ("quickstart", "pagination", "errors", "rate-limits", "webhooks", "databases",
                  "sync-and-jupyter"):  # fmt: skip
        assert f"guides/{guide}.md" in pages

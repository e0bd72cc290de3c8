"""``cwpro get``, ``portal-links``, ``webhooks listen``, ``emulator`` and the top level."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest

import cwpro
from cwpro.cli import COMMANDS, build_parser, main, plain_text
from cwpro.emulator import EmulatorThread

from ._helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    PACKAGE_ROOT,
    cli_env,
    read_line,
    start_cli,
)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _api(emu: EmulatorThread, call: Any) -> Any:
    async def go() -> Any:
        async with cwpro.AsyncClient(CLIENT_ID, CLIENT_SECRET, base_url=emu.base_url) as client:
            return await call(client)

    return asyncio.run(go())


def test_get_workorder_prints_the_model_as_json(
    cli_env: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    wo_id = cli_env.emulator.state.workorders.id_at(3)
    status, out, err = _run(capsys, "get", "workorder", wo_id)
    assert status == 0, err
    assert json.loads(out) == _api(cli_env, lambda c: c.workorders.get(wo_id)).to_dict()
    status, out, err = _run(capsys, "get", "workorder", wo_id, "--expand")
    assert status == 0, err
    expanded = json.loads(out)
    assert [t["_id"] for t in expanded["work_types"]] == expanded["work_type_ids"]


@pytest.mark.parametrize(("kind", "store"), [("site", "sites"), ("work-type", "work_types")])
def test_get_site_and_work_type(
    cli_env: EmulatorThread, capsys: pytest.CaptureFixture[str], kind: str, store: str
) -> None:
    stored = getattr(cli_env.emulator.state, store).item_at(0)
    status, out, err = _run(capsys, "get", kind, stored["_id"])
    assert status == 0, err
    assert json.loads(out) == stored


def test_get_unknown_id_exits_1(
    cli_env: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, "get", "site", "0" * 24)
    assert status == 1
    assert out == "" and "NotFoundError" in err


def test_portal_links_create_then_list(
    cli_env: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    wo_id = cli_env.emulator.state.workorders.id_at(10)
    status, out, err = _run(
        capsys, "portal-links", "create", "--workorder", wo_id, "--link-type", "secure",
        "--expiry-date", "2031-01-02T03:04:05Z", "--company-namespace", "cwp",
    )  # fmt: skip
    assert status == 0, err
    created = json.loads(out)
    assert created["workorder"] == wo_id and created["link_type"] == "secure"
    assert created["expiry_date"].startswith("2031-01-02T03:04:05")
    assert created["link_token"].startswith("wpl_") and created["is_active"] is True
    assert created == _api(cli_env, lambda c: c.portal_links.get(created["_id"])).to_dict()

    status, out, err = _run(capsys, "portal-links", "list", "--workorder", wo_id)
    assert status == 0, err
    listed = [json.loads(line) for line in out.splitlines()]
    assert created["_id"] in [link["_id"] for link in listed]
    assert {link["workorder"] for link in listed} == {wo_id}


def test_portal_links_list_pages_and_stops_at_max(
    cli_env: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, "portal-links", "list", "--per-page", "7")
    assert status == 0, err
    everything = [json.loads(line)["_id"] for line in out.splitlines()]
    assert len(everything) == len(set(everything)) == 30
    status, out, _ = _run(capsys, "portal-links", "list", "--per-page", "4", "--max", "9")
    assert status == 0
    assert [json.loads(line)["_id"] for line in out.splitlines()] == everything[:9]
    status, out, _ = _run(capsys, "portal-links", "list", "--active", "--link-type", "public")
    assert status == 0
    assert all(
        link["is_active"] and link["link_type"] == "public"
        for link in map(json.loads, out.splitlines())
    )


def test_portal_links_usage_errors(
    cli_env: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(capsys, "portal-links", "list", "--per-page", "500")[0] == 2
    assert _run(capsys, "portal-links", "create")[0] == 2
    status, _, err = _run(
        capsys, "portal-links", "create", "--workorder", "x", "--expiry-date", "soon"
    )
    assert status == 2 and "ISO 8601" in err
    status, _, err = _run(capsys, "portal-links", "create", "--workorder", "0" * 24)
    assert status == 1, err  # the API refuses a link to an unknown work order


def _post(url: str, body: dict[str, Any], auth: str | None = None) -> int:
    headers = {"Content-Type": "application/json"}
    if auth is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:
            return error.code


def test_webhooks_listen_prints_each_event_once_until_ctrl_c(emu: EmulatorThread) -> None:
    process = start_cli(
        "webhooks", "listen", "--port", "0", "--allow-ip", "127.0.0.1",
        "--basic-auth", "cwp:s3cret", env=cli_env(emu.base_url),
    )  # fmt: skip
    try:
        assert process.stderr is not None and process.stdout is not None
        banner = read_line(process.stderr)
        assert "listening on http://127.0.0.1:" in banner and "s3cret" not in banner
        url = banner.split()[2]
        event = {
            "id": "6aa09c3a8b0e860000000005",
            "event": "SITE.CREATE",
            "created_date": "2026-01-02T03:04:05.000Z",
            "data": {"_id": "65dd26005ac64e0000000000", "name": 'Depot, "north"'},
        }
        assert _post(url, event) == 401  # no credentials
        assert _post(url, event, auth="cwp:s3cret") == 200
        assert _post(url, event, auth="cwp:s3cret") == 200  # a duplicate: accepted, not printed
        assert json.loads(read_line(process.stdout)) == event

        emu.call(emu.emulator.webhooks.add_target, url, basic_auth=("cwp", "s3cret"))
        created = _api(emu, lambda c: c.workorders.create(name="from the emulator"))
        delivered = json.loads(read_line(process.stdout))
        assert delivered["event"] == "WORKORDER.CREATE"
        assert delivered["data"]["_id"] == created.id
    finally:
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    assert stdout == ""


def test_webhooks_listen_refuses_contradictory_sender_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, err = _run(capsys, "webhooks", "listen", "--allow-ip", "1.2.3.4", "--allow-any-ip")
    assert status == 2 and "exclude" in err
    status, _, err = _run(capsys, "webhooks", "listen", "--basic-auth", "nocolon")
    assert status == 2 and "USER:PASS" in err


def test_emulator_command_serves_until_ctrl_c() -> None:
    env = {"PYTHONPATH": PACKAGE_ROOT, "PATH": "/usr/bin:/bin"}
    process = start_cli(
        "emulator", "--workorders", "42", "--client-id", "me", "--client-secret", "pw", env=env
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        announcement = json.loads(read_line(process.stdout))
        assert announcement["client_id"] == "me" and announcement["client_secret"] == "pw"
        assert "export CWPRO_BASE_URL=" in read_line(process.stderr, timeout=5) + read_line(
            process.stderr, timeout=5
        )

        async def total() -> int | None:
            async with cwpro.AsyncClient("me", "pw", base_url=announcement["base_url"]) as c:
                return (await c.workorders.list(limit=1)).total_results

        assert asyncio.run(total()) == 42
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    assert process.returncode == 0


def test_top_level_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cwpro {cwpro.__version__}"
    assert main(["export", "--help"]) == 0
    help_text = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "3 ", "130"):
        assert f"\n  {code}" in help_text
    assert "--resume" in help_text and "checkpoint" in help_text


def test_verbose_turns_on_debug_logging(
    cli_env: EmulatorThread, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = _run(capsys, "get", "site", cli_env.emulator.state.sites.id_at(0), "-v")
    assert status == 0
    assert "DEBUG cwpro" in err
    assert CLIENT_SECRET not in err
    args = build_parser().parse_args(["-v", "get", "site", "x"])
    assert args.verbose is True
    assert not hasattr(build_parser().parse_args(["get", "site", "x"]), "verbose")


def _all_parsers(parser: argparse.ArgumentParser, prog: str = "cwpro") -> list[tuple[str, Any]]:
    """``parser`` and every (nested) subcommand parser, with the command line reaching it."""
    found = [(prog, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.extend(_all_parsers(sub, f"{prog} {name}"))
    return found


def test_every_help_text_is_plain_text() -> None:
    parsers = _all_parsers(build_parser())
    assert len(parsers) >= 12  # every command and subcommand was reached
    for command, parser in parsers:
        text = parser.format_help() + parser.format_usage()
        for markup in (":class:", ":func:", ":meth:", ":mod:", ":attr:", ":exc:", "``"):
            assert markup not in text, f"{command} --help shows {markup!r}"


def test_plain_text_strips_docstring_markup() -> None:
    text = "an :class:`~cwpro.emulator.Emulator`, :func:`cwpro.split_range` and ``cwpro demo``"
    assert plain_text(text) == "an Emulator, cwpro.split_range and 'cwpro demo'"


def test_command_summaries_match_the_modules() -> None:
    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    shown = {choice.dest: choice.help for choice in commands._choices_actions}
    assert shown == {name: summary for name, (_, summary) in COMMANDS.items()}


def test_top_level_help_imports_neither_aiohttp_nor_the_emulator() -> None:
    probe = (
        "import json, sys\n"
        "from cwpro.cli import main\n"
        "status = [main(['--help']), main([])]\n"
        "sys.stderr.write(json.dumps({'status': status, 'modules': sorted(sys.modules)}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": PACKAGE_ROOT},
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(result.stderr[result.stderr.index("{") :])
    assert report["status"] == [0, 2]
    assert "portal-links" in result.stdout and "emulator" in result.stdout
    heavy = [
        m for m in report["modules"] if m.split(".")[0] in ("aiohttp", "rich", "multidict", "yarl")
    ]
    heavy += [m for m in report["modules"] if m.startswith(("cwpro.emulator", "cwpro.webhooks"))]
    assert heavy == []


def test_closed_stdout_ends_quietly() -> None:
    """``cwpro portal-links list | head -1``: no traceback, no "Broken pipe", exit 141."""
    with EmulatorThread(
        seed=3, workorders=50, portal_links=3000, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
    ) as big:
        process = start_cli("portal-links", "list", env=cli_env(big.base_url))
        assert process.stdout is not None and process.stderr is not None
        first = json.loads(read_line(process.stdout))
        assert first["_id"]
        process.stdout.close()  # the reader goes away, as `head -1` does; 3,000 links remain
        stderr = process.stderr.read()
        process.stderr.close()
        assert process.wait(timeout=60) == 141
    assert stderr == ""


def test_missing_credentials_name_the_flags_and_the_variables(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CWPRO_CLIENT_ID", "CWPRO_CLIENT_SECRET", "CWPRO_TOKEN", "CWPRO_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    status, out, err = _run(capsys, "get", "site", "x", "--base-url", "http://127.0.0.1:9")
    assert (status, out) == (2, "")
    for name in ("--client-id", "--client-secret", "--token", "CWPRO_CLIENT_ID",
                 "CWPRO_CLIENT_SECRET", "CWPRO_TOKEN"):  # fmt: skip
        assert name in err
    status, _, err = _run(capsys, "portal-links", "list", "--client-id", "me")
    assert status == 2 and "--client-secret (or CWPRO_CLIENT_SECRET) is missing" in err


def _log_probe(emu: EmulatorThread, **env: str) -> subprocess.CompletedProcess[str]:
    probe = (
        "import asyncio, cwpro\n"
        "async def main() -> None:\n"
        "    async with cwpro.AsyncClient() as client:\n"
        "        await client.sites.list(limit=1)\n"
        "asyncio.run(main())\n"
    )
    return subprocess.run(
        [sys.executable, "-c", probe],
        env={**cli_env(emu.base_url), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cwpro_log_environment_variable(emu: EmulatorThread) -> None:
    quiet = _log_probe(emu)
    assert quiet.returncode == 0 and quiet.stderr == ""
    debug = _log_probe(emu, CWPRO_LOG="debug")
    assert debug.returncode == 0, debug.stderr
    assert " DEBUG cwpro." in debug.stderr and CLIENT_SECRET not in debug.stderr
    info = _log_probe(emu, CWPRO_LOG="INFO")
    assert info.returncode == 0 and " DEBUG " not in info.stderr
    typo = _log_probe(emu, CWPRO_LOG="loud")
    assert typo.returncode == 0 and "CWPRO_LOG='loud' is not one of debug, info" in typo.stderr


def test_cwpro_log_applies_to_the_cli_without_v(
    cli_env: EmulatorThread, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CWPRO_LOG", "debug")
    status, _, err = _run(capsys, "get", "site", cli_env.emulator.state.sites.id_at(0))
    assert status == 0 and "DEBUG cwpro" in err
    monkeypatch.delenv("CWPRO_LOG")
    status, _, err = _run(capsys, "get", "site", cli_env.emulator.state.sites.id_at(0))
    assert status == 0 and err == ""


def test_every_command_module_is_in_the_command_table() -> None:
    import importlib
    import pkgutil

    import cwpro.cli

    modules = [
        info.name
        for info in pkgutil.iter_modules(cwpro.cli.__path__)
        if not info.name.startswith("_")
        and hasattr(importlib.import_module(f"cwpro.cli.{info.name}"), "add_parser")
    ]
    assert sorted(modules) == sorted(module for module, _ in COMMANDS.values())

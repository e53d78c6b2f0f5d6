"""The README's commands work as written: every ``patchforcing`` command of its bash blocks parses
with the real parser (a renamed or removed option fails here), the quick ones run for real in a
fresh folder, and the README and docs/samplers.md name every sampler the command line offers."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from patchforcing.cli.main import build_parser, main
from patchforcing.cli.sampler_args import sampler_names

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SAMPLERS_MD = (ROOT / "docs" / "samplers.md").read_text(encoding="utf-8")
# what a quick run appends to a README `sample` command (the last value of an option wins)
QUICK = ["--num", "2", "--batch-size", "2", "--threads", "1"]
NEEDS_FILES = ("--vae", "--inpaint", "--matrix")  # files the README's reader brings


def bash_commands(markdown: str) -> list[list[str]]:
    """Every command of the ```bash blocks, as argv: continued lines joined, comments dropped,
    ``a && b`` split into two."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", markdown, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words:
                end = words.index("&&") if "&&" in words else len(words)
                commands.append(words[:end])
                words = words[end + 1 :]
    return commands


def patchforcing_argv(command: list[str]) -> list[str] | None:
    """The arguments given to ``patchforcing`` (directly, as ``.venv/bin/patchforcing`` or as
    ``-m patchforcing`` under torchrun); None for other commands."""
    for i, word in enumerate(command):
        if Path(word).name == "patchforcing" and (i == 0 or command[i - 1] == "-m"):
            return command[i + 1 :]
    return None


COMMANDS = [argv for argv in map(patchforcing_argv, bash_commands(README)) if argv is not None]


def test_the_readme_has_its_commands():
    assert len(COMMANDS) >= 15 and ["sample"] in COMMANDS  # the quick start's bare `sample`
    assert {argv[0] for argv in COMMANDS} >= {
        "sample",
        "train",
        "view",
        "encode",
        "convert",
        "eval",
        "analyze",
    }


@pytest.mark.parametrize("argv", COMMANDS, ids=shlex.join)
def test_every_readme_command_parses(argv, capsys):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:  # the parser's one-line error
        pytest.fail(f"`patchforcing {shlex.join(argv)}` does not parse: {capsys.readouterr().err}")
    assert callable(args.func)


def _quick(argv: list[str]) -> list[str]:
    """A README `sample` command at a few network passes: its NFE budget (or its steps) cut to
    the least every sampler can honour."""
    cost = ["--nfe", "4"] if "--nfe" in argv else ["--steps", "2"]
    trace = ["--trace", "1"] if "--trace" in argv else []
    return [*argv, *QUICK, *cost, *trace]


QUICK_RUNS = [
    argv
    for argv in COMMANDS
    if argv[0] == "sample"
    and not any(flag in argv for flag in NEEDS_FILES)
    and "pf-xl2" not in argv  # a folder the README's `convert` makes from the authors' file
]


@pytest.mark.parametrize("argv", QUICK_RUNS, ids=shlex.join)
def test_the_quick_readme_commands_run(argv, tmp_path, monkeypatch, capsys, single_thread):
    monkeypatch.chdir(tmp_path)  # `--out out/` and the default `samples` land here
    assert main(_quick(argv)) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "wrote" in out and list(tmp_path.rglob("*.png")), out


def _sample_choices() -> tuple[str, ...]:
    sample = next(
        a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices["sample"]
    return tuple(next(a for a in sample._actions if a.dest == "sampler").choices)


def test_the_readme_and_samplers_md_name_every_sampler_the_cli_offers():
    offered = _sample_choices()
    assert offered == sampler_names() and "hardest-first" in offered
    readme = re.search(r"Samplers \(`--sampler`\):(.*?)\n\n", README, flags=re.DOTALL)
    listed = re.search(r"Samplers \(`--sampler`\):(.*?)\n\n", SAMPLERS_MD, flags=re.DOTALL)
    table = re.findall(r"^\| `([a-z-]+)` \|", SAMPLERS_MD, flags=re.MULTILINE)
    assert readme is not None and listed is not None
    for name in offered:
        assert f"`{name}`" in readme.group(1), f"README.md does not name sampler {name}"
        assert f"`{name}`" in listed.group(1), f"docs/samplers.md does not list sampler {name}"
    assert tuple(table) == offered  # the table of docs/samplers.md, in the registry's order

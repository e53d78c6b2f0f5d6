"""Every module imports on its own, as the first patchforcing module of a fresh interpreter.

An import cycle shows only when it is entered at the wrong module, so each module must be the first
one imported. A process per module that imports torch would take minutes; instead one subprocess
imports the heavy third-party libraries once (and no patchforcing module), then forks a child per
module that imports just that module. The subprocess keeps the pytest process's own imports (which
include patchforcing) out of the children.
"""

from __future__ import annotations

import importlib.util
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

OPTIONAL = (
    "diffusers",
    "matplotlib",
    "huggingface_hub",
    "torch_fidelity",
)  # extras; their absence is a skip

# Run in the subprocess as `python -c CHILD OPTIONAL_CSV MODULE...`; prints
# {module: [status, detail]} as JSON.
CHILD = """
import importlib, json, os, sys, traceback
import einops, numpy, PIL.Image, safetensors.torch, torch, torchmetrics, tqdm

early = [m for m in sys.modules if m.split('.')[0] == 'patchforcing']
assert not early, 'patchforcing imported before the fork'
optional = sys.argv[1].split(',')


def attempt(name):
    main = name.endswith('.__main__')
    if main:  # runs the program when imported, as `python -m` does: make it only print its help
        sys.argv = [name, '--help']
    try:
        importlib.import_module(name)
        return 'ok', ''
    except SystemExit as done:
        if main and done.code in (0, None):
            return 'ok', ''
        return 'error', f'exited with {done.code!r}'
    except ImportError as err:
        if (err.name or '').split('.')[0] in optional:
            return 'optional', f'needs the optional package {err.name}'
        return 'error', traceback.format_exc()
    except BaseException:
        return 'error', traceback.format_exc()


results = {}
for name in sys.argv[2:]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the parent's JSON stays the only output
        with os.fdopen(write, 'w') as out:
            json.dump(attempt(name), out)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as report:
        text = report.read()
    _, status = os.waitpid(pid, 0)
    died = ['error', f'child died (wait status {status}) without a report']
    results[name] = json.loads(text) if text else died
print(json.dumps(results))
"""


def package_modules() -> list[str]:
    """Every module and package under src/patchforcing, found on disk without importing any
    of them."""
    spec = importlib.util.find_spec("patchforcing")
    assert spec is not None and spec.submodule_search_locations is not None
    names, folders = (
        ["patchforcing"],
        [(Path(p), "patchforcing") for p in spec.submodule_search_locations],
    )
    while folders:
        folder, prefix = folders.pop()
        for info in pkgutil.iter_modules([str(folder)], prefix + "."):
            names.append(info.name)
            if info.ispkg:
                folders.append((folder / info.name.rsplit(".", 1)[1], info.name))
    return sorted(names)


MODULES = package_modules()


@pytest.fixture(scope="module")
def import_results() -> dict[str, list[str]]:
    """Import every module in its own forked child; one subprocess for the whole module list."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, ",".join(OPTIONAL), *MODULES],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_walk_finds_nested_modules() -> None:
    assert {"patchforcing", "patchforcing.data.latent.vae", "patchforcing.cli.main"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_first_in_a_fresh_process(
    name: str, import_results: dict[str, list[str]]
) -> None:
    status, detail = import_results[name]
    if status == "optional":
        pytest.skip(detail)
    assert status == "ok", f"importing {name} first fails:\n{detail}"

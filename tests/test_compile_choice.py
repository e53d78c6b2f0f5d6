"""Compiling by default where it helps, and training eager when a compilation fails."""

from __future__ import annotations

import pytest
import torch

from patchforcing.train import compile as compile_mod
from patchforcing.train import data_parallel, train
from patchforcing.train.compile import (
    AUTO_COMPILE_STEPS,
    choose_compile,
    compile_unavailable,
    eager_on_compile_error,
)
from patchforcing.train.data_parallel import Parallel
from test_train import tiny_run

CPU, GPU = torch.device("cpu"), torch.device("cuda")


def test_auto_compiles_long_class_runs_on_a_gpu_only(monkeypatch):
    monkeypatch.setattr(compile_mod, "compile_unavailable", lambda device: None)
    long, short = AUTO_COMPILE_STEPS, AUTO_COMPILE_STEPS - 1
    assert choose_compile(None, long, GPU, text_model=False).compile
    assert "--no-compile" in (choose_compile(None, long, GPU, text_model=False).note or "")
    assert not choose_compile(None, short, GPU, text_model=False).compile
    assert not choose_compile(None, long, GPU, text_model=True).compile
    assert not choose_compile(None, 10**6, CPU, text_model=False).compile  # opt-in on the CPU
    assert choose_compile(True, 1, CPU, text_model=True).compile  # --compile: always
    assert not choose_compile(False, 10**6, GPU, text_model=False).compile  # --no-compile: never


def test_auto_does_not_compile_without_a_backend(monkeypatch):
    monkeypatch.setattr(compile_mod, "compile_unavailable", lambda device: "no C++ compiler")
    assert not choose_compile(None, 10**6, GPU, text_model=False).compile
    forced = choose_compile(True, 10, CPU, text_model=False)
    assert forced.compile and "no C++ compiler" in (forced.note or "")


def test_compile_unavailable_names_what_is_missing(monkeypatch):
    monkeypatch.setattr(compile_mod.shutil, "which", lambda name: None)
    assert "C++ compiler" in (compile_unavailable(CPU) or "")
    monkeypatch.setattr(compile_mod.shutil, "which", lambda name: "/usr/bin/" + name)
    assert compile_unavailable(CPU) is None
    assert compile_unavailable(torch.device("meta")) is not None


def _failing_backend(graph, example_inputs):
    raise RuntimeError("no code generator for this machine\nsecond line")


def test_a_failed_compilation_trains_on_the_eager_module():
    torch._dynamo.reset()
    model = torch.nn.Linear(3, 2)
    compiled = torch.compile(model, backend=_failing_backend)
    said: list[str] = []
    x = torch.ones(4, 3)
    out, kept = eager_on_compile_error(lambda net: net(x).sum(), compiled, said.append)
    assert kept is model and torch.equal(out, model(x).sum())
    assert len(said) == 1 and "torch.compile failed" in said[0] and "training eager" in said[0]
    assert "second line" not in said[0]


def test_other_errors_and_eager_modules_pass_through():
    model = torch.nn.Linear(3, 2)
    out, kept = eager_on_compile_error(lambda net: net(torch.ones(1, 3)), model, print)
    assert kept is model and out.shape == (1, 2)
    with pytest.raises(ValueError, match="not a compile error"):
        eager_on_compile_error(
            lambda net: (_ for _ in ()).throw(ValueError("not a compile error")),
            torch.compile(model),
            print,
        )


def test_a_run_whose_compilation_fails_trains_eager_with_the_same_steps(
    tmp_path, tiny_npz, monkeypatch, capsys
):
    eager = train(tiny_run(tmp_path, tiny_npz, "eager"), progress=False, parallel=Parallel())
    monkeypatch.setattr(
        data_parallel, "compile_model", lambda net: torch.compile(net, backend=_failing_backend)
    )
    torch._dynamo.reset()
    failed = train(
        tiny_run(tmp_path, tiny_npz, "failed"), progress=True, parallel=Parallel(compile=True)
    )
    assert failed.losses == eager.losses
    said = [line for line in capsys.readouterr().err.splitlines() if "torch.compile failed" in line]
    assert len(said) == 1 and "training eager" in said[0]

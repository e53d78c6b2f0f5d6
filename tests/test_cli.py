"""The command line as a user meets it: dry-run, training, sampling and clear errors."""

import json

import numpy as np
import pytest
from PIL import Image

from patchforcing.cli.main import main

TINY = [
    "--preset",
    "T/4",
    "--depth",
    "1",
    "--width",
    "32",
    "--heads",
    "2",
    "--patch-size",
    "2",
    "--threads",
    "1",
    "--no-progress",
]


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_dry_run_prints_resolved_config(capsys, tiny_npz, tmp_path):
    code, out, _ = run(
        capsys, "train", "--data", str(tiny_npz), *TINY, "--dry-run", "--out", str(tmp_path / "r")
    )
    assert code == 0
    config = json.loads(out)
    assert config["model"]["image_size"] == 8 and config["model"]["num_classes"] == 3
    assert config["time_dist"]["name"] == "ltg" and config["optim"]["lr"] == 1e-4
    assert not (tmp_path / "r").exists()
    code, out, _ = run(capsys, "train", "--data", str(tiny_npz), *TINY, "--dry-run", "--baseline")
    config = json.loads(out)
    assert config["model"]["time_mode"] == "global" and not config["model"]["difficulty_head"]
    assert config["time_dist"]["name"] == "uniform"


def test_train_then_sample_is_deterministic(capsys, tiny_npz, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = run(
        capsys,
        "train",
        "--data",
        str(tiny_npz),
        *TINY,
        "--steps",
        "3",
        "--batch-size",
        "8",
        "--out",
        str(run_dir),
    )
    assert code == 0, err
    assert "trained steps 0..3" in out and "min of training in all" in out
    pngs = []
    for name in ("s1", "s2"):
        code, out, err = run(
            capsys,
            "sample",
            "--checkpoint",
            str(run_dir),
            "--steps",
            "4",
            "--num",
            "3",
            "--seed",
            "7",
            "--out",
            str(tmp_path / name),
            "--threads",
            "1",
        )
        assert code == 0, err
        assert "NFE 4" in out
        pngs.append(sorted((tmp_path / name / "images").glob("*.png")))
    assert [p.name for p in pngs[0]] == [p.name for p in pngs[1]]
    assert pngs[0][0].name.startswith("seed000007_")
    for a, b in zip(*pngs):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    assert (tmp_path / "s1" / "grid.png").is_file()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "--bogus"], "unrecognized arguments: --bogus"),
        (["train", "--steps", "0"], "expected an integer >= 1"),
        (["train", "--lr", "nan"], "expected a number > 0"),
        (["train", "--ema-decay", "1.5"], "expected a number in [0, 1]"),
        (["train", "--time-dist", "fancy"], "invalid choice: 'fancy'"),
        (["train", "--time-dist-param", "std"], "expected name=value"),
        (["train", "--ts-param", "std"], "expected name=value"),
        (["sample", "--classes", "a,b"], "expected comma-separated integers"),
    ],
)
def test_argument_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,line",
    [
        (
            ["sample", "--nmu", "3"],
            "patchforcing sample: error: unrecognized arguments: --nmu 3 (did you mean --num?); "
            "see `patchforcing sample --help`",
        ),
        (["train", "--stpes=3"], "--stpes=3 (did you mean --steps?)"),
        (["sampel"], "invalid choice: 'sampel' (choose from 'train', "),
        (["sampel"], "(did you mean sample?); see `patchforcing --help`"),
        (["sample", "--sampler", "eulr"], "(did you mean euler?)"),
        (["classifier", "trian"], "patchforcing classifier: error: argument ACTION"),
        (["sample", "--num"], "argument --num: expected one argument; see"),
    ],
)
def test_a_mistyped_option_is_one_line_with_a_suggestion(capsys, argv, line):
    """The wrong option or value and the closest known one, not the whole usage."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and line in err[0], err


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--patch-size", "3"], "image size 8x8 is not divisible by the patch size 3"),
        (["--time-dist-param", "sd=0.1"], "has no parameter(s) ['sd']"),
        (
            ["--time-dist-param", "std=0.4", "--ts-param", "std=0.5"],
            "--time-dist-param std given more than once",
        ),
        (["--baseline", "--time-dist", "ltg"], "needs a global time distribution"),
        (["--baseline", "--time-sampler", "ltg"], "needs a global time distribution"),
    ],
)
def test_config_errors(capsys, tiny_npz, extra, message):
    code, _, err = run(capsys, "train", "--data", str(tiny_npz), *TINY, "--dry-run", *extra)
    assert code == 2 and message in err


def test_missing_data_says_what_to_install(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--data-dir", str(tmp_path / "nowhere"), "--dry-run")
    assert code == 2 and "apt-get install dataset-fashion-mnist" in err and "nowhere" in err
    code, _, err = run(capsys, "train", "--data", str(tmp_path / "missing.npz"), "--dry-run")
    assert code == 2 and "missing.npz does not exist" in err


def test_corrupt_image_is_named(capsys, tmp_path):
    folder = tmp_path / "imgs" / "cats"
    folder.mkdir(parents=True)
    Image.new("RGB", (10, 10), (200, 10, 10)).save(folder / "good.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    code, _, err = run(
        capsys, "train", "--data", str(tmp_path / "imgs"), "--image-size", "8", "--dry-run"
    )
    assert code == 2 and "broken.png" in err


def test_sample_from_missing_or_bad_checkpoint(capsys, tmp_path, monkeypatch):
    """Whatever the working directory holds: an earlier `sample` there leaves samples/ behind."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "sample.json").write_text('{"command": "sample"}')
    code, _, err = run(capsys, "sample", "--checkpoint", str(tmp_path / "none"))
    assert code == 2 and "does not exist" in err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    code, _, err = run(capsys, "sample", "--checkpoint", str(bad))
    assert code == 2 and "cannot read model config" in err


def test_sample_refuses_a_foreign_destination_before_loading_the_model(capsys, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    code, _, err = run(
        capsys, "sample", "--checkpoint", str(tmp_path / "none"), "--out", str(tmp_path / "out")
    )
    assert (
        code == 2 and "is not a sample folder" in err
    )  # not the missing checkpoint: the folder is checked first


def test_sample_constants_that_moved_to_the_library_warn():
    import patchforcing.cli.sample_cmd as sample_cmd
    from patchforcing.sampling import generation

    for name in ("MANIFEST", "GRID_IMAGES"):
        with pytest.warns(DeprecationWarning, match=f"patchforcing.sampling.generation.{name}"):
            assert getattr(sample_cmd, name) == getattr(generation, name)
    with pytest.raises(AttributeError):
        sample_cmd.NOT_A_NAME  # noqa: B018


def test_closed_stdout_stops_quietly(tiny_npz, tmp_path):
    """`patchforcing ... | head` style: the reader has gone before anything is written."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "patchforcing",
            "train",
            "--data",
            str(tiny_npz),
            *TINY,
            "--dry-run",
            "--out",
            str(tmp_path / "r"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # long before the child has imported torch and printed
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1 and err == ""


def test_a_recipe_is_the_library_recipe_and_given_flags_override_it(capsys, tiny_npz):
    """`--recipe` starts from the library's recipe; every flag typed wins, even one giving the
    default value, and `--time-dist-param` adds to the recipe's parameters."""
    from dataclasses import replace

    from patchforcing.data import DataConfig
    from patchforcing.train.config import config_to_dict
    from patchforcing.train.recipes import recipe_setup
    from patchforcing.train.setup import train_config_for

    base = [
        "train",
        "--dry-run",
        "--recipe",
        "fmnist-pf",
        "--data",
        str(tiny_npz),
        "--precision",
        "fp32",
    ]
    code, out, _ = run(capsys, *base)
    setup = replace(recipe_setup("fmnist-pf"), data=DataConfig(source=str(tiny_npz)))
    assert code == 0 and json.loads(out) == json.loads(
        json.dumps(config_to_dict(train_config_for(setup)))
    )
    code, out, err = run(
        capsys, *base, "--steps", "10", "--lr", "1e-4", "--time-dist-param", "loc=0.3"
    )
    config = json.loads(out)
    assert (
        config["steps"],
        config["optim"]["lr"],
        config["optim"]["schedule"],
        config["optim"]["ema_warmup"],
        config["model"]["depth"],
    ) == (10, 1e-4, "cosine", True, 4)
    assert (
        config["time_dist"] == {"name": "ltg", "params": {"global_share": 0.25, "loc": 0.3}}
        and err == ""
    )
    code, out, err = run(capsys, *base, "--steps", "10", "--lr", "1e-4", "--ts-param", "loc=0.3")
    assert json.loads(out) == config and err.count("\n") == 1 and "--ts-param is deprecated" in err
    code, out, _ = run(
        capsys, "train", "--dry-run", "--recipe=fmnist-global", "--data", str(tiny_npz)
    )
    baseline = json.loads(out)
    assert (
        baseline["time_dist"] == {"name": "uniform", "params": {}}
        and baseline["model"]["time_mode"] == "global"
    )
    assert {k: baseline[k] for k in ("steps", "batch_size", "seed", "optim")} == {
        **{k: config[k] for k in ("batch_size", "seed")},
        "steps": 4000,
        "optim": {**config["optim"], "lr": 8e-4},
    }


def test_recipe_needs_the_given_options():
    from patchforcing.cli.main import build_parser
    from patchforcing.cli.train_cmd import build_train_config

    with pytest.raises(ValueError, match="which options were given"):
        build_train_config(build_parser().parse_args(["train", "--recipe", "fmnist-pf"]))


def test_an_interrupted_command_stops_with_one_line(capsys):
    """Ctrl-C (KeyboardInterrupt) and SIGTERM: one line, no traceback, the shell's exit status."""
    import signal

    from patchforcing.cli.program import run_program

    def ctrl_c() -> int:
        raise KeyboardInterrupt

    def terminated() -> int:
        signal.raise_signal(signal.SIGTERM)
        return 0

    before = signal.getsignal(signal.SIGTERM)
    assert run_program("patchforcing sample", ctrl_c) == 130
    assert run_program("patchforcing eval", terminated) == 143
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in "".join(lines)
    assert lines[0].startswith("patchforcing sample: interrupted (Ctrl-C)")
    assert lines[1].startswith("patchforcing eval: interrupted (SIGTERM)")
    assert signal.getsignal(signal.SIGTERM) is before

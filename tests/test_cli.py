"""The command line as a user meets it: dry-run, training, sampling and clear errors."""

import json

import numpy as np
import pytest
from PIL import Image

from patchforcing.cli.main import main

TINY = ["--preset", "T/4", "--depth", "1", "--width", "32", "--heads", "2", "--patch-size", "2", "--threads", "1",
        "--no-progress"]


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_dry_run_prints_resolved_config(capsys, tiny_npz, tmp_path):
    code, out, _ = run(capsys, "train", "--data", str(tiny_npz), *TINY, "--dry-run", "--out", str(tmp_path / "r"))
    assert code == 0
    config = json.loads(out)
    assert config["model"]["image_size"] == 8 and config["model"]["num_classes"] == 3
    assert config["time_sampler"]["name"] == "ltg" and config["optim"]["lr"] == 1e-4
    assert not (tmp_path / "r").exists()
    code, out, _ = run(capsys, "train", "--data", str(tiny_npz), *TINY, "--dry-run", "--baseline")
    config = json.loads(out)
    assert config["model"]["time_mode"] == "global" and not config["model"]["difficulty_head"]
    assert config["time_sampler"]["name"] == "uniform"


def test_train_then_sample_is_deterministic(capsys, tiny_npz, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = run(capsys, "train", "--data", str(tiny_npz), *TINY, "--steps", "3", "--batch-size", "8",
                         "--out", str(run_dir))
    assert code == 0, err
    assert "trained steps 0..3" in out and "min of training in all" in out
    pngs = []
    for name in ("s1", "s2"):
        code, out, err = run(capsys, "sample", "--checkpoint", str(run_dir), "--steps", "4", "--num", "3",
                             "--seed", "7", "--out", str(tmp_path / name), "--threads", "1")
        assert code == 0, err
        assert "NFE 4" in out
        pngs.append(sorted((tmp_path / name / "images").glob("*.png")))
    assert [p.name for p in pngs[0]] == [p.name for p in pngs[1]]
    assert pngs[0][0].name.startswith("seed000007_")
    for a, b in zip(*pngs):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    assert (tmp_path / "s1" / "grid.png").is_file()


@pytest.mark.parametrize("argv,message", [
    (["train", "--bogus"], "unrecognized arguments: --bogus"),
    (["train", "--steps", "0"], "expected an integer >= 1"),
    (["train", "--lr", "nan"], "expected a number > 0"),
    (["train", "--ema-decay", "1.5"], "expected a number in [0, 1]"),
    (["train", "--time-sampler", "fancy"], "invalid choice: 'fancy'"),
    (["train", "--ts-param", "std"], "expected name=value"),
    (["sample", "--classes", "a,b"], "expected comma-separated integers"),
])
def test_argument_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("extra,message", [
    (["--patch-size", "3"], "image size 8x8 is not divisible by the patch size 3"),
    (["--ts-param", "sd=0.1"], "has no parameter(s) ['sd']"),
    (["--baseline", "--time-sampler", "ltg"], "needs a global time sampler"),
])
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
    code, _, err = run(capsys, "train", "--data", str(tmp_path / "imgs"), "--image-size", "8", "--dry-run")
    assert code == 2 and "broken.png" in err


def test_sample_from_missing_or_bad_checkpoint(capsys, tmp_path):
    code, _, err = run(capsys, "sample", "--checkpoint", str(tmp_path / "none"))
    assert code == 2 and "does not exist" in err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    code, _, err = run(capsys, "sample", "--checkpoint", str(bad))
    assert code == 2 and "cannot read model config" in err


def test_closed_stdout_stops_quietly(tiny_npz, tmp_path):
    """`patchforcing ... | head` style: the reader has gone before anything is written."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "patchforcing", "train", "--data", str(tiny_npz), *TINY,
                             "--dry-run", "--out", str(tmp_path / "r")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # long before the child has imported torch and printed
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1 and err == ""


def test_recipes_expand_to_flags_that_given_flags_override(tmp_path):
    from patchforcing.cli.main import build_parser
    from patchforcing.cli.recipes import RECIPES, expand_recipe

    argv = ["train", "--recipe", "fmnist-pf", "--steps", "10", "--out", str(tmp_path / "r")]
    expanded = expand_recipe(argv)
    assert expanded[1:len(RECIPES["fmnist-pf"][0]) + 1] == RECIPES["fmnist-pf"][0]
    args = build_parser().parse_args(expanded)
    assert (args.steps, args.lr, args.lr_schedule, args.preset, args.ema_warmup) == (10, 8e-4, "cosine", "T/4", True)
    assert dict(args.ts_param) == {"global_share": 0.25}
    assert expand_recipe(["sample", "--recipe", "fmnist-pf"]) == ["sample", "--recipe", "fmnist-pf"]
    baseline = build_parser().parse_args(expand_recipe(["train", "--recipe=fmnist-global"]))
    assert baseline.baseline and baseline.steps == 4000 and baseline.ts_param == []
    same = {k: v for k, v in vars(args).items() if k not in ("steps", "out", "ts_param", "baseline", "recipe")}
    assert same == {k: v for k, v in vars(baseline).items() if k in same}  # same backbone, batch, schedule, seed

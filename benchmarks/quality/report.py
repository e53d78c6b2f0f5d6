"""Markdown report and PNG plots of the quality bench (the generator of docs/results.md).

Works from the JSON payload of a results file, so the report can be regenerated without rerunning,
from partial results too (what is still missing is listed as pending), and from files of
older versions.
Every number is attributed: the tables name the run (machine and command) behind their evaluations.
"""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.quality.claims import PAPER_TABLES, ClaimCheck, Summary, check_claims
from benchmarks.quality.parts import part_summaries, pending_specs
from benchmarks.quality.plan import CONTROL_SAMPLERS, EvalSpec
from benchmarks.quality.run import Results, load_results, read_results
from patchforcing.utils.io.atomic import atomic_write

__all__ = [
    "write_report",
    "render_markdown",
    "write_docs",
    "report_from_results",
    "plus_minus",
    "claims_table",
]

_COLS = ("fd", "kid", "precision", "recall", "density", "coverage")
_TITLES = {
    "main": "Main table",
    "timesamplers": "Time-sampler ablation (Euler-PF)",
    "sampling": "Sampling ablation and NFE sweep (pf arm; baseline with Euler)",
}


def plus_minus(mean: float, std: float, digits: int = 3) -> str:
    """``mean ± std`` with ``digits`` decimals."""
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _plots(parts: dict[str, list[Summary]], nfe: int, folder: Path) -> dict[str, Path]:
    """Bar charts of the time-sampler and main tables, and FD against NFE; needs matplotlib."""
    from patchforcing.evaluation.analysis.plots import require_pyplot, save_figure

    plt = require_pyplot()
    written = {}
    for part in ("timesamplers", "main"):
        rows = [s for s in parts.get(part, []) if s.nfe_requested == nfe]
        if rows:
            fig, ax = plt.subplots(figsize=(6, 3.2))
            names = [s.arm if part == "timesamplers" else f"{s.arm}\n{s.sampler}" for s in rows]
            ax.bar(
                range(len(rows)),
                [s.mean["fd"] for s in rows],
                yerr=[s.std["fd"] for s in rows],
                capsize=3,
            )
            ax.set_xticks(range(len(rows)), names, rotation=40, ha="right", fontsize=7)
            ax.set_ylabel(f"FD (primary space), NFE {nfe}")
            written[part] = save_figure(fig, folder / f"{part}.png")
    sweep = [s for s in parts.get("sampling", []) if s.sampler not in CONTROL_SAMPLERS]
    if sweep:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for name in dict.fromkeys(s.sampler for s in sweep):
            pts = sorted((s.nfe, s.mean["fd"], s.std["fd"]) for s in sweep if s.sampler == name)
            ax.errorbar(
                [p[0] for p in pts],
                [p[1] for p in pts],
                yerr=[p[2] for p in pts],
                marker="o",
                capsize=3,
                label=name if name != "euler" else "euler (global baseline)",
            )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("NFE")
        ax.set_ylabel("FD")
        ax.legend(fontsize=7)
        written["sweep"] = save_figure(fig, folder / "nfe_sweep.png")
    return written


def _runs(found: Results) -> dict[tuple[str, str], str]:
    """An id (R1, R2, ...) per (machine, command) that produced an arm or an evaluation."""
    made = [(a.machine, a.command) for a in found.arms] + [
        (e.machine, e.command) for e in found.evals
    ]
    pairs = dict.fromkeys(made)
    return {pair: f"R{i + 1}" for i, pair in enumerate(pairs)}


def _pending(pending: dict[str, list[EvalSpec]]) -> list[str]:
    lines = []
    for part, specs in pending.items():
        by_arm: dict[str, list[EvalSpec]] = {}
        for s in specs:
            by_arm.setdefault(s.arm.label, []).append(s)
        items = [
            f"{label} seed{'s' if len({s.arm.train_seed for s in ss}) > 1 else ''} "
            f"{', '.join(map(str, sorted({s.arm.train_seed for s in ss})))} ({len(ss)} evaluations)"
            for label, ss in by_arm.items()
        ]
        lines.append(f"- {part}: pending: {'; '.join(items)}")
    return (
        [
            "## Pending",
            "",
            "The results are partial; still missing (rerun the bench command to add them):",
            "",
            *lines,
            "",
        ]
        if lines
        else []
    )


def claims_table(checks: list[ClaimCheck], names: list[str], measure: str = "FD") -> list[str]:
    """The claims as a markdown table, one change / gap / verdict triple per feature space
    (``names``), ``measure`` naming what changes."""
    head = "| part | kind | claim | paper FID change | units | needed |"
    head += "".join(f" {n}: {measure} change | gap / SE | verdict |" for n in names) + " agree |"
    lines = [head, "|" + "---|" * (7 + 3 * len(names))]
    for c in checks:
        first = next((t for t in c.tests if t is not None), None)
        paper = f"{c.claim.paper_change:+.1%}" if c.claim.paper_change is not None else "-"
        units = f"{first.units} {first.unit}" if first else "-"
        cells = [
            f"{t.change:+.1%} | {t.gap_in_se:.1f} | {t.verdict.text}" if t else "- | - | pending"
            for t in c.tests
        ]
        agree = "-" if c.agree is None else "yes" if c.agree else "**no**"
        lines.append(
            f"| {c.claim.part} | {c.claim.kind} | {c.claim.text} | {paper} | {units} | "
            f"{f'{first.needed:.2f}' if first else '-'} | " + " | ".join(cells) + f" | {agree} |"
        )
    return lines


def _disagreement(checks: list[ClaimCheck], names: list[str]) -> str:
    split = [c for c in checks if c.agree is False]
    if not split:
        return "The feature spaces reach the same verdict on every claim tested in all of them."
    return (
        "The feature spaces disagree on: "
        + "; ".join(
            f"{c.claim.text} ("
            + ", ".join(f"{n}: {t.verdict.text}" for n, t in zip(names, c.tests) if t)
            + ")"
            for c in split
        )
        + "."
    )


def _claim_caveats(found: Results, parts: dict[str, list[Summary]]) -> list[str]:
    """What the claims table cannot see: training noise with one training seed, and unequal NFE."""
    nfe, notes = found.config.nfe, []
    if len(found.config.train_seeds) == 1:
        notes.append(
            "With one training seed the pairs hold sampling noise only: a claim reproduced here "
            "holds for these trained weights; `--train-seeds 0,1,2` puts training noise "
            "into the test as well."
        )
    off = sorted(
        {
            (s.sampler, s.nfe)
            for rows in parts.values()
            for s in rows
            if s.nfe_requested == nfe and s.nfe != nfe
        }
    )
    if off:
        notes.append(
            f"Samplers that cannot spend exactly NFE {nfe} use the closest budget they can reach: "
            + ", ".join(f"{name} {spent}" for name, spent in off)
            + "."
        )
    return ["", " ".join(notes)] if notes else []


def _part_table(
    found: Results, part: str, rows: list[Summary], ids: dict[tuple[str, str], str]
) -> list[str]:
    nfe, others = found.config.nfe, found.spaces[1:]
    by: dict[tuple[str, str, int], set[str]] = {}
    for e in found.evals:
        by.setdefault((e.arm, e.sampler, e.nfe_requested), set()).add(ids[(e.machine, e.command)])
    head = (
        "| arm / sampler | NFE | runs | FD | KID | precision | recall | density | coverage | "
        + "".join(f"FD ({name}) | " for _, name in others)
        + "background | paper FID | by |"
    )
    lines = [head, "|" + "---|" * (12 + len(others))]
    ordered = (
        sorted(rows, key=lambda s: (s.sampler, s.nfe_requested)) if part == "sampling" else rows
    )
    for s in ordered:
        paper = PAPER_TABLES[part].get(
            (s.arm, s.sampler) if part == "main" else s.arm if part == "timesamplers" else s.sampler
        )
        shown = paper is not None and (
            part != "sampling" or (s.nfe_requested == nfe and s.arm == "pf")
        )
        cells = [plus_minus(s.mean[m], s.std[m], 5 if m == "kid" else 3) for m in _COLS]
        cells += [plus_minus(*s.fd[key]) if key in s.fd else "-" for key, _ in others]
        cells += [
            plus_minus(*s.background, 2) if s.background else "-",
            f"{paper:g}" if shown else "-",
            ", ".join(sorted(by.get((s.arm, s.sampler, s.nfe_requested), set()))),
        ]
        lines.append(f"| {s.arm} / {s.sampler} | {s.nfe} | {s.runs} | " + " | ".join(cells) + " |")
    return lines


def render_markdown(payload: dict, figures: dict[str, str]) -> str:
    """The report; ``figures`` maps plot names to the paths the markdown should link."""
    found = load_results(payload)
    c, nfe, names = found.config, found.config.nfe, [name for _, name in found.spaces]
    parts, ids = part_summaries(c, found.evals), _runs(found)
    lines = [
        "# Patch Forcing at small scale: quality bench (Fashion-MNIST)",
        "",
        "Generated by `python -m benchmarks.quality`; do not edit by hand. FD, KID, "
        "precision/recall and density/coverage are computed on the penultimate features of the "
        f"shipped classifier `{names[0]}` (the primary feature space; "
        "docs/metrics.md) against the test set"
        + (f", FD also on those of {', '.join(f'`{n}`' for n in names[1:])}" if names[1:] else "")
        + f"; background = mean pixel value (0-255) on the test set's background (test images: "
        f"{payload.get('reference_background') or 0:.2f}). {c.num_images} generated images per "
        f"evaluation, mean ± standard deviation over sampling seeds {list(c.sample_seeds)} and "
        f"training seeds {list(c.train_seeds)}. Paper values are FID on ImageNet 256 (B/2): only "
        "relative changes can be compared.",
        "",
        f"- every arm: depth {c.depth}, width {c.width}, heads {c.num_heads}, patch "
        f"{c.patch_size}; {c.train_steps} steps of batch {c.batch_size}, lr {c.lr} "
        f"({c.warmup_steps} warm-up steps, {c.lr_schedule}), EMA "
        f"{c.ema_decay}{' with warm-up' if c.ema_warmup else ''}, precision {c.precision} (the "
        "`fmnist-pf` / `fmnist-global` training recipes)",
        "- arm `pf` is the recipe's Patch Forcing model: LTG with a quarter of the training "
        "samples at one global time t ~ U(0, 1). It stands for the paper's LTG model in the main "
        "table and the sampling ablation; the time-sampler ablation has plain LTG (`ltg`) as in "
        "the paper, and `pf` beside it.",
        "- wall time, summed over the runs folded into this report (runs side by side each count "
        f"in full): {payload['seconds'] / 60:.1f} min",
        "",
        "Background noise of the PF models and why FD need not fall with more NFE: "
        "[noise.md](noise.md).",
        "Text-to-image on the emoji set (PF against the global-time baseline: FD, prompt "
        "alignment, every sampler): [results-text.md](results-text.md).",
        "",
        *_pending(pending_specs(c, found.evals)),
    ]
    checks = check_claims(found.evals, nfe, tuple(key for key, _ in found.spaces))
    lines += [
        "## The paper's claims",
        "",
        f"At NFE {nfe}, in each feature space. FD change = mean paired difference (same seeds: "
        "same noise and labels) over the worse arm's FD; gap / SE = that difference over its "
        "standard error (positive: the claimed direction). Verdicts: reproduced = the claimed "
        "sign and a gap above the two-sided 95% Student t quantile (`needed`); reversed = the "
        "opposite sign above it; no detectable difference = within it, with the minimal "
        "detectable effect at 80% power, MDE = (t_0.975 + t_0.80) x SE, as a share of the worse "
        "arm's FD (`benchmarks.quality.claims`). agree = the same verdict in every space. Each "
        "row is computed from the evaluations of the tables below, "
        "which name the runs that made them.",
        *_claim_caveats(found, parts),
        "",
        *claims_table(checks, names),
        "",
        _disagreement(checks, names),
        "",
        "Controls and extras (no paper value for those marked '-'; their stated direction stands "
        "in for the paper's sign):",
        "",
    ]
    lines += [
        f'- {x.claim.kind} "{x.claim.text}": {x.claim.note}.'
        for x in checks
        if x.claim.kind != "paper"
    ]
    lines += [""]
    for part in ("main", "timesamplers", "sampling"):
        if part in parts:
            lines += [f"## {_TITLES[part]}", "", *_part_table(found, part, parts[part], ids), ""]
            key = "sweep" if part == "sampling" else part
            lines += [f"![{key}]({figures[key]})", ""] if key in figures else []
    lines += ["## Runs", "", "| id | machine | command |", "|---|---|---|"]
    lines += [f"| {i} | {machine} | {_code(command)} |" for (machine, command), i in ids.items()]
    lines += [
        "",
        "## Arms",
        "",
        "| arm | train seed | training (s; - not recorded) | by | adopted from |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {a.label} | {a.train_seed} | {_seconds(a.train_seconds)} | "
        f"{ids[(a.machine, a.command)]} | {a.adopted_from or '-'} |"
        for a in found.arms
    ]
    total_eval = sum(e.seconds for e in found.evals)
    lines += ["", f"{len(found.evals)} evaluations took {total_eval / 60:.1f} min in all.", ""]
    return "\n".join(lines)


def _code(text: str) -> str:
    """A Markdown code span of ``text``, fenced by one backtick more than the longest run
    inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def write_report(payload: dict, out_dir: Path) -> Path:
    found = load_results(payload)
    figures = _plots(part_summaries(found.config, found.evals), found.config.nfe, out_dir / "plots")
    text = render_markdown(payload, {k: f"plots/{p.name}" for k, p in figures.items()})
    return atomic_write(out_dir / "report.md", lambda tmp: tmp.write_text(text))


def write_docs(results: str | Path, docs_path: str | Path) -> Path:
    """Write the report of the results file ``results`` to ``docs_path``, its plots beside it (into
    ``<stem>_files/``)."""
    results, docs_path = Path(results), Path(docs_path)
    payload = read_results(results)
    figure_dir = docs_path.parent / f"{docs_path.stem}_files"
    figure_dir.mkdir(parents=True, exist_ok=True)
    found = load_results(payload)
    written = _plots(part_summaries(found.config, found.evals), found.config.nfe, figure_dir)
    text = render_markdown(payload, {k: f"{figure_dir.name}/{p.name}" for k, p in written.items()})
    return atomic_write(docs_path, lambda tmp: tmp.write_text(text))


def report_from_results(results: str | Path, out_dir: str | Path) -> Path:
    """Regenerate report.md and plots in ``out_dir`` from a results file."""
    return write_report(read_results(results), Path(out_dir))

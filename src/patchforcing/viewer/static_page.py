"""``patchforcing view --static OUT.html``: the page with a few precomputed runs in one file.

The runs are computed by the same code as the served viewer
(:func:`~patchforcing.viewer.worker.execute`) and stored as the events the page would have streamed;
the script and style sheet are inlined, so the file opens from disk with no server and
fetches nothing.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from patchforcing.sampling import SAMPLERS, Guidance
from patchforcing.utils.io.atomic import atomic_write
from patchforcing.viewer.catalog import Checkpoint
from patchforcing.viewer.page import read_asset
from patchforcing.viewer.request import RunRequest
from patchforcing.viewer.runs import Run
from patchforcing.viewer.worker import execute

__all__ = [
    "STATIC_NFE",
    "STATIC_IMAGES",
    "STATIC_PROMPTS",
    "static_runs",
    "static_html",
    "script_json",
    "write_static_page",
]

STATIC_NFE = 16
STATIC_IMAGES = ((0, 0), (1, 7), (2, 9))  # (seed, class) of the runs of each class model
STATIC_PROMPTS = (
    "a flag",
    "heavy black heart",
    "food",
)  # with the same seeds, for a text-to-image model
_COMPARED = (
    "euler-pf",
    "dual-loop",
    "look-ahead",
    "random",
)  # side by side where the model runs them


def static_runs(catalog: dict[str, Checkpoint], nfe: int = STATIC_NFE) -> list[dict[str, Any]]:
    """Per checkpoint and (seed, class) of :data:`STATIC_IMAGES` (a text-to-image model: each seed
    with its prompt of :data:`STATIC_PROMPTS`), one run of up to four samplers, as its title,
    summary and events."""
    runs: list[dict[str, Any]] = []
    for checkpoint in catalog.values():
        names = [n for n in _COMPARED if n in checkpoint.samplers] or list(checkpoint.samplers[:1])
        num_classes = checkpoint.model.config.num_classes
        for (seed, label), prompt in zip(STATIC_IMAGES, STATIC_PROMPTS):
            request = RunRequest(
                client="static",
                checkpoint=checkpoint.name,
                samplers=tuple(SAMPLERS[n]() for n in names),
                nfe=nfe,
                seed=seed,
                label=label % num_classes if num_classes else None,
                guidance=Guidance(),
                prompt=prompt if checkpoint.takes_prompts else None,
            )
            run = Run(f"static-{len(runs)}", request, checkpoint)
            execute(run)
            if run.status != "done":
                raise RuntimeError(f"a precomputed run failed: {run.message}")
            summary = run.summary()
            shown = (
                ""
                if summary["class_name"] is None
                else f", class {request.label} ({summary['class_name']})"
            )
            shown += "" if request.prompt is None else f", prompt {request.prompt!r}"
            runs.append(
                {
                    "title": (
                        f"{checkpoint.name}: {', '.join(names)}{shown}, seed {seed}, NFE {nfe}"
                    ),
                    "summary": summary,
                    "events": [asdict(e) for e in run.events_from(0)],
                }
            )
    return runs


_SCRIPT_UNSAFE = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
}  # as JSON escapes: no string of a model folder can open, end or escape the data's element


def _inline(text: str) -> str:
    """The package's own script or style sheet, unable to end the <script> or <style> element it is
    put in."""
    return text.replace("</", "<\\/")


def script_json(value: Any) -> str:
    """``value`` as JSON holding no ``<``, ``>`` or ``&`` (each written as a \\u escape, which the
    same JSON parses back), so that strings from a model folder (class names, prompts, titles)
    cannot change the page's structure: no ``</script>``, no ``<!--`` that would make the HTML
    parser swallow the scripts after it."""
    return json.dumps(value, separators=(",", ":")).translate(_SCRIPT_UNSAFE)


def _script(name: str) -> str:
    return f'<script src="/assets/{name}"></script>'


def static_html(runs: list[dict[str, Any]]) -> str:
    """The page with its scripts, style sheet and ``runs`` inlined (the runs before the script
    reading them)."""
    data = script_json({"runs": runs})
    inlined = {
        '<link rel="stylesheet" href="/assets/style.css">': (
            f"<style>\n{_inline(read_asset('style.css'))}</style>"
        ),
        _script("draw.js"): f"<script>\n{_inline(read_asset('draw.js'))}</script>",
        _script("app.js"): f'<script id="pf-static" type="application/json">{data}</script>\n'
        f"<script>\n{_inline(read_asset('app.js'))}</script>",
    }
    page = read_asset("index.html")
    for link, text in inlined.items():
        if link not in page:
            raise RuntimeError(f"index.html no longer has {link}, which static_html inlines")
        page = page.replace(link, text)
    return page


def write_static_page(
    catalog: dict[str, Checkpoint], out: str | Path, nfe: int = STATIC_NFE
) -> Path:
    """Compute the precomputed runs and write the self-contained page to ``out``."""
    html = static_html(static_runs(catalog, nfe))
    return atomic_write(Path(out), lambda tmp: tmp.write_text(html, encoding="utf-8"))

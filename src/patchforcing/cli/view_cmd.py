"""``patchforcing view``: a local web page that shows the samplers step by step (docs/viewer.md), or
with ``--static OUT.html`` a self-contained page of a few precomputed runs."""

from __future__ import annotations

import argparse
import sys

from patchforcing.cli.common import HelpFormatter, nonneg_int, positive_int
from patchforcing.model.shipped import SHIPPED

__all__ = ["add_view_parser", "run_view"]

STATIC_DEFAULT = "fmnist-pf"


def _port(text: str) -> int:
    value = nonneg_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


def add_view_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "view",
        help="a local web page showing the samplers step by step",
        formatter_class=HelpFormatter,
        description="Serve a page that runs the samplers on a checkpoint and shows every network "
        "pass (image, per-patch time, difficulty, certain patches), one sampler or two to four "
        "side by side. Needs pip install 'patchforcing[view]'. See docs/viewer.md.",
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        metavar="NAME_OR_FOLDER",
        help="a shipped name, model folder or run folder to offer (repeat for several); the "
        f"shipped models ({', '.join(SHIPPED)}) are always offered. With --static: the checkpoints "
        f"whose runs are precomputed (default: {STATIC_DEFAULT})",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; anything but loopback makes the page reachable from other "
        "machines, without authentication",
    )
    p.add_argument("--port", type=_port, default=8000, help="port to listen on (0: any free port)")
    p.add_argument(
        "--static",
        metavar="OUT.html",
        help="write a self-contained page of a few precomputed runs (no server needed) and exit",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="CPU threads for torch (one image at a time runs fastest on one)",
    )
    p.set_defaults(func=run_view)


def run_view(args: argparse.Namespace) -> int:
    import torch

    from patchforcing.utils.device import resolve_device
    from patchforcing.viewer import Viewer, load_catalog, write_static_page

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.static:
        catalog = load_catalog(args.checkpoint or [STATIC_DEFAULT], device)
        path = write_static_page(catalog, args.static)
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
        return 0
    try:
        from patchforcing.viewer.app import LOOPBACK_HOSTS, create_app
        from patchforcing.viewer.serve import is_loopback, serve
    except ImportError as err:
        raise ValueError(
            f"the viewer needs its web packages ({err.name} is missing): "
            "pip install 'patchforcing[view]'"
        ) from None
    local = is_loopback(args.host)
    if not local:
        print(
            f"warning: listening on {args.host} makes the viewer reachable from other machines; it "
            "has no authentication",
            file=sys.stderr,
        )
    catalog = load_catalog([*SHIPPED, *(args.checkpoint or [])], device)
    app = create_app(Viewer(catalog, device=device), LOOPBACK_HOSTS if local else ("*",))
    serve(
        app,
        args.host,
        args.port,
        lambda url: print(
            f"serving the Patch Forcing viewer on {url} (Ctrl-C to stop)", flush=True
        ),
    )
    return 0

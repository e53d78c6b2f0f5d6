"""The page's files, shipped as package data: ``index.html``, ``draw.js``, ``app.js`` and
``style.css`` (plain HTML, JavaScript and CSS, no build step and nothing fetched from elsewhere)."""

from __future__ import annotations

from importlib.resources import files

__all__ = ["ASSETS", "read_asset"]

ASSETS = {
    "draw.js": "text/javascript; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}  # name -> media type


def read_asset(name: str) -> str:
    """The text of one of the page's files."""
    return (files("patchforcing.viewer") / "assets" / name).read_text(encoding="utf-8")

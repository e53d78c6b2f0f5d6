"""The everyday English names of emoji, as people type them ("red heart" for U+2764 U+FE0F, whose
Unicode name is "heavy black heart"): the CLDR short names that the PyPI package ``emoji`` carries
(``emoji.EMOJI_DATA[char]["en"]``, e.g. ``":red_heart:"``). The emoji data set adds them to its
caption alternatives (:mod:`patchforcing.data.emoji`).

``emoji`` is a core dependency, pinned to one version (:data:`EMOJI_NAMES_VERSION`): captions are
training data, and another version could name an emoji differently.
"""

from __future__ import annotations

from functools import cache

__all__ = ["EMOJI_NAMES_VERSION", "everyday_name"]

EMOJI_NAMES_VERSION = "2.16.0"  # the version of the PyPI package emoji that pyproject.toml pins
_VARIATION_SELECTOR = "\ufe0f"  # U+FE0F: emoji presentation; some names are stored without it


@cache
def _names() -> dict[str, str]:
    import emoji

    return {char: values["en"] for char, values in emoji.EMOJI_DATA.items() if "en" in values}


def everyday_name(unified: str) -> str | None:
    """The everyday name of the emoji with code points ``unified`` (``"2764-FE0F"``), without its
    colons and with ``_`` as spaces (``"red heart"``, ``"Vatican City"``), or None when ``emoji``
    does not know it. A name is looked up with and without the U+FE0F variation selectors."""
    try:
        char = "".join(chr(int(code, 16)) for code in unified.split("-"))
    except (ValueError, OverflowError):  # not hexadecimal, or past the last code point
        return None
    names = _names()
    name = names.get(char) or names.get(char.replace(_VARIATION_SELECTOR, ""))
    if name is None:
        return None
    return " ".join(name.strip(":").replace("_", " ").split())

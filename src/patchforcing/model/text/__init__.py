"""Text encoders for the text-to-image model: the built-in word tokenizer, frozen pretrained
encoders (the ``[text]`` extra) and an on-disk cache of a data set's encoded captions."""

from patchforcing.model.text.cache import cache_digest, encode_cached
from patchforcing.model.text.encoders import ENCODER_KINDS, TextEncoder, encoder_from_json
from patchforcing.model.text.pretrained import PretrainedTextEncoder
from patchforcing.model.text.tokenizer import SPECIAL_TOKENS, WordTokenizer

__all__ = [
    "SPECIAL_TOKENS",
    "WordTokenizer",
    "TextEncoder",
    "ENCODER_KINDS",
    "encoder_from_json",
    "PretrainedTextEncoder",
    "cache_digest",
    "encode_cached",
]

"""The REPA bench: the baseline and Patch Forcing, each without and with representation
alignment, trained with the data's recipes and judged by the quality bench's verdict rules."""

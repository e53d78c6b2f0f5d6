"""The quality bench: every arm trained with the library's recipes, scored in two feature spaces,
the paper's claims settled with verdicts, and a report written to docs/."""

"""What to generate: a typed configuration shared by every command that makes images."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from patchforcing.core.protocol import PatchModelConfig
from patchforcing.sampling import Guidance, Sampler, uniform_schedule
from patchforcing.sampling.base import DEFAULT_PATCHES
from patchforcing.sampling.registry import default_sampler
from patchforcing.utils.limits import check_limit, check_memory, check_seeds

__all__ = [
    "GenerationConfig",
    "MASK_SEED_OFFSET",
    "DEFAULT_STEPS",
    "MAX_PROMPT_CHARS",
    "batch_memory",
]

MASK_SEED_OFFSET = (
    2**41
)  # random-mask generators: seed + offset (noise uses seed, labels seed + 2**40)
DEFAULT_STEPS = 50
MAX_PROMPT_CHARS = (
    1000  # a prompt longer than this is a mistake (the encoders keep far fewer tokens)
)


@dataclass(frozen=True)
class GenerationConfig:
    """Image i (0-based) uses seed ``seed + i`` for its noise, its class (unless ``classes`` is
    given: then ``classes[i % len(classes)]``) and, for the random-mask control, its masks; so an
    image does not depend on the batch it was made in, nor on the command that made it. A
    text-to-image model takes ``prompts`` instead of classes: image i gets
    ``prompts[i % len(prompts)]``.

    ``sampler`` None means the model's default (Euler-PF for Patch Forcing, Euler for global time).
    The cost is ``steps`` outer steps, or an ``nfe`` budget turned into outer steps by the sampler
    (at most one of the two; neither: 50 steps)."""

    sampler: Sampler | None = None
    steps: int | None = None
    nfe: int | None = None
    guidance: Guidance = field(default_factory=Guidance)
    num_images: int = 20
    seed: int = 0
    classes: tuple[int, ...] | None = None
    prompts: tuple[str, ...] | None = None
    batch_size: int = 64
    progress: bool = False

    def __post_init__(self) -> None:
        if self.steps is not None and self.nfe is not None:
            raise ValueError("give the cost as steps or as an NFE budget, not both")
        for name in ("steps", "nfe"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.num_images < 0 or self.batch_size < 1 or self.seed < 0:
            raise ValueError(
                f"need num_images >= 0, batch_size >= 1 and seed >= 0, got {self.num_images}, "
                f"{self.batch_size}, {self.seed}"
            )
        if self.classes is not None and (not self.classes or min(self.classes) < 0):
            raise ValueError(f"classes must be a non-empty list of labels >= 0, got {self.classes}")
        if self.prompts is not None:
            if self.classes is not None:
                raise ValueError(
                    "give classes (class-conditional models) or prompts "
                    "(text-to-image models), not both"
                )
            if not self.prompts or not all(isinstance(p, str) for p in self.prompts):
                raise ValueError(
                    f"prompts must be a non-empty list of strings, got {self.prompts!r}"
                )
            longest = max(len(p) for p in self.prompts)
            if longest > MAX_PROMPT_CHARS:
                raise ValueError(
                    f"a prompt has {longest} characters; at most {MAX_PROMPT_CHARS} are accepted"
                )
        self._check_limits()

    def _check_limits(self) -> None:
        """Sizes against :mod:`patchforcing.utils.limits`, before any image is allocated."""
        check_limit("the number of images", self.num_images, "images")
        check_limit("the batch size", self.batch_size, "images")
        for name in ("steps", "nfe"):
            value = getattr(self, name)
            if value is not None:
                check_limit(
                    "the number of "
                    f"{'outer steps' if name == 'steps' else 'function evaluations (NFE)'}",
                    value,
                    "sample_steps",
                )
        if self.classes is not None:
            check_limit("the largest class label", max(self.classes), "classes")
        if self.prompts is not None:
            check_limit("the number of prompts", len(self.prompts), "images")
        check_seeds(self.seed, self.num_images)

    @property
    def seeds(self) -> range:
        return range(self.seed, self.seed + self.num_images)

    def prompts_for(self, seeds: Sequence[int]) -> list[str]:
        """The prompt of each image seed (cycled from the config's first image)."""
        if self.prompts is None:
            raise ValueError(
                "this is a text-to-image model: give prompts (--prompt TEXT or --prompts FILE)"
            )
        return [self.prompts[(s - self.seed) % len(self.prompts)] for s in seeds]

    def resolved_sampler(self, time_mode: str) -> Sampler:
        return self.sampler if self.sampler is not None else default_sampler(time_mode)

    def check_cost(self, c: PatchModelConfig) -> None:
        """Refuse, before anything is allocated, a sampler that would spend more NFE per image than
        the ``sample_steps`` limit (dual-loop spends steps x n_inner) and a batch whose activations
        would not fit in the memory available."""
        sampler = self.resolved_sampler(c.time_mode)
        steps = self.outer_steps(sampler, c.num_patches)
        spent = sampler.nfe(uniform_schedule(steps), c.num_patches)
        check_limit(f"the NFE {sampler.name} would spend per image", spent, "sample_steps")
        batch = min(self.batch_size, max(self.num_images, 1))
        check_memory(
            batch_memory(c, batch, self.guidance.active),
            f"a batch of {batch:,} images (--batch-size)",
        )

    def check_budget(self, time_mode: str) -> None:
        """Refuse an NFE budget below what one outer step of the sampler spends (it would be
        overspent), naming the NFE it would spend and the smallest budget it can honour. The
        commands call it; the library and the viewer take the closest reachable budget."""
        sampler = self.resolved_sampler(time_mode)
        least = sampler.nfe(uniform_schedule(1))  # NFE grows with the outer steps
        if self.nfe is not None and self.nfe < least:
            raise ValueError(
                f"{sampler.name} would spend NFE {least} per image for the budget {self.nfe}; the "
                f"smallest budget it can honour is {least} (one outer step): give --nfe {least} or "
                "more, or another sampler"
            )

    def outer_steps(self, sampler: Sampler, num_patches: int = DEFAULT_PATCHES) -> int:
        """Outer steps on the uniform schedule: ``steps``, or those that spend the ``nfe`` budget
        on a model of ``num_patches`` patches."""
        if self.nfe is not None:
            return sampler.budget(self.nfe, num_patches).steps
        return self.steps if self.steps is not None else DEFAULT_STEPS


def batch_memory(c: PatchModelConfig, batch: int, guided: bool = False) -> int:
    """Bytes one network pass over ``batch`` images needs at least (float32): a block's
    activations (about 24 N D values per image: attention in and out, the 4 D MLP), its attention
    scores (2 heads N^2) and the sampler's image-sized tensors; guidance doubles the batch the
    network sees."""
    N, D = c.num_patches, getattr(c, "width", 0)
    heads, pixels = getattr(c, "num_heads", 1), c.in_channels * c.image_size**2
    per_image = 24 * N * D + 2 * heads * N * N + 16 * pixels
    return 4 * batch * per_image * (2 if guided else 1)

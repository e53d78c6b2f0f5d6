"""Training and testing the feature classifiers (a couple of epochs of AdamW; minutes on
one core)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from patchforcing.data import ImageArrays
from patchforcing.data.order import batch_indices
from patchforcing.evaluation.metrics.augment import AugmentConfig, augment
from patchforcing.evaluation.metrics.classifier import FeatureClassifier, classifier_config

__all__ = [
    "ClassifierTrainConfig",
    "ClassifierTrainResult",
    "train_classifier",
    "classifier_accuracy",
]


@dataclass(frozen=True)
class ClassifierTrainConfig:
    epochs: int = 2
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0
    arch: str = "cnn"  # see patchforcing.evaluation.metrics.classifier.ARCH_DEFAULTS
    augment: AugmentConfig | None = None  # None: random horizontal flips only


@dataclass(frozen=True)
class ClassifierTrainResult:
    model: FeatureClassifier
    test_accuracy: float
    seconds: float
    steps: int


@torch.no_grad()
def classifier_accuracy(
    model: FeatureClassifier, data: ImageArrays, batch_size: int = 500
) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(data), batch_size):
        x, y = data.batch(torch.arange(start, min(start + batch_size, len(data))))
        correct += int((model(x).argmax(1) == y).sum())
    return correct / len(data)


def train_classifier(
    train: ImageArrays,
    test: ImageArrays,
    config: ClassifierTrainConfig = ClassifierTrainConfig(),
    progress: bool = False,
) -> ClassifierTrainResult:
    """Cross-entropy with AdamW and a one-cycle rate; random horizontal flips, or
    ``config.augment``; reports test accuracy."""
    torch.manual_seed(config.seed)
    model = FeatureClassifier(
        classifier_config(config.arch, train.image_size, train.channels, train.num_classes)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    steps = config.epochs * (len(train) // config.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.lr, total_steps=steps, pct_start=0.15
    )
    gen = torch.Generator().manual_seed(config.seed)
    start = time.perf_counter()
    model.train()
    for step in range(steps):
        x, y = train.batch(batch_indices(step, config.batch_size, len(train), config.seed))
        if config.augment is not None:
            x = augment(x, config.augment, gen)
        else:
            flip = torch.rand(x.shape[0], generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if progress and (step + 1) % 100 == 0:
            print(f"step {step + 1}/{steps} loss {loss.detach().item():.4f}", flush=True)
    seconds = time.perf_counter() - start
    return ClassifierTrainResult(model.eval(), classifier_accuracy(model, test), seconds, steps)

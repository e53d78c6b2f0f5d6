"""Benchmarks measured on the current device."""

from patchforcing.bench.quality import QualityBenchResult, run_quality_bench
from patchforcing.bench.speed import SamplerTiming, SpeedConfig, SpeedReport, run_speed, speed_markdown

__all__ = ["QualityBenchResult", "run_quality_bench", "SamplerTiming", "SpeedConfig", "SpeedReport", "run_speed",
           "speed_markdown"]

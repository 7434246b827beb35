"""What a timeline costs to render: frames, seconds of output and GPU time at a given throughput.

There is no measured GPU figure yet, so the default throughput is the floor the FLOP budget sets (README, "GPU speed
and memory"): 14.41 PFLOP per 10 s of 25 fps output at 790 TFLOP/s of bf16 on one H100/H200, 1.82 s of GPU per
output second at full use. Real renders take longer; pass the figure your farm measures with `--throughput`.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from keydub.core.errors import InvalidParameterError


# Seconds of GPU per second of output: the FLOP budget's floor on one H100/H200 (a lower bound, not a measurement).
DEFAULT_THROUGHPUT_S_PER_S = Fraction(182, 100)


@dataclass(frozen=True)
class CostEstimate:
    """The work of a batch and what it costs on the GPU.

    Args:
        frames (`int`): frames to render, handles included.
        output_seconds (`Fraction`): their duration, each job at its own frame rate.
        throughput (`Fraction`): seconds of GPU per second of output used for the estimate.
    """

    frames: int
    output_seconds: Fraction
    throughput: Fraction

    @property
    def gpu_seconds(self) -> Fraction:
        """GPU time of the whole batch (divide by the number of GPUs for the wall clock of a full farm)."""
        return self.output_seconds * self.throughput


def estimate_cost(
    jobs: Iterable[tuple[int, Fraction]], throughput: float | Fraction = DEFAULT_THROUGHPUT_S_PER_S
) -> CostEstimate:
    """Sum the work of the jobs to render.

    Args:
        jobs (`Iterable[tuple[int, Fraction]]`): `(frame count, frame rate)` of each job still to render.
        throughput (`float | Fraction`, defaults to `DEFAULT_THROUGHPUT_S_PER_S`): seconds of GPU per output second.

    Raises:
        `InvalidParameterError`: the throughput is not positive.
    """
    # A typed 0.8 is the decimal 8/10, not the binary float nearest to it.
    throughput = Fraction(str(throughput)) if isinstance(throughput, float) else Fraction(throughput)
    if throughput <= 0:
        raise InvalidParameterError(
            f"--throughput {float(throughput)} must be a positive number of GPU seconds "
            "per second of output (e.g. 1.0)"
        )
    frames, seconds = 0, Fraction(0)
    for count, rate in jobs:
        frames += count
        seconds += Fraction(count) / rate
    return CostEstimate(frames=frames, output_seconds=seconds, throughput=throughput)


def format_duration(seconds: Fraction) -> str:
    """`3725` → `"1 h 02 min 05 s"`; short durations keep one decimal (`"4.2 s"`)."""
    if seconds < 60:
        return f"{float(seconds):.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min {secs:02d} s" if hours else f"{minutes} min {secs:02d} s"

"""Which failures of a farm job are worth another attempt, and how many attempts a job gets.

A render that raises an error is the clip's own problem (no face, bad audio, a missing mount) and would fail the
same way anywhere: it fails at once. An actor that disappears under a job (its process killed, out of memory, its
node lost) says nothing about the clip: the job goes to another actor, up to `max_attempts` in all.
"""

from dataclasses import dataclass

from keydub.core.errors import InvalidParameterError


# Three attempts: one bad node and one unlucky eviction are survived; a clip that kills every actor it meets
# (say, out of GPU memory everywhere) stops costing the farm after the third.
DEFAULT_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class RetryPolicy:
    """How many times a job is given to an actor before it is marked failed.

    Args:
        max_attempts (`int`, defaults to `DEFAULT_MAX_ATTEMPTS`): attempts in all (1: never retried).
    """

    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidParameterError(f"a job needs at least one attempt, not {self.max_attempts}")

    def should_retry(self, attempts: int) -> bool:
        """Whether a job whose actor was lost after `attempts` attempts gets another one."""
        return attempts < self.max_attempts

    def give_up_message(self, attempts: int, reason: str) -> str:
        """The failure recorded for a job whose actors kept dying."""
        times = "once" if attempts == 1 else f"{attempts} times"
        return (
            f"the render node was lost {times} while rendering this clip (last: {reason}); check the nodes' "
            "memory and logs, then run the batch again"
        )

"""Which frames are keyframes, how they are batched, and which interpolation windows fill the gaps.

KeySync generates a clip in two stages (`keysync-architecture.md` §3.1, §4, §5):

- keyframes every `window_length - 1 = 13` frames (0, 13, 26, ...), generated in batches of `window_length = 14`
  slots: slot 0 is a dummy copy of the identity frame (the model was trained with the identity frame first in its
  sequence) followed by up to 13 keyframes; a short last batch is padded by repeating its last keyframe slot;
- interpolation windows of 14 consecutive frames from one keyframe to the next, overlapping by one frame.

Clip end (differs from the official code, which drops the up to 12 frames after the last keyframe): the keyframe grid
is extended past the last frame to the next keyframe position and the extra *grid positions* take the data (latent,
mask, audio) of the clip's last frame, as if the last frame were held. Every keyframe stays 13 frames from the next
and every window keeps 14 frames, so both models run exactly in their trained regime; the outputs at positions past
the clip are discarded. Clips of 1 to 13 frames use one window (grid positions 0..13). When `N - 1` is a multiple of 13
the plan equals the official one.

Positions are grid indices; `source(position)` is the input frame whose data a position uses.

Several clips (the face segments of a render) can be generated together: `plan_rounds` groups their keyframe batches,
in order, into rounds, and each round samples all its keyframes in one guided sampling and then all its windows in
another, so the U-Net calls are as full as the batch size allows.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from keydub.core.errors import InvalidParameterError


# The official models generate 14-frame sequences (`num_frames: 14` in both sampling configs).
DEFAULT_WINDOW_LENGTH = 14


@dataclass(frozen=True)
class InterpolationWindow:
    """One interpolation window: `window_length` consecutive grid positions between two keyframes.

    Args:
        index (`int`): the window's rank in the clip (0-based).
        start (`int`): grid position of its first keyframe; its last keyframe is `start + window_length - 1`.
        window_length (`int`): positions in the window (14).
        output_start (`int`): first position whose output frame this window provides.
        output_stop (`int`): one past the last such position (never past the clip).
    """

    index: int
    start: int
    window_length: int
    output_start: int
    output_stop: int

    @property
    def stop(self) -> int:
        """One past the window's last grid position."""
        return self.start + self.window_length

    @property
    def positions(self) -> range:
        """The window's grid positions."""
        return range(self.start, self.stop)

    @property
    def output_positions(self) -> range:
        """Positions (= input frame indices) whose output frames come from this window."""
        return range(self.output_start, self.output_stop)


@dataclass(frozen=True)
class KeyframeBatch:
    """One call of the keyframe model: a dummy identity slot followed by up to `window_length - 1` keyframes.

    Args:
        index (`int`): the batch's rank in the clip (0-based).
        slots (`tuple[int, ...]`): `window_length` grid positions fed to the model; slot 0 is the identity frame,
            the tail is padded with the last keyframe.
        keyframes (`tuple[int, ...]`): the batch's real keyframe positions (slots `1 .. len(keyframes)`).
        windows (`tuple[InterpolationWindow, ...]`): the windows whose end keyframe is in this batch, i.e. those
            that can be generated once this batch and the previous one are done.
    """

    index: int
    slots: tuple[int, ...]
    keyframes: tuple[int, ...]
    windows: tuple[InterpolationWindow, ...]

    @property
    def kept_slots(self) -> tuple[bool, ...]:
        """Per slot, whether its output is a keyframe to keep (not the dummy and not padding)."""
        return tuple(0 < slot <= len(self.keyframes) for slot in range(len(self.slots)))

    @property
    def span(self) -> range:
        """Grid positions the batch's windows cover (they include every keyframe of the batch)."""
        return range(self.windows[0].start, self.windows[-1].stop)


@dataclass(frozen=True)
class DubbingPlan:
    """The complete keyframe and window layout of a clip.

    Args:
        num_frames (`int`): input frames N (every one gets an output frame).
        grid_length (`int`): positions in the extended keyframe grid, `13 * ceil((N - 1) / 13) + 1`, at least 14.
        window_length (`int`): frames per model sequence (14).
        identity_index (`int`): the input frame used as identity (and as the dummy slot of every batch).
        batches (`tuple[KeyframeBatch, ...]`): the keyframe batches, in generation order.
    """

    num_frames: int
    grid_length: int
    window_length: int
    identity_index: int
    batches: tuple[KeyframeBatch, ...]

    @property
    def keyframes(self) -> tuple[int, ...]:
        """Every keyframe position, in order (the last may lie past the clip)."""
        return tuple(position for batch in self.batches for position in batch.keyframes)

    @property
    def windows(self) -> tuple[InterpolationWindow, ...]:
        """Every interpolation window, in order."""
        return tuple(window for batch in self.batches for window in batch.windows)

    def source(self, position: int) -> int:
        """The input frame whose latent, mask and audio a grid position uses (positions past the clip hold the
        last frame)."""
        if not 0 <= position < self.grid_length:
            raise IndexError(f"grid position {position} outside 0..{self.grid_length - 1}")
        return min(position, self.num_frames - 1)


def plan_dubbing(
    num_frames: int, *, identity_index: int = 0, window_length: int = DEFAULT_WINDOW_LENGTH
) -> DubbingPlan:
    """Plan keyframes, keyframe batches and interpolation windows for a clip of `num_frames` frames.

    Args:
        num_frames (`int`): frames in the clip, at least 1.
        identity_index (`int`, defaults to 0): the identity frame (official: the first frame).
        window_length (`int`, defaults to 14): the models' sequence length.

    Returns:
        `DubbingPlan`: covers every input frame exactly once through the windows' output positions.

    Examples:

    ```py
    >>> plan = plan_dubbing(100)
    >>> plan.keyframes  # the last keyframe (104) holds frame 99
    (0, 13, 26, 39, 52, 65, 78, 91, 104)
    >>> [(w.start, w.output_start, w.output_stop) for w in plan.windows][-2:]
    [(78, 79, 92), (91, 92, 100)]
    ```
    """
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise InvalidParameterError(f"a clip needs at least 1 frame, got num_frames={num_frames!r}")
    if isinstance(window_length, bool) or not isinstance(window_length, int) or window_length < 2:
        raise InvalidParameterError(f"window_length must be an integer of at least 2, got {window_length!r}")
    if not isinstance(identity_index, int) or not 0 <= identity_index < num_frames:
        raise InvalidParameterError(
            f"identity frame {identity_index!r} is outside the clip's frames 0..{num_frames - 1}; "
            "pick a frame index inside the clip"
        )
    spacing = window_length - 1
    num_windows = max(1, -(-(num_frames - 1) // spacing))
    windows = [
        InterpolationWindow(
            index=w,
            start=w * spacing,
            window_length=window_length,
            # The first window also provides frame 0; later ones start after their shared first keyframe.
            output_start=0 if w == 0 else w * spacing + 1,
            output_stop=min(w * spacing + window_length, num_frames),
        )
        for w in range(num_windows)
    ]
    keyframes = [k * spacing for k in range(num_windows + 1)]
    batches = []
    for b in range(-(-len(keyframes) // spacing)):
        batch_keyframes = tuple(keyframes[b * spacing : (b + 1) * spacing])
        padding = (batch_keyframes[-1],) * (spacing - len(batch_keyframes))
        # Keyframe k closes window k - 1; keyframe 0 closes none.
        batch_windows = tuple(windows[k // spacing - 1] for k in batch_keyframes if k > 0)
        batches.append(
            KeyframeBatch(
                index=b,
                slots=(identity_index, *batch_keyframes, *padding),
                keyframes=batch_keyframes,
                windows=batch_windows,
            )
        )
    return DubbingPlan(
        num_frames=num_frames,
        grid_length=num_windows * spacing + 1,
        window_length=window_length,
        identity_index=identity_index,
        batches=tuple(batches),
    )


@dataclass(frozen=True)
class RoundItem:
    """One keyframe batch of one clip, in a generation round.

    Args:
        clip (`int`): the clip's index among the plans given to `plan_rounds`.
        batch (`KeyframeBatch`): the batch, with the windows it closes.
    """

    clip: int
    batch: KeyframeBatch


def plan_rounds(
    plans: Sequence[DubbingPlan], batches_per_round: int, starts: Sequence[int] | None = None
) -> tuple[tuple[RoundItem, ...], ...]:
    """Group the keyframe batches of several clips into generation rounds.

    The batches are taken in generation order (every batch of the first clip, then of the next) and cut into rounds
    of at most `batches_per_round`, so a round may end one clip and start the next. A round's windows need only the
    keyframes of its own batches and the last keyframe each clip had before, which is what makes rounds possible.

    With `starts`, the batches are taken in time order instead (by the last frame each closes, clip order breaking
    ties; every clip's own batches stay in order): clips that play at the same time (two faces of one shot) are
    generated side by side, so their frames come out together.

    Args:
        plans (`Sequence[DubbingPlan]`): one plan per clip, at least one.
        batches_per_round (`int`): keyframe batches sampled together (1 is the official one batch at a time).
        starts (`Sequence[int] | None`): each clip's first frame on a clock common to all clips.

    Returns:
        `tuple[tuple[RoundItem, ...], ...]`: the rounds, in order; every batch of every plan is in exactly one.

    Examples:

    ```py
    >>> rounds = plan_rounds([plan_dubbing(400), plan_dubbing(50)], batches_per_round=2)
    >>> [[(item.clip, item.batch.index) for item in round] for round in rounds]
    [[(0, 0), (0, 1)], [(0, 2), (1, 0)]]
    ```
    """
    if isinstance(batches_per_round, bool) or not isinstance(batches_per_round, int) or batches_per_round < 1:
        raise InvalidParameterError(f"batches_per_round must be a positive integer, got {batches_per_round!r}")
    if not plans:
        raise InvalidParameterError("plan_rounds needs at least one clip's plan")
    items = [RoundItem(clip, batch) for clip, plan in enumerate(plans) for batch in plan.batches]
    if starts is not None:
        if len(starts) != len(plans):
            raise InvalidParameterError(f"plan_rounds got {len(starts)} starts for {len(plans)} clips")
        items.sort(key=lambda item: (starts[item.clip] + item.batch.keyframes[-1], item.clip))
    return tuple(tuple(items[i : i + batches_per_round]) for i in range(0, len(items), batches_per_round))

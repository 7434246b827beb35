"""One exception family for everything Keydub raises on purpose.

Each class is named after the situation; each message says what was found, what was expected and what to do.
The CLI prints `Error: <message>` without a traceback for any `KeydubError` (set KEYDUB_DEBUG=1 to see it).
"""


class KeydubError(Exception):
    """Base class of every error Keydub raises for the user to act on."""


# Input media -------------------------------------------------------------------------------------------------
class MediaNotFoundError(KeydubError, FileNotFoundError):
    """A media file named by the user does not exist."""


class UnsupportedMediaError(KeydubError):
    """The file exists but cannot be used: not a video, corrupt, truncated, zero frames, VFR, ..."""


class NoAudioStreamError(UnsupportedMediaError):
    """Audio was needed from a file that has no audio stream."""


class AudioError(KeydubError):
    """Dub audio is missing, empty, unreadable or does not fit the picture."""


class OutputExistsError(KeydubError, FileExistsError):
    """The output path already exists and overwriting was not asked for."""


class OutputNotWritableError(KeydubError):
    """The output folder does not exist or cannot be written."""


# Faces -------------------------------------------------------------------------------------------------------
class NoFaceFoundError(KeydubError):
    """No usable face was found where one is needed."""


class LandmarkBackendError(KeydubError):
    """A landmark backend is not installed or its weights are not available."""


class RecognitionBackendError(LandmarkBackendError):
    """A face-recognition backend (or its weights) is missing, or it was handed a face it cannot embed."""


class OcclusionBackendError(KeydubError):
    """SAM2, which segments occluders, is not installed (the `keydub[occlusion]` extra)."""


# Model and weights -------------------------------------------------------------------------------------------
class WeightsNotFoundError(KeydubError):
    """A model component's weights are neither in a local folder nor in the Hugging Face cache."""


class CheckpointConversionError(KeydubError):
    """An official checkpoint does not match the expected layout (missing, extra or misshapen tensors)."""


class InvalidParameterError(KeydubError, ValueError):
    """A parameter (CLI option, config value, prompt) has a value Keydub cannot use."""


# Editor side -------------------------------------------------------------------------------------------------
class TimelineError(KeydubError):
    """A timeline cannot be read or does not contain what was asked for."""


class JobStoreError(KeydubError):
    """The job store of an output folder is damaged, busy or from a newer Keydub."""


class RenderInterruptedError(KeydubError):
    """The user stopped a render; no partial output was left behind."""


class DeviceNotAvailableError(InvalidParameterError):
    """A device was asked for that this machine does not have (no CUDA, an index past the GPU count, ...)."""


# Provenance and consent ---------------------------------------------------------------------------------------
class ProvenanceError(KeydubError):
    """Content Credentials cannot be made or do not hold: no usable signing identity, no manifest, a broken one."""


class CredentialMismatchError(ProvenanceError):
    """A file's Content Credentials are intact but no longer describe it: its bytes changed after signing."""


class ConsentMissingError(KeydubError):
    """A shot was refused because consent was required and its character has no consent reference."""

"""Sign a finished render: its manifest embedded in the file, or in a sidecar `.c2pa` beside it.

`sign_output(output, facts)` is what the render path calls once its output has been renamed into place:

- containers c2pa embeds in (QuickTime .mov and MP4: ProRes, H.264) get the manifest as a `uuid` box. c2pa copies
  the file into a hidden partial file beside it, adding the box and moving the sample tables' offsets past it, and
  the partial file is renamed over the output: the encoded video and audio packets are the same bytes, nothing is
  decoded or encoded again.
- other containers (Matroska: FFV1, or ProRes/H.264 in .mkv) are left untouched; the manifest goes to
  `<name>.c2pa` beside the output, bound to the output by a `c2pa.hash.data` assertion, which is the SHA-256 of the
  whole file.

Either way the cost is reading the output once (and writing it once when embedding), plus reading the source and
dub for their ingredients; `SignedOutput.seconds` says how long it took.
"""

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import c2pa

from keydub.core.errors import ProvenanceError
from keydub.core.files import claim_partial, write_bytes_atomically
from keydub.core.provenance.container import c2pa_context, is_embeddable, media_type, sidecar_path
from keydub.core.provenance.facts import InputFile, RenderFacts
from keydub.core.provenance.identity import SigningIdentity, signing_identity
from keydub.core.provenance.manifest import (
    SOURCE_INGREDIENT,
    dub_ingredients,
    ingredient_definition,
    manifest_definition,
)


@dataclass(frozen=True)
class SignedOutput:
    """What signing an output did.

    Args:
        output (`Path`): the signed file.
        manifest_id (`str`): the manifest's label, `urn:c2pa:<uuid>`.
        signer (`str`): who signed, in words (`SigningIdentity.label`).
        is_local_identity (`bool`): signed with Keydub's local identity, which no validator trusts.
        sidecar (`Path | None`): the `.c2pa` file holding the manifest, for a container it is not embedded in.
        seconds (`float`): wall-clock time of the signing.
    """

    output: Path
    manifest_id: str
    signer: str
    is_local_identity: bool
    sidecar: Path | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "manifest_id": self.manifest_id,
            "signer": self.signer,
            "is_local_identity": self.is_local_identity,
            "sidecar": None if self.sidecar is None else str(self.sidecar),
            "seconds": round(self.seconds, 3),
        }


def sign_output(output: Path, facts: RenderFacts, identity: SigningIdentity | None = None) -> SignedOutput:
    """Give a finished render its Content Credentials.

    Args:
        output (`Path`): the written render (renamed into place: nothing else writes it any more).
        facts (`RenderFacts`): what the render did.
        identity (`SigningIdentity | None`): who signs; `signing_identity()` when `None`.

    Returns:
        `SignedOutput`.

    Raises:
        `ProvenanceError`: no usable signing identity (see `signing_identity`), or c2pa could not sign the file
            (an embedding failure leaves `output` as it was).
    """
    began = time.perf_counter()
    output = Path(output)
    identity = identity or signing_identity()
    kind = media_type(output)
    manifest_id = f"urn:c2pa:{uuid.uuid4()}"
    definition = manifest_definition(facts, manifest_id=manifest_id, title=output.name, media_type=kind)
    builder = c2pa.Builder(definition, c2pa_context())
    _add_ingredient(builder, SOURCE_INGREDIENT, facts.source)
    for label, dub in zip(dub_ingredients(len(facts.dubs)), facts.dubs, strict=True):
        _add_ingredient(builder, label, dub)
    sidecar = None if is_embeddable(output) else sidecar_path(output)
    try:
        with identity.signer() as signer:
            if sidecar is None:
                _embed(builder, signer, output, kind)
            else:
                write_bytes_atomically(sidecar, _detached_manifest(builder, signer, output, kind))
    except c2pa.C2paError as error:
        raise ProvenanceError(
            f"c2pa could not sign {output} ({' '.join(str(error).split())})); the render itself is complete but "
            "carries no Content Credentials"
        ) from error
    return SignedOutput(output, manifest_id, identity.label, identity.is_local, sidecar, time.perf_counter() - began)


def _add_ingredient(builder: c2pa.Builder, role: str, file: InputFile) -> None:
    """Add an input as an ingredient read from its bytes, so a source that carries Content Credentials of its own
    (a camera's, an earlier render's) keeps them in the chain."""
    kind = media_type(file.path)
    with open(file.path, "rb") as stream:
        builder.add_ingredient(ingredient_definition(role, file, kind), kind, stream)


def _embed(builder: c2pa.Builder, signer: c2pa.Signer, output: Path, kind: str) -> None:
    """Write `output` with the manifest embedded into its partial file, then rename it over `output`."""
    with open(output, "rb") as source, claim_partial(output) as partial:
        # A handle that reads and seeks as well as writes, as c2pa's own `sign_file` opens its destination.
        with open(partial.path, "r+b") as target:
            builder.sign(signer, kind, source, target)
        partial.commit()


def _detached_manifest(builder: c2pa.Builder, signer: c2pa.Signer, output: Path, kind: str) -> bytes:
    """The manifest store of `output` bound by the hash of all its bytes, for a sidecar; `output` is only read."""
    builder.set_no_embed()
    with open(output, "rb") as source:
        return builder.sign(signer, kind, source, _Discard())


class _Discard:
    """A writable stream that keeps nothing: c2pa copies the asset to its destination even when it embeds no
    manifest, and a render's output is too large to copy into memory for nothing."""

    def __init__(self) -> None:
        self._position = 0
        self._size = 0

    def write(self, data: bytes) -> int:
        self._position += len(data)
        self._size = max(self._size, self._position)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._position, 2: self._size}[whence]
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

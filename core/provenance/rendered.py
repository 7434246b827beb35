"""The last step of every render: its Content Credentials and its line in the output folder's usage record.

`disclose_render(request, report)` is what the render path calls once the output is written and its report built.
It signs the output (unless the request's `provenance` option is off), appends one line to the usage record of
the folder the render goes to, and adds to the report what it did (`report["provenance"]`) and what it cost
(`report["timings_seconds"]`: `"hash weights"`, `"sign"` and `"usage record"`, beside the render's own stages; the
weights' hashes are cached, so only the first render after the weights change reads them).

Signing never decodes or encodes a frame (see `keydub.core.provenance.signing`); a batch that renders into a
staging folder names where the render will be placed (`RenderRequest.placed_as`), so the record goes to that folder
and the sidecar travels with the render.
"""

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keydub.core.disclosure import DISCLOSURE_LABEL
from keydub.core.errors import ProvenanceError
from keydub.core.provenance.container import credential_files
from keydub.core.provenance.facts import DubbedFace, RenderFacts, weight_file_hashes
from keydub.core.provenance.signing import SignedOutput, sign_output
from keydub.core.provenance.usage import UsageRecord, append_usage_record


if TYPE_CHECKING:
    from keydub.core.render.request import RenderRequest


def disclose_render(
    request: "RenderRequest", report: dict[str, Any], weight_sources: Sequence[str | os.PathLike | None] | None
) -> dict[str, Any]:
    """Sign a finished render and record it in its folder's usage record; returns `report` with both added.

    Args:
        request (`RenderRequest`): the render's request (its output written and complete).
        report (`dict`): the render's JSON report (`build_report`), completed in place.
        weight_sources (`Sequence | None`): the `(weights, vae, hubert, wavlm)` the pipeline was loaded from
            (`KeySyncPipeline.weight_sources`), whose files are named by their hashes; `None` for a pipeline built
            in memory, which ran no weight file.

    Returns:
        `dict`: `report`, with `report["provenance"]`: `label`, `signed` (bool), `manifest_id`, `signer`,
        `is_local_identity`, `sidecar` (`None` when embedded or unsigned) and `usage_record` (the file appended to).

    Raises:
        `ProvenanceError`: the output could not be signed; it is removed (a render asked to carry its disclosure
            is never left without it, where a batch would place it) and nothing is recorded.
            `OutputNotWritableError`: the usage record cannot be written.
    """
    timings = report.setdefault("timings_seconds", {})
    began = time.perf_counter()
    weights = {} if weight_sources is None else weight_file_hashes(*weight_sources)
    timings["hash weights"] = round(time.perf_counter() - began, 3)
    facts = RenderFacts.from_report(report, weights=weights, faces=dubbed_faces(report))
    signed = _signed(Path(request.output), facts) if request.options.provenance else None
    if signed is not None:
        timings["sign"] = round(signed.seconds, 3)
    else:
        # A sidecar an earlier render of this name left (replaced with `overwrite`) would claim to describe this one.
        for stale in credential_files(Path(request.output)):
            stale.unlink(missing_ok=True)
    began = time.perf_counter()
    placed = Path(request.placed_as or request.output).absolute()
    log = append_usage_record(placed.parent, UsageRecord.for_render(placed, facts, signed))
    timings["usage record"] = round(time.perf_counter() - began, 3)
    report["provenance"] = provenance_section(signed, log)
    return report


def dubbed_faces(report: dict[str, Any]) -> tuple[DubbedFace, ...]:
    """The faces a render regenerated (its report's speakers, the active speaker's included), with their characters
    and consent references (empty text: none)."""
    return tuple(
        DubbedFace(speaker["name"] or None, speaker["consent"].strip() or None, dict(speaker["face"]))
        for speaker in report.get("speakers", ())
    )


def _signed(output: Path, facts: RenderFacts) -> SignedOutput:
    """`sign_output`, removing the render when it cannot be signed."""
    try:
        return sign_output(output, facts)
    except ProvenanceError as error:
        output.unlink(missing_ok=True)
        raise ProvenanceError(
            f"{error}; the render {output.name} was removed so that no copy goes without its Content Credentials "
            "(render again, or with --no-provenance)"
        ) from error


def provenance_section(signed: SignedOutput | None, usage_record: Path) -> dict[str, Any]:
    """The report's `provenance`: the label every render carries, and its credentials when it was signed."""
    return {
        "label": DISCLOSURE_LABEL,
        "signed": signed is not None,
        "manifest_id": None if signed is None else signed.manifest_id,
        "signer": None if signed is None else signed.signer,
        "is_local_identity": None if signed is None else signed.is_local_identity,
        "sidecar": None if signed is None or signed.sidecar is None else str(signed.sidecar),
        "usage_record": str(usage_record),
    }

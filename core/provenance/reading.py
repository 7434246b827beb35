"""Read and check a file's Content Credentials with c2pa's own `Reader`: what they say, whether they validate, and
whether they still describe this file's bytes.

`read_credential(path)` reports; `verify_credential(path)` raises, with one line, when the credentials do not hold:
`CredentialMismatchError` when the file's bytes no longer match the hash its manifest binds (a pixel, a sample or
any other byte changed after signing), `ProvenanceError` for anything else (no credentials, a broken signature).

Trust is a separate question from validity. c2pa calls credentials "Valid" when the signature and every hash check
out, and "Trusted" when, besides, the signing certificate chains to a trust anchor the reader was given. Keydub's
local identity is never trusted; a studio's own certificate is trusted wherever its CA is given as an anchor
(`trust_anchors`).
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import c2pa

from keydub.core.errors import CredentialMismatchError, MediaNotFoundError, ProvenanceError
from keydub.core.provenance.container import c2pa_context, is_embeddable, media_type, sidecar_path
from keydub.core.provenance.identity import LOCAL_LABEL, LOCAL_ORGANISATION
from keydub.core.provenance.manifest import RENDER_ASSERTION, SHA256_KEY


# c2pa validation codes (C2PA 2.x) that say whether the bytes still match the hard binding, by kind of binding.
HASH_MATCH_CODES = frozenset({"assertion.dataHash.match", "assertion.bmffHash.match", "assertion.boxesHash.match"})
HASH_MISMATCH_CODES = frozenset(
    {"assertion.dataHash.mismatch", "assertion.bmffHash.mismatch", "assertion.boxesHash.mismatch"}
)
UNTRUSTED_CODE = "signingCredential.untrusted"
TRUSTED_STATE = "Trusted"


@dataclass(frozen=True)
class CredentialReport:
    """What a file's active manifest says and how it validates.

    Args:
        path (`Path`): the file read.
        manifest_id (`str`): the active manifest's label.
        sidecar (`Path | None`): the sidecar the manifest was read from; `None` when embedded.
        state (`str`): c2pa's validation state: `"Invalid"`, `"Valid"` or `"Trusted"`.
        binds_file (`bool`): the manifest's hard binding matches this file's bytes.
        signer (`str`), issuer (`str`): the signing certificate's common name and its issuer's organisation.
        signed_at (`str | None`): the signing time, when the signature carries one.
        is_local_identity (`bool`): signed by a Keydub local identity.
        failures (`tuple[tuple[str, str], ...]`): c2pa's failure codes with their explanations.
        manifest (`dict`): the active manifest as c2pa's `Reader` returns it.
    """

    path: Path
    manifest_id: str
    sidecar: Path | None
    state: str
    binds_file: bool
    signer: str
    issuer: str
    signed_at: str | None
    is_local_identity: bool
    failures: tuple[tuple[str, str], ...]
    manifest: dict[str, Any] = field(repr=False)

    @property
    def is_trusted(self) -> bool:
        return self.state == TRUSTED_STATE

    @property
    def trust_label(self) -> str:
        """The signer's standing, in words (never claims more than c2pa established)."""
        if self.is_trusted:
            return "trusted: the signing certificate chains to a given trust anchor"
        if self.is_local_identity:
            return f"untrusted: {LOCAL_LABEL}"
        return "untrusted: the signing certificate chains to no trust anchor given"

    def problems(self, *, require_trust: bool = False) -> list[tuple[str, str]]:
        """The failures that make the credentials not hold (an untrusted signer only when `require_trust`)."""
        return [(code, text) for code, text in self.failures if require_trust or code != UNTRUSTED_CODE]

    def actions(self) -> list[dict[str, Any]]:
        """The manifest's actions, in order."""
        return [
            action
            for assertion in self.manifest.get("assertions", [])
            if assertion.get("label", "").startswith("c2pa.actions")
            for action in assertion.get("data", {}).get("actions", [])
        ]

    def ingredients(self) -> list[dict[str, Any]]:
        """Each ingredient's title, relationship, format and the SHA-256 Keydub stated for it (`None` if none)."""
        return [
            {
                "title": ingredient.get("title"),
                "relationship": ingredient.get("relationship"),
                "format": ingredient.get("format"),
                "sha256": (ingredient.get("metadata") or {}).get(SHA256_KEY),
            }
            for ingredient in self.manifest.get("ingredients", [])
        ]

    def render(self) -> dict[str, Any] | None:
        """Keydub's own assertion (model, weights, sampler, frames), or `None` for a file Keydub did not sign."""
        return next(
            (a.get("data") for a in self.manifest.get("assertions", []) if a.get("label") == RENDER_ASSERTION), None
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "manifest_id": self.manifest_id,
            "sidecar": None if self.sidecar is None else str(self.sidecar),
            "state": self.state,
            "binds_file": self.binds_file,
            "signer": self.signer,
            "issuer": self.issuer,
            "signed_at": self.signed_at,
            "trust": self.trust_label,
            "failures": [{"code": code, "explanation": text} for code, text in self.failures],
            "claim_generator": self.manifest.get("claim_generator_info", []),
            "actions": self.actions(),
            "ingredients": self.ingredients(),
            "render": self.render(),
        }


def read_credential(path: Path, trust_anchors: Path | None = None) -> CredentialReport:
    """Read and validate the Content Credentials of `path`: embedded, else from its `.c2pa` sidecar.

    Args:
        path (`Path`): a signed file.
        trust_anchors (`Path | None`): PEM certificates to trust (a studio's CA); without them no signer is trusted.

    Raises:
        `MediaNotFoundError`: `path` does not exist.
        `ProvenanceError`: the file carries no Content Credentials, or c2pa cannot read them.
    """
    path = Path(path)
    if not path.is_file():
        raise MediaNotFoundError(f"{path} does not exist; name a file Keydub rendered")
    anchors = _read_anchors(trust_anchors)
    sidecar = sidecar_path(path)
    kind = media_type(path)
    try:
        with open(path, "rb") as stream:
            found = c2pa.Reader.try_create(kind, stream, None, c2pa_context(anchors)) if is_embeddable(path) else None
            if found is not None:
                sidecar = None
            elif sidecar.is_file():
                found = c2pa.Reader(kind, stream, sidecar.read_bytes(), c2pa_context(anchors))
            else:
                raise ProvenanceError(
                    f"{path} carries no Content Credentials: no manifest inside it and no {sidecar.name} beside it "
                    "(rendered with provenance off, or exported again by another program?)"
                )
            with found as reader:
                return _report(path, sidecar, json.loads(reader.json()))
    except c2pa.C2paError as error:
        where = path if sidecar is None else sidecar
        raise ProvenanceError(
            f"the Content Credentials of {where} cannot be read ({' '.join(str(error).split())}); they are damaged"
        ) from error


def verify_credential(path: Path, trust_anchors: Path | None = None) -> CredentialReport:
    """`read_credential`, raising when the credentials do not hold for this file.

    Raises:
        `CredentialMismatchError`: the file's bytes changed after signing.
        `ProvenanceError`: no credentials, a failed validation, or (with `trust_anchors`) an untrusted signer.
    """
    report = read_credential(path, trust_anchors)
    problems = report.problems(require_trust=trust_anchors is not None)
    mismatched = [code for code, _ in problems if code in HASH_MISMATCH_CODES]
    if mismatched:
        raise CredentialMismatchError(
            f"{path} changed after it was signed: its bytes no longer match the hash its Content Credentials bind "
            f"({mismatched[0]}, manifest {report.manifest_id}); it is not the file that was signed"
        )
    if problems:
        code, text = problems[0]
        raise ProvenanceError(f"the Content Credentials of {path} do not validate: {code} ({text})")
    if not report.binds_file:
        raise ProvenanceError(f"the Content Credentials of {path} bind no hash of the file; they prove nothing")
    return report


def _read_anchors(trust_anchors: Path | None) -> str | None:
    if trust_anchors is None:
        return None
    try:
        text = Path(trust_anchors).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise ProvenanceError(f"cannot read the trust anchors {trust_anchors} ({error}); pass a PEM file") from error
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise ProvenanceError(f"{trust_anchors} holds no PEM certificate; pass the trusted CA certificates as PEM")
    return text


def _report(path: Path, sidecar: Path | None, store: dict[str, Any]) -> CredentialReport:
    """A `CredentialReport` from the manifest store JSON of c2pa's `Reader`."""
    manifest_id = store["active_manifest"]
    manifest = store["manifests"][manifest_id]
    results = (store.get("validation_results") or {}).get("activeManifest") or {}
    successes = {item["code"] for item in results.get("success", [])}
    failures = tuple((item["code"], item.get("explanation", "")) for item in results.get("failure", []))
    signature = manifest.get("signature_info") or {}
    failed_codes = {code for code, _ in failures}
    return CredentialReport(
        path=path,
        manifest_id=manifest_id,
        sidecar=sidecar,
        state=store.get("validation_state", "Invalid"),
        binds_file=bool(successes & HASH_MATCH_CODES) and not failed_codes & HASH_MISMATCH_CODES,
        signer=signature.get("common_name", ""),
        issuer=signature.get("issuer", ""),
        signed_at=signature.get("time"),
        is_local_identity=signature.get("issuer") == LOCAL_ORGANISATION,
        failures=failures,
        manifest=manifest,
    )

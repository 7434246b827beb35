"""Provenance and disclosure: every render's signed Content Credentials (C2PA), and the output folder's consent and
usage record.

- `facts`: `RenderFacts`, what a render did, as plain data the render path fills; `weight_file_hashes`.
- `manifest`: the C2PA manifest definition made from the facts; `DISCLOSURE_LABEL`.
- `identity`: who signs: the configured certificate and key, or a local identity made on first use.
- `container`: embedded or sidecar, by container; the offline c2pa settings.
- `signing`: `sign_output`, called on a finished output.
- `reading`: `read_credential` and `verify_credential`, through c2pa's own `Reader`.
- `usage`: `append_usage_record`, one durable JSON line per render; `require_consent`.
- `rendered`: `disclose_render`, the render path's last step: signing and the usage record line.

No Qt, OTIO or Resolve here: the render path, the batch and the panel call these functions.
"""

from keydub.core.provenance.container import credential_files, sidecar_path
from keydub.core.provenance.facts import DubbedFace, InputFile, RenderFacts, weight_file_hashes
from keydub.core.provenance.identity import (
    SigningIdentity,
    configure_identity,
    local_identity,
    signing_identity,
    use_local_identity,
)
from keydub.core.provenance.manifest import DISCLOSURE_LABEL
from keydub.core.provenance.reading import CredentialReport, read_credential, verify_credential
from keydub.core.provenance.rendered import disclose_render
from keydub.core.provenance.signing import SignedOutput, sign_output
from keydub.core.provenance.usage import (
    UsageRecord,
    append_usage_record,
    read_usage_records,
    require_consent,
    usage_log_path,
)


__all__ = [
    "DISCLOSURE_LABEL",
    "CredentialReport",
    "DubbedFace",
    "InputFile",
    "RenderFacts",
    "SignedOutput",
    "SigningIdentity",
    "UsageRecord",
    "append_usage_record",
    "configure_identity",
    "credential_files",
    "disclose_render",
    "local_identity",
    "read_credential",
    "read_usage_records",
    "require_consent",
    "sidecar_path",
    "sign_output",
    "signing_identity",
    "use_local_identity",
    "usage_log_path",
    "verify_credential",
    "weight_file_hashes",
]

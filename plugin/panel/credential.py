"""The line the panel shows under the queue for the selected finished render: its Content Credentials in words.

Reading them validates the whole file through c2pa (it hashes every byte), which takes a moment on a long render:
the panel calls `credential_line` on a worker thread, never on the UI thread.
"""

from pathlib import Path

from keydub.core.errors import KeydubError
from keydub.core.provenance import read_credential


def credential_line(path: Path) -> str:
    """One line on the Content Credentials of the render `path`: who signed, whether a validator trusts the signer,
    and whether they validate and still bind this file's bytes.

    e.g. `"Content Credentials: signed by Keydub local identity (untrusted: local Keydub identity, not trusted by
    validators); valid and bound to this file"`; for a render with provenance off, `"Content Credentials: none: ..."`.
    """
    try:
        report = read_credential(path)
    except KeydubError as error:
        return f"Content Credentials: none: {error}"
    problems = report.problems()
    if problems:
        code, _ = problems[0]
        validity = f"NOT valid ({code})" + ("; this file changed after signing" if not report.binds_file else "")
    else:
        validity = "valid and bound to this file"
    return f"Content Credentials: signed by {report.signer} ({report.trust_label}); {validity}"

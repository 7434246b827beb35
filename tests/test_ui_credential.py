"""The queue dock shows the Content Credentials of the finished render selected, read off the UI thread: who signed,
whether a validator trusts the signer, whether they validate; and says so when a render carries none."""

import hashlib
import os
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from media_fixtures import make_test_clip
from test_render import write_wav

from keydub.core.provenance import InputFile, RenderFacts, local_identity, sign_output
from keydub.plugin.output_folder import OutputFolder
from keydub.plugin.panel.controller import PanelController
from keydub.plugin.panel.queue import QueueController
from keydub.plugin.store import JobStore


FRAMES = 12
SCREENSHOTS = os.environ.get("KEYDUB_SCREENSHOTS")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def finished(tmp_path):
    """Two finished jobs in an output folder's store: one render signed, one with provenance off."""
    clip = make_test_clip(tmp_path / "shot.mov", codec="prores", frame_count=FRAMES, frame_rate=Fraction(25))
    dub = write_wav(tmp_path / "dub.wav", FRAMES / 25)
    folder = tmp_path / "renders"
    controller = PanelController(render_options={"codec": "prores"}, handles=0)
    controller.open_video(clip, dub, folder)
    job = controller.job(controller.current_id)
    signed_job, unsigned_job = replace(job, name="sh010 signed"), replace(job, job_id=f"{job.job_id}-b", name="b")
    OutputFolder(folder).prepare()
    signed, unsigned = folder / "sh010_signed.mov", folder / "sh010_off.mov"
    for output in (signed, unsigned):
        output.write_bytes(clip.read_bytes())  # stands for a render: the credentials are what is shown
    facts = RenderFacts(
        source=InputFile(clip, sha256(clip)),
        dubs=(InputFile(dub, sha256(dub)),),
        frames=(0, FRAMES),
        frame_rate=Fraction(25),
        regenerated=((0, FRAMES),),
        passed_through=(),
    )
    chain = x509.load_pem_x509_certificates(local_identity().certificate_chain.read_bytes())
    signer = chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    sign_output(signed, facts, local_identity())
    with JobStore(OutputFolder(folder).store_path) as store:
        for ready, output in ((signed_job, signed), (unsigned_job, unsigned)):
            store.mark_done(ready.job_id, ready.name, ready.content_hash(), ready.to_dict(), output, {})
    return folder, signed_job, unsigned_job, signer


def test_the_selected_render_shows_its_credentials_and_a_render_without_says_none(qtbot, finished, tmp_path):
    from keydub.ui.queue import QueuePanel

    folder, signed_job, unsigned_job, signer = finished
    queue = QueueController(folder, device="cpu")
    panel = QueuePanel(queue, auto_start=False)
    qtbot.addWidget(panel)
    panel.resize(900, 320)
    panel.show()
    qtbot.waitUntil(lambda: len(panel.model.rows) == 2, timeout=10000)
    label = panel.credential_label
    assert not label.isVisible()  # nothing selected

    panel.select_jobs([signed_job.job_id])
    qtbot.waitUntil(lambda: "signed by" in label.text(), timeout=20000)
    assert label.isVisible()
    assert label.text() == (
        f"Content Credentials: signed by {signer} (untrusted: local Keydub identity, not trusted by validators); "
        "valid and bound to this file"
    )
    if SCREENSHOTS:
        panel.grab().save(str(Path(SCREENSHOTS) / "queue_credential.png"))

    panel.select_jobs([unsigned_job.job_id])
    qtbot.waitUntil(lambda: label.text().startswith("Content Credentials: none: "), timeout=20000)
    assert "carries no Content Credentials" in label.text()
    panel.select_jobs([signed_job.job_id, unsigned_job.job_id])
    assert not label.isVisible()  # several selected: no one render's credentials
    panel.shutdown()

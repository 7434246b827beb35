"""Who signs: the local identity (made once, reused, its key 0600, labelled untrusted) and a configured studio
certificate (checked by `keydub provenance setup` the way c2pa will use it, trusted where its CA is an anchor)."""

import datetime
import hashlib
import os
import stat
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from bad_input import run_cli
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from media_fixtures import make_test_clip

from keydub.core.errors import ProvenanceError
from keydub.core.provenance import (
    InputFile,
    RenderFacts,
    local_identity,
    read_credential,
    sign_output,
    signing_identity,
)
from keydub.core.provenance.identity import LOCAL_FOLDER, LOCAL_ORGANISATION, SETTINGS_FILE


@pytest.fixture(autouse=True)
def provenance_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "provenance"
    monkeypatch.setenv("KEYDUB_PROVENANCE_DIR", str(folder))
    return folder


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def facts_for(clip: Path, dub: Path) -> RenderFacts:
    """The facts of a 6-frame render of `clip` whose every frame was regenerated."""
    return RenderFacts(
        source=InputFile(clip, hashlib.sha256(clip.read_bytes()).hexdigest()),
        dubs=(InputFile(dub, hashlib.sha256(dub.read_bytes()).hexdigest()),),
        frames=(0, 6),
        frame_rate=Fraction(25),
        regenerated=((0, 6),),
        passed_through=(),
    )


@pytest.fixture
def signed_clip(tmp_path) -> tuple[Path, RenderFacts]:
    """A small ProRes .mov standing in for a render, and the facts to sign it with (its own frames as the source)."""
    clip = make_test_clip(tmp_path / "render.mov", codec="prores", frame_count=6)
    source = make_test_clip(tmp_path / "source.mov", codec="prores", frame_count=6, frames="noise")
    return clip, facts_for(source, source)


# The local identity ------------------------------------------------------------------------------------------
def test_local_identity_is_made_once_with_a_private_key_and_reused(provenance_dir):
    first = local_identity()
    key_bytes, chain_bytes = first.private_key.read_bytes(), first.certificate_chain.read_bytes()
    made_at = first.private_key.stat().st_mtime_ns

    second = signing_identity()  # nothing configured: the local identity

    assert second == first and second.is_local
    assert second.private_key.read_bytes() == key_bytes and second.certificate_chain.read_bytes() == chain_bytes
    assert second.private_key.stat().st_mtime_ns == made_at
    assert mode(first.private_key) == 0o600
    assert mode(provenance_dir) == mode(provenance_dir / LOCAL_FOLDER) == 0o700
    leaf, ca = x509.load_pem_x509_certificates(chain_bytes)
    # c2pa refuses a self-signed signing certificate: the leaf is issued by a CA made for it.
    assert leaf.issuer == ca.subject != leaf.subject
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == LOCAL_ORGANISATION
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # Only the leaf's key is kept: the CA's was never written, so nothing else can be issued in its name.
    assert sorted(path.name for path in (provenance_dir / LOCAL_FOLDER).iterdir()) == [".lock", "chain.pem", "key.pem"]


def test_processes_asking_at_once_share_one_local_identity(provenance_dir):
    code = "from keydub.core.provenance import local_identity; print(local_identity().certificate_chain.read_text())"
    processes = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
        for _ in range(4)
    ]
    chains = {process.communicate(timeout=120)[0].removesuffix("\n") for process in processes}

    assert all(process.returncode == 0 for process in processes)
    assert chains == {(provenance_dir / LOCAL_FOLDER / "chain.pem").read_text()}


def test_a_local_key_others_can_read_is_refused(provenance_dir):
    key = local_identity().private_key
    key.chmod(0o644)

    with pytest.raises(ProvenanceError, match=rf"^the private key {key} has mode 0644: .*; run chmod 600 {key}$"):
        signing_identity()


def test_a_local_key_that_no_longer_matches_its_certificate_is_made_again(provenance_dir):
    first = local_identity()
    # As a process killed between writing the new key and the new chain would leave it.
    first.private_key.write_bytes(_pem_key(ec.generate_private_key(ec.SECP256R1())))

    again = local_identity()

    assert again.certificate_chain.read_bytes() != b"" and mode(again.private_key) == 0o600
    leaf = x509.load_pem_x509_certificates(again.certificate_chain.read_bytes())[0]
    key = serialization.load_pem_private_key(again.private_key.read_bytes(), None)
    assert _public(leaf.public_key()) == _public(key.public_key())


def test_show_labels_a_render_signed_by_the_local_identity_untrusted(signed_clip, capsys):
    clip, facts = signed_clip
    sign_output(clip, facts)

    report = read_credential(clip)
    outcome = run_cli(["provenance", "show", clip], capsys)

    assert report.state == "Valid" and report.binds_file and report.is_local_identity and not report.is_trusted
    assert report.trust_label == "untrusted: local Keydub identity, not trusted by validators"
    assert f"({report.trust_label})" in outcome.stdout


# A configured certificate ------------------------------------------------------------------------------------
def _pem_key(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _public(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class StudioCA:
    """A CA of a studio, and leaf certificates it issues (or a leaf signing itself)."""

    def __init__(self, name: str = "Studio CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.certificate = (
            self._builder(self.name, self.name, self.key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(key_cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )

    @staticmethod
    def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.timezone.utc)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=365))
        )

    def issue(self, folder: Path, *, email_protection: bool = True, self_signed: bool = False) -> tuple[Path, Path]:
        """A leaf for "Studio signer" written as `chain.pem` (leaf, then this CA) and `signer.key` (0600)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Studio signer")])
        issuer, signing_key = (subject, key) if self_signed else (self.name, self.key)
        builder = (
            self._builder(subject, issuer, key)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(digital_signature=True), critical=True)
        )
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), critical=False
        )
        if email_protection:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
            )
        leaf = builder.sign(signing_key, hashes.SHA256())
        folder.mkdir(parents=True, exist_ok=True)
        chain, key_file = folder / "chain.pem", folder / "signer.key"
        chain.write_bytes(b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in (leaf, self.certificate)))
        key_file.write_bytes(_pem_key(key))
        key_file.chmod(0o600)
        return chain, key_file

    def write(self, path: Path) -> Path:
        path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        return path


def _usage(*, digital_signature: bool = False, key_cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature, False, False, False, False, key_cert_sign, key_cert_sign, False, False)


def test_setup_configures_a_studio_certificate_trusted_where_its_ca_is_an_anchor(
    signed_clip, provenance_dir, tmp_path, capsys
):
    ca = StudioCA()
    chain, key = ca.issue(tmp_path / "studio")

    outcome = run_cli(["provenance", "setup", "--cert", chain, "--key", key], capsys)

    assert outcome.code == 0, outcome.stderr
    assert outcome.stdout.splitlines()[0] == "renders are signed by: Studio signer (issued by Studio CA)"
    assert (provenance_dir / SETTINGS_FILE).is_file() and not signing_identity().is_local
    clip, facts = signed_clip
    assert sign_output(clip, facts).signer == "Studio signer (issued by Studio CA)"
    untrusted = read_credential(clip)
    assert (untrusted.signer, untrusted.state, untrusted.is_local_identity) == ("Studio signer", "Valid", False)
    assert untrusted.trust_label == "untrusted: the signing certificate chains to no trust anchor given"
    anchors = ca.write(tmp_path / "studio-ca.pem")
    assert read_credential(clip, anchors).state == "Trusted"
    verified = run_cli(["provenance", "verify", clip, "--trust-anchors", anchors], capsys)
    assert verified.code == 0 and "trusted: the signing certificate chains to a given trust anchor" in verified.stdout
    # Against another studio's anchors the same file verifies as valid, but not as trusted.
    other = StudioCA("Other CA").write(tmp_path / "other-ca.pem")
    refused = run_cli(["provenance", "verify", clip, "--trust-anchors", other], capsys)
    assert refused.code == 1 and "signingCredential.untrusted" in refused.stderr

    assert run_cli(["provenance", "setup", "--local"], capsys).code == 0
    assert signing_identity().is_local and not (provenance_dir / SETTINGS_FILE).exists()
    assert chain.is_file() and key.is_file()  # forgetting the pair leaves the user's files alone


def test_setup_refuses_what_c2pa_would_refuse_with_one_line(provenance_dir, tmp_path, capsys):
    ca = StudioCA()
    chain, key = ca.issue(tmp_path / "good")
    self_chain, self_key = ca.issue(tmp_path / "self", self_signed=True)
    no_eku_chain, no_eku_key = ca.issue(tmp_path / "no-eku", email_protection=False)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(_pem_key(ec.generate_private_key(ec.SECP256R1()), b"secret"))
    encrypted.chmod(0o600)
    other_key = tmp_path / "other.key"
    other_key.write_bytes(_pem_key(ec.generate_private_key(ec.SECP256R1())))
    other_key.chmod(0o600)
    shared_key = tmp_path / "shared.key"
    shared_key.write_bytes(key.read_bytes())
    shared_key.chmod(0o640)

    refusals = {
        (self_chain, self_key): "starts with a self-signed certificate, which c2pa refuses to sign with",
        (no_eku_chain, no_eku_key): "c2pa refuses to sign with",
        (chain, encrypted): "is encrypted; c2pa signs with an unencrypted PEM key",
        (chain, other_key): "does not belong to the first certificate",
        (chain, shared_key): f"has mode 0640: others than its owner may use it; run chmod 600 {shared_key}",
    }
    for (cert, private_key), message in refusals.items():
        outcome = run_cli(["provenance", "setup", "--cert", cert, "--key", private_key], capsys)
        assert outcome.code == 1 and outcome.stdout == ""
        assert outcome.stderr.count("\n") == 1 and message in outcome.stderr, outcome.stderr
    missing_key = run_cli(["provenance", "setup", "--cert", chain], capsys)
    assert missing_key.code == 1 and "--cert and --key go together" in missing_key.stderr
    assert not (provenance_dir / SETTINGS_FILE).exists()


def test_a_configured_key_opened_to_others_later_stops_signing(provenance_dir, tmp_path, capsys):
    chain, key = StudioCA().issue(tmp_path / "studio")
    assert run_cli(["provenance", "setup", "--cert", chain, "--key", key], capsys).code == 0
    key.chmod(0o644)

    with pytest.raises(ProvenanceError, match="has mode 0644"):
        signing_identity()

"""Who signs a render's Content Credentials: the user's certificate and key, configured once, or a local identity.

`signing_identity()` is the configured pair (`configure_identity`, `keydub provenance setup --cert --key`) when there
is one, else Keydub's local identity, made on first use and reused after. Both live in the provenance folder,
`$KEYDUB_PROVENANCE_DIR`, else `$XDG_CONFIG_HOME/keydub/provenance` (`~/.config/keydub/provenance`), which is
created readable by its owner only.

What c2pa accepts as a signing certificate (measured with c2pa-python 0.38.1, c2pa-rs 0.91.3): an X.509 v3 leaf
that is not self-signed and not a CA (basicConstraints CA:false), has key usage digitalSignature, the extended key
usage emailProtection (documentSigning and the C2PA claim-signing purpose are refused by its default trust
configuration; no EKU, anyExtendedKeyUsage or serverAuth alone are refused), and an authority key identifier; with
an ECDSA P-256/P-384/P-521, RSA (PSS) or Ed25519 key. A self-signed leaf is refused at signing ("the certificate is
invalid"), so the local identity is a leaf issued by a local CA made for it. The CA's private key is thrown away
as soon as the leaf is signed: only the leaf's key is stored (mode 0600), and nothing else can be issued from it.

The local identity proves only that the same key signed two renders: no validator trusts it, and `show` says so.
Its names carry no user or host name (a credential travels with the published file); its organisation field,
`LOCAL_ORGANISATION`, is how readers recognise it.
"""

import contextlib
import datetime
import io
import json
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keydub.core.errors import ProvenanceError
from keydub.core.files import waiting_lock, write_bytes_atomically, write_json_atomically
from keydub.core.provenance.container import c2pa_context


logger = logging.getLogger(__name__)

PROVENANCE_DIR_VARIABLE = "KEYDUB_PROVENANCE_DIR"
# The configured certificate and key (their paths and algorithm), as `keydub provenance setup` saves them.
SETTINGS_FILE = "identity.json"
LOCAL_FOLDER = "local-identity"
LOCAL_CHAIN_FILE = "chain.pem"
LOCAL_KEY_FILE = "key.pem"
# The organisation of the local identity's certificates, so a reader can tell it apart from a real one.
LOCAL_ORGANISATION = "Keydub local identity (not trusted by validators)"
LOCAL_LABEL = "local Keydub identity, not trusted by validators"
# Without a time-stamp authority a validator checks the signing certificate against the time of reading, so the
# local identity is made to outlive the renders it signs; it is made again once it is within a day of expiring.
LOCAL_VALIDITY = datetime.timedelta(days=3650)
RENEW_BEFORE = datetime.timedelta(days=1)
# Only the owner may read a private key: group and other bits must be clear.
PRIVATE_MODE = 0o600
_OTHERS_BITS = stat.S_IRWXG | stat.S_IRWXO
# The digital source type of the few bytes `try_signing` signs (c2pa requires one on a `c2pa.created` action).
_TRIAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


@dataclass(frozen=True)
class SigningIdentity:
    """A certificate chain and its private key, as c2pa signs with them.

    Args:
        certificate_chain (`Path`): PEM certificates, the signing (leaf) certificate first, then its issuers.
        private_key (`Path`): the leaf's unencrypted PEM private key, readable by its owner only.
        algorithm (`str`): the c2pa signing algorithm of the key: `es256`, `es384`, `es512`, `ps256` or `ed25519`.
        is_local (`bool`): Keydub's local identity, which no validator trusts.
    """

    certificate_chain: Path
    private_key: Path
    algorithm: str
    is_local: bool

    @property
    def label(self) -> str:
        """Who signs, in words: the leaf's common name and issuer, or the local identity's warning."""
        if self.is_local:
            return LOCAL_LABEL
        leaf = _read_chain(self.certificate_chain)[0]
        return f"{_common_name(leaf.subject)} (issued by {_common_name(leaf.issuer)})"

    def signer(self) -> c2pa.Signer:
        """A c2pa `Signer` for this identity (the key is read here, each time: it is never kept in memory)."""
        check_private_key_mode(self.private_key)
        info = c2pa.C2paSignerInfo(
            self.algorithm, self.certificate_chain.read_bytes(), self.private_key.read_bytes(), None
        )
        return c2pa.Signer.from_info(info)

    def to_dict(self) -> dict[str, str | bool]:
        return {
            "certificate_chain": str(self.certificate_chain),
            "private_key": str(self.private_key),
            "algorithm": self.algorithm,
            "is_local": self.is_local,
            "label": self.label,
        }


def provenance_dir() -> Path:
    """The provenance folder: `$KEYDUB_PROVENANCE_DIR`, else `$XDG_CONFIG_HOME/keydub/provenance`."""
    if folder := os.environ.get(PROVENANCE_DIR_VARIABLE):
        return Path(folder).expanduser()
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config").expanduser() / "keydub" / "provenance"


def signing_identity() -> SigningIdentity:
    """The identity renders are signed with: the configured one, else the local one (made on first use).

    Raises:
        `ProvenanceError`: the configured files are gone or their key became readable by others, or the local
            identity's folder cannot be written.
    """
    settings = provenance_dir() / SETTINGS_FILE
    if not settings.is_file():
        return local_identity()
    try:
        saved = json.loads(settings.read_text(encoding="utf-8"))
        identity = SigningIdentity(
            Path(saved["certificate_chain"]), Path(saved["private_key"]), saved["algorithm"], is_local=False
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ProvenanceError(
            f"the signing settings {settings} are damaged ({error}); run keydub provenance setup again"
        ) from error
    for path in (identity.certificate_chain, identity.private_key):
        if not path.is_file():
            raise ProvenanceError(
                f"the configured signing file {path} is gone; run keydub provenance setup --cert CHAIN --key KEY "
                "again, or keydub provenance setup --local to sign with the local identity"
            )
    check_private_key_mode(identity.private_key)
    return identity


def configure_identity(certificate_chain: Path, private_key: Path) -> SigningIdentity:
    """Check a certificate chain and key as c2pa will use them, and make them the identity renders are signed with.

    Args:
        certificate_chain (`Path`): PEM file, the signing certificate first, then its issuing CAs.
        private_key (`Path`): the signing certificate's unencrypted PEM private key, mode 0600.

    Raises:
        `ProvenanceError`: a file is missing or unreadable, the key is readable by others, encrypted or not the
            certificate's, the certificate is self-signed, or c2pa refuses the pair (its reason is quoted).
    """
    certificate_chain, private_key = certificate_chain.expanduser().absolute(), private_key.expanduser().absolute()
    for option, path in (("--cert", certificate_chain), ("--key", private_key)):
        if not path.is_file():
            raise ProvenanceError(f"{option} {path} is not a file; name the PEM file")
    check_private_key_mode(private_key)
    chain = _read_chain(certificate_chain)
    key = _read_private_key(private_key)
    leaf = chain[0]
    if _public_bytes(key.public_key()) != _public_bytes(leaf.public_key()):
        raise ProvenanceError(
            f"the key {private_key} does not belong to the first certificate of {certificate_chain} "
            f"({_common_name(leaf.subject)}); put the signing certificate first in the chain, or pass its own key"
        )
    if leaf.issuer == leaf.subject:
        raise ProvenanceError(
            f"{certificate_chain} starts with a self-signed certificate, which c2pa refuses to sign with; use a "
            "certificate issued by a CA (your organisation's, or a local one) and list the CA after it"
        )
    identity = SigningIdentity(certificate_chain, private_key, _algorithm(key, private_key), is_local=False)
    try_signing(identity)
    folder = _private_folder(provenance_dir())
    write_json_atomically(
        folder / SETTINGS_FILE,
        {name: value for name, value in identity.to_dict().items() if name not in ("is_local", "label")},
    )
    return identity


def use_local_identity() -> SigningIdentity:
    """Forget the configured certificate and key (the files themselves are left alone); sign with the local one."""
    with contextlib.suppress(FileNotFoundError):
        (provenance_dir() / SETTINGS_FILE).unlink()
    return local_identity()


def local_identity() -> SigningIdentity:
    """Keydub's local identity, made the first time it is asked for and reused after (renewed near its expiry).

    Several processes may ask at once (workers, farm actors): they take turns on a lock in the folder, so exactly
    one identity is made.
    """
    folder = _private_folder(_private_folder(provenance_dir()) / LOCAL_FOLDER)
    chain, key = folder / LOCAL_CHAIN_FILE, folder / LOCAL_KEY_FILE
    try:
        lock = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, PRIVATE_MODE)
    except OSError as error:
        raise ProvenanceError(
            f"cannot use the provenance folder {folder} ({error.strerror or error}); make it writable for this user "
            f"or set {PROVENANCE_DIR_VARIABLE}"
        ) from error
    try:
        with waiting_lock(lock):
            if not _is_usable_local(chain, key):
                _make_local_identity(chain, key)
    finally:
        os.close(lock)
    check_private_key_mode(key)
    return SigningIdentity(chain, key, "es256", is_local=True)


def check_private_key_mode(path: Path) -> None:
    """Refuse a private key that anyone but its owner can read or write (on Windows, where files carry no group and
    other bits, the file's access list applies instead)."""
    if os.name == "nt":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & _OTHERS_BITS:
        raise ProvenanceError(
            f"the private key {path} has mode {mode:04o}: others than its owner may use it; run chmod 600 {path}"
        )


def try_signing(identity: SigningIdentity) -> None:
    """Sign a few bytes with `identity` and have c2pa check the result, so a certificate it refuses is refused now.

    Raises:
        `ProvenanceError`: c2pa's reason, and the profile it expects.
    """
    builder = c2pa.Builder(
        {
            "claim_generator_info": [{"name": "Keydub", "version": "check"}],
            "assertions": [
                {
                    "label": "c2pa.actions.v2",
                    "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": _TRIAL_SOURCE_TYPE}]},
                }
            ],
        },
        c2pa_context(),
    )
    builder.set_no_embed()
    try:
        with identity.signer() as signer:
            builder.sign(signer, "application/octet-stream", io.BytesIO(b"keydub signing check"), io.BytesIO())
    except c2pa.C2paError as error:
        reason = " ".join(str(error).split())
        raise ProvenanceError(
            f"c2pa refuses to sign with {identity.certificate_chain} ({reason}); it needs a CA-issued leaf "
            "certificate with key usage digitalSignature, extended key usage emailProtection and an authority key "
            "identifier (see docs/guides/provenance.md)"
        ) from error


# Files ------------------------------------------------------------------------------------------------------------
def _private_folder(folder: Path) -> Path:
    """`folder`, created if missing (readable by its owner only), with its missing parents (as the umask says)."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(exist_ok=True, mode=0o700)
    except OSError as error:
        raise ProvenanceError(
            f"cannot create the provenance folder {folder} ({error.strerror or error}); make its parent writable "
            f"or set {PROVENANCE_DIR_VARIABLE}"
        ) from error
    return folder


def _is_usable_local(chain: Path, key: Path) -> bool:
    """Whether the local identity's two files are there and its leaf certificate is not about to expire."""
    if not (chain.is_file() and key.is_file()):
        return False
    try:
        leaf = _read_chain(chain)[0]
    except ProvenanceError:
        logger.warning("the local signing identity %s is damaged; making a new one", chain)
        return False
    if leaf.not_valid_after_utc - RENEW_BEFORE < datetime.datetime.now(datetime.timezone.utc):
        logger.warning("the local signing identity expires on %s; making a new one", leaf.not_valid_after_utc)
        return False
    # The key and the chain are written one after the other: a process killed between the two leaves a pair that
    # does not match, which is made again rather than failing every signature.
    try:
        key_matches = _public_bytes(_read_private_key(key).public_key()) == _public_bytes(leaf.public_key())
    except ProvenanceError:
        key_matches = False
    if not key_matches:
        logger.warning("the local signing identity's key does not match its certificate; making a new one")
    return key_matches


def _make_local_identity(chain: Path, key_path: Path) -> None:
    """A new local CA and a leaf it issues; the leaf's key is written 0600, the CA's key is never written."""
    serial = secrets.token_hex(4)
    now = datetime.datetime.now(datetime.timezone.utc)
    # Valid from a little before now: clocks of the machines that read the file may run behind this one.
    not_before, not_after = now - datetime.timedelta(hours=1), now + LOCAL_VALIDITY
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"Keydub local CA {serial}")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(f"Keydub local identity {serial}"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_private_key(
        key_path,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    write_bytes_atomically(chain, b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in (leaf, ca)))
    logger.info("made the local signing identity %s (not trusted by validators)", chain)


def _write_private_key(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a new file that is 0600 from its creation, whatever the umask."""
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        if hasattr(os, "fchmod"):  # the umask may have cleared bits of 0600, never added any: set it exactly
            os.fchmod(descriptor, PRIVATE_MODE)
        os.write(descriptor, data)
        os.fsync(descriptor)
    except BaseException:
        os.close(descriptor)
        partial.unlink(missing_ok=True)
        raise
    os.close(descriptor)
    os.replace(partial, path)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, LOCAL_ORGANISATION),
        ]
    )


def _key_usage(*, digital_signature: bool = False, key_cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


# Reading what the user gives ----------------------------------------------------------------------------------
def _read_chain(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as error:
        raise ProvenanceError(
            f"{path} holds no PEM certificate ({error}); pass the certificate chain as PEM, signing certificate first"
        ) from error


def _read_private_key(path: Path) -> "ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey":
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except TypeError as error:  # a password-protected key
        raise ProvenanceError(
            f"the private key {path} is encrypted; c2pa signs with an unencrypted PEM key: write one readable only "
            "by you (openssl pkey -in KEY -out signing.key; chmod 600 signing.key) and pass that"
        ) from error
    except (OSError, ValueError) as error:
        raise ProvenanceError(f"{path} holds no PEM private key ({error}); pass the signing key as PEM") from error
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ProvenanceError(
            f"the private key {path} is a {type(key).__name__}; c2pa signs with ECDSA, RSA or Ed25519 keys"
        )
    return key


# ECDSA curves c2pa signs with, by the algorithm name it takes.
_CURVE_ALGORITHMS = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}


def _algorithm(key: object, path: Path) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    curve = key.curve.name  # type: ignore[attr-defined]
    if curve not in _CURVE_ALGORITHMS:
        raise ProvenanceError(
            f"the private key {path} is on the curve {curve}; c2pa signs with P-256, P-384 or P-521 keys"
        )
    return _CURVE_ALGORITHMS[curve]


def _public_bytes(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _common_name(name: x509.Name) -> str:
    names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else name.rfc4514_string()

"""The webhook's TLS: a CA of its own and a serving certificate it signs, or files given; reloaded on change.

The API server calls an admission webhook only over HTTPS and checks its certificate against the
configuration's ``caBundle``. Generated, the chain is a real one: a CA (kept, so the ``caBundle``
installed in a cluster stays valid) and a serving certificate it signs for ``127.0.0.1``,
``localhost`` and the names asked for (a Service's DNS names), renewed with the same CA when it
nears its end or lacks a name. Every file is written readable by its owner only.

Given as files (``--tls-cert``/``--tls-key``, e.g. cert-manager's Secret mounted in a pod), they
are read again when either changes, and new connections get the new certificate while connections
already made finish on the old one; a pair that does not load (a half-written rotation) keeps the
last good one until it does.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubesteward.errors import ConfigError
from kubesteward.private_files import private_directory, write_private
from kubesteward.sandbox.paths import state_root

log = logging.getLogger("kubesteward.webhook")

CA_DAYS = 3650
SERVING_DAYS = 365
RENEW_BEFORE = datetime.timedelta(days=30)
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def default_cert_dir() -> Path:
    return state_root() / "webhook-tls"


@dataclass(frozen=True)
class TLSFiles:
    cert: Path
    key: Path
    ca: Path | None = None  # the CA that signed ``cert``: what the caBundle holds

    def ca_bundle(self) -> bytes:
        """The PEM the webhook configurations' ``caBundle`` carries (the CA, else the certificate
        itself: a self-signed one, or a chain ending in a CA the API server must be told)."""
        return _read(self.ca or self.cert)


def service_names(namespace: str, name: str) -> list[str]:
    """The DNS names the API server uses for a ``service:`` clientConfig (it calls ``name.namespace.svc``)."""
    return [name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"]


def ensure_certificates(directory: Path | None = None, names: Iterable[str] = ()) -> TLSFiles:
    """The CA and the serving certificate in ``directory`` (made, or renewed, as needed) for
    ``127.0.0.1``, ``localhost`` and ``names``."""
    directory = private_directory(directory or default_cert_dir())
    wanted = sorted({*LOOPBACK_NAMES, *names})
    files = TLSFiles(directory / "tls.crt", directory / "tls.key", directory / "ca.crt")
    ca_key_path = directory / "ca.key"
    assert files.ca is not None
    if files.ca.exists() and ca_key_path.exists():
        ca_cert = x509.load_pem_x509_certificate(_read(files.ca))
        ca_key = serialization.load_pem_private_key(_read(ca_key_path), password=None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey) or _expiring(ca_cert):
            ca_cert, ca_key = _new_ca(files.ca, ca_key_path)
    else:
        ca_cert, ca_key = _new_ca(files.ca, ca_key_path)
    if not _serving_current(files, ca_cert, wanted):
        _new_serving(files, ca_cert, ca_key, wanted)
    return files


def _new_ca(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubesteward webhook CA")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_pem(key_path, _key_pem(key))
    _write_pem(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _new_serving(files: TLSFiles, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, names: list[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubesteward webhook")]))
        .issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SERVING_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    # The key first: a reader that sees the new certificate finds its key already there.
    _write_pem(files.key, _key_pem(key))
    _write_pem(files.cert, cert.public_bytes(serialization.Encoding.PEM))


def _serving_current(files: TLSFiles, ca_cert: x509.Certificate, names: list[str]) -> bool:
    if not files.cert.exists() or not files.key.exists():
        return False
    try:
        cert = x509.load_pem_x509_certificate(_read(files.cert))
        covered = set(_names_of(cert))
    except ValueError:
        return False
    return cert.issuer == ca_cert.subject and not _expiring(cert) and covered.issuperset(names)


def _names_of(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [*san.get_values_for_type(x509.DNSName), *(str(ip) for ip in san.get_values_for_type(x509.IPAddress))]


def _expiring(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - RENEW_BEFORE < _now()


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_pem(path: Path, pem: bytes) -> None:
    write_private(path, pem.decode(), scrubbed=False)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


class ReloadingTLS:
    """A server TLS context whose certificate follows its files.

    The listening socket keeps one context; each handshake is handed the newest good one (its
    ``sni_callback`` runs for every ClientHello, with a server name or without: the API server
    sends none for an IP address), so a rotation needs no restart and drops no connection.
    """

    def __init__(self, files: TLSFiles) -> None:
        self.files = files
        self._current = self._load()
        self._stamp = self._stamps()
        self.context = self._load()
        self.context.sni_callback = self._choose
        self.reloads = 0

    def _load(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.files.cert, self.files.key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the webhook's certificate {self.files.cert} with key {self.files.key}: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
        return context

    def _choose(self, connection: ssl.SSLObject | ssl.SSLSocket, _server_name: str | None,
                _context: ssl.SSLContext) -> None:
        connection.context = self._current

    def _stamps(self) -> tuple[float, float]:
        try:
            return self.files.cert.stat().st_mtime, self.files.key.stat().st_mtime
        except OSError:
            return (0.0, 0.0)

    def check(self) -> bool:
        """Load the files again if either changed since the last look; whether the certificate changed."""
        stamp = self._stamps()
        if stamp == self._stamp:
            return False
        try:
            fresh = self._load()
        except ConfigError as exc:
            log.warning("webhook: keeping the current certificate: %s", exc)
            return False  # retried at the next look: the other half of the pair may still be on its way
        self._stamp = stamp
        self._current = fresh
        self.reloads += 1
        log.info("webhook: certificate %s reloaded", self.files.cert)
        return True

    async def follow(self, interval: float = 2.0) -> None:
        """Check the files every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            self.check()

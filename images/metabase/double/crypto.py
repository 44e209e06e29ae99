"""Connection details encrypted at rest with a key derived from MB_ENCRYPTION_SECRET_KEY.

Metabase encrypts the ``details`` of its databases with AES-256 and an SHA-512 HMAC when
MB_ENCRYPTION_SECRET_KEY is set (behaviour.md §1). The double does the same kind of thing, with
Debian's python3-cryptography:

* key: PBKDF2-HMAC-SHA512 (100 000 iterations) of the secret -> 64 bytes; the first 32 are the MAC
  key, the last 32 the AES key;
* AES-256-CBC with a random IV and PKCS#7 padding, then an HMAC-SHA512 over IV and ciphertext,
  truncated to 32 bytes (the A256CBC-HS512 construction of RFC 7518 §5.2.5, which Metabase's
  library also implements);
* stored as base64 of IV || ciphertext || tag.

It is real encryption, not byte-compatible with Metabase's (the salt differs). A value that cannot
be decrypted (key changed, lost or unset) is logged with Metabase's own message and treated as
missing, as Metabase does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

log = logging.getLogger("metabase.util.encryption")

CANNOT_DECRYPT = "Cannot decrypt encrypted string. Have you changed or forgot to set MB_ENCRYPTION_SECRET_KEY?"

_SALT = b"cronicorn-offline/metabase: MB_ENCRYPTION_SECRET_KEY"
_ITERATIONS = 100_000
_IV = 16
_TAG = 32


class DecryptionError(Exception):
    """The value looks encrypted but cannot be decrypted with the current key."""


class Encryptor:
    """Encrypts and decrypts text with the key derived from ``secret`` (None: no encryption)."""

    def __init__(self, secret: str | None) -> None:
        if secret:
            derived = hashlib.pbkdf2_hmac("sha512", secret.encode("utf-8"), _SALT, _ITERATIONS, 64)
            self._mac_key, self._enc_key = derived[:32], derived[32:]
        else:
            self._mac_key = self._enc_key = b""

    @property
    def enabled(self) -> bool:
        return bool(self._enc_key)

    def _tag(self, iv: bytes, ciphertext: bytes) -> bytes:
        # A256CBC-HS512: HMAC over AAD || IV || ciphertext || AL, with an empty AAD (AL = 0 bits).
        mac = hmac.new(self._mac_key, iv + ciphertext + (0).to_bytes(8, "big"), hashlib.sha512)
        return mac.digest()[:_TAG]

    def encrypt(self, text: str) -> str:
        """``text`` encrypted (base64), or ``text`` itself when no key is set."""
        if not self.enabled:
            return text
        iv = os.urandom(_IV)
        padder = padding.PKCS7(128).padder()
        padded = padder.update(text.encode("utf-8")) + padder.finalize()
        encryptor = Cipher(algorithms.AES(self._enc_key), modes.CBC(iv)).encryptor()
        ciphertext = encryptor.update(padded) + encryptor.finalize()
        return base64.b64encode(iv + ciphertext + self._tag(iv, ciphertext)).decode("ascii")

    def decrypt(self, stored: str) -> str:
        """The plain text of a stored value. Plain JSON (saved before a key was set) comes back as
        it is; an encrypted value that this key cannot open raises :class:`DecryptionError`."""
        if not looks_encrypted(stored):
            return stored
        if not self.enabled:
            raise DecryptionError(CANNOT_DECRYPT)
        raw = base64.b64decode(stored)
        iv, ciphertext, tag = raw[:_IV], raw[_IV:-_TAG], raw[-_TAG:]
        if not hmac.compare_digest(tag, self._tag(iv, ciphertext)):
            raise DecryptionError(CANNOT_DECRYPT)
        decryptor = Cipher(algorithms.AES(self._enc_key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise DecryptionError(CANNOT_DECRYPT) from None


def looks_encrypted(stored: str) -> bool:
    """Whether ``stored`` has the shape of an encrypted value (base64 of IV, blocks and tag)."""
    if not stored or stored.lstrip().startswith(("{", "[")):
        return False
    try:
        raw = base64.b64decode(stored, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) >= _IV + 16 + _TAG and (len(raw) - _IV - _TAG) % 16 == 0

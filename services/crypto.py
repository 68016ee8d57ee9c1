"""Personal data at rest: encrypted with a versioned key, found by a keyed hash.

``FIELD_ENCRYPTION_KEY`` holds keys in Fernet's format (32 random bytes, URL-safe
base64), newest first, comma-separated: encryption uses the first, decryption tries
each, so a key can be rotated by prepending a new one. ``FIELD_HASH_KEY`` keys an
HMAC that lets a service find "the same phone number" without storing it in clear.

A value is written as ``v2:`` and the URL-safe base64 of a random 96-bit nonce and
its AES-256-GCM ciphertext with tag, under a key derived from the configured one by
HKDF-SHA256 (so the same bytes never serve two algorithms). Values written before
(Fernet tokens, ``gAAAAA...``) are still read, and the rotation pass
(``services.rotation``) rewrites them in the new form. Why (decision 0023): Fernet
(AES-128-CBC, then HMAC-SHA256, in Python around the C calls) was 3.8% of the
instructions of a new case, which encrypts two fields; GCM is one call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

#: The prefix of values in the current form (never in Fernet's alphabet: ``:``).
PREFIX = "v2:"
NONCE_BYTES = 12


def _gcm_key(key: str) -> AESGCM:
    """The AES-256-GCM key derived from one configured key."""
    raw = base64.urlsafe_b64decode(key.encode())
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"field-encryption/aes-256-gcm").derive(raw)
    return AESGCM(derived)


class FieldCipher:
    def __init__(self, encryption_keys: str, hash_key: str) -> None:
        keys = [k.strip() for k in encryption_keys.split(",") if k.strip()]
        if not keys or not hash_key:
            raise ValueError("FIELD_ENCRYPTION_KEY and FIELD_HASH_KEY must be set")
        fernets = [Fernet(k.encode()) for k in keys]  # also checks each key's form
        self._fernet = MultiFernet(fernets)  # values written before the GCM form
        self._keys = [_gcm_key(k) for k in keys]
        self.key_count = len(keys)
        self._hash_key = hash_key.encode()

    def encrypt(self, value: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[0].encrypt(nonce, value.encode(), None)
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        if not token.startswith(PREFIX):
            return self._fernet.decrypt(token.encode()).decode()
        sealed = _sealed(token)
        for key in self._keys:
            opened = _open(sealed, key)
            if opened is not None:
                return opened
        raise InvalidToken

    def is_current(self, token: str) -> bool:
        """In the current form and under the newest key (nothing to rotate)."""
        return token.startswith(PREFIX) and _open(_sealed(token), self._keys[0]) is not None

    def rotate(self, token: str) -> str:
        """The same value, encrypted again with the newest key in the current form."""
        return self.encrypt(self.decrypt(token))

    def lookup_hash(self, value: str) -> str:
        # Most values are alphanumeric already (a phone, an ID number): no walk over them.
        kept = value if value.isalnum() else "".join(ch for ch in value if ch.isalnum())
        return hmac.digest(self._hash_key, kept.upper().encode(), hashlib.sha256).hex()


def _sealed(token: str) -> bytes:
    """The nonce and ciphertext of a value in the current form (empty if not base64)."""
    try:
        return base64.urlsafe_b64decode(token[len(PREFIX) :].encode())
    except (binascii.Error, ValueError):
        return b""


def _open(sealed: bytes, key: AESGCM) -> str | None:
    """The value, or None if it was not sealed with ``key`` (or is not a sealed value)."""
    try:
        return key.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], None).decode()
    except (InvalidTag, ValueError):
        return None


def mask_phone(phone: str) -> str:
    """``13812345678`` -> ``138****5678``: enough to recognise, not to call."""
    digits = phone if phone.isdigit() else "".join(ch for ch in phone if ch.isdigit())
    if len(digits) <= 4:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 8 else f"****{digits[-4:]}"


def mask_id_number(id_number: str) -> str:
    """Keep the first and last two characters only."""
    if len(id_number) <= 4:
        return "*" * len(id_number)
    return f"{id_number[:2]}{'*' * (len(id_number) - 4)}{id_number[-2:]}"


def cipher_from_settings(encryption_keys: str | None, hash_key: str | None, service: str) -> FieldCipher:
    """The service's cipher, or a start-up error that says which setting is missing."""
    if not encryption_keys or not hash_key:
        raise RuntimeError(f"{service} needs FIELD_ENCRYPTION_KEY and FIELD_HASH_KEY (make run generates dev values)")
    return FieldCipher(encryption_keys, hash_key)

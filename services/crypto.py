"""Personal data at rest: encrypted with a versioned key, found by a keyed hash.

``FIELD_ENCRYPTION_KEY`` holds Fernet keys, newest first, comma-separated:
encryption uses the first, decryption tries each (``MultiFernet``), so a key
can be rotated by prepending a new one. ``FIELD_HASH_KEY`` keys an HMAC that
lets a service find "the same phone number" without storing it in clear.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class FieldCipher:
    def __init__(self, encryption_keys: str, hash_key: str) -> None:
        keys = [k.strip() for k in encryption_keys.split(",") if k.strip()]
        if not keys or not hash_key:
            raise ValueError("FIELD_ENCRYPTION_KEY and FIELD_HASH_KEY must be set")
        self._primary = Fernet(keys[0].encode())
        self._fernet = MultiFernet([self._primary, *(Fernet(k.encode()) for k in keys[1:])])
        self.key_count = len(keys)
        self._hash_key = hash_key.encode()

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._fernet.decrypt(token.encode()).decode()

    def is_current(self, token: str) -> bool:
        """Encrypted with the newest key (nothing to rotate)."""
        try:
            self._primary.decrypt(token.encode())
            return True
        except InvalidToken:
            return False

    def rotate(self, token: str) -> str:
        """The same value, encrypted again with the newest key."""
        return self._fernet.rotate(token.encode()).decode()

    def lookup_hash(self, value: str) -> str:
        normalised = "".join(ch for ch in value if ch.isalnum()).upper()
        return hmac.new(self._hash_key, normalised.encode(), hashlib.sha256).hexdigest()


def mask_phone(phone: str) -> str:
    """``13812345678`` -> ``138****5678``: enough to recognise, not to call."""
    digits = "".join(ch for ch in phone if ch.isdigit())
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

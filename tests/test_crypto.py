"""Personal data at rest (``services.crypto``): the AES-256-GCM form (decision 0023),
values written before it in Fernet's form, and key rotation across both."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet, InvalidToken

from services.crypto import PREFIX, FieldCipher


def key() -> str:
    return Fernet.generate_key().decode()


def test_a_value_is_sealed_with_a_fresh_nonce_and_opens_again() -> None:
    cipher = FieldCipher(key(), "pepper")
    first, second = cipher.encrypt("13812345678"), cipher.encrypt("13812345678")
    assert first.startswith(PREFIX) and first != second  # a new nonce each time
    assert "13812345678" not in first
    assert cipher.decrypt(first) == cipher.decrypt(second) == "13812345678"
    assert cipher.is_current(first)


def test_a_value_written_in_fernets_form_is_still_read_and_rotated_to_the_new_form() -> None:
    old = key()
    written_before = Fernet(old.encode()).encrypt(b"110101199001011234").decode()
    cipher = FieldCipher(old, "pepper")
    assert cipher.decrypt(written_before) == "110101199001011234"
    assert not cipher.is_current(written_before)
    rotated = cipher.rotate(written_before)
    assert rotated.startswith(PREFIX) and cipher.is_current(rotated)
    assert cipher.decrypt(rotated) == "110101199001011234"


def test_rotation_to_a_new_key_keeps_the_old_one_readable_until_rewritten() -> None:
    old, new = key(), key()
    under_old = FieldCipher(old, "pepper").encrypt("13900000000")
    both = FieldCipher(f"{new},{old}", "pepper")
    assert both.decrypt(under_old) == "13900000000"
    assert not both.is_current(under_old)
    rewritten = both.rotate(under_old)
    assert both.is_current(rewritten)
    assert FieldCipher(new, "pepper").decrypt(rewritten) == "13900000000"
    with pytest.raises(InvalidToken):
        FieldCipher(new, "pepper").decrypt(under_old)  # the old key is gone: unreadable


def test_a_tampered_value_is_refused_not_misread() -> None:
    cipher = FieldCipher(key(), "pepper")
    raw = bytearray(base64.urlsafe_b64decode(cipher.encrypt("13812345678")[len(PREFIX) :]))
    raw[-1] ^= 1
    with pytest.raises(InvalidToken):
        cipher.decrypt(PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode())
    with pytest.raises(InvalidToken):
        cipher.decrypt(PREFIX + "not base64 at all!")


def test_the_lookup_hash_is_the_keyed_sha256_of_the_value_without_separators_in_capitals() -> None:
    """Stored hashes are what search finds cases by: the hash of a value may never
    change, whatever path computes it (a value already plain, or one to clean)."""
    cipher = FieldCipher(key(), "pepper")
    # HMAC-SHA256 with the key "pepper" of "13812345678" and of "11010519491231002X".
    phone = "3ac35bc5c893f3821a457ecfd648e90763cbfff707f3b2c755afa930952d04d5"
    id_number = "648c14370b6089f75cf811500087162b6d5613541a34f12e9dab13f132e9a056"
    assert cipher.lookup_hash("13812345678") == cipher.lookup_hash("138 1234-5678") == phone
    assert cipher.lookup_hash("11010519491231002x") == cipher.lookup_hash("110105 19491231 002X") == id_number

"""The users file and claim checks of smtpx.server._auth, without a server."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from smtpx.server import AuthFileError, Users, hash_password
from smtpx.server._auth import DigestClaim, PasswordClaim, Verdict, start

SALT = b"0123456789abcdef"
USERS = Users.from_lines(
    [
        "# a comment, then a blank line",
        "",
        f"alice:{hash_password('wonderland', salt=SALT)}",
        "carol:{PLAIN}cram-secret",
    ]
)


def test_the_same_salt_gives_the_same_hash_and_another_salt_another() -> None:
    assert hash_password("pw", salt=SALT) == hash_password("pw", salt=SALT)
    assert hash_password("pw", salt=SALT) != hash_password("pw", salt=b"fedcba9876543210")


@pytest.mark.parametrize(
    ("claim", "verdict"),
    [
        (PasswordClaim("alice", "wonderland"), Verdict.ACCEPTED),
        (PasswordClaim("alice", "wonderland", "alice"), Verdict.ACCEPTED),
        (PasswordClaim("alice", "wonderland", "carol"), Verdict.REFUSED),  # no proxying
        (PasswordClaim("alice", "Wonderland"), Verdict.REFUSED),
        (PasswordClaim("carol", "cram-secret"), Verdict.ACCEPTED),
        (PasswordClaim("carol", "cram-secre"), Verdict.REFUSED),
        (PasswordClaim("nobody", "wonderland"), Verdict.REFUSED),
        (DigestClaim("alice", b"<1.2@mx>", "0" * 32), Verdict.TOO_WEAK),
        (DigestClaim("nobody", b"<1.2@mx>", "0" * 32), Verdict.REFUSED),
        (DigestClaim("carol", b"<1.2@mx>", "0" * 32), Verdict.REFUSED),
        (
            DigestClaim(
                "carol", b"<1.2@mx>", hmac.new(b"cram-secret", b"<1.2@mx>", hashlib.md5).hexdigest()
            ),
            Verdict.ACCEPTED,
        ),
    ],
)
def test_check(claim: PasswordClaim | DigestClaim, verdict: Verdict) -> None:
    assert USERS.check(claim) is verdict


def test_cram_md5_is_offered_only_when_a_password_is_held_in_clear() -> None:
    assert USERS.mechanisms == ("PLAIN", "LOGIN", "CRAM-MD5")
    hashed_only = Users.from_lines([f"alice:{hash_password('pw', salt=SALT)}"])
    assert hashed_only.mechanisms == ("PLAIN", "LOGIN")


def test_an_empty_initial_response_is_an_empty_answer_not_a_missing_one() -> None:
    """RFC 4954 §4: "=" is an empty initial response, not a missing one."""
    exchange = start("PLAIN", "=", "mx.test")
    with pytest.raises(ValueError, match="PLAIN wants"):
        next(exchange)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("alice", "line 1: expected name:secret"),
        (":{PLAIN}x", "line 1: expected name:secret"),
        ("alice:secret", "line 1: a secret is $scrypt$"),
        ("alice:$scrypt$ln=14,r=8$c2FsdA$aGFzaA", "line 1: a malformed $scrypt$ secret"),
        ("alice:$scrypt$ln=x,r=8,p=1$c2FsdA$aGFzaA", "line 1: a malformed $scrypt$ secret"),
        ("alice:$scrypt$ln=14,r=8,p=1$!!$aGFzaA", "line 1: a malformed $scrypt$ secret"),
        ("alice:$scrypt$ln=40,r=8,p=1$c2FsdA$" + "A" * 43, "line 1: scrypt parameters"),
        ("alice:$scrypt$ln=14,r=8,p=1$c2FsdA$aGFzaA", "line 1: scrypt parameters"),
    ],
)
def test_malformed_lines(line: str, error: str) -> None:
    with pytest.raises(AuthFileError, match=error.replace("$", r"\$")):
        Users.from_lines([line])


def test_load_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text("# users\ncarol:{PLAIN}x\nbroken\n")
    with pytest.raises(AuthFileError, match=f"{path} line 3"):
        Users.load(path)
    with pytest.raises(AuthFileError, match="cannot read the users file"):
        Users.load(tmp_path / "missing")
    path.write_bytes(b"carol:{PLAIN}\xff\n")
    with pytest.raises(AuthFileError, match="cannot read the users file"):
        Users.load(path)
    path.write_text("carol:{PLAIN}x\n")
    assert Users.load(path).check(PasswordClaim("carol", "x")) is Verdict.ACCEPTED

"""sysexits.h codes, and which one each failure earns."""

from __future__ import annotations

from ..client import AuthFailed, MessageError, MissingInput, SMTPError, TemporaryFailure

EX_OK = 0
EX_USAGE = 64  # the command was used incorrectly
EX_DATAERR = 65  # the input data was wrong: a bad address, an unreadable message
EX_NOINPUT = 66  # an input file did not exist or was not readable
EX_UNAVAILABLE = 69  # refused for good (5yz)
EX_CANTCREAT = 73  # an output file cannot be created
EX_TEMPFAIL = 75  # try again later (4yz, timeouts, dropped connections)
EX_NOPERM = 77  # authentication failed
EX_CONFIG = 78  # the configuration is wrong (a missing certificate, an unwritable directory)


def exit_code(error: SMTPError | MessageError) -> int:
    if isinstance(error, MissingInput):
        return EX_NOINPUT
    if isinstance(error, MessageError):
        return EX_DATAERR
    if isinstance(error, AuthFailed):
        return EX_NOPERM
    if isinstance(error, TemporaryFailure):
        return EX_TEMPFAIL
    return EX_UNAVAILABLE

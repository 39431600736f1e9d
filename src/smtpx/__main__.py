"""`python -m smtpx`: the same command as the `smtpx` console script."""

from __future__ import annotations

from smtpx.cli import main

if __name__ == "__main__":
    main()

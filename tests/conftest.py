"""Suite-wide settings: the Hypothesis profile.

"ci" when $CI is set, "dev" otherwise. Both drop the per-example deadline: a
shared CI machine's timing noise is not a property of the code. Neither is
derandomized, so every run explores new examples (Hypothesis's built-in "ci"
profile would derandomize; registering our own "ci" replaces it).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", max_examples=200, deadline=None, print_blob=True)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

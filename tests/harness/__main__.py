"""`python -m tests.harness`: remove labs left behind by killed test runs."""

from .netns import sweep_stale_labs

print("info: removed stale labs:", " ".join(sweep_stale_labs()) or "none")

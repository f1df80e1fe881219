"""Text-test settings."""
from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # pyopenjtalk-plus calls a SudachiPy method that SudachiPy 0.7 deprecates; not ours to fix.
    config.addinivalue_line("filterwarnings", r"ignore:Dictionary\.create\(\) is deprecated:DeprecationWarning")

"""The sandbox's tests need bubblewrap (`make bubblewrap`) and the checks toolchain (`make toolchain`)."""

from __future__ import annotations

import pytest

from agents_app.verification.checks import toolchain_status
from agents_app.verification.sandbox import sandbox_status


@pytest.fixture
def sandbox() -> None:
    ok, reason = sandbox_status()
    if not ok:
        pytest.fail(f"no sandbox can be made here ({reason}): `make bubblewrap` installs Debian's package")
    ok, reason = toolchain_status()
    if not ok:
        pytest.fail(reason)

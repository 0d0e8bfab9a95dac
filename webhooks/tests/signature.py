"""The signature check the receiver's guide (docs/webhooks.md) documents, taken from the guide
itself, so the tests verify deliveries exactly as a receiver following it would."""

from __future__ import annotations

import re
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def documented_verify():
    block = re.search(r"```python\n(.*?)```", GUIDE.read_text(), re.DOTALL).group(1)
    namespace: dict = {}
    exec(compile(block, str(GUIDE), "exec"), namespace)
    return namespace["verify_signature"]

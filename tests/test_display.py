"""What ws prints of outside text: control characters escaped, ordinary text untouched."""

from __future__ import annotations

import pytest
from ws.printable import printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("example-core", "example-core"),
        ("café 1.0", "café 1.0"),
        ("a\nerror: forged", "a\\nerror: forged"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("tab\there", "tab\\there"),
        ("abc\u202edef", "abc\\u202edef"),
        ("bell\x07", "bell\\x07"),
        ("line\u2028sep", "line\\u2028sep"),
        ("bad\udc80byte", "bad\\udc80byte"),
    ],
)
def test_printable(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert printable(text).isprintable()

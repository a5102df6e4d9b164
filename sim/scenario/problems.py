"""What is wrong with a scenario (or a file it reads): one `Problem` per finding, located by file,
line and field, and the `ScenarioError` that carries them all to the user."""

from __future__ import annotations

from dataclasses import dataclass

from sim.scenario.limits import escaped, shorten

MESSAGE_CHARS = 600
"""Longest message printed for one problem."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        # Escaped and bounded: a file name, key or value can hold anything (escape codes, 10 MB).
        where = f"{escaped(shorten(self.file, 200))}:{self.line}" if self.line else \
            escaped(shorten(self.file, 200))
        field = f" {escaped(shorten(self.path, 200))}:" if self.path else ""
        return f"{where}:{field} {escaped(shorten(self.message, MESSAGE_CHARS))}"


class ScenarioError(Exception):
    """A scenario file that cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def decoded(raw: bytes, file: str, encoding: str = "utf-8", hint: str = "") -> str:
    """`raw` as text; a ScenarioError naming the line of the first byte that is not UTF-8
    (`hint` is added to the message: what to do about it)."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ScenarioError([Problem(file, line, "", f"not UTF-8 text (byte 0x{raw[exc.start]:02x} "
                                     f"cannot be decoded){hint}")]) from None

"""The top-level blocks a reload did not change, taken as the last load built them.

A large configuration is mostly virtual servers, and a reload changes few of them.  keepalived parses
every block again; the daemon keeps a :class:`BlockCache` from one load to the next, and the parser
(:func:`.parser.parse_lines`) looks each reusable top-level block up by the text of its logical lines,
as the reader hands them over (after includes, conditionals and definitions), before parsing it.

A block is kept only when its model is what any load of that text would build, wherever it stands in
the file:

* its parse and its validation reported nothing (a diagnostic names a line, and a reload must report
  it again);
* its handlers read nothing beyond its own lines (:attr:`.parser.Context.context_reads`: another
  block's names, the interfaces);
* its model keeps no place in the file (a script keeps its line: the script checks run on the
  finished model and name it);
* what its validation takes from the rest of the file (:meth:`inputs_are`) is unchanged.  When it
  changed, :class:`StaleReuse` makes the loader read the file again without the cache.

A fresh load and a load through the cache build equal configurations (the tests compare them).
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .lines import LogicalLine


class StaleReuse(Exception):
    """A block was reused although what its validation takes from outside it has changed."""


@dataclass(frozen=True, slots=True)
class Reused:
    """What the parser hands to a section in place of a block's draft: the model built last time."""

    model: Any


@dataclass
class BlockCache:
    #: the last load's models, by the digest of their block's lines
    kept: dict[bytes, Any] = field(default_factory=dict)
    #: what the last load's validation took from outside the blocks
    inputs: object = None
    #: this load's, becoming ``kept`` when it ends
    made: dict[bytes, Any] = field(default_factory=dict)
    made_inputs: object = None
    #: how many blocks this load took from ``kept`` (for the log and the tests)
    reused: int = 0

    def start(self) -> None:
        self.made, self.made_inputs, self.reused = {}, None, 0

    def take(self, key: bytes) -> Any | None:
        """The model last built from the block whose digest is ``key``, kept for the next load too."""
        model = self.kept.get(key)
        if model is not None:
            self.made[key] = model
            self.reused += 1
        return model

    def keep(self, key: bytes, model: Any) -> None:
        self.made[key] = model

    def inputs_are(self, inputs: object) -> None:
        """Called by the section's validation with what it takes from outside the blocks: the blocks
        reused this load were validated with the last load's."""
        if self.reused and inputs != self.inputs:
            raise StaleReuse
        self.made_inputs = inputs

    def finish(self) -> None:
        """The load is complete: its models are the ones the next load may take."""
        self.kept, self.inputs, self.made = self.made, self.made_inputs, {}

    def forget(self) -> None:
        self.kept, self.inputs, self.made, self.reused = {}, None, {}, 0


class ReusedBlock(LogicalLine):
    """What the reader hands over in place of a whole block it found in the cache: the block's opening line
    (its words, where it is), its model at item 6.  The reader's bulk path looks blocks up before it makes
    their lines (:meth:`.preprocess._Reader._plain_stretch`), the parser any other block."""


def block_key(lines: Sequence[LogicalLine]) -> bytes:
    """The digest of a block's logical lines: their tokens and text as written, not where they are.

    A line of the reader's bulk path is its physical text (its tokens are that text split); any other
    line is its tokens and raw text (:func:`digest` of these parts)."""
    return digest([line[5] if line[4] == 0 else (line[0], line[1]) for line in lines])


def digest(parts: list[str | tuple[tuple[str, ...], str]]) -> bytes:
    """marshal's version 2 writes no back-references, so equal parts give equal bytes however their strings
    are shared."""
    return hashlib.blake2b(marshal.dumps(parts, 2), digest_size=16).digest()

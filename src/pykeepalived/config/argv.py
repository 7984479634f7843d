"""argv of script keywords (``notify_master``, ``script``, ``misc_path`` ...), as keepalived 2.4.x.

Script keywords re-read their logical line with shell-like quoting in two passes:

1. ``split_script_line`` (keepalived's ``alloc_strvec_quoted``): words separated by unquoted
   blanks; ``"..."`` and ``'...'`` group; a backslash and the character after it are kept
   verbatim (so ``\\"`` neither opens nor closes a quote).  Word 1 is the command string,
   words 2 and 3 the optional ``user`` and ``[:]group`` (a leading ``:`` on the group asks
   for supplementary groups; that is left to the caller).
2. ``split_command`` (``alloc_strvec_quoted_escaped``): the command string split the same
   way, now decoding escapes ``\\a \\b \\E \\f \\n \\r \\t \\v \\nnn \\xHH \\cC``; any other
   ``\\X`` is a literal ``X``.

Escapes that produce bytes >= 0x80 are returned as surrogate-escaped characters, so
``os.fsencode`` turns them back into the exact byte keepalived would pass to ``execve``; as in
C, a NUL ends the word it appears in.
"""

from __future__ import annotations

from .errors import ErrClass

_BLANKS = " \t\f\n\r\v"
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_HEX = "0123456789abcdefABCDEF"


class ArgvError(ValueError):
    """The line cannot be split; ``message`` is keepalived's text, ``cls`` its error class."""

    def __init__(self, message: str, cls: ErrClass) -> None:
        super().__init__(message)
        self.message = message
        self.cls = cls


def _byte_char(value: int) -> str:
    value &= 0xFF
    return chr(value) if value < 0x80 else chr(0xDC00 + value)


def _decode_escape(src: str, i: int) -> tuple[str, int]:
    """The character an escape at ``src[i]`` (just after the backslash) stands for."""
    c = src[i]
    n = len(src)
    if c == "x" and i + 1 < n and src[i + 1] in _HEX:
        j = i + 1
        while j < n and j < i + 3 and src[j] in _HEX:
            j += 1
        return _byte_char(int(src[i + 1:j], 16)), j
    if c == "c" and i + 1 < n:
        return _byte_char(ord(src[i + 1]) & 0x1F), i + 2
    if "0" <= c <= "7":
        j = i
        while j < n and j < i + 3 and "0" <= src[j] <= "7":
            j += 1
        return _byte_char(int(src[i:j], 8)), j
    return _SIMPLE_ESCAPES.get(c, c), i + 1


def _split(src: str, escapes: bool) -> list[str]:
    """keepalived's ``alloc_strvec_quoted_escaped_common``."""
    words: list[str] = []
    n = len(src)
    i = 0
    while True:
        while i < n and src[i] in _BLANKS:
            i += 1
        if i >= n:
            return words
        quote = ""
        out: list[str] = []
        while i < n:
            c = src[i]
            if c == "\\":
                if i + 1 >= n:
                    raise ArgvError(f"Missing escape char at end: '{src}'", ErrClass.GENERAL_ERROR)
                if escapes:
                    ch, i = _decode_escape(src, i + 1)
                    out.append(ch)
                else:
                    out.append(src[i:i + 2])
                    i += 2
                continue
            if quote:
                if c == quote:
                    quote = ""
                else:
                    out.append(c)
                i += 1
                continue
            if c in "'\"":
                quote = c
                i += 1
                continue
            if c in _BLANKS:
                break
            out.append(c)
            i += 1
        if quote:
            raise ArgvError(f"String '{src}': missing terminating {quote}", ErrClass.UNMATCHED_QUOTE)
        words.append("".join(out).split("\0", 1)[0])


def split_script_line(raw_after_keyword: str) -> tuple[str, str | None, str | None]:
    """(command string, user or None, group or None) of a script keyword's line.

    Raises ``ArgvError`` when the line has no command or cannot be split.
    """
    words = _split(raw_after_keyword, escapes=False)
    if not words:
        raise ArgvError("Unable to parse script - no command", ErrClass.MISSING_PARAMETER)
    return (words[0], words[1] if len(words) > 1 else None, words[2] if len(words) > 2 else None)


def split_command(command_string: str) -> list[str]:
    """argv for ``execve`` from a command string (quotes grouped, escapes decoded)."""
    return _split(command_string, escapes=True)

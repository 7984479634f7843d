"""Keyword-table parser: logical lines -> drafts -> model, as keepalived's ``process_stream``.

keepalived dispatches each logical line on its first word through a table of keywords for
the current block level.  We do the same with :class:`Block` tables.  Every block collects
its values in a *draft* (a plain ``dict``); when the block's ``}`` is reached the block's
``end`` function validates the draft, applies keepalived's defaults and builds the frozen
model object, attaching it to the parent draft.  This mirrors keepalived's block end
handlers (``vrrp_end_handler``, ``vs_end_handler`` …) and keeps one mechanism for every
section of the language.

How to describe a section::

    INSTANCE = Block("vrrp_instance", begin=begin_instance, end=end_instance)

    @INSTANCE.keyword("priority")
    def _priority(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        draft["priority"] = ctx.integer(line, 1, 1, 255)

    INSTANCE.sub("virtual_ipaddress", VIP_LIST)      # a nested block keyword
    ROOT.sub("vrrp_instance", INSTANCE)

Kinds of blocks:

* ``Block(kind="keywords")`` — the usual: lines dispatched by keyword (unknown -> error).
* ``Block(kind="lines")`` — keepalived's ``alloc_value_block``: each line inside is one entry,
  handed to ``entry(ctx, line, draft)``.
* ``Block(kind="words")`` — keepalived's ``read_value_block``: all words of all lines form one
  list, handed once to ``words(ctx, words, draft)`` at the closing brace.

Quirks reproduced on purpose (keepalived's lib/parser.c, ``process_stream``): an unknown keyword that
opens a block does not consume the ``{`` — the brace is reported as unexpected, the
block's content is parsed at the enclosing level and its ``}`` closes the enclosing block.
A keyword missing a required parameter is a MISSING_PARAMETER error (keepalived aborts with
exit status 2); we report it, skip the line and go on so that all problems are shown at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import chain
from typing import Any, Literal

from .block_cache import BlockCache, ReusedBlock, block_key
from .errors import Diagnostics, ErrClass
from .lines import Location, LogicalLine, Word

Draft = dict[str, Any]
Handler = Callable[["Context", LogicalLine, Draft], None]
BeginHandler = Callable[["Context", LogicalLine, Draft], Draft | None]
EndHandler = Callable[["Context", Draft, Draft], None]
WordsHandler = Callable[["Context", list[Word], Draft], None]
ReuseHandler = Callable[["Context", Any, Draft], None]

BOOL_TRUE = ("true", "on", "yes")
BOOL_FALSE = ("false", "off", "no")


class SkipLine(Exception):
    """Raised by a handler (through Context helpers) to abandon the current line."""


@dataclass
class Keyword:
    name: str
    handler: Handler | None = None
    block: Block | None = None
    #: a replacement name for deprecated keywords, reported as a DEPRECATED warning
    deprecated: str | None = None
    #: an informational note printed wherever the keyword is used (features pykeepalived
    #: parses but does not implement); it does not change the exit status
    note: str | None = None


@dataclass
class Block:
    """One level of the grammar: a keyword table, or a list block."""

    name: str
    kind: Literal["keywords", "lines", "words"] = "keywords"
    #: called with the line that opened the block; returns the block's draft (None: skip block)
    begin: BeginHandler | None = None
    #: called at the closing brace with (ctx, draft, parent_draft)
    end: EndHandler | None = None
    #: for kind="lines": called for every line inside
    entry: Handler | None = None
    #: for kind="words": called once with all words
    words: WordsHandler | None = None
    #: a top-level block a reload may take unparsed (:mod:`.block_cache`): called with (ctx, the model
    #: built last time, parent_draft) in place of parsing it
    reuse: ReuseHandler | None = None
    keywords: dict[str, Keyword] = field(default_factory=dict)

    def keyword(self, *names: str, deprecated: str | None = None) -> Callable[[Handler], Handler]:
        """Decorator registering a simple keyword handler under one or more names."""

        def register(fn: Handler) -> Handler:
            for n in names:
                self.keywords[n] = Keyword(n, handler=fn, deprecated=deprecated)
            return fn

        return register

    def string_keyword(self, name: str, field: str, missing_message: str | None = None, *,
                       exactly_one: bool = False,
                       on_missing: Literal["error", "note"] = "error") -> None:
        """Register ``name`` as a keyword storing its one string argument in ``draft[field]``.

        Without ``missing_message`` a missing argument is the usual MISSING_PARAMETER error
        (:meth:`Context.string`).  With it, a missing argument (or, with ``exactly_one``, any
        number of arguments other than one) is reported with that message as an error or a
        note (``on_missing``) and the line is ignored.
        """

        def handler(ctx: Context, line: LogicalLine, draft: Draft) -> None:
            if missing_message is None:
                draft[field] = ctx.string(line, 1)
                return
            bad = len(line.tokens) != 2 if exactly_one else len(line.tokens) < 2
            if bad:
                report = ctx.note if on_missing == "note" else ctx.error
                report(line, missing_message)
                return
            draft[field] = line.tokens[1]

        self.keywords[name] = Keyword(name, handler=handler)

    def sub(self, name: str, block: Block, *, deprecated: str | None = None) -> None:
        """Register ``name`` as a keyword opening ``block``."""
        self.keywords[name] = Keyword(name, block=block, deprecated=deprecated)

    def unsupported(self, name: str, verb: str = "ignored", what: str | None = None) -> None:
        """Note at every use of keyword ``name`` that pykeepalived does not implement it yet."""
        self.keywords[name].note = unsupported_note(what or name, verb)


def unsupported_note(what: str, verb: str = "ignored") -> str:
    """The note for a feature that is parsed (and validated as keepalived does) but not run."""
    return f"pykeepalived: {what} is not supported yet and will be {verb}"


@dataclass
class Context:
    """What handlers see: diagnostics, the config id, the known interfaces, number helpers."""

    diags: Diagnostics
    config_id: str | None = None
    #: interfaces that exist (None: do not check)
    interfaces: frozenset[str] | None = None
    #: free-form state shared by handlers across blocks (e.g. names seen, counters)
    shared: dict[str, Any] = field(default_factory=dict)
    #: the line being handled is read by keepalived's parent too (global_defs, root-level keywords)
    in_global: bool = True
    #: the last load's blocks (:mod:`.block_cache`), None: parse every block
    block_cache: BlockCache | None = None
    #: how many times a handler read something beyond its own lines (:meth:`read_shared`, the interfaces):
    #: a block that did cannot be reused as it was built
    context_reads: int = 0

    def read_shared(self, key: str, default: Any = None) -> Any:
        """``shared[key]``, for a handler whose result depends on another block."""
        self.context_reads += 1
        return self.shared.get(key, default)

    # -- reporting ---------------------------------------------------------------------------
    def error(self, where: LogicalLine | Word | Location | None, message: str,
              hint: str | None = None, cls: ErrClass = ErrClass.GENERAL_ERROR) -> None:
        self.diags.add(_loc(where), cls, message, hint)

    def warning(self, where: LogicalLine | Word | Location | None, message: str,
                hint: str | None = None, cls: ErrClass = ErrClass.WARNING) -> None:
        self.diags.add(_loc(where), cls, message, hint)

    def note(self, where: LogicalLine | Word | Location | None, message: str) -> None:
        """Informational line that does not change the exit status."""
        self.diags.add(_loc(where), ErrClass.OK, message, info=True)

    # -- parameters --------------------------------------------------------------------------
    def arg(self, line: LogicalLine, pos: int = 1) -> Word:
        """Word ``pos`` (0 = the keyword) or a MISSING_PARAMETER error and SkipLine."""
        if pos < len(line.words):
            return line.words[pos]
        kw = line.keyword
        after = line.words[min(pos, len(line.words)) - 1].text if pos > 0 else kw  # the word before, as keepalived
        if self.in_global:
            self.diags.parent_missing_parameter = True
        self.diags.add(
            line.loc,
            ErrClass.MISSING_PARAMETER,
            f"Configuration line starting `{kw}` is missing a parameter after keyword `{after}` "
            f"at word position {pos + 1}",
        )
        raise SkipLine

    def opt(self, line: LogicalLine, pos: int = 1) -> Word | None:
        return line.words[pos] if pos < len(line.tokens) else None

    def string(self, line: LogicalLine, pos: int = 1) -> str:
        tokens = line[0]  # line.tokens (item 0 of the line's tuple, read directly in these hot paths)
        if pos < len(tokens):
            return tokens[pos]
        return self.arg(line, pos).text

    def integer(self, line: LogicalLine, pos: int, lo: int, hi: int, *,
                word: Word | None = None, strict: bool = False) -> int:
        """An integer in [lo, hi] with keepalived's messages (``read_int``/``read_unsigned``).

        keepalived accepts a valid numeric prefix (``12abc`` -> 12, reported as a WARNING); out of
        range is an error and the line is skipped (the keyword keeps its default).
        """
        tokens = line[0]  # line.tokens
        if word is None and pos < len(tokens):
            text = tokens[pos]
            if text.isdigit() and text.isascii():
                # the common case, plain decimal digits (no Word made)
                plain = int(text)
                if lo <= plain <= hi:
                    return plain
        w = word if word is not None else self.arg(line, pos)
        text = w.text
        if text.isdigit() and text.isascii():
            plain = int(text)
            if lo <= plain <= hi:
                return plain
        value = _int_prefix(text)
        if value is None:
            self.error(w, f"invalid number '{text}'", cls=ErrClass.INVALID_NUMBER)
            raise SkipLine
        if value < 0 and lo >= 0:
            self.error(w, f"negative number '{text}'", cls=ErrClass.INVALID_NUMBER)
            raise SkipLine
        if value < lo or value > hi:
            self.error(w, f"number '{text}' outside range [{lo}, {hi}]", cls=ErrClass.INVALID_NUMBER)
            raise SkipLine
        if not _is_int(text):
            self.warning(w, f"WARNING - invalid number '{text}'", cls=ErrClass.INVALID_NUMBER)
            if strict:
                raise SkipLine
        return value

    def timer(self, line: LogicalLine, pos: int = 1, lo: float = 0.0, hi: float = 4294.967295, *,
              word: Word | None = None) -> float:
        """A decimal number of seconds with up to 6 decimal places (keepalived ``read_timer``).

        Returns seconds as a float rounded to the microsecond.
        """
        tokens = line[0]  # line.tokens
        if word is None and pos < len(tokens):
            text = tokens[pos]
            if text.isdigit() and text.isascii() and len(text) < 16:
                # the common case, a plain integer: exact, no Decimal and no Word needed (an integer is within
                # a float bound exactly when it is within the bound's shortest decimal text, keepalived's)
                n = int(text)
                if lo <= n <= hi:
                    return float(n)
        bounds = _TIMER_BOUNDS.get((lo, hi))
        if bounds is None:
            bounds = _TIMER_BOUNDS[(lo, hi)] = (Decimal(str(lo)), Decimal(str(hi)))
        lo_d, hi_d = bounds
        w = word if word is not None else self.arg(line, pos)
        text = w.text
        try:
            d = Decimal(text)
        except InvalidOperation:
            d = None
        if d is None or not d.is_finite():
            self.error(w, f"invalid number '{text}'", cls=ErrClass.INVALID_NUMBER)
            raise SkipLine
        if d < lo_d or d > hi_d:
            self.error(w, f"number '{text}' outside range [{_fmt_bound(lo)}, {_fmt_bound(hi)}]",
                       cls=ErrClass.INVALID_NUMBER)
            raise SkipLine
        exponent = d.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -6:
            self.error(w, f"number '{text}' has too many decimal places - rounding",
                       cls=ErrClass.INVALID_NUMBER)
        return round(float(d), 6)

    def boolean(self, line: LogicalLine, pos: int = 1, *, default_if_missing: bool | None = True) -> bool:
        """``<BOOL>`` (true|on|yes|false|off|no, case-sensitive); missing -> ``default_if_missing``."""
        if pos >= len(line.tokens):
            if default_if_missing is None:
                self.arg(line, pos)  # raises
            return bool(default_if_missing)
        text = line.tokens[pos]
        if text in BOOL_TRUE:
            return True
        if text in BOOL_FALSE:
            return False
        w = line.words[pos]
        self.error(w, f"invalid boolean value '{w.text}' for keyword {line.keyword}",
                   hint="use true/false, on/off or yes/no")
        raise SkipLine


def _is_int(text: str) -> bool:
    try:
        int(text, 10)
    except ValueError:
        return False
    return True


def _int_prefix(text: str) -> int | None:
    """Parse like strtol(…, 10): optional sign then digits; None if there are no digits."""
    i = 0
    if i < len(text) and text[i] in "+-":
        i += 1
    j = i
    while j < len(text) and text[j].isdigit() and text[j].isascii():
        j += 1
    if j == i:
        return None
    return int(text[:j], 10)


#: ``timer`` bounds as keepalived compares them (decimal text of the float), per (lo, hi)
_TIMER_BOUNDS: dict[tuple[float, float], tuple[Decimal, Decimal]] = {}


def _fmt_bound(x: float) -> str:
    """keepalived prints timer ranges with %f."""
    return f"{x:.6f}"


def _loc(where: LogicalLine | Word | Location | None) -> Location | None:
    if where is None or isinstance(where, Location):
        return where
    return where.loc


#: an open block: its keyword table, its draft and, for a word-list block, the words so far (a plain tuple: a
#: large configuration opens a hundred thousand blocks)
_Frame = tuple[Block, Draft, list[Word] | None]


def _frame(block: Block, draft: Draft) -> _Frame:
    return block, draft, [] if block.kind == "words" else None


#: (id of the block, its keyword count, misspelt name) -> (the block, hint): the same typo is
#: often repeated; keeping the block keeps its id from being reused
_SUGGESTIONS: dict[tuple[int, int, str], tuple[Block, str | None]] = {}


def _suggest(name: str, block: Block) -> str | None:
    key = (id(block), len(block.keywords), name)
    cached = _SUGGESTIONS.get(key)
    if cached is not None and cached[0] is block:
        return cached[1]
    close = difflib.get_close_matches(name, list(block.keywords), n=1, cutoff=0.75)
    hint = f"did you mean '{close[0]}'?" if close else None
    if len(_SUGGESTIONS) < 4096:
        _SUGGESTIONS[key] = (block, hint)
    return hint


def _plain_handlers(block: Block) -> dict[str, Handler]:
    """The keywords of ``block`` that only run a handler (no block, no deprecation, no note): the parser's
    fast path.  Made per parse, as the tables may be changed after they are built."""
    if block.kind != "keywords":
        return {}
    return {name: spec.handler for name, spec in block.keywords.items()
            if spec.block is None and spec.handler is not None and spec.deprecated is None and spec.note is None}


def _plain_blocks(block: Block) -> dict[str, Block]:
    """The keywords of ``block`` that only open a keyword block (no deprecation, no note): the parser's fast
    path for a nested block's opening line."""
    if block.kind != "keywords":
        return {}
    return {name: spec.block for name, spec in block.keywords.items()
            if spec.block is not None and spec.block.kind == "keywords" and spec.deprecated is None
            and spec.note is None}


def _fast_tables(block: Block) -> tuple[dict[str, Handler], dict[str, Block]]:
    return _plain_handlers(block), _plain_blocks(block)


def parse_lines(lines: Iterable[LogicalLine], root: Block, ctx: Context, root_draft: Draft) -> Draft:
    """Run the keyword tables over ``lines``; returns the root draft (its blocks attached by end handlers)."""
    stack: list[_Frame] = [_frame(root, root_draft)]
    it: Iterator[LogicalLine] = iter(lines)
    next_line = it.__next__
    pending: LogicalLine | None = None
    root_keywords = root.keywords
    # keepalived's parent, which runs only the global keywords' handlers, sees a line inside global_defs
    # or a root-level keyword that opens no block (ctx.in_global); whether the outermost open block is
    # global_defs is known when it opens
    in_global_defs = False
    # the fast path: the open block's plain keywords and blocks (see _plain_handlers, _plain_blocks) and its
    # draft
    tables: dict[int, tuple[dict[str, Handler], dict[str, Block]]] = {}
    fast, opens = tables[id(root)] = _fast_tables(root)
    draft_now, at_root = root_draft, True
    draft: Draft | None
    # a reusable block being parsed: its key, (diagnostics, context reads) when it opened, its draft
    # and its last line, and the lines after it (``it`` reads its lines first)
    watch: tuple[bytes, tuple[int, int], Draft, LogicalLine, Iterator[LogicalLine]] | None = None
    seen = (0, 0)
    body: list[LogicalLine] = []
    rest = it

    while True:
        line: LogicalLine | None
        if pending is not None:
            line, pending = pending, None
        else:
            try:
                line = next_line()
            except StopIteration:
                break
        tokens = line[0]  # line.tokens
        if not tokens:
            continue
        kw = tokens[0]
        handler = fast.get(kw)
        if handler is not None:
            if at_root:
                ctx.in_global = True
            try:
                handler(ctx, line, draft_now)
            except SkipLine:
                pass
            continue
        if kw == "}" and not at_root and len(tokens) == 1:  # the commonest line after those
            ctx.in_global = in_global_defs
            _close(ctx, stack, line)
            block, draft_now, _ = stack[-1]
            (fast, opens), at_root = tables[id(block)], len(stack) == 1
            if watch is not None and at_root:
                it, watch = _reusable(ctx, watch, line, it), None
                next_line = it.__next__
            continue
        sub = opens.get(kw) if not at_root and pending is None else None
        if sub is not None:  # a nested block's opening line, what the general path below does for it
            nxt = next(it, None)
            if nxt is not None and nxt[0] == _OPEN and (sub.begin is not None or len(tokens) == 1):
                ctx.in_global = in_global_defs
                if sub.begin is not None:
                    try:
                        draft = sub.begin(ctx, line, draft_now)
                    except SkipLine:
                        draft = None
                    if draft is None:
                        _block_body(it)
                        continue
                    if draft.get("_loc") is None:  # (line.loc, inline)
                        draft["_loc"] = Location(line[2], line[3], line[4] or line[5].find(kw) + 1)
                else:
                    draft = {"_loc": line.loc}
                stack.append((sub, draft, None))  # _frame, inline
                if id(sub) not in tables:
                    tables[id(sub)] = _fast_tables(sub)
                fast, opens = tables[id(sub)]
                draft_now = draft
                continue
            pending = nxt  # not a block as it should be: the general path reports it
        if type(line) is ReusedBlock:  # a block the reader took from the cache whole
            top_spec = root_keywords.get(kw) if len(stack) == 1 else None
            if top_spec is not None and top_spec.block is not None and top_spec.block.reuse is not None:
                top_spec.block.reuse(ctx, line[6], root_draft)
                in_global_defs = False
                continue
            # not where such a block can be taken whole (a broken file): its lines, read again
            expanded = line[7]()
            line, tokens = expanded[0], expanded[0][0]
            it = chain(expanded[1:], it)
            next_line = it.__next__
        block, frame_draft, frame_words = stack[-1]
        if len(stack) == 1:
            top_spec = root_keywords.get(kw)
            ctx.in_global = top_spec is None or top_spec.block is None
        else:
            ctx.in_global = in_global_defs

        if len(tokens) == 1 and (kw == "}" or kw == "{"):
            if kw == "{":
                ctx.error(line, "Unexpected '{' - ignoring", cls=ErrClass.UNEXPECTED_BOB)
            elif len(stack) == 1:
                ctx.error(line, "Unknown keyword '}'", cls=ErrClass.UNKNOWN_KEYWORD)
            else:
                _close(ctx, stack, line)
                block, draft_now, _ = stack[-1]
                (fast, opens), at_root = tables[id(block)], len(stack) == 1
                if watch is not None and at_root:
                    it, watch = _reusable(ctx, watch, line, it), None
                    next_line = it.__next__
            continue

        if block.kind != "keywords":
            if frame_words is not None:
                frame_words.extend(line.words)
            elif block.entry is not None:
                try:
                    block.entry(ctx, line, frame_draft)
                except SkipLine:
                    pass
            continue

        spec = block.keywords.get(kw)
        if spec is None:
            ctx.error(line.words[0], f"Unknown keyword '{kw}'", _suggest(kw, block),
                      cls=ErrClass.UNKNOWN_KEYWORD)
            continue
        if spec.deprecated is not None:
            ctx.warning(line.words[0], f"{kw} is deprecated - please use '{spec.deprecated}'",
                        cls=ErrClass.DEPRECATED)
        if spec.note is not None:
            ctx.note(line.words[0], spec.note)

        if spec.block is None:
            if spec.handler is not None:
                try:
                    spec.handler(ctx, line, frame_draft)
                except SkipLine:
                    pass
            continue

        # A block keyword: the next logical line must be "{" (see the fast path above too).
        if pending is not None:
            nxt, pending = pending, None
        else:
            nxt = next(it, None)
        sub = spec.block
        if nxt is None or nxt[0] != _OPEN:  # nxt.tokens
            ctx.error(line, "Missing '{' at beginning of configuration block", cls=ErrClass.MISSING_BOB)
            pending = nxt
            if nxt is None or sub.kind != "keywords":
                continue
            # keepalived's process_stream goes on into the block all the same: the lines that follow
            # are its keywords, up to the next '}'
        if sub.kind == "keywords" and sub.begin is None and len(line.tokens) > 1:
            ctx.error(line, f"Block {kw} has extra parameters {' '.join(line.texts()[1:])} - ignoring",
                      cls=ErrClass.GENERAL_ERROR)
        reuse_key: bytes | None = None
        if len(stack) == 1 and sub.reuse is not None and ctx.block_cache is not None and pending is None:
            # a reusable top-level block: the model built last time from the same lines, else parse it
            body, closed = _block_body(it)
            if closed:
                reuse_key = block_key([line, nxt, *body])  # type: ignore[list-item]
                model = ctx.block_cache.take(reuse_key)
                if model is not None:
                    sub.reuse(ctx, model, frame_draft)
                    in_global_defs = False
                    continue
            rest, it = it, chain(body, it)
            next_line = it.__next__
            seen = (len(ctx.diags.items), ctx.context_reads)
        if sub.begin is not None:
            try:
                draft = sub.begin(ctx, line, frame_draft)
            except SkipLine:
                draft = None
        else:
            draft = {"_loc": line.loc}
        if draft is None:
            # The block is unusable (e.g. a missing name): skip to its matching brace.
            if pending is None:
                _block_body(it)
            continue
        if draft.get("_loc") is None:
            draft["_loc"] = line.loc
        if len(stack) == 1:
            in_global_defs = kw == "global_defs"
        stack.append((sub, draft, [] if sub.kind == "words" else None))  # _frame, inline
        if id(sub) not in tables:
            tables[id(sub)] = _fast_tables(sub)
        fast, opens = tables[id(sub)]
        draft_now, at_root = draft, False
        ctx.in_global = in_global_defs
        if reuse_key is not None:
            watch = (reuse_key, seen, draft, body[-1], rest)

    while len(stack) > 1:
        # The reader reports the missing braces; close what is open so nothing is lost.
        _close(ctx, stack)
    ctx.in_global = False
    return root_draft


#: the tokens of an opening brace line
_OPEN = ("{",)


def _close(ctx: Context, stack: list[_Frame], end: LogicalLine | None = None) -> None:
    block, draft, words = stack.pop()
    if end is not None:
        # the block's "}": keepalived reports end-of-block problems at that line (blocks.common.end_loc)
        draft["_end_line"] = end
    parent = stack[-1][1]
    if words is not None and block.words is not None:
        try:
            block.words(ctx, words, draft)
        except SkipLine:
            pass
    if block.end is not None:
        try:
            block.end(ctx, draft, parent)
        except SkipLine:
            pass


def _block_body(it: Iterator[LogicalLine]) -> tuple[list[LogicalLine], bool]:
    """The lines after a block's ``{`` up to its matching ``}``, and whether that came before the end (also how an
    unusable block is skipped)."""
    body: list[LogicalLine] = []
    add = body.append
    depth = 1
    for line in it:
        add(line)
        tokens = line[0]
        if len(tokens) == 1:
            t = tokens[0]
            if t == "}":
                depth -= 1
                if not depth:
                    return body, True
            elif t == "{":
                depth += 1
    return body, False


def _reusable(ctx: Context, watch: tuple[bytes, tuple[int, int], Draft, LogicalLine, Iterator[LogicalLine]],
              end: LogicalLine, it: Iterator[LogicalLine]) -> Iterator[LogicalLine]:
    """A reusable block has closed at ``end``: its draft carries its key if nothing was reported or read beyond
    it (the section's validation decides whether to keep what it builds, :meth:`.block_cache.BlockCache.keep`).
    Returns the lines to read next: when its own were all read, the lines after them, unchained (keepalived's
    reading of a broken block may close it earlier, and then its remaining lines come first)."""
    key, seen, draft, last, after = watch
    if (len(ctx.diags.items), ctx.context_reads) == seen:
        draft["_reuse_key"] = key
    return after if end is last else it


def model_fields(draft: Draft) -> dict[str, Any]:
    """The draft without private (``_``-prefixed) entries: ready for ``Model(**fields)``."""
    return {k: v for k, v in draft.items() if not k.startswith("_")}

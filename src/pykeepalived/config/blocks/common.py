"""What every block module shares: named-block begin/end helpers, line-list blocks, and the one
mechanism for single-valued keywords (:class:`Scalar`: a typed value, its range, keepalived's
complaint when the value is rejected or missing, and the 0 -> 1 correction some keywords make).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ..lines import Location, LogicalLine, Word
from ..parser import Block, Context, Draft, Handler, SkipLine, model_fields

UINT_MAX = 4294967295


def interface_exists(ctx: Context, name: str) -> bool:
    """keepalived's ``if_get_by_ifname(IF_CREATE_IF_DYNAMIC)``: records a missing interface."""
    ctx.context_reads += 1
    if ctx.interfaces is None or ctx.shared.get("dynamic_interfaces") or name in ctx.interfaces:
        return True
    ctx.shared["non_existent_interface"] = True
    return False


def items(draft: Draft, key: str) -> list[Any]:
    return draft.setdefault(key, [])


def block_name(ctx: Context, line: LogicalLine, what: str, *, fatal: bool = False) -> str:
    """Word 1 of a named block.  keepalived's vrrp_script, track_file and vrrp_track_process read it
    with ``strvec_slot`` (a missing name aborts the parse: MISSING_PARAMETER, exit 2); the others
    check the word count and only report an error."""
    if fatal:
        return ctx.string(line, 1)
    if len(line.words) < 2:
        ctx.error(line, f"{what} must have a name")
        raise SkipLine
    return line.words[1].text


def end_loc(draft: Draft) -> Location | None:
    """Where the block's closing brace was (else where it opened)."""
    end = draft.get("_end_line")
    return end.loc if end is not None else draft.get("_loc")


def uniq_begin(kind: str, what: str, key: str, *,
               fatal_name: bool = False) -> Callable[[Context, LogicalLine, Draft], Draft]:
    """A named root block (vrrp_script X …): name required, duplicates rejected."""
    def begin(ctx: Context, line: LogicalLine, parent: Draft) -> Draft:
        name = block_name(ctx, line, what, fatal=fatal_name)
        seen = ctx.shared.setdefault(f"names:{key}", set())
        if name in seen:
            ctx.error(line, f"{kind} {name} already defined")
            raise SkipLine
        seen.add(name)
        return {"name": name, "_loc": line.loc}

    return begin


def append_end(key: str, build: Callable[[Context, Draft], Any]) -> Callable[[Context, Draft, Draft], None]:
    def end(ctx: Context, draft: Draft, parent: Draft) -> None:
        obj = build(ctx, draft)
        if obj is not None:
            items(parent, key).append(obj)

    return end


T = TypeVar("T")


def weighted_build(model: Callable[..., T], required: str, missing: str, weights_key: str, *,
                    default_weight: int = 0) -> Callable[[Context, Draft], T | None]:
    """End of a tracker block: ``required`` missing -> ``missing`` error (``{name}``: the block's
    name) and no object; else record its (weight, reverse) in ``ctx.shared[weights_key]`` and build it."""

    def build(ctx: Context, draft: Draft) -> T | None:
        if required not in draft:
            ctx.error(end_loc(draft), missing.format(name=draft["name"]))
            return None
        ctx.shared.setdefault(weights_key, {})[draft["name"]] = (
            draft.get("weight", default_weight),
            draft.get("weight_reverse", False),
        )
        return model(**model_fields(draft))

    return build

def tracker_weight(what: str, limit: int, invalid: str, missing: str | None = None) -> Handler:
    """``weight N [reverse|noreverse]`` inside a tracker definition (``what``: the block keyword), N in
    [-limit, limit].  ``invalid`` (``{name}``, ``{arg}``) follows a rejected value; ``missing`` (``{name}``)
    replaces MISSING_PARAMETER when there is no value."""

    def handle(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        name = draft["name"]
        if missing is not None and len(line.words) < 2:
            ctx.error(line, missing.format(name=name))
            return
        try:
            draft["weight"] = ctx.integer(line, 1, -limit, limit)
        except SkipLine:
            ctx.error(line, invalid.format(name=name, arg=line.words[1].text if len(line.words) > 1 else ""))
            raise
        if len(line.words) > 2:
            if line.words[2].text == "reverse":
                draft["weight_reverse"] = True
            elif line.words[2].text != "noreverse":
                ctx.error(line, f"{what} {name} unknown weight option {line.words[2].text}")

    return handle


def group_block(what: str) -> Block:
    """The ``group { NAME ... }`` list of a sync group or track group (``what``: "sync", "track")."""

    def words(ctx: Context, words: list[Word], draft: Draft) -> None:
        draft["members"] = [w.text for w in words]

    def end(ctx: Context, draft: Draft, parent: Draft) -> None:
        if "group" in parent:
            ctx.error(draft.get("_loc"), f"Group list already specified for sync group {parent['name']}")
        elif not draft.get("members"):
            ctx.error(draft.get("_loc"), f"Warning - {what} group {parent['name']} has empty group block")
        else:
            parent["group"] = tuple(draft["members"])

    return Block("group", kind="words", words=words, end=end)


Kind = Literal["flag", "bool", "str", "int", "timer", "words", "ints"]


def read_value(ctx: Context, line: LogicalLine, kind: Kind, lo: float, hi: float, pos: int = 1) -> Any:
    """Read word ``pos`` of ``line`` as ``kind`` (MISSING_PARAMETER when absent, keepalived's number rules)."""
    if kind == "flag":
        return True
    if kind == "bool":
        return ctx.boolean(line, pos)
    if kind == "str":
        return ctx.string(line, pos)
    if kind == "int":
        return ctx.integer(line, pos, int(lo), int(hi))
    if kind == "timer":
        return ctx.timer(line, pos, float(lo), float(hi))
    if kind == "words":
        return tuple(line.texts()[pos:])
    if kind == "ints":
        return tuple(ctx.integer(line, i, int(lo), int(hi)) for i in range(pos, len(line.words)))
    raise AssertionError(kind)


def read_checked(ctx: Context, line: LogicalLine, kind: Kind, lo: float, hi: float, invalid: str | None = None,
                 pos: int = 1, name: str = "") -> Any:
    """:func:`read_value`, adding keepalived's keyword-specific complaint ``invalid`` when the value is
    rejected (``{arg}``: the word, ``{kw}``: the keyword, ``{name}``: the block's name)."""
    try:
        return read_value(ctx, line, kind, lo, hi, pos)
    except SkipLine:
        if invalid and len(line.words) > pos:
            ctx.error(line, invalid.format(arg=line.words[pos].text, kw=line.keyword, name=name))
        raise


@dataclass(frozen=True)
class Scalar:
    """A single-valued keyword: how to read it, where it goes, and keepalived's messages about it.

    ``invalid``: the complaint after a rejected value (see :func:`read_checked`).  ``missing``: None
    makes a missing value a MISSING_PARAMETER error; otherwise keepalived checks the word count
    first and this is its plain error ("" ignores the line silently).  ``zero``: a value of 0 is
    corrected to 1 with this error.  ``fallback``: a rejected value stores this instead of keeping
    the old one.  ``into`` picks the dict the value goes in (default: the block's draft), ``shared``
    also records the value in ``ctx.shared`` for later blocks.
    """

    keyword: str
    kind: Kind
    lo: float = 0
    hi: float = UINT_MAX
    invalid: str | None = None
    field: str = ""
    missing: str | None = None
    zero: str | None = None
    fallback: Any = None
    into: Callable[[Draft], Draft] | None = None
    shared: str | None = None

    @property
    def name(self) -> str:
        return self.field or self.keyword


def install_scalars(block: Block, scalars: list[Scalar]) -> None:
    for spec in scalars:
        block.keyword(spec.keyword)(scalar_handler(spec))


def scalar_handler(spec: Scalar) -> Handler:
    key = spec.name
    simple = (spec.missing is None and spec.zero is None and spec.fallback is None and spec.shared is None
              and spec.kind in ("int", "timer", "str"))
    if simple:
        return _simple_scalar_handler(spec, key)

    def handle(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        d = spec.into(draft) if spec.into is not None else draft
        name = draft.get("name", "")
        if spec.missing is not None and len(line.words) < 2:
            if spec.missing:
                ctx.error(line, spec.missing.format(kw=line.keyword, name=name))
            return
        try:
            value = read_checked(ctx, line, spec.kind, spec.lo, spec.hi, spec.invalid, name=name)
        except SkipLine:
            if spec.fallback is None or len(line.words) < 2:
                raise
            value = spec.fallback
        else:
            if spec.zero is not None and value == 0:
                ctx.error(line, spec.zero.format(kw=line.keyword, name=name))
                value = type(value)(1)
        d[key] = value
        if spec.shared is not None:
            ctx.shared[spec.shared] = value

    return handle


def _simple_scalar_handler(spec: Scalar, key: str) -> Handler:
    """The commonest scalars (a number or a string, no special cases), read without the general
    handler's layers: a large config has hundreds of thousands of them."""
    kind, into = spec.kind, spec.into
    ilo, ihi, flo, fhi = int(spec.lo), int(spec.hi), float(spec.lo), float(spec.hi)

    def invalid(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        if spec.invalid and len(line.tokens) > 1:
            ctx.error(line, spec.invalid.format(arg=line.tokens[1], kw=line.keyword, name=draft.get("name", "")))

    def read_int(ctx: Context, line: LogicalLine) -> int:
        tokens = line[0]  # the plain case first: decimal digits within the range
        if len(tokens) > 1 and (text := tokens[1]).isdigit() and text.isascii() and ilo <= (n := int(text)) <= ihi:
            return n
        return ctx.integer(line, 1, ilo, ihi)

    def read_timer(ctx: Context, line: LogicalLine) -> float:
        return ctx.timer(line, 1, flo, fhi)

    def read_string(ctx: Context, line: LogicalLine) -> str:
        return ctx.string(line, 1)

    read = read_int if kind == "int" else read_timer if kind == "timer" else read_string
    if into is not None:
        def handle_into(ctx: Context, line: LogicalLine, draft: Draft) -> None:
            try:
                into(draft)[key] = read(ctx, line)
            except SkipLine:
                invalid(ctx, line, draft)
                raise

        return handle_into

    def handle(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        try:
            draft[key] = read(ctx, line)
        except SkipLine:
            invalid(ctx, line, draft)
            raise

    return handle


def entries_block(name: str, key: str, parse: Callable[[Context, LogicalLine], Any]) -> Block:
    """A line-list block whose entries are parsed one by one into ``draft[key]``."""
    def entry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        obj = parse(ctx, line)
        if obj is not None:
            items(draft, "entries").append(obj)

    def end(ctx: Context, draft: Draft, parent: Draft) -> None:
        items(parent, key).extend(draft.get("entries", []))

    return Block(name, kind="lines", entry=entry, end=end)


def bool_or_error(ctx: Context, line: LogicalLine, message: str) -> bool | None:
    try:
        return ctx.boolean(line)
    except SkipLine:
        ctx.error(line, message)
        return None


def child_begin(ctx: Context, line: LogicalLine, parent: Draft) -> Draft:
    return {"_parent": parent, "_loc": line.loc}




def garp_extra_if(field: str, prefix: str = "") -> Handler:
    """``garp_extra_if [all] DELAY`` (instance) and global ``vrrp_garp_extra_if``: DELAY in [1, 86400]
    seconds into ``draft[field]``, ``all`` into ``draft[field + "_all"]``; ``prefix`` starts every
    message (``{name}``: the block's name)."""

    def handle(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        who = prefix.format(name=draft.get("name", ""))
        delay = None
        for i in range(1, len(line.words)):
            if line.words[i].text == "all":
                draft[f"{field}_all"] = True
                continue
            try:
                delay = ctx.integer(line, i, 1, 86400)
            except SkipLine:
                ctx.error(line, f"{who}{line.keyword} '{line.words[i].text}' invalid - ignoring")
                raise
        if delay is None:
            ctx.error(line, f"{who}{line.keyword} specified without time - ignoring")
            return
        draft[field] = delay

    return handle

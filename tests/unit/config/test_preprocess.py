"""The reader (keepalived's lib/parser.c): conditionals, definitions, ~SEQ/~LST, include, braces."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pykeepalived.config import preprocess
from pykeepalived.config.errors import Diagnostics, ErrClass
from pykeepalived.config.lines import LogicalLine
from pykeepalived.config.preprocess import IncludeCheck, read_config, read_config_text
from tests.conftest import data_path, sample_names


def read(text: str, config_id: str = "node1", **kw: object) -> tuple[list[LogicalLine], Diagnostics]:
    d = Diagnostics()
    lines = read_config_text(text, d, name="t.conf", config_id=config_id, random_seed=1, **kw)  # type: ignore[arg-type]
    return lines, d


def texts(text: str, **kw: object) -> list[list[str]]:
    return [ln.texts() for ln in read(text, **kw)[0]]


def flat(text: str, **kw: object) -> list[str]:
    return [w for ws in texts(text, **kw) for w in ws]


def msgs(d: Diagnostics) -> list[tuple[ErrClass, str]]:
    return [(x.cls, x.message) for x in d]


# ---------------------------------------------------------------------------- lexer quirks


def test_braces_anywhere_are_equivalent() -> None:
    a = "vrrp_instance VI_1 {\n  interface eth0\n}\n"
    b = "vrrp_instance VI_1\n{\n  interface eth0 }\n"
    c = "vrrp_instance VI_1 { interface eth0\n}"
    d = "vrrp_instance VI_1{interface eth0}"
    expected = [["vrrp_instance", "VI_1"], ["{"], ["interface", "eth0"], ["}"]]
    assert texts(a) == texts(b) == texts(c) == texts(d) == expected


def test_semicolon_is_not_a_separator() -> None:
    assert texts("virtual_router_id 9 ; priority 99") == [["virtual_router_id", "9", ";", "priority", "99"]]


def test_comments_mid_word_and_escaped() -> None:
    assert texts("router_id abc#def\npriority 1!x") == [["router_id", "abc"], ["priority", "1"]]
    assert texts(r"router_id a\#b\!c") == [["router_id", "a#b!c"]]
    assert texts('router_id "a # b" # c') == [["router_id", "a # b"]]


def test_braces_inside_quotes_do_not_split() -> None:
    lines, _ = read('script "/bin/x {a}" }')
    assert [ln.texts() for ln in lines] == [["script", "/bin/x {a}"], ["}"]]


def test_raw_is_the_decommented_substituted_segment() -> None:
    lines, _ = read('$X=42\nvrrp_script s { script "/bin/echo \\# ${X} $X" ; interval 3 } # c')
    raws = [ln.raw for ln in lines]
    assert raws == ["vrrp_script s", "{", 'script "/bin/echo \\# 42 $X" ; interval 3', "}"]


def test_columns() -> None:
    lines, _ = read("  vrrp_instance VI_1 {  interface eth0 }\n\tpriority 100")
    cols = [[(w.text, w.loc.line, w.loc.col) for w in ln.words] for ln in lines]
    assert cols == [
        [("vrrp_instance", 1, 3), ("VI_1", 1, 17)], [("{", 1, 22)],
        [("interface", 1, 25), ("eth0", 1, 35)], [("}", 1, 40)],
        [("priority", 2, 2), ("100", 2, 11)]]
    assert lines[0].loc.col == 3 and lines[0].loc.file == "t.conf"


def test_columns_after_escapes_and_substitution() -> None:
    lines, _ = read("$IF=eth0\n   x $IF z\n  \\#y z")
    assert [(w.text, w.loc.col) for w in lines[0].words] == [("x", 4), ("eth0", 6), ("z", 10)]
    assert [(w.text, w.loc.col) for w in lines[1].words] == [("#y", 4), ("z", 7)]


def test_substitution_redecomments_the_line() -> None:
    # keepalived decomments again after substituting: an escaped '#' then starts a comment
    assert texts("$IF=eth0\nx\\#y $IF z") == [["x"]]


def test_unterminated_and_unmatched_quotes() -> None:
    lines, d = read('router_id "abc')
    assert msgs(d) == [(ErrClass.GENERAL_ERROR, "Unterminated quote 'router_id \"abc'"),
                       (ErrClass.UNMATCHED_QUOTE, "Unmatched quote: 'router_id \"abc'")]
    assert [ln.texts() for ln in lines] == [["router_id"]]
    # even count of quotes, but the tokeniser pairs them differently
    _, d = read('x \\"b')
    assert msgs(d) == [(ErrClass.UNMATCHED_QUOTE, "Unmatched quote: 'x \\\"b'")]


def test_script_keywords_may_have_mismatched_quotes_after_word_two() -> None:
    _, d = read('notify /bin/x "a')
    assert not list(d)[1:]  # only the decomment warning
    assert msgs(d) == [(ErrClass.GENERAL_ERROR, "Unterminated quote 'notify /bin/x \"a'")]
    _, d = read('notify "a')  # quote right after the keyword: still an error
    assert (ErrClass.UNMATCHED_QUOTE, "Unmatched quote: 'notify \"a'") in msgs(d)


def test_long_and_nul_lines_are_ignored_with_keepalived_messages() -> None:
    lines, d = read("a 1\n" + "x" * 5000 + "\nb\0 2\nc 3\n")
    assert [ln.texts() for ln in lines] == [["a", "1"], ["c", "3"]]
    assert lines[1].loc.line == 4
    assert [(x.loc.line, x.cls, x.message) for x in d if x.loc] == [
        (2, ErrClass.GENERAL_ERROR, "line too long - ignoring"),
        (3, ErrClass.GENERAL_ERROR, "configuration appears to have embedded NULs - ignoring line")]


def test_ten_megabyte_line() -> None:
    lines, d = read("a " + "b" * 10_000_000 + "\nc")
    assert [ln.texts() for ln in lines] == [["c"]]
    assert len(d) == 1


# ---------------------------------------------------------------------------- braces


def test_extra_and_missing_braces() -> None:
    lines, d = read("a {\n}\n}\n")
    assert [(x.loc.line, x.loc.col, x.cls, x.message) for x in d if x.loc] == [
        (3, 1, ErrClass.UNEXPECTED_EOB, "Extra '}' found")]
    assert lines[-1].texts() == ["}"]  # still handed to the parser (keepalived: Unknown keyword '}')
    _, d = read("a {\n b {\n c {\n}\n")
    assert msgs(d) == [(ErrClass.MISSING_EOB, "There are 2 missing '}'s or extra '{'s")]
    assert next(iter(d)).loc.line == 1  # points at the first unclosed '{'


def test_deep_nesting() -> None:
    n = 20_000
    lines, d = read("x {\n" * n + "}\n" * n)
    assert len(lines) == 3 * n and not list(d)
    n = 500  # keeps the line under keepalived's 1024 bytes
    lines, d = read("a" + "{" * n + "}" * (n + 1))
    assert len(lines) == 2 * n + 2
    assert msgs(d) == [(ErrClass.UNEXPECTED_EOB, "Extra '}' found")]


# ---------------------------------------------------------------------------- conditionals


def test_conditionals() -> None:
    text = "@node1 a 1\n@node2 b 2\n@^node1 c 3\n@^node2 d 4\n@node1\n@node1\tf 6\n@node11 g 7\n"
    assert texts(text) == [["a", "1"], ["d", "4"], ["f", "6"]]
    assert texts(text, config_id="other") == [["b", "2"][:0] or ["c", "3"], ["d", "4"]]


def test_conditional_prefix_is_not_rechecked() -> None:
    assert texts("@node1 @node1 x") == [["@node1", "x"]]
    # ... unless a substitution happened and the line starts with '@' again
    assert texts("$C=@node1\n$C y") == [["y"]]


def test_conditional_definitions() -> None:
    assert flat("$P=150\n@node1 $P=200\n@^node1 $P=1\npriority $P") == ["priority", "200"]
    assert flat("$P=150\n@node1 $P=200\n@^node1 $P=1\npriority $P", config_id="x") == ["priority", "1"]


def test_default_config_id_is_short_hostname(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preprocess.socket, "gethostname", lambda: "lb1.example.com")
    d = Diagnostics()
    lines = read_config_text("@lb1 a\n@lb1.example.com b", d)
    assert [ln.texts() for ln in lines] == [["a"]]


# ---------------------------------------------------------------------------- definitions


def test_simple_definitions_and_terminators() -> None:
    text = "$A=x\nk $A $A, $A) ${A}y $Ay $A.z $B ${B}\n"
    # an undefined ${B} stays, and its braces split the line like any other
    assert texts(text) == [["k", "x", "x,", "x)", "xy", "$Ay", "$A.z", "$B", "$"], ["{"], ["B"], ["}"]]


def test_definition_syntax() -> None:
    assert flat("$A = 1\nk $A") == ["$A", "=", "1", "k", "$A"]  # blank before '=': not a definition
    assert flat("$A=   spaced value\nk $A") == ["k", "spaced", "value"]
    assert flat("$1A=1\nk") == ["$1A=1", "k"]
    assert flat("$A=\nk [$A]") == ["k", "[$A]"]  # ']' does not end a name...
    assert flat("$A=\nk ${A}]") == ["k", "]"]  # ...but braces do


def test_dynamic_definitions() -> None:
    assert flat("$A=10.2.${B}\n$B=0\nip ${A}.1\n$B=7\nip ${A}.1") == ["ip", "10.2.0.1", "ip", "10.2.7.1"]


def test_recursive_definitions_terminate() -> None:
    lines, d = read("$A=$A\nk $A")
    assert [ln.texts() for ln in lines] == [["k", "$A"]]
    assert any("does not terminate" in x.message for x in d)
    _, d = read("$A=x${A}\nk $A")
    assert [(x.cls, x.info) for x in d] == [(ErrClass.OK, True)]
    assert "would exceed maximum line length" in next(iter(d)).message


def test_substitution_too_long_is_informational() -> None:
    lines, d = read("$A=" + "x" * 600 + "\nk $A $A")
    assert [x.message[:40] for x in d] == ["Parameter substitution on line 'k xxxxxx"]
    assert d.worst is ErrClass.OK
    assert lines[0].words[2].text == "$A"  # the first reference was substituted, then it stopped


def test_substituted_hash_outside_quotes_starts_a_comment() -> None:
    assert flat('k ${_HASH} x\nk "${_HASH} ${_BANG}"') == ["k", "k", "# !"]


def test_multiline_definition() -> None:
    text = ("$NUM=7\n$MULTI= \\\nvrrp_script multi_${NUM} { \\\n   script \"/bin/echo multi ${NUM}\" \\\n"
            "   interval 2 \\\n}\n$MULTI\n$NUM=8\n$MULTI\n")
    expected = [[["vrrp_script", f"multi_{n}"], ["{"], ["script", f"/bin/echo multi {n}"], ["interval", "2"],
                 ["}"]] for n in (7, 8)]
    assert texts(text) == expected[0] + expected[1]


def test_multiline_definition_end_and_use_rules() -> None:
    # comment-only and blank-only lines do not end a definition; an empty line does
    text = "$M=a \\\n# comment\n   \nb\n$M\nk $M\n$M x\n"
    assert texts(text) == [["a"], ["b"], ["k", "a"], ["b"], ["$M", "x"]]
    assert texts("$M=a \\\n\nb 1\n$M") == [["b", "1"], ["a"]]
    # '$M=\' then one line: an ordinary definition
    assert texts("$M=\\\nv\nk $M z") == [["k", "v", "z"]]


def test_nested_multiline_definitions() -> None:
    text = "$IN=i1 \\\ni2\n$OUT=o1 \\\n$IN\\\no2\n$OUT\n"
    assert texts(text) == [["o1"], ["i1"], ["i2"], ["o2"]]


def test_self_expanding_multiline_definition_is_cut() -> None:
    lines, d = read("$M=a \\\n$M\n$M\n")
    assert 10 < len(lines) < 200 and any("nested more than" in x.message for x in d)


# ---------------------------------------------------------------------------- predefined


def test_predefined_definitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYKA_TEST_VAR", "from-env")
    text = "k ${_PWD} ${_INSTANCE} $_INSTANCE ${_HASH}x\nk ${_ENV PYKA_TEST_VAR} ${_ENV PYKA_UNSET_VAR}."
    got = texts(text, base_dir=str(tmp_path))
    assert got == [["k", os.path.realpath(tmp_path), "node1", "node1"], ["k", "from-env", "."]]


def test_random() -> None:
    assert flat("k ${_RANDOM 5 5} tail") == ["k", "5", "tail"]
    values = [int(x) for x in flat("k ${_RANDOM 3 9} ${_RANDOM 3 9} ${_RANDOM 3 9} ${_RANDOM}")[1:]]
    assert all(3 <= v <= 9 for v in values[:3]) and 0 <= values[3] <= 32767
    assert flat("k ${_RANDOM}") == flat("k ${_RANDOM}")  # seeded
    lines, d = read("k ${_RANDOM x}")
    assert [ln.texts() for ln in lines] == [["k", "$"], ["{"], ["_RANDOM", "x"], ["}"]]
    assert msgs(d) == [(ErrClass.GENERAL_ERROR, "Definition _RANDOM requires numeric parameters only.")]
    _, d = read("k ${_RANDOM 1 2 3}")
    assert "requires between 0 and 2 parameters, 3 specified" in next(iter(d)).message
    lines, d = read("k ${_RANDOM 9 3}")
    assert lines[0].texts() == ["k", "9"] and "min 9 exceeds max 9" not in str(next(iter(d)))


def test_predefined_can_be_overridden() -> None:
    assert flat("$_HASH=h\nk ${_HASH}") == ["k", "h"]


# ---------------------------------------------------------------------------- ~SEQ / ~LST


@pytest.mark.parametrize(
    ("spec", "values"),
    [
        ("X,3", ["1", "2", "3"]),
        ("X,-2", ["-1", "-2"]),
        ("X,0", ["1", "0"]),
        ("X,1", ["1"]),
        ("X, 1, 2", ["1", "2"]),
        ("X,5,3", ["5", "4", "3"]),
        ("X,0,2,6", ["0", "2", "4", "6"]),
        ("X,0,4,5", ["0", "4"]),
        ("X,6,-3,0", ["6", "3", "0"]),
        ("X,0x90,0x92", ["144", "145", "146"]),
        ("X,010,011", ["8", "9"]),
        ("X,", ["1", "0"]),
    ],
)
def test_seq(spec: str, values: list[str]) -> None:
    assert flat(f"~SEQ({spec}) v $X") == [w for v in values for w in ("v", v)]


def test_seq_hex_and_parameters_from_definitions() -> None:
    assert flat("~SEQx(X,254,257) ${X}") == ["fe", "ff", "100", "101"]
    assert flat("$LO=2\n$HI=3\n~SEQ(X,$LO,$HI) ${X}") == ["2", "3"]


@pytest.mark.parametrize(
    ("spec", "first"),
    [
        ("~SEQ(X,0,-1,6) v", "Invalid ~SEQ values '~SEQ(X,0,-1,6) v'"),
        ("~SEQ(X,0,0,6) v", "Invalid ~SEQ values '~SEQ(X,0,0,6) v'"),
        ("~SEQ(X,1,2 v", "~SEQ missing terminating ')' '~SEQ(X,1,2 v'"),
        ("~SEQ(X) v", "Invalid ~SEQ definition '~SEQ(X) v'"),
        ("~SEQ(X,1,2,3,4) v", "Invalid ~SEQ definition '~SEQ(X,1,2,3,4) v'"),
        ("~SEQ(X,a) v", "Invalid ~SEQ definition '~SEQ(X,a) v'"),
        ("~SEQx(X,-1,2) v", "~SEQx is only valid for positive numbers '~SEQx(X,-1,2) v'"),
    ],
)
def test_seq_errors(spec: str, first: str) -> None:
    lines, d = read(spec)
    assert lines == []
    assert msgs(d) == [(ErrClass.GENERAL_ERROR, first),
                       (ErrClass.GENERAL_ERROR, f"Invalid ~SEQ specification '{spec}'")]


def test_chained_generators_nest_left_to_right() -> None:
    assert flat("~SEQ(A,1,2) ~SEQ(B,1,3) ${A}${B}") == ["11", "12", "13", "21", "22", "23"]
    assert flat("~LST(A,x,y) ~SEQ(B,1,2) ${A}-$B") == ["x-1", "x-2", "y-1", "y-2"]
    assert flat("~LST(A,x,y) ~SEQ(B,1,2) $A-$B") == ["$A-1", "$A-2"] * 2  # '-' does not end a name
    assert len(texts("~SEQ(IF,0,7) ~SEQ(NUM,0,31) ~SEQ(ID,1,254) vi_${IF}_${NUM}_${ID}")) == 8 * 32 * 254


def test_lst() -> None:
    assert flat("~LST(V, a, b,c) k $V") == ["k", "a", "k", "b", "k", "c"]
    assert flat("~LST({A,B}, {x,1},{y,2}) ${A}=$B") == ["x=1", "y=2"]
    assert flat("~LST({A,B}, {x,1},{y,2}) $A=$B\nk $A") == ["k", "2"]  # a generated definition of A
    assert flat("~LST({A,B,C}, {x},{y,2}) [${A}|${B}|${C}]") == ["[x||]", "[y|2|]"]
    lines, d = read("~LST({A,B}, {x,1,2}) k")
    assert lines == [] and msgs(d)[0] == (ErrClass.GENERAL_ERROR,
                                          "~LST specification has too many values '~LST({A,B}, {x,1,2}) k'")
    _, d = read("~LST(A) k")
    assert msgs(d) == [(ErrClass.GENERAL_ERROR, "Invalid ~LST specification '~LST(A) k'")]


def test_generated_blocks_from_capture() -> None:
    got = texts('~SEQ(I, 1, 2) vrrp_script seq_${I} { script "/bin/echo seq ${I}" }\n'
                '~LST({A,B}, {x,1},{y,2}) vrrp_script lst_${A}_${B} { script "/bin/echo lst ${A} ${B}" }')
    names = [ws[1] for ws in got if ws[0] == "vrrp_script"]
    assert names == ["seq_1", "seq_2", "lst_x_1", "lst_y_2"]
    assert ["script", "/bin/echo lst y 2"] in got


def test_generated_line_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preprocess, "MAX_GENERATED_LINES", 100)
    lines, d = read("~SEQ(X,1,1000000000) v")
    assert len(lines) == 100 and any("lines generated" in x.message for x in d)


def test_seq_variable_stays_defined() -> None:
    assert flat("~SEQ(X,1,2) a\nk $X") == ["a", "a", "k", "2"]


# ---------------------------------------------------------------------------- include


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def run(main: Path, **kw: object) -> tuple[preprocess.ReadResult, Diagnostics]:
    d = Diagnostics()
    return read_config(main, d, config_id="node1", random_seed=1, **kw), d  # type: ignore[arg-type]


def test_include_glob_relative_nested(tmp_path: Path) -> None:
    main = write(tmp_path / "conf" / "main.conf", "a 1\ninclude inc/*.conf\nz 26\n")
    write(tmp_path / "conf" / "inc" / "b.conf", "b 2\ninclude sub/{x,y}.conf\n")
    write(tmp_path / "conf" / "inc" / "c.conf", "c 3 ${_PWD}\n")
    write(tmp_path / "conf" / "inc" / "sub" / "x.conf", "x 24\n")
    write(tmp_path / "conf" / "inc" / "sub" / "y.conf", "y 25\n")
    write(tmp_path / "conf" / "inc" / "skip.txt", "bad\n")
    lines, d = run(main)
    assert [ln.texts() for ln in lines] == [
        ["a", "1"], ["b", "2"], ["x", "24"], ["y", "25"],
        ["c", "3", os.path.realpath(tmp_path / "conf" / "inc")], ["z", "26"]]
    assert not list(d)
    assert lines[2].loc.file == str(tmp_path / "conf" / "inc" / "sub" / "x.conf")
    assert lines[2].loc.line == 1
    assert lines.files == [str(main), *(str(tmp_path / "conf" / "inc" / p)
                                        for p in ("b.conf", "sub/x.conf", "sub/y.conf", "c.conf"))]


def test_include_in_residue_and_variants_keyword_forms(tmp_path: Path) -> None:
    write(tmp_path / "i.conf", "inner 1\n")
    main = write(tmp_path / "m.conf", "blk { include i.conf\n}\nincluder i.conf\nincludex i.conf\n")
    lines, _ = run(main)
    assert [ln.texts() for ln in lines] == [["blk"], ["{"], ["inner", "1"], ["}"], ["inner", "1"],
                                            ["includex", "i.conf"]]


def test_include_missing(tmp_path: Path) -> None:
    main = write(tmp_path / "m.conf", "include nothere.conf\nincluder nothing*.conf\n"
                                      "includem nothere.conf\nincludew nothing*.conf\n")
    lines, d = run(main)
    assert lines == []
    got = [(x.loc.line if x.loc else None, x.cls, x.info, x.message) for x in d]
    assert got == [
        (1, ErrClass.OK, True, "Config files missing 'nothere.conf'."),
        (3, ErrClass.FILE_NOT_FOUND, False, "Config files missing 'nothere.conf'."),
        (4, ErrClass.FILE_NOT_FOUND, False, "No config files matched 'nothing*.conf'.")]
    assert lines.file_error


def test_include_brace_alternative_missing(tmp_path: Path) -> None:
    write(tmp_path / "a.conf", "a 1\n")
    main = write(tmp_path / "m.conf", "include {a,b}.conf\nincludeb {a,b}.conf\n")
    lines, d = run(main)
    assert [ln.texts() for ln in lines] == [["a", "1"]]
    assert [(x.cls, x.message) for x in d] == [
        (ErrClass.OK, 'Some config files missing: "{a,b}.conf".'),
        (ErrClass.FILE_NOT_FOUND, 'Some config files missing: "{a,b}.conf".')]


def test_include_skips_directories_executables_and_dangling_links(tmp_path: Path) -> None:
    (tmp_path / "inc" / "dir.conf").mkdir(parents=True)
    exe = write(tmp_path / "inc" / "exe.conf", "exe 1\n")
    exe.chmod(0o755)
    (tmp_path / "inc" / "link.conf").symlink_to(tmp_path / "gone.conf")
    write(tmp_path / "inc" / "ok.conf", "ok 1\n")
    main = write(tmp_path / "m.conf", "includer inc/*.conf\n")
    lines, d = run(main)
    assert [ln.texts() for ln in lines] == [["ok", "1"]]
    inc = tmp_path / "inc"
    assert [(x.loc.line, x.cls, x.message) for x in d if x.loc] == [
        (1, ErrClass.FILE_NOT_FOUND, f"Configuration file '{inc}/dir.conf/' is a directory - skipping"),
        (1, ErrClass.FILE_NOT_FOUND,
         f"Configuration file '{inc}/exe.conf' is not a regular non-executable file - skipping"),
        (1, ErrClass.FILE_NOT_FOUND,
         f"Configuration file '{inc}/link.conf' is not a regular non-executable file - skipping")]


def test_include_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # chmod 000 does not stop root: make the read itself fail for one file
    write(tmp_path / "secret.conf", "s 1\n")
    main = write(tmp_path / "m.conf", "a 0\nincluder secret.conf\n")
    real = preprocess._read_text

    def fake(path: str) -> str:
        if path.endswith("secret.conf"):
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(preprocess, "_read_text", fake)
    lines, d = run(main)
    assert [ln.texts() for ln in lines] == [["a", "0"]]
    assert [(str(x.loc), x.cls, x.message) for x in d] == [
        (f"{main}:2:1", ErrClass.FILE_NOT_FOUND,
         f"Configuration file '{tmp_path}/secret.conf' open problem (Permission denied) - skipping")]


def test_include_loops_are_reported(tmp_path: Path) -> None:
    main = write(tmp_path / "m.conf", "m 1\ninclude m.conf\ninclude a.conf\n")
    write(tmp_path / "a.conf", "a 1\ninclude b.conf\n")
    write(tmp_path / "b.conf", "b 1\ninclude *.conf\n")
    lines, d = run(main)
    assert [ln.texts() for ln in lines] == [["m", "1"], ["a", "1"], ["b", "1"]]
    loops = [(x.loc.file.rsplit("/", 1)[-1], x.loc.line, x.message.split("'")[1].rsplit("/", 1)[-1])
             for x in d if "include loop" in x.message]
    assert loops == [("m.conf", 2, "m.conf"), ("b.conf", 2, "a.conf"), ("b.conf", 2, "b.conf"),
                     ("b.conf", 2, "m.conf")]


def test_include_check_in_global_defs_applies_to_the_file(tmp_path: Path) -> None:
    main = write(tmp_path / "m.conf", "include none1.conf\nglobal_defs {\n include_check\n}\n"
                                      "include none2.conf\nvrrp_instance X {\n include_check\n}\n")
    _, d = run(main)
    assert [(x.loc.line, x.cls) for x in d if x.loc] == [(1, ErrClass.OK), (5, ErrClass.FILE_NOT_FOUND)]
    _, d = run(main, include_check=IncludeCheck.all())
    assert [(x.loc.line, x.cls) for x in d if x.loc] == [(1, ErrClass.FILE_NOT_FOUND),
                                                          (5, ErrClass.FILE_NOT_FOUND)]


def test_main_file_missing(tmp_path: Path) -> None:
    lines, d = run(tmp_path / "nope.conf")
    assert lines == [] and lines.main_file_missing
    assert lines.main_file_status is ErrClass.OK  # keepalived -t exits 0 here
    assert msgs(d) == [(ErrClass.FILE_NOT_FOUND, f"Config files missing '{tmp_path}/nope.conf'.")]


def test_main_file_is_a_directory(tmp_path: Path) -> None:
    lines, d = run(tmp_path)
    assert lines.main_file_missing and lines.main_file_status is ErrClass.OK
    assert [x.cls for x in d] == [ErrClass.FILE_NOT_FOUND]


def test_main_file_glob_reads_every_match(tmp_path: Path) -> None:
    write(tmp_path / "a.conf", "a 1\n")
    write(tmp_path / "b.conf", "b 1\n")
    lines, d = run(tmp_path / "*.conf")
    assert [ln.texts() for ln in lines] == [["a", "1"], ["b", "1"]]
    assert [x.cls for x in d] == [ErrClass.MULTIPLE_FILES]


# ---------------------------------------------------------------------------- goldens


def test_exp1_capture_golden() -> None:
    conf = data_path("keepalived-2.2.7-captures", "exp1.conf")
    lines, d = run(conf)
    assert not list(d)
    got = [ln.texts() for ln in lines]
    assert ["router_id", "rid_node1"] in got  # log: Router ID = rid_node1
    assert ["priority", "200"] in got  # @node1 $PRIO=200
    assert ["interface", "eth0"] in got
    vips = got[got.index(["virtual_ipaddress"]) + 2: got.index(["virtual_ipaddress"]) + 7]
    assert vips == [["10.99.0.1/24"], ["10.99.0.2/24"], ["10.99.0.3/24"],
                    ["10.99.1.1/24", "dev", "eth0", "label", "eth0:vip"], ["10.99.2.1/32"]]
    assert ["notify", "/run/katest/notify.sh generic 'a b'"] in got
    assert not any(w.startswith(("$", "@", "~")) for ws in got for w in ws)


def test_lexer_test_capture_golden(tmp_path: Path) -> None:
    src = data_path("keepalived-2.2.7-captures", "lexer-test.conf")
    main = tmp_path / "main.conf"
    shutil.copy(src, main)
    write(tmp_path / "inc" / "a.conf", 'vrrp_script from_include_a {\n script "/bin/true"\n}\n')
    write(tmp_path / "inc" / "b.conf", 'vrrp_script from_include_b {\n script "/bin/true"\n}\n')
    d = Diagnostics()
    lines = read_config(main, d, config_id="lexnode", random_seed=1)
    got = [ln.texts() for ln in lines]
    scripts = [ws[1] for ws in got if ws[0] == "vrrp_script"]
    assert scripts == ["from_include_a", "from_include_b", "multi_7", "multi_8", "seq_1", "seq_2",
                       "lst_x_1", "lst_y_2", "weird", "env"]
    assert ["router_id", "quoted id with spaces"] in got
    assert ["virtual_router_id", "9", ";", "priority", "99"] in got
    weird = next(ln for ln in lines if ln.raw.startswith('script "/bin/echo \\#'))
    assert weird.raw == 'script "/bin/echo \\# not a comment # ! \'single q\' \\"dq\\"" ; interval 3'
    env = next(ln for ln in lines if ln.raw.startswith('script "/bin/echo /'))
    # 2.2.7 mangled ${_RANDOM 5 5} followed by text (fixed upstream); we implement the fix
    assert env.texts() == ["script", f"/bin/echo {os.path.realpath(tmp_path)} lexnode lexnode 5"]
    track = got[got.index(["track_script"]) + 2:]
    assert [ws[0] for ws in track[:10]] == scripts[2:8] + scripts[:2] + scripts[8:]
    assert not list(d)


def test_corpus_samples_read_cleanly() -> None:
    for sample in (data_path("keepalived-samples", name) for name in sample_names()):
        d = Diagnostics()
        lines = read_config(sample, d, config_id="high")
        assert lines and not list(d), sample.name
        assert not any(ln.keyword.startswith("@") for ln in lines)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("  weight 1", [("weight", 3), ("1", 10)]),  # single spaces: the split path
        ("  weight  1", [("weight", 3), ("1", 11)]),
        ("\tweight\t1 ", [("weight", 2), ("1", 9)]),
        ("  a\x0bb c", [("a", 3), ("b", 5), ("c", 7)]),
        ("  a\u00e9 \u3000b", [("a\u00e9", 3), ("\u3000b", 6)]),  # only ASCII blanks separate
        ("  real_server 10.0.0.2 80 {", [("real_server", 3), ("10.0.0.2", 15), ("80", 24), ("{", 27)]),
        ("} x  y{z", [("}", 1), ("x", 3), ("y", 6), ("{", 7), ("z", 8)]),
    ],
)
def test_plain_lines_keep_every_words_column(line: str, expected: list[tuple[str, int]]) -> None:
    out = read_config_text(line + "\n", Diagnostics(), name="k.conf")
    assert [(w.text, w.loc.col) for ll in out for w in ll.words] == expected

"""``$regex`` patterns: the subset that Python ``re`` and PostgreSQL regular expressions read alike.

Every store must give the same answer for a filter, so a pattern is checked before it is used:
a construct only one engine knows (look-arounds, back-references, named groups, ``\\b``, POSIX
classes ...) is a ``UsageError`` that says what to write instead, never a silent difference.

The subset (documented in the README's filter section):

- literals, ``.`` (matches any character, newlines included), ``^`` and ``$`` (start and end of
  the whole value), ``\\A`` and ``\\Z``;
- ``|``, groups ``(...)`` and ``(?:...)``;
- quantifiers ``* + ? {m} {m,} {m,n}`` (m, n <= 255), each optionally lazy (``*?``); a literal
  ``{`` is written ``\\{``;
- bracket expressions ``[abc]``, ``[^a-z0-9_]`` with ``\\d \\w \\s`` inside; a literal ``[`` inside
  one is written ``\\[``;
- escapes ``\\d \\D \\w \\W \\s \\S``, ``\\t \\n \\r``, and a backslash before any punctuation;
- ``(?i)`` at the very start for case-insensitive matching.

``\\d``, ``\\w``, ``\\s`` and ``(?i)`` are only guaranteed to agree on ASCII text. A PostgreSQL store
passes the checked pattern unchanged to ``~``.
"""

from __future__ import annotations

import functools
import re
import warnings

from ._errors import UsageError

__all__ = ["check_regex", "compile_regex"]

_CLASS_ESCAPES = frozenset("dDwWsS")
_CONTROL_ESCAPES = frozenset("tnr")
_ANCHOR_ESCAPES = frozenset("AZ")
_BOUND = re.compile(r"\{(\d+)(,(\d*))?\}")
_MAX_BOUND = 255  # PostgreSQL's RE_DUP_MAX


def _fail(pattern: str, why: str) -> UsageError:
    return UsageError(f"$regex {pattern!r}: {why}. Filters use the regular expressions Python and PostgreSQL share "
                      "(see 'Filters' in the README).")


def _escape(pattern: str, index: int, in_brackets: bool) -> str:
    """Check the escape at ``pattern[index] == '\\\\'``; return it as Python should read it."""
    if index + 1 >= len(pattern):
        raise _fail(pattern, "it ends with a lone backslash; write \\\\ for a backslash")
    char = pattern[index + 1]
    if not char.isalnum() or char in _CONTROL_ESCAPES or char in "dws":
        return "\\" + char
    if char in _CLASS_ESCAPES:
        if in_brackets:
            raise _fail(pattern, f"\\{char} inside [...] is not portable; use [^...] or a group with |")
        return "\\" + char
    if char in _ANCHOR_ESCAPES and not in_brackets:
        return "\\" + char
    if char.isdigit():
        raise _fail(pattern, f"back-references (\\{char}) are not supported")
    if char in "bB":
        raise _fail(pattern, f"\\{char} means a word boundary in Python but not in PostgreSQL; "
                             "match the neighbouring characters instead")
    raise _fail(pattern, f"the escape \\{char} is not portable; use \\d \\w \\s, \\t \\n \\r or a backslash before punctuation")


def _brackets(pattern: str, start: int) -> tuple[str, int]:
    """Check the bracket expression opening at ``start``; return it and the index after it."""
    index = start + 1
    if index < len(pattern) and pattern[index] == "^":
        index += 1
    if index < len(pattern) and pattern[index] == "]":  # a leading ] is a literal in both engines
        index += 1
    out = [pattern[start:index]]
    while index < len(pattern):
        char = pattern[index]
        if char == "]":
            out.append("]")
            return "".join(out), index + 1
        if char == "\\":
            out.append(_escape(pattern, index, in_brackets=True))
            index += 2
            continue
        if char == "[":
            raise _fail(pattern, "POSIX classes like [[:alpha:]] and a bare [ inside [...] are not portable; "
                                 "write ranges (a-z) and \\[ for a literal [")
        if pattern.startswith(("&&", "||", "~~", "--"), index):
            raise _fail(pattern, f"{char}{char} inside [...] is read differently by Python; escape one of them")
        out.append(char)
        index += 1
    raise _fail(pattern, "a [ is not closed by ]; write \\[ for a literal [")


def _group(pattern: str, index: int) -> int:
    """Check the group opening at ``index``; return the length of its opening."""
    if not pattern.startswith("(?", index):
        return 1
    if pattern.startswith("(?:", index):
        return 3
    if pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), index):
        raise _fail(pattern, "look-arounds ((?=...), (?!...), (?<=...), (?<!...)) are not supported")
    if pattern.startswith(("(?P", "(?<"), index):
        raise _fail(pattern, "named groups are not supported; use (...)")
    raise _fail(pattern, "(?...) is not portable except (?:...) and a leading (?i)")


def _translate(pattern: str) -> tuple[str, int]:
    """The Python spelling of a checked pattern, and its flags."""
    flags = re.DOTALL  # PostgreSQL's . matches a newline too
    index = 0
    if pattern.startswith("(?i)"):
        flags |= re.IGNORECASE
        index = 4
    out: list[str] = []
    quantified = False  # the previous token was a quantifier
    while index < len(pattern):
        char = pattern[index]
        was_quantified, quantified = quantified, False
        if char == "\\":
            out.append(_escape(pattern, index, in_brackets=False))
            index += 2
        elif char == "[":
            text, index = _brackets(pattern, index)
            out.append(text)
        elif char == "(":
            step = _group(pattern, index)
            out.append(pattern[index : index + step])
            index += step
        elif char == "{":
            bound = _BOUND.match(pattern, index)
            if bound is None:
                raise _fail(pattern, "a { that does not start a bound like {2} or {1,3}; write \\{ for a literal {")
            low, high = int(bound.group(1)), bound.group(3)
            if low > _MAX_BOUND or (high and int(high) > _MAX_BOUND):
                raise _fail(pattern, f"bounds above {_MAX_BOUND} are not supported")
            out.append(bound.group(0))
            index = bound.end()
            quantified = True
        elif char == "$":
            out.append(r"\Z")  # PostgreSQL's $ is the end of the value, never before a final newline
            index += 1
        else:
            if char == "+" and was_quantified:
                raise _fail(pattern, "possessive quantifiers (*+, ++, {m,n}+) are not supported")
            quantified = char in "*+?" and not was_quantified  # a ? after a quantifier makes it lazy
            out.append(char)
            index += 1
    return "".join(out), flags


@functools.lru_cache(maxsize=256)
def compile_regex(pattern: str) -> re.Pattern[str]:
    """The compiled Python pattern for a ``$regex`` value; a ``UsageError`` for anything outside the
    portable subset or not a valid regular expression."""
    if not isinstance(pattern, str):
        raise UsageError(f"$regex takes a string pattern; got {pattern!r}.")
    text, flags = _translate(pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return re.compile(text, flags)
    except (re.error, FutureWarning, DeprecationWarning) as error:
        raise _fail(pattern, f"not a valid regular expression ({error})") from None


def check_regex(pattern: str) -> str:
    """The pattern itself once it is known to be portable (what a SQL store hands to ``~``)."""
    compile_regex(pattern)
    return pattern

"""Split a JSON array, as it streams in, into the bytes of its elements.

A provider that exports one big JSON array (`[{...}, {...}]`) gets the same treatment
as NDJSON: each element goes on as one line, its bytes as they are in the file, so
the fast paths downstream (the bulk check, BATCH regrouping) work unchanged and each
element is parsed once, by whoever needs a dict. A streaming parser such as ijson
would build every record in Python only for it to be serialised again: several times
slower, a new dependency, and numbers and escapes re-rendered rather than forwarded.

Finding where an element ends needs only the brackets outside strings, and regular
expressions find them in C: an element with no object or array inside it (the usual
record) is taken whole by one match, with the comma before it; anything else goes
through a general scan in which one match skips everything up to the next bracket
outside strings (strings, with their escapes, included) and Python only counts
depth. What a chunk leaves open (the depth, a string, a pending backslash, the
element's bytes so far) carries over to the next chunk, which is scanned from where
the last one ended: each byte is scanned about once, however the file is cut. The
patterns' quantifiers are possessive (Python 3.11), as none needs to backtrack.

The elements themselves are checked by whoever parses them; this module checks only
the frame: elements are objects separated by single commas, and the array is closed.
One exception to "as in the file": a pretty-printed element has line breaks between
its tokens, which a line must not contain; they become spaces. JSON allows no raw
line break inside a string, so that changes no value (one in a string is an error).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import NoReturn

from tap_exports.engine.errors import DecodeError, DownloadError

# A whole string. Possessive quantifiers (`*+`) keep a failed match (an element that is
# not flat, a string cut by the chunk's end) as cheap as a successful one.
_STRING = rb'"[^"\\\r\n]*+(?:\\.[^"\\\r\n]*+)*+"'
# Everything up to the next bracket outside strings: non-structural bytes and whole
# strings. It stops early at a string that does not end in the chunk (or holds a raw
# line break), leaving the quote for `_STRING_REST`.
_TO_BRACKET = re.compile(rb'[^"\[\]{}]*+(?:' + _STRING + rb'[^"\[\]{}]*+)*+', re.DOTALL)
# The common case in one match: the gap before an element, and a whole element with
# no object or array inside it.
_FLAT_ELEMENT = re.compile(
    rb"[ \t\r\n]*+(,?)[ \t\r\n]*+(\{[^\"\[\]{}]*+(?:" + _STRING + rb"[^\"\[\]{}]*+)*+\})",
    re.DOTALL,
)
# The rest of a string: stops after its closing quote, at a raw line break, or at the
# end of the chunk (just before a final backslash, whose escaped byte is in the next).
_STRING_REST = re.compile(rb'[^"\\\r\n]*+(?:\\.[^"\\\r\n]*+)*+(["\r\n])?', re.DOTALL)
_WHITESPACE = b" \t\r\n"
_LINE_BREAKS_TO_SPACES = bytes.maketrans(b"\r\n", b"  ")
_QUOTE, _OPEN_ARRAY = b'"['
_OPENERS = frozenset(b"[{")


def iter_elements(chunks: Iterable[bytes], *, source: str, run_bytes: int) -> Iterator[list[bytes]]:
    """Yield the elements of the JSON array that `chunks` spell, about `run_bytes` at a time.

    Element N (1-based) of the array is record N in errors.

    Raises:
        DownloadError: the array ends without its closing bracket (a truncated file).
        DecodeError: an element is not an object, commas are missing or doubled,
            a string holds a raw line break, or data follows the array.
    """
    splitter = _Splitter(source)
    run: list[bytes] = []
    size = 0
    for chunk in chunks:
        run += splitter.feed(chunk)
        size += len(chunk)
        if size >= run_bytes and run:
            yield run
            run, size = [], 0
    splitter.finish()
    if run:
        yield run


class _Splitter:
    """The state of the scan between chunks; `feed` returns the elements each completes."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._depth = 0  # 0: outside the array; 1: between its elements; 2+: in one
        self._in_string = False
        self._escaped = False  # the last chunk ended on a backslash inside a string
        self._parts: list[bytes] = []  # earlier chunks' bytes of the element being read
        self._count = 0  # elements completed
        self._commas = 0  # commas since the last element
        self._ended = False  # the array's closing bracket has been read

    def feed(self, chunk: bytes) -> list[bytes]:
        elements: list[bytes] = []
        start = 0  # where the element being read starts in this chunk
        at, end = 0, len(chunk)
        while at < end:
            if self._in_string:
                at = self._string_rest(chunk, at)
                continue
            if self._depth == 1:
                at = self._flat_elements(chunk, at, elements)
                if at == end:
                    break
            match = _TO_BRACKET.match(chunk, at)
            assert match is not None  # the pattern matches the empty string
            stop = match.end()
            if self._depth < 2 and stop > at:
                self._between(chunk[at:stop])
            if stop == end:
                break
            byte = chunk[stop]
            at = stop + 1
            if byte == _QUOTE:  # a string that goes on past this chunk
                if self._depth < 2:
                    self._not_an_object(chunk[stop : stop + 20])
                self._in_string = True
            elif self._depth >= 2:
                self._depth += 1 if byte in _OPENERS else -1
                if self._depth == 1:
                    elements.append(self._element(chunk[start:at]))
            elif self._depth == 1:
                self._element_or_end(chunk[stop : stop + 20])
                start = stop
            elif byte == _OPEN_ARRAY and not self._ended:
                self._depth = 1
            else:
                self._after_end(chunk[stop : stop + 20])
        if self._depth >= 2:
            self._parts.append(chunk[start:])
        return elements

    def finish(self) -> None:
        """Say whether the file ended where the array did."""
        if not self._ended:
            raise DownloadError(
                f"{self._source}: the JSON array ends after record {self._count} without "
                "its closing ']' (truncated download)"
            )

    def _flat_elements(self, chunk: bytes, at: int, elements: list[bytes]) -> int:
        """Take the elements without nested brackets from `at` on; return where they end.

        One match each, where the general scan takes several: the common case made fast.
        Anything else (a nested element, one cut by the chunk's end, a missing comma) is
        left to the general scan, which reads it or says what is wrong.
        """
        match = _FLAT_ELEMENT.match(chunk, at)
        while match is not None:
            commas = self._commas + len(match.group(1))
            if commas != (1 if self._count else 0):
                break
            elements.append(self._element(match.group(2)))
            at = match.end()
            match = _FLAT_ELEMENT.match(chunk, at)
        return at

    def _string_rest(self, chunk: bytes, at: int) -> int:
        """Scan on inside a string from `at`; return where the scan goes on."""
        if self._escaped:  # the first byte is the one a backslash escaped
            at += 1
            self._escaped = False
        match = _STRING_REST.match(chunk, at)
        assert match is not None  # every part of the pattern is optional
        closing = match.group(1)
        if closing is None:  # the chunk ends inside the string, maybe after a backslash
            self._escaped = match.end() < len(chunk)
            return len(chunk)
        if closing != b'"':
            raise DecodeError(
                f"{self._source}, record {self._count + 1}: a raw line break inside a string"
            )
        self._in_string = False
        return match.end()

    def _element_or_end(self, found: bytes) -> None:
        """At depth 1: an element starts (it must be an object) or the array ends."""
        if found[:1] == b"]":
            if self._commas:
                raise DecodeError(f"{self._source}: a comma before the JSON array's closing ']'")
            self._depth = 0
            self._ended = True
            return
        if found[:1] != b"{":
            self._not_an_object(found)
        if self._commas != (1 if self._count else 0):
            raise DecodeError(
                f"{self._source}, record {self._count + 1}: expected one comma before it, "
                f"found {self._commas}"
            )
        self._depth = 2

    def _element(self, tail: bytes) -> bytes:
        element = b"".join([*self._parts, tail]) if self._parts else tail
        self._parts.clear()
        self._count += 1
        self._commas = 0
        if b"\n" in element or b"\r" in element:
            return element.translate(_LINE_BREAKS_TO_SPACES)
        return element

    def _between(self, gap: bytes) -> None:
        """Check what lies outside the elements: whitespace, and commas between elements."""
        rest = gap.translate(None, _WHITESPACE)
        if not rest:
            return
        if self._depth == 0:
            self._after_end(rest[:20])
        if rest.strip(b","):
            self._not_an_object(rest[:20])
        self._commas += len(rest)

    def _not_an_object(self, found: bytes) -> NoReturn:
        raise DecodeError(
            f"{self._source}, record {self._count + 1}: expected a JSON object, found {found!r}"
        )

    def _after_end(self, found: bytes) -> NoReturn:
        where = "after the JSON array's closing ']'" if self._ended else "before its '['"
        raise DecodeError(f"{self._source}: unexpected data {where}: {found!r}")

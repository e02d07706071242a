"""A JSON Schema `pattern` (checked by the server with RE2) as an HTML `pattern` attribute.

Browsers compile the attribute as `^(?:attribute)$` with the `v` flag (unicodeSets), where
much that RE2 accepts is a syntax error: `-`, `(`, `[`, `{`, `/`, `|` unescaped inside a
class, a lone `{`, `}` or `]`, `[]a]`, `\\Q…\\E`, `\\A`, `\\z`, `(?P<name>…)`, `\\p{Greek}`,
`[[:alpha:]]`. A browser that meets one logs "Pattern attribute value … is not a valid
regular expression" and checks nothing. So the pattern is parsed with RE2's grammar and
written again in the browser's, with RE2's meaning where the two differ (RE2's `.` excludes
only a newline, its `\\s` is ASCII whitespace without `\\v`). Whatever this cannot translate
exactly (flags such as `(?i)`, `\\C`, octal escapes, POSIX classes) is left to the server:
`html_pattern` answers None and the field says the pattern is checked on submit.
"""

import functools
import re
from dataclasses import dataclass

# RE2's general categories (\p{L}, \pN) and Any: the same names in the browser. Another is a
# script (\p{Greek}), which the browser spells \p{Script=Greek}.
_CATEGORY_NAMES = (
    "C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps "
    "S Sc Sk Sm So Z Zl Zp Zs Any"
)
_CATEGORIES = frozenset(_CATEGORY_NAMES.split())
_PROPERTY_NAME = re.compile(r"\^?[A-Za-z][A-Za-z_]*")
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")
# Characters escaped with a backslash in the browser's syntax: outside a class the syntax
# characters; inside a `v` class also the class syntax and the reserved punctuators (`&&`,
# `--`, `!!`, ...), each of which may be escaped alone.
_OUTSIDE = frozenset("^$\\.*+?()[]{}|/")
_INSIDE = _OUTSIDE | frozenset("-&!#%,:;<=>@`~")
_SIMPLE_ESCAPES = {"a": "\x07", "f": "\f", "t": "\t", "n": "\n", "r": "\r", "v": "\v"}
# RE2's \s is ASCII [\t\n\f\r ]; the browser's \s also takes \v and Unicode spaces.
_RE2_SPACE = "\\t\\n\\f\\r "
_CLASS_ESCAPES = {
    "d": "\\d",
    "D": "\\D",
    "w": "\\w",
    "W": "\\W",
    "s": _RE2_SPACE,
    "S": f"[^{_RE2_SPACE}]",  # a nested class: `v` allows it inside another
}
_QUANTIFIERS = frozenset("*+?{")


class UntranslatableError(ValueError):
    """The pattern uses something the browser's syntax cannot say with RE2's meaning."""


@functools.lru_cache(maxsize=1024)
def html_pattern(pattern: str) -> str | None:
    """The HTML `pattern` attribute meaning "contains a match of `pattern`", or None.

    JSON Schema patterns search the value while HTML patterns match all of it, hence the
    `[\\s\\S]*` on each side. Assumes `pattern` compiles with RE2 (stored schemas do).
    """
    try:
        translated = _Parser(pattern).parse()
    except (ValueError, RecursionError):  # untranslatable, past U+10FFFF, or nested deeply
        return None
    return f"[\\s\\S]*(?:{translated})[\\s\\S]*"


def _literal(char: str, *, inside_class: bool) -> str:
    if char in (_INSIDE if inside_class else _OUTSIDE):
        return "\\" + char
    if not char.isprintable() or (char.isspace() and char != " "):
        return f"\\u{{{ord(char):X}}}"
    return char


@dataclass
class _Parser:
    source: str
    at: int = 0

    def parse(self) -> str:
        out = self._alternation()
        if self.at != len(self.source):  # an unmatched ")"
            raise UntranslatableError(self.source)
        return out

    def _peek(self, ahead: int = 0) -> str:
        index = self.at + ahead
        return self.source[index] if index < len(self.source) else ""

    def _take(self) -> str:
        char = self._peek()
        if not char:
            raise UntranslatableError("unexpected end")
        self.at += 1
        return char

    def _alternation(self) -> str:
        branches = [self._sequence()]
        while self._peek() == "|":
            self.at += 1
            branches.append(self._sequence())
        return "|".join(branches)

    def _sequence(self) -> str:
        parts: list[str] = []
        while self._peek() not in ("", "|", ")"):
            atom, repeatable = self._atom()
            if self._peek() in _QUANTIFIERS:
                quantifier = self._quantifier()
                if quantifier:
                    if not repeatable:  # ^*, \b+: RE2 takes them, the browser does not
                        raise UntranslatableError(self.source)
                    atom += quantifier
                    if self._peek() in _QUANTIFIERS and self._quantifier(probe=True):
                        raise UntranslatableError(self.source)  # RE2 refuses a** too
            parts.append(atom)
        return "".join(parts)

    def _quantifier(self, *, probe: bool = False) -> str:
        """The quantifier here ("" for a `{` that is a literal), consumed unless probing."""
        start = self.at
        char = self._peek()
        if char == "{":
            match = _REPEAT.match(self.source, self.at)
            if match is None:
                return ""  # RE2 reads a `{` that starts no repetition as itself
            text = match.group(0)
            self.at = match.end()
        else:
            text = char
            self.at += 1
        if self._peek() == "?":
            text += "?"
            self.at += 1
        if probe:
            self.at = start
        return text

    def _atom(self) -> tuple[str, bool]:
        """One atom in the browser's syntax, and whether a quantifier may follow it."""
        char = self._take()
        if char == "(":
            return self._group(), True
        if char == "[":
            return self._class(), True
        if char == ".":
            return "[^\\n]", True  # RE2's dot: anything but a newline
        if char in "^$":
            return char, False
        if char == "\\":
            return self._escape()
        if char == "*" or char == "+" or char == "?":
            raise UntranslatableError(self.source)  # nothing to repeat
        return _literal(char, inside_class=False), True

    def _group(self) -> str:
        if self._peek() == "?":
            self.at += 1
            if self._peek() == ":":
                self.at += 1
            elif (self._peek() == "P" and self._peek(1) == "<") or self._peek() == "<":
                end = self.source.find(">", self.at)
                if end < 0:
                    raise UntranslatableError(self.source)
                self.at = end + 1
            else:
                raise UntranslatableError(self.source)  # flags: (?i), (?s:...), ...
        # Every group becomes non-capturing: RE2 has no back-references, names mean nothing.
        inner = self._alternation()
        if self._take() != ")":
            raise UntranslatableError(self.source)
        return f"(?:{inner})"

    def _escape(self) -> tuple[str, bool]:
        char = self._take()
        if char == "A":
            return "^", False
        if char == "z":
            return "$", False
        if char in "bB":
            return "\\" + char, False
        if char == "Q":
            end = self.source.find("\\E", self.at)
            text = self.source[self.at :] if end < 0 else self.source[self.at : end]
            self.at = len(self.source) if end < 0 else end + 2
            if not text:
                return "(?:)", True
            literal = "".join(_literal(each, inside_class=False) for each in text)
            return f"(?:{literal})", True
        if char in "sS":
            return f"[{_CLASS_ESCAPES[char]}]", True
        if char in "dDwW":
            return "\\" + char, True
        if char in "pP":
            return self._property(negated=char == "P"), True
        return _literal(self._escaped_char(char), inside_class=False), True

    def _braced(self) -> str:
        """The text of `{...}` here, consumed."""
        end = self.source.find("}", self.at)
        if end < 0:
            raise UntranslatableError(self.source)
        text = self.source[self.at + 1 : end]
        self.at = end + 1
        return text

    def _escaped_char(self, char: str) -> str:
        """The one character an escape stands for."""
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        if char == "x":
            if self._peek() == "{":
                digits = self._braced()
            else:
                digits = self.source[self.at : self.at + 2]
                self.at += 2
            if not digits or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise UntranslatableError(self.source)
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise UntranslatableError(self.source)
            return chr(code)
        if not char.isalnum() and char.isascii():
            return char  # an escaped punctuation character is itself
        raise UntranslatableError(self.source)  # \C, octal, and what RE2 refuses

    def _property(self, *, negated: bool) -> str:
        name = self._braced() if self._peek() == "{" else self._take()
        if not _PROPERTY_NAME.fullmatch(name):
            raise UntranslatableError(self.source)
        if name.startswith("^"):
            negated, name = not negated, name[1:]
        spelled = name if name in _CATEGORIES else f"Script={name}"
        return ("\\P" if negated else "\\p") + "{" + spelled + "}"

    def _class(self) -> str:
        negated = self._peek() == "^"
        if negated:
            self.at += 1
        items: list[str] = []
        first = True
        while True:
            char = self._take()
            if char == "]" and not first:
                break
            first = False
            if char == "[" and self._peek() == ":":
                raise UntranslatableError(self.source)  # POSIX classes ([:alpha:])
            low, item = self._class_member(char)
            if self._peek() == "-" and self._peek(1) not in ("]", ""):
                self.at += 1
                high, _ = self._class_member(self._take())
                if low is None or high is None:
                    raise UntranslatableError(self.source)
                item = f"{_literal(low, inside_class=True)}-{_literal(high, inside_class=True)}"
            items.append(item)
        return "[" + ("^" if negated else "") + "".join(items) + "]"

    def _class_member(self, char: str) -> tuple[str | None, str]:
        """(the character, when it is one; the member in the browser's syntax)."""
        if char != "\\":
            return char, _literal(char, inside_class=True)
        escaped = self._take()
        if escaped in _CLASS_ESCAPES:
            return None, _CLASS_ESCAPES[escaped]
        if escaped in "pP":
            return None, self._property(negated=escaped == "P")
        value = self._escaped_char(escaped)
        return value, _literal(value, inside_class=True)

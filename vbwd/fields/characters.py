"""Which characters an input may hold, and the one trimming rule, written once for the body
parser, the request guard and every text field.

- **Never stored** (any string anywhere, keys included): NUL, which PostgreSQL cannot store in
  text or JSON, and lone surrogates (U+D800–U+DFFF), which are not Unicode text and cannot be
  encoded as UTF-8.
- **Control characters** (Unicode category Cc: U+0000–U+001F, U+007F–U+009F): refused in
  every text field; a multi-line field allows the line break (``\\n``, ``\\r``) and the tab.
- **Bidirectional formatting controls** (embeddings and overrides U+202A–U+202E, isolates
  U+2066–U+2069): refused in every text field. They make text display in another order than it
  is stored (a name that reads differently in the back office than in a database export or on an
  invoice). Right-to-left text needs none of them; the invisible marks U+200E, U+200F and U+061C
  stay allowed.
- **Invisible characters** in single-line text: zero-width space U+200B, word joiner and the
  invisible operators U+2060–U+2064, the deprecated format characters U+206A–U+206F, the
  Mongolian vowel separator U+180E, the byte order mark U+FEFF, and the line and paragraph
  separators U+2028/U+2029. They make two names that look the same compare different. A
  multi-line text (a description, terms) keeps the zero-width space, which marks word breaks
  in Thai, Khmer, Lao and Burmese prose.
- **Zero-width joiner and non-joiner** (U+200D, U+200C) are allowed everywhere: emoji sequences
  (a family, a flag, a skin tone) are built with the joiner, and Persian, Urdu and several Indic
  scripts need both to spell words correctly. Refusing them would refuse real names.

Trimming: surrounding whitespace is removed with ``str.strip()`` (every Unicode white space,
the no-break space included) — the same way for every text input.
"""

from __future__ import annotations

import re

_NEVER_STORED = re.compile("[\x00\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_INVISIBLE = re.compile("[\u180e\u200b\u2028\u2029\u2060-\u2064\u206a-\u206f\ufeff]")
_INVISIBLE_MULTILINE = re.compile("[\u180e\u2060-\u2064\u206a-\u206f\ufeff]")

# Problems a text can have, as message keys of the text fields.
CONTROL = "control"
BIDI = "bidi"
INVISIBLE = "invisible"
SURROGATE = "surrogate"
NUL = "nul"

MESSAGES = {
    NUL: "{name} contains a NUL character",
    SURROGATE: "{name} contains a lone surrogate, which is not valid Unicode",
    CONTROL: "{name} contains a control character",
    BIDI: "{name} contains a bidirectional formatting character",
    INVISIBLE: "{name} contains an invisible character",
}


def trimmed(text: str) -> str:
    """The one trimming rule of every text input: no surrounding white space."""
    return text.strip()


def never_stored(text: str) -> str | None:
    """``NUL`` or ``SURROGATE`` when ``text`` holds a character no string may hold, else None."""
    found = _NEVER_STORED.search(text)
    if found is None:
        return None
    return NUL if found.group() == "\x00" else SURROGATE


def text_problem(text: str, *, multiline: bool = False) -> str | None:
    """The first rule ``text`` breaks as a text field's value (a key of ``MESSAGES``), or None."""
    problem = never_stored(text)
    if problem is not None:
        return problem
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(text):
        return CONTROL
    if _BIDI.search(text):
        return BIDI
    if (_INVISIBLE_MULTILINE if multiline else _INVISIBLE).search(text):
        return INVISIBLE
    return None

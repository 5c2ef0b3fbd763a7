"""Reading report text files whose encoding is not known for certain.

Reports should be UTF-8 (MIMIC-CXR's are), but copies that went through other tools arrive as Windows-1252 or
Latin-1 now and then. Decoding those with ``errors="replace"`` silently puts U+FFFD characters into the text the
tokenizer and the labeler see ("pleural effusion" next to "\ufffd"). Here the fallback is stated and counted:

1. UTF-8 (a leading byte-order mark is dropped);
2. else Windows-1252 (cp1252), the usual encoding of Western-language text from Windows tools;
3. else Latin-1, which maps every byte to a character (never fails; the five bytes cp1252 leaves undefined).

Every file that needed a fallback is logged (the first ``LOG_FIRST`` per process at WARNING, then at INFO) and
appended to the caller's list, so loaders can count them.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

FALLBACK_ENCODINGS: tuple[str, ...] = ("cp1252", "latin-1")
LOG_FIRST = 10
_logged = 0


def decode_report_bytes(data: bytes) -> tuple[str, str]:
    """Bytes -> (text, encoding used): UTF-8, else ``FALLBACK_ENCODINGS`` in order."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    for enc in FALLBACK_ENCODINGS:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def read_report_text(path: str | Path, fallbacks: list[Path] | None = None) -> str:
    """Read a report file as text (see the module docstring for the encodings tried).

    Args:
        path: the report file; a missing file raises ``FileNotFoundError`` as ``Path.read_text`` does.
        fallbacks: when given, ``path`` is appended to it if the file was not UTF-8.
    """
    global _logged
    path = Path(path)
    text, enc = decode_report_bytes(path.read_bytes())
    if enc != "utf-8":
        if fallbacks is not None:
            fallbacks.append(path)
        _logged += 1
        level = logging.WARNING if _logged <= LOG_FIRST else logging.INFO
        log.log(level, "%s: report is not valid UTF-8; decoded as %s%s", path, enc,
                " (further such files are logged at INFO level)" if _logged == LOG_FIRST else "")
    return text

"""Masking secret values in text, streamed output and log records.

What ``Redactor`` guarantees, for every value added (``add``):

* ``redact(text)`` replaces every occurrence of the value in ``text`` with ``***`` (the
  mask never reveals the length). Where values overlap, the longest one at a position wins.
* The JSON-escaped form of a value (quotes, backslashes, newlines escaped) is masked too, so
  a value inside a JSON body is caught; so is each line of a multi-line value (a PEM key
  printed line by line).
* ``stream()`` masks a value split across chunks of a stream (task output arriving in
  pieces): it holds back at most ``longest value - 1`` characters until the next chunk or
  ``flush()``, and its total output equals ``redact`` of the whole stream.
* Values (and lines) shorter than ``min_length`` (default 4) are not masked: masking every
  ``"ab"`` would wreck output and protects nothing worth the name.

Not covered: transformed values (base64, URL-encoding, hashes, reversed), or a value
assembled by the program from pieces that were never added.

``add`` and ``redact`` are thread-safe: ``add`` rebuilds one compiled alternation under a
lock, and readers use whichever compiled pattern was current when they started. The
pattern is a trie of the values (shared prefixes factored out), so its cost grows
sub-linearly with the number of values (figures in the README's security section).
"""

from __future__ import annotations

import json
import logging
import re
import threading

MASK = "***"
_Trie = dict[str, "_Trie"]


def trie_pattern(values: set[str]) -> re.Pattern[str]:
    """One regex matching any of ``values``, the longest one where several start at a place.

    Built from a character trie: branches differ in their first character, and a value
    that is a prefix of another becomes a greedy optional tail, so the engine takes the
    longer value when the text has it.
    """
    root: _Trie = {}
    for value in values:
        node = root
        for ch in value:
            node = node.setdefault(ch, {})
        node[""] = {}  # a value ends here

    def build(node: _Trie) -> str:
        parts: list[str] = []
        # walk single-child chains iteratively: values can be thousands of characters long
        while len(node) == 1 and "" not in node:
            ((ch, node),) = node.items()
            parts.append(re.escape(ch))
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if branches:
            group = "(?:" + "|".join(branches) + ")"
            parts.append(group + "?" if "" in node else group)
        return "".join(parts)

    return re.compile(build(root))


class Redactor:
    """A set of secret values and one compiled pattern that masks them all."""

    def __init__(self, mask: str = MASK, *, min_length: int = 4) -> None:
        self.mask = mask
        self.min_length = min_length
        self._values: set[str] = set()
        self._lock = threading.Lock()
        # (pattern, longest value) swapped as one reference so readers never see a mix
        self._compiled: tuple[re.Pattern[str], int] | None = None

    def _forms(self, value: str) -> set[str]:
        forms = {value, json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1]}
        forms.update(line.strip() for line in value.splitlines())
        return {f for f in forms if len(f) >= self.min_length}

    def add(self, *values: str) -> None:
        """Mask these values from now on (empty and short values are ignored)."""
        with self._lock:
            new = set().union(*(self._forms(v) for v in values if v)) - self._values
            if not new:
                return
            self._values |= new
            self._compiled = (trie_pattern(self._values), max(len(v) for v in self._values))

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def redact(self, text: str) -> str:
        """``text`` with every added value masked."""
        compiled = self._compiled
        if compiled is None or not text:
            return text
        return compiled[0].sub(self.mask, text)

    def redact_obj(self, obj: object) -> object:
        """A copy of a JSON-like structure (dicts, lists, strings) with strings redacted."""
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {
                self.redact(k) if isinstance(k, str) else k: self.redact_obj(v)
                for k, v in obj.items()
            }
        if isinstance(obj, list | tuple):
            return [self.redact_obj(v) for v in obj]
        return obj

    def stream(self) -> StreamRedactor:
        """A redactor for one stream whose values may be split across chunks."""
        return StreamRedactor(self)


class StreamRedactor:
    """Masks a chunked stream: ``feed`` returns what is safe to emit, ``flush`` the rest."""

    def __init__(self, redactor: Redactor) -> None:
        self._r = redactor
        self._pending = ""

    def feed(self, chunk: str) -> str:
        buf = self._pending + chunk
        compiled = self._r._compiled
        if compiled is None:
            self._pending = ""
            return buf
        pattern, longest = compiled
        # A match starting before `cut` lies wholly inside `buf` and no longer value can
        # start there, so it is final; text from `cut` on might begin a value.
        cut = max(0, len(buf) - (longest - 1))
        out: list[str] = []
        pos = 0
        for m in pattern.finditer(buf):
            if m.start() >= cut:
                break
            out.append(buf[pos : m.start()])
            out.append(self._r.mask)
            pos = m.end()
        keep_from = max(pos, cut)
        out.append(buf[pos:keep_from])
        self._pending = buf[keep_from:]
        return "".join(out)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return self._r.redact(rest)


_GLOBAL = Redactor()


def global_redactor() -> Redactor:
    """The process-wide redactor: every resolved secret is added to it."""
    return _GLOBAL


class RedactingFilter(logging.Filter):
    """Masks secrets in a log record's message, arguments and exception text.

    Attach it to handlers (filters on a logger do not see records propagated from child
    loggers), or call ``install_log_redaction()`` once per process to cover every record.
    """

    def __init__(self, redactor: Redactor | None = None, name: str = "") -> None:
        super().__init__(name)
        self.redactor = redactor if redactor is not None else _GLOBAL

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, self.redactor)
        return True


def redact_record(record: logging.LogRecord, redactor: Redactor) -> None:
    """Format the record's message now, masked, so no handler sees the raw arguments."""
    if not len(redactor):
        return
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        message = f"{record.msg} {record.args}"
    record.msg = redactor.redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redactor.redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redactor.redact(record.stack_info)


_install_lock = threading.Lock()
_installed = False


def install_log_redaction(redactor: Redactor | None = None) -> None:
    """Mask every log record of this process, whatever logger or handler it goes through.

    Wraps the log-record factory (so records are masked when they are created, before any
    handler, including ones added later) and is idempotent.
    """
    global _installed
    target = redactor if redactor is not None else _GLOBAL
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            redact_record(record, target)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True

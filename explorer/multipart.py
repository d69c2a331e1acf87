"""A strict ``multipart/form-data`` reader (RFC 7578 over RFC 2046 §5.1) for small forms.

The certificate upload is the only form the explorer takes, and its body is already
bounded (``explorer.upload.MAX_BODY_BYTES``) before it reaches this module. The reader
is written for that one job and for hostile input:

* every step is a single forward scan (``bytes.find`` and one pass over each header),
  so the work is linear in the body's size whatever its shape: no backtracking
  regular expressions, no recursive descent (a nested ``multipart/mixed`` part is an
  opaque value, never parsed), no header folding;
* everything has a limit: the boundary (1-70 characters from RFC 2046's set), the parts
  (:data:`MAX_PARTS`), the header block of a part (:data:`MAX_HEADER_BYTES`, at most
  :data:`MAX_HEADER_LINES` lines), the parameters of a header (:data:`MAX_PARAMS`);
* anything that is not a well-formed form is refused with :class:`MultipartError`:
  CRLF line ends only, a ``Content-Disposition: form-data`` with a ``name`` on every
  part, no ``Content-Transfer-Encoding`` other than the identity ones (RFC 7578 §4.7
  deprecates it; browsers never send it), a closing delimiter.

The standard library's ``email`` parser that this replaces took tens of seconds on a
60 KB crafted ``Content-Disposition`` header, on the node's event loop.
"""

from __future__ import annotations

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_HEADER_LINES",
    "MAX_PARAMS",
    "MAX_PARTS",
    "MultipartError",
    "boundary_of",
    "parse_form",
    "parse_header_params",
]

#: Most parts a form may have (the certificate form has two).
MAX_PARTS = 16
#: Largest header block of one part, in bytes.
MAX_HEADER_BYTES = 2048
#: Most header lines in one part.
MAX_HEADER_LINES = 8
#: Most ``;``-separated parameters of one header value.
MAX_PARAMS = 8

#: RFC 2046 §5.1.1 ``bcharsnospace`` (a boundary may also hold spaces, not at its end).
_BCHARS = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ")
#: RFC 2045 ``token`` characters (printable ASCII but SPACE and tspecials).
_TOKEN = frozenset(
    chr(c) for c in range(33, 127) if chr(c) not in '()<>@,;:\\"/[]?='
)
_IDENTITY_ENCODINGS = frozenset({"7bit", "8bit", "binary"})


class MultipartError(ValueError):
    """The body is not a well-formed ``multipart/form-data`` form; the message says why
    in words a person understands."""


def parse_header_params(value: str) -> tuple[str, dict[str, str]]:
    """``("form-data", {"name": "x"})`` from ``form-data; name="x"``: the value's first
    item lower-cased and its parameters (names lower-cased; quoted strings unquoted, with
    backslash escapes). One pass over ``value``; at most :data:`MAX_PARAMS` parameters;
    a repeated parameter keeps its first value."""
    n = len(value)
    i = 0

    def skip_space(j: int) -> int:
        while j < n and value[j] in " \t":
            j += 1
        return j

    def token(j: int) -> tuple[str, int]:
        start = j
        while j < n and value[j] in _TOKEN:
            j += 1
        return value[start:j], j

    i = skip_space(i)
    start = i
    while i < n and value[i] != ";":
        i += 1
    first = value[start:i].strip().lower()
    if not first:
        raise MultipartError("a header has an empty value")
    params: dict[str, str] = {}
    count = 0
    while i < n:
        # at a ';'
        i = skip_space(i + 1)
        if i == n:
            break  # a trailing ';' is tolerated
        count += 1
        if count > MAX_PARAMS:
            raise MultipartError(f"a header has more than {MAX_PARAMS} parameters")
        name, i = token(i)
        if not name:
            raise MultipartError("a header parameter has no name")
        i = skip_space(i)
        if i == n or value[i] != "=":
            raise MultipartError(f"the header parameter {name!r} has no value")
        i = skip_space(i + 1)
        if i < n and value[i] == '"':
            i += 1
            out: list[str] = []
            while True:
                if i >= n:
                    raise MultipartError(f"the quoted value of {name!r} is not closed")
                ch = value[i]
                if ch == "\\" and i + 1 < n:
                    out.append(value[i + 1])
                    i += 2
                elif ch == '"':
                    i += 1
                    break
                else:
                    out.append(ch)
                    i += 1
            text = "".join(out)
        else:
            text, i = token(i)
            if not text:
                raise MultipartError(f"the header parameter {name!r} has an empty value")
        params.setdefault(name.lower(), text)
        i = skip_space(i)
        if i < n and value[i] != ";":
            raise MultipartError(f"unexpected text after the header parameter {name!r}")
    return first, params


def boundary_of(content_type: str) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type header value."""
    media, params = parse_header_params(content_type)
    if media != "multipart/form-data":
        raise MultipartError("the body is not multipart/form-data")
    boundary = params.get("boundary")
    if boundary is None:
        raise MultipartError("the multipart Content-Type has no boundary")
    raw = boundary.encode("latin-1", "replace")
    if not 1 <= len(raw) <= 70 or raw.endswith(b" ") or not set(raw) <= _BCHARS:
        raise MultipartError("the multipart boundary is not valid (RFC 2046: 1-70 characters)")
    return raw


def _part_headers(block: bytes) -> dict[str, str]:
    """The header lines of one part, names lower-cased; the first of a repeated name."""
    if len(block) > MAX_HEADER_BYTES:
        raise MultipartError(f"a part's headers are longer than {MAX_HEADER_BYTES} bytes")
    lines = block.split(b"\r\n") if block else []
    if len(lines) > MAX_HEADER_LINES:
        raise MultipartError(f"a part has more than {MAX_HEADER_LINES} header lines")
    headers: dict[str, str] = {}
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            raise MultipartError("folded header lines are not accepted")
        name, sep, value = line.partition(b":")
        if not sep or not name or not name.isascii() or name.strip() != name:
            raise MultipartError("a part has a malformed header line")
        headers.setdefault(name.decode("ascii").lower(), value.decode("latin-1").strip())
    return headers


def _field_name(headers: dict[str, str]) -> str:
    disposition = headers.get("content-disposition")
    if disposition is None:
        raise MultipartError("a part has no Content-Disposition header")
    kind, params = parse_header_params(disposition)
    if kind != "form-data":
        raise MultipartError("a part's Content-Disposition is not form-data")
    name = params.get("name")
    if name is None:
        raise MultipartError("a part has no field name")
    encoding = headers.get("content-transfer-encoding")
    if encoding is not None and encoding.lower() not in _IDENTITY_ENCODINGS:
        raise MultipartError(f"the transfer encoding {encoding!r} is not accepted")
    try:
        # field names travel as UTF-8 (RFC 7578 §5.1); the header bytes were read as latin-1
        return name.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise MultipartError("a field name is not valid UTF-8") from None


def parse_form(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a ``multipart/form-data`` body: field name -> raw value bytes (a
    file's content or a text field's UTF-8 bytes). A repeated field keeps its first
    value. Raises :class:`MultipartError` for anything that is not a well-formed form."""
    dash = b"--" + boundary_of(content_type)
    delimiter = b"\r\n" + dash
    if body.startswith(dash):
        pos = 0
    else:  # a preamble, to be ignored, ends with CRLF before the first delimiter
        found = body.find(delimiter)
        if found < 0:
            raise MultipartError("the form has no part with the declared boundary")
        pos = found + 2
    fields: dict[str, bytes] = {}
    parts = 0
    while True:
        after = pos + len(dash)
        if body[after:after + 2] == b"--":
            return fields  # the close delimiter; the epilogue is ignored
        while body[after:after + 1] in (b" ", b"\t"):  # RFC 2046 transport padding
            after += 1
        if body[after:after + 2] != b"\r\n":
            raise MultipartError("a boundary line is not followed by a line end")
        parts += 1
        if parts > MAX_PARTS:
            raise MultipartError(f"the form has more than {MAX_PARTS} parts")
        start = after + 2
        end = body.find(delimiter, start)
        if end < 0:
            raise MultipartError("the form ends without its closing boundary")
        if body.startswith(b"\r\n", start):
            head, content = b"", body[start + 2:end]
        else:
            split = body.find(b"\r\n\r\n", start, min(end, start + MAX_HEADER_BYTES + 4))
            if split < 0:
                raise MultipartError(
                    f"a part's headers are over {MAX_HEADER_BYTES} bytes or do not end "
                    "before its content"
                )
            head, content = body[start:split], body[split + 4:end]
        name = _field_name(_part_headers(head))
        fields.setdefault(name, content)
        pos = end + 2

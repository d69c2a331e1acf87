"""explorer.multipart: the strict multipart/form-data reader of the certificate upload.

Forms encoded by httpx (an independent encoder) and by a small reference encoder read
back field for field; every malformed shape is refused with a MultipartError; the
shapes that once froze a validator (a 60 KB crafted Content-Disposition, deep nesting)
are refused or read as opaque bytes."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.multipart import (
    MAX_HEADER_BYTES,
    MAX_PARAMS,
    MAX_PARTS,
    MultipartError,
    boundary_of,
    parse_form,
    parse_header_params,
)

CT = "multipart/form-data; boundary=zzz"


def encode(fields: list[tuple[str, bytes]], boundary: str = "zzz", preamble: bytes = b"",
           epilogue: bytes = b"") -> bytes:
    """The reference encoding of RFC 7578: one part per field, CRLF line ends."""
    out = [preamble]
    for name, value in fields:
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{quoted}"\r\n\r\n'
                   .encode())
        out.append(value + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode() + epilogue)
    return b"".join(out)


def first_values(fields: list[tuple[str, bytes]]) -> dict[str, bytes]:
    seen: dict[str, bytes] = {}
    for name, value in fields:
        seen.setdefault(name, value)
    return seen


names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20)
# RFC 2046 §5.1.1: the delimiter (CRLF "--" boundary) must not occur in a part, and a
# value follows the CRLF that ends its headers, so a value starting with "--zzz" holds
# one too (an encoder would choose another boundary): not a valid form of these fields
values = st.binary(max_size=300).filter(lambda b: b"\r\n--zzz" not in b"\r\n" + b)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(names, values), min_size=1, max_size=MAX_PARTS),
       st.sampled_from([b"", b"a preamble\r\n"]), st.sampled_from([b"", b"epilogue"]))
def test_reference_encoded_forms_read_back(fields, preamble: bytes, epilogue: bytes) -> None:
    assert parse_form(CT, encode(fields, preamble=preamble, epilogue=epilogue)) == \
        first_values(fields)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000), st.text(max_size=200))
def test_httpx_encoded_forms_read_back(upload: bytes, text: str) -> None:
    request = httpx.Request("POST", "http://x/", files={"certificate": ("c.json", upload,
                                                                       "application/json")},
                            data={"certificate_json": text})
    fields = parse_form(request.headers["content-type"], request.read())
    assert fields == {"certificate": upload, "certificate_json": text.encode("utf-8")}


def test_headers_parameters_and_quoting() -> None:
    assert parse_header_params('form-data; name="a;b"; filename="c \\"d\\".json"') == (
        "form-data", {"name": "a;b", "filename": 'c "d".json'})
    assert parse_header_params("Multipart/Form-Data; Boundary=abc;") == (
        "multipart/form-data", {"boundary": "abc"})
    assert parse_header_params("form-data; name=x; name=y")[1] == {"name": "x"}
    assert boundary_of('multipart/form-data; boundary="a b:c"') == b"a b:c"
    # a part's own Content-Type and identity transfer encodings are fine
    body = (b"--zzz\r\nContent-Disposition: form-data; name=f\r\nContent-Type: text/plain\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\nv\r\n--zzz--")
    assert parse_form(CT, body) == {"f": b"v"}
    # transport padding after a boundary (RFC 2046) and a UTF-8 field name
    body = '--zzz  \r\nContent-Disposition: form-data; name="证书"\r\n\r\nv\r\n--zzz--'
    assert parse_form(CT, body.encode("utf-8")) == {"证书": b"v"}


def test_a_nested_multipart_part_is_an_opaque_value() -> None:
    inner = b"--in\r\nContent-Type: multipart/mixed; boundary=in2\r\n\r\n" * 5000
    body = (b"--zzz\r\nContent-Disposition: form-data; name=f\r\n"
            b"Content-Type: multipart/mixed; boundary=in\r\n\r\n" + inner + b"\r\n--zzz--\r\n")
    assert parse_form(CT, body) == {"f": inner}


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("multipart/form-data", b"--zzz--", "no boundary"),
        ("text/plain; boundary=zzz", b"--zzz--", "not multipart/form-data"),
        ("multipart/form-data; boundary=" + "a" * 71, b"", "boundary is not valid"),
        ("multipart/form-data; boundary=\"a b \"", b"", "boundary is not valid"),
        ("multipart/form-data; boundary=a<b", b"", "unexpected text"),
        ("multipart/form-data; boundary=\"abc", b"", "not closed"),
        ("multipart/form-data; boundary", b"", "has no value"),
        (CT, b"no boundary here", "no part"),
        (CT, b"--zzz\r\nContent-Disposition: form-data; name=f\r\n\r\nvalue", "closing boundary"),
        (CT, b"--zzzjunk\r\n", "not followed by a line end"),
        (CT, b"--zzz\nContent-Disposition: form-data; name=f\n\nv\n--zzz--", "line end"),
        (CT, b"--zzz\r\nContent-Type: text/plain\r\n\r\nv\r\n--zzz--", "no Content-Disposition"),
        (CT, b"--zzz\r\n\r\nv\r\n--zzz--", "no Content-Disposition"),
        (CT, b"--zzz\r\nContent-Disposition: attachment; name=f\r\n\r\nv\r\n--zzz--",
         "not form-data"),
        (CT, b"--zzz\r\nContent-Disposition: form-data; filename=f\r\n\r\nv\r\n--zzz--",
         "no field name"),
        (CT, b"--zzz\r\nContent-Disposition: form-data;\r\n name=f\r\n\r\nv\r\n--zzz--", "folded"),
        (CT, b"--zzz\r\nContent-Disposition form-data\r\n\r\nv\r\n--zzz--", "malformed header"),
        (CT, b"--zzz\r\nContent-Disposition: form-data; name=f\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\ndg==\r\n--zzz--", "transfer encoding"),
        (CT, b"--zzz\r\nContent-Disposition: form-data; name=\"\xff\"\r\n\r\nv\r\n--zzz--",
         "not valid UTF-8"),
    ],
)
def test_malformed_forms_are_refused(content_type: str, body: bytes, reason: str) -> None:
    with pytest.raises(MultipartError, match=reason):
        parse_form(content_type, body)


def test_limits_on_parts_headers_and_parameters() -> None:
    parse_form(CT, encode([(f"f{i}", b"v") for i in range(MAX_PARTS)]))
    with pytest.raises(MultipartError, match="more than"):
        parse_form(CT, encode([(f"f{i}", b"v") for i in range(MAX_PARTS + 1)]))
    params = "".join(f"; p{i}=v" for i in range(MAX_PARAMS + 1))
    with pytest.raises(MultipartError, match="parameters"):
        parse_form(CT, b"--zzz\r\nContent-Disposition: form-data" + params.encode()
                   + b"\r\n\r\nv\r\n--zzz--")
    lines = b"".join(b"X-%d: 1\r\n" % i for i in range(9))
    with pytest.raises(MultipartError, match="header lines"):
        parse_form(CT, b"--zzz\r\nContent-Disposition: form-data; name=f\r\n" + lines
                   + b"\r\nv\r\n--zzz--")


@pytest.mark.parametrize(
    "disposition",
    [
        # the shapes of the 60 KB header that froze a validator for ~26 s: long runs of
        # parameters, of quoted pairs, of RFC 2231 continuations, of encoded words
        b"form-data" + b"; a=b" * 12_000,
        b'form-data; name="' + b"\\a" * 30_000 + b'"',
        b"form-data; " + b"".join(b"name*%d*=x;" % i for i in range(6000)),
        b"form-data; name=" + b"=?utf-8?q?x?=" * 5000,
    ],
)
def test_a_crafted_60_kb_header_is_refused_at_once(disposition: bytes) -> None:
    assert len(disposition) > MAX_HEADER_BYTES
    body = b"--zzz\r\nContent-Disposition: " + disposition + b"\r\n\r\nv\r\n--zzz--\r\n"
    with pytest.raises(MultipartError, match="headers are over"):
        parse_form(CT, body)

"""The runner's moto reads multipart uploads without a pattern per boundary
(``logpipe_local.cheaper_forms``): the same matches, forms and headers as werkzeug's and
``http.client``'s own. No services needed."""

from __future__ import annotations

import email.parser
import http.client
import io
import random
import re

import pytest
from werkzeug.formparser import parse_form_data
from werkzeug.sansio import multipart
from werkzeug.serving import WSGIRequestHandler

from logpipe_local import cheaper_forms
from logpipe_local.cheaper_forms import BoundarySearch

LB = b"(?:\r\n|\n|\r)"


def werkzeug_patterns(boundary: bytes) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """The two patterns werkzeug's decoder compiles (``MultipartDecoder.__init__``)."""
    tail = rb"(--[^\S\n\r]*%s?|[^\S\n\r]*%s)" % (LB, LB)
    escaped = re.escape(boundary)
    return (
        re.compile(rb"%s?--%s%s" % (LB, escaped, tail), re.MULTILINE),
        re.compile(rb"%s--%s%s" % (LB, escaped, tail), re.MULTILINE),
    )


def test_the_decoder_still_compiles_the_patterns_this_test_compares_with() -> None:
    """If werkzeug changes its patterns, the comparison below must change with them."""
    decoder = multipart.MultipartDecoder(b"xyz")
    if isinstance(decoder.preamble_re, BoundarySearch):
        pytest.skip("cheaper_forms is applied in this process")
    preamble, between = werkzeug_patterns(b"xyz")
    assert (decoder.preamble_re.pattern, decoder.boundary_re.pattern) == (preamble.pattern, between.pattern)


def _pieces(boundary: bytes) -> list[bytes]:
    return [
        b"--" + boundary, b"--" + boundary[:-1], b"-", b"--", b"\r\n", b"\n", b"\r", b" ", b"\t", b"x", b"ab",
        boundary, b"\r\n--" + boundary + b"--", b"\n--" + boundary + b" \r\n",
    ]  # fmt: skip


@pytest.mark.parametrize("boundary", [b"b", b"-", b"--x", b"----WebKitFormBoundary7MA4YWxkTrZu0gW", b"a.b(c)"])
def test_the_boundary_search_finds_what_werkzeugs_pattern_finds(boundary: bytes) -> None:
    rng = random.Random(boundary)
    preamble, between = werkzeug_patterns(boundary)
    pairs = [
        (preamble, BoundarySearch(boundary, line_break=False)),
        (between, BoundarySearch(boundary, line_break=True)),
    ]
    pieces = _pieces(boundary)
    checked = found = 0
    for _ in range(4000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        for buffer in (data, bytearray(data)):
            pos = rng.randint(0, len(data))
            for pattern, search in pairs:
                want = pattern.search(buffer, pos)
                got = search.search(buffer, pos) if pos else search.search(buffer)
                checked += 1
                if want is None:
                    assert got is None, (data, pos)
                    continue
                found += 1
                assert got is not None, (data, pos)
                assert (got.start(), got.end(), got.group(1)) == (want.start(), want.end(), want.group(1)), (data, pos)
    assert found > checked // 8  # the bodies hold boundaries often enough to compare the matches


def _form(boundary: bytes, parts: list[tuple[str, str | None, bytes]], line_break: bytes = b"\r\n") -> bytes:
    body = b"preamble" + line_break
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += b"--" + boundary + line_break + f"Content-Disposition: {disposition}".encode() + line_break * 2
        body += value + line_break
    return body + b"--" + boundary + b"--" + line_break


def _parse(body: bytes, boundary: bytes) -> tuple[dict[str, list[str]], dict[str, bytes]]:
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": f"multipart/form-data; boundary={boundary.decode()}",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    _, form, files = parse_form_data(environ)
    read = {}
    for name, stored in files.items():
        with stored.stream:
            read[name] = stored.read()
    return {k: form.getlist(k) for k in form}, read


def apply_until_teardown(monkeypatch: pytest.MonkeyPatch) -> None:
    """``cheaper_forms.apply()`` in this process, undone after the test."""
    monkeypatch.setattr(multipart.MultipartDecoder, "__init__", multipart.MultipartDecoder.__init__)
    monkeypatch.setattr(http.client, "parse_headers", http.client.parse_headers)
    monkeypatch.setattr(WSGIRequestHandler, "log_request", WSGIRequestHandler.log_request)
    cheaper_forms.apply()


@pytest.fixture
def applied(monkeypatch: pytest.MonkeyPatch) -> None:
    apply_until_teardown(monkeypatch)


def _uploads() -> list[tuple[bytes, list[tuple[str, str | None, bytes]], bytes]]:
    rng = random.Random(7)
    boundary = b"----WebKitFormBoundaryQ3v9"
    tricky = [
        b"",
        b"line one\r\nline two\r\n",
        b"--" + boundary + b"not a boundary: no line break before it\n",
        b"\r\n--" + boundary[:-1] + b"\r\n",
        b"--\r\n--\n\r" * 50,
        bytes(rng.randrange(256) for _ in range(5000)),
        b"x" * 300_000,  # more than one read of the decoder
    ]
    return [
        (
            boundary,
            [("key", None, b"uploads/abc/step.log"), ("policy", None, b"eyJ4Ijoi"), ("file", "step.log", content)],
            line_break,
        )
        for content in tricky
        for line_break in (b"\r\n", b"\n")
    ]


@pytest.mark.parametrize("case", range(len(_uploads())))
def test_a_form_reads_the_same_with_the_cheaper_decoder(case: int, monkeypatch: pytest.MonkeyPatch) -> None:
    boundary, parts, line_break = _uploads()[case]
    body = _form(boundary, parts, line_break)
    want = _parse(body, boundary)
    if line_break == b"\r\n":  # with bare LFs, a file that ends in CR loses it to the boundary
        assert want[1]["file"] == parts[2][2]
    apply_until_teardown(monkeypatch)
    assert isinstance(multipart.MultipartDecoder(boundary).boundary_re, BoundarySearch)
    assert _parse(body, boundary) == want


def test_request_headers_read_the_same_as_headers_only(applied: None) -> None:
    block = (
        b"Host: 127.0.0.1:9000\r\n"
        b"Content-Type: multipart/form-data; boundary=----WebKitFormBoundaryQ3v9\r\n"
        b"Content-Length: 1234\r\n"
        b"X-Folded: one\r\n two\r\n"
        b"\r\n"
    )
    ours = http.client.parse_headers(io.BytesIO(block))
    full = email.parser.Parser(_class=http.client.HTTPMessage).parsestr(block.decode("iso-8859-1"))
    assert ours.items() == full.items()
    assert ours.get_content_type() == "multipart/form-data"
    assert ours.get_param("boundary") == "----WebKitFormBoundaryQ3v9"


def test_applying_twice_changes_nothing_more(applied: None) -> None:
    init = multipart.MultipartDecoder.__init__
    log_request = WSGIRequestHandler.log_request
    cheaper_forms.apply()
    assert (multipart.MultipartDecoder.__init__, WSGIRequestHandler.log_request) == (init, log_request)

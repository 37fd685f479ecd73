"""Unit tests of the $batch multipart parser."""

import pytest

from sandbox.channeladvisor import batch
from sandbox.channeladvisor.batch import BatchError


def test_parses_changesets_and_top_level_parts_with_lf_line_endings():
    body = (b'--b\nContent-Type: application/http\n\nGET Products(1) HTTP/1.1\n\n'
            b'--b\nContent-Type: multipart/mixed; boundary="cs"\n\n'
            b'--cs\nContent-Type: application/http\nContent-ID: 7\n\n'
            b'PATCH /v1/Products(2) HTTP/1.1\nContent-Type: application/json\n\n{"Cost": 1}\n'
            b'--cs--\n--b--\n')
    first, second = batch.parse_operations('multipart/mixed; boundary="b"', body)
    assert (first.method, first.url, first.changeset, first.body) == ("GET", "Products(1)", None, b"")
    assert (second.method, second.content_id, second.changeset, second.body) == ("PATCH", "7", 1, b'{"Cost": 1}')


@pytest.mark.parametrize("url,expected", [
    ("https://api.example.com/sandbox/x/channeladvisor/v1/Products(3)?$select=ID", ("v1/Products(3)", "$select=ID")),
    ("/v1/Orders(1)/Ship", ("v1/Orders(1)/Ship", "")),
    ("Orders", ("v1/Orders", "")),
    ("v1/Orders", ("v1/Orders", "")),
])
def test_relative_path(url, expected):
    assert batch.relative_path(url) == expected


@pytest.mark.parametrize("content_type,body", [
    ("application/json", b"{}"),
    ("multipart/mixed", b"--b\n\n--b--"),
    ("multipart/mixed; boundary=b", b"no delimiter at all"),
    ("multipart/mixed; boundary=b", b"--b\nContent-Type: application/http\n\nGET x HTTP/1.1\n\n"),
    ("multipart/mixed; boundary=b", b"--b\nContent-Type: text/plain\n\nhello\n--b--"),
    ("multipart/mixed; boundary=b", b"--b\nContent-Type: application/http\n\n\n--b--"),
])
def test_malformed_batches_raise(content_type, body):
    with pytest.raises(BatchError):
        batch.parse_operations(content_type, body)

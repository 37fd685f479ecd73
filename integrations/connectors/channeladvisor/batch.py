"""OData $batch: build a multipart/mixed body of up to 100 requests and read each part's status back."""

import json
import re
import uuid
from dataclasses import dataclass, field

from integrations.connectors.http import _json_default

MAX_PARTS = 100
CRLF = "\r\n"


@dataclass
class BatchPart:
    method: str
    url: str  # absolute URL of the inner request
    body: dict | None = None
    content_id: str = ""


@dataclass
class BatchResult:
    part: BatchPart
    status: int
    body: str = ""
    headers: dict = field(default_factory=dict)
    error: Exception | None = None  # set when the $batch call itself failed, so the part has no answer

    @property
    def ok(self):
        return 200 <= self.status < 300

    @property
    def retryable(self):
        # 406 is what ChannelAdvisor answers when a part could not run now; 429 and 5xx as for single calls.
        return self.status in (406, 408, 429) or self.status >= 500


def build(parts: list[BatchPart]) -> tuple[str, bytes]:
    """(content type, body) for one $batch request; every part carries a Content-ID to match answers."""
    if len(parts) > MAX_PARTS:
        raise ValueError(f"A $batch holds at most {MAX_PARTS} requests, not {len(parts)}.")
    batch, changeset = f"batch_{uuid.uuid4().hex}", f"changeset_{uuid.uuid4().hex}"
    lines = [f"--{batch}", f"Content-Type: multipart/mixed; boundary={changeset}", ""]
    for index, part in enumerate(parts, start=1):
        part.content_id = part.content_id or str(index)
        lines += [f"--{changeset}", "Content-Type: application/http", "Content-Transfer-Encoding: binary",
                  f"Content-ID: {part.content_id}", "", f"{part.method} {part.url} HTTP/1.1"]
        if part.body is not None:
            lines += ["Content-Type: application/json", "", json.dumps(part.body, default=_json_default)]
        else:
            lines += [""]
        lines += [""]
    lines += [f"--{changeset}--", f"--{batch}--", ""]
    return f"multipart/mixed; boundary={batch}", CRLF.join(lines).encode()


_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.I)
_STATUS = re.compile(r"^HTTP/\d(?:\.\d)?\s+(\d{3})", re.M)


def parse(content_type: str, body: bytes, parts: list[BatchPart]) -> list[BatchResult]:
    """Each inner response, matched to its part by Content-ID (or by order when the server sends none)."""
    answers = list(_responses(content_type, body.decode("utf-8", "replace")))
    by_id = {cid: answer for cid, answer in answers if cid}
    results = []
    for index, part in enumerate(parts):
        if part.content_id in by_id:
            answer = by_id[part.content_id]
        elif not by_id and index < len(answers):
            answer = answers[index][1]
        else:
            results.append(BatchResult(part, 0, "no answer for this part in the $batch response"))
            continue
        results.append(BatchResult(part, *answer))
    return results


def _responses(content_type, text):
    """Yield (content id, (status, body, headers)) for every application/http part, nested changesets included."""
    match = _BOUNDARY.search(content_type or "")
    if not match:
        return
    boundary = match.group(1)
    for chunk in text.split(f"--{boundary}")[1:]:
        if chunk.startswith("--"):
            break
        head, _, rest = chunk.lstrip("\r\n").partition("\r\n\r\n")
        if not _:
            head, _, rest = chunk.lstrip("\n").partition("\n\n")
        headers = _headers(head)
        inner_type = headers.get("content-type", "")
        if inner_type.lower().startswith("multipart/"):
            yield from _responses(inner_type, rest)
            continue
        status_match = _STATUS.search(rest)
        if not status_match:
            continue
        http_text = rest[status_match.start():]
        http_head, _, http_body = http_text.replace("\r\n", "\n").partition("\n\n")
        inner_headers = _headers("\n".join(http_head.split("\n")[1:]))
        content_id = headers.get("content-id") or inner_headers.get("content-id", "")
        yield content_id.strip(), (int(status_match.group(1)), http_body.strip(), inner_headers)


def _headers(block):
    out = {}
    for line in block.replace("\r\n", "\n").split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


def retry_after(result: BatchResult) -> float | None:
    """A part's Retry-After in seconds, when it sent a plain number."""
    try:
        return float(result.headers.get("retry-after", ""))
    except ValueError:
        return None

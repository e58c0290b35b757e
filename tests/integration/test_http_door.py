"""The HTTP door under gunicorn: what only a real server shows (chunked bodies)."""

from __future__ import annotations

import http.client
import json

import pytest

from tests.integration.test_server import SAMPLE, Stack

#: Small enough that a refused body is sent whole before the server answers.
LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("gateway-home"))
    stack.config.write_text(
        stack.config.read_text().replace("max_body_bytes = 10485760", f"max_body_bytes = {LIMIT}")
    )
    try:
        stack.run("migrate")
        stack.run("demo")
        stack.start_api()
        yield stack
    finally:
        stack.close()


def post_chunked(stack: Stack, path: str, parts: list[bytes]) -> tuple[int, dict]:
    """POST ``parts`` with ``Transfer-Encoding: chunked`` (no Content-Length)."""
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    try:
        connection.request(
            "POST",
            path,
            body=iter(parts),
            headers={
                "Authorization": f"Bearer {stack.key('demo')}",
                "Content-Type": "application/json",
            },
            encode_chunked=True,
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def invoices(stack: Stack) -> list[dict]:
    connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    try:
        connection.request(
            "GET", "/v1/invoices", headers={"Authorization": f"Bearer {stack.key('demo')}"}
        )
        return json.loads(connection.getresponse().read())["items"]
    finally:
        connection.close()


def test_a_chunked_body_is_read_whole(stack):
    sample = SAMPLE.read_bytes()
    parts = [sample[i : i + 100] for i in range(0, len(sample), 100)]

    status, body = post_chunked(stack, "/v1/invoices", parts)

    assert status == 202, body
    assert body["status"] == "RECU"
    assert [item["id"] for item in invoices(stack)] == [body["id"]]


def test_a_chunked_body_over_the_limit_is_refused_and_nothing_stored(stack):
    before = invoices(stack)
    document = json.loads(SAMPLE.read_text())
    document["notes"] = ["x" * LIMIT]  # valid JSON, too large
    data = json.dumps({**document, "number": "CHUNKED-BIG"}).encode()

    status, body = post_chunked(stack, "/v1/invoices", [data[:1000], data[1000:]])

    assert status == 413
    assert [error["code"] for error in body["errors"]] == ["request.too_large"]
    assert invoices(stack) == before

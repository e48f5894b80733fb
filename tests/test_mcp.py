"""bnapp as an agent sees it: the app's MCP endpoint, listed and called with the `mcp` package's own client."""
from __future__ import annotations

import base64
import json
import re

import anyio
import pytest
from test_app import example_path

from bnapp import CLASSES

pytestmark = pytest.mark.e2e


async def _session(url: str, work):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async with (streamablehttp_client(url + "gradio_api/mcp/") as (read, write, _),
                ClientSession(read, write) as session):
        await session.initialize()
        return await work(session)


def run(url: str, work):
    return anyio.run(_session, url, work)


def test_the_tools_are_listed_with_their_descriptions(server):
    tools = {t.name: t for t in run(server[0], lambda s: s.list_tools()).tools}
    for name in ("predict", "activations", "testtime_shift", "testtime_company", "train"):
        assert name in tools, sorted(tools)
    assert "BatchNorm network and its plain twin" in tools["predict"].description
    assert "pair_name" in tools["predict"].inputSchema["properties"]
    assert "Schneider" in tools["testtime_shift"].description
    shift_params = tools["testtime_shift"].inputSchema["properties"]
    assert {"pair_name", "corruption", "severity", "prior"} <= set(shift_params)


def test_prediction_on_a_real_image_through_mcp(server):
    with open(example_path(server), "rb") as f:
        image = "data:image/png;base64," + base64.b64encode(f.read()).decode()

    async def call(session):
        return await session.call_tool("predict", {"image_path": image, "pair_name": "cnn"})
    result = run(server[0], call)
    assert not result.isError, result
    text = " ".join(c.text for c in result.content if getattr(c, "type", "") == "text")
    classes = "|".join(CLASSES)
    # both twins' top class, in the tool's text (a Python repr of the two labels)
    assert len(re.findall(rf"['\"]label['\"]: ['\"]({classes})['\"]", text)) >= 2, text[:500]
    assert re.search(r"(Both twins say|The twins disagree)", text), text[:500]  # the one-line verdict


def test_bad_requests_through_mcp_get_a_clear_message(server):
    async def call(session):
        unknown = await session.call_tool("testtime_shift", {"pair_name": "nope", "corruption": "contrast",
                                                             "severity": 3, "prior": 16})
        garbage = "data:image/png;base64," + base64.b64encode(b"not an image at all").decode()
        broken = await session.call_tool("predict", {"image_path": garbage, "pair_name": "cnn"})
        fine = await session.call_tool("testtime_shift", {"pair_name": "mlp", "corruption": "contrast",
                                                          "severity": 3, "prior": 16})
        return unknown, broken, fine
    unknown, broken, fine = run(server[0], call)
    text = lambda r: json.dumps([getattr(c, "text", "") for c in r.content])  # noqa: E731
    assert unknown.isError and "'nope' is not one of ['cnn', 'mlp']" in text(unknown)  # the schema's check
    assert broken.isError and "not an image Pillow can read" in text(broken), text(broken)  # bnapp's own
    assert not fine.isError and "contrast, severity 3" in text(fine)  # and the server goes on serving

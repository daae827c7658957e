"""The OpenAI-compatible agent against a local HTTP endpoint that speaks the same API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from adapters.agents.openai_compat import MalformedAgentAnswer, OpenAICompatibleAgent
from use_cases.flows import ClassifyRequest, FlowName


class ChatEndpoint:
    def __init__(self) -> None:
        self.answer = "{}"
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []


@pytest.fixture
def endpoint() -> Iterator[tuple[ChatEndpoint, str]]:
    state = ChatEndpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append((dict(self.headers), body))
            reply = {"choices": [{"message": {"role": "assistant", "content": state.answer}}]}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


QUESTION = ClassifyRequest(mailbox="info@x", subject="Quote please", text="10 chairs")


async def test_a_valid_answer_is_validated_into_the_model(
    endpoint: tuple[ChatEndpoint, str],
) -> None:
    state, url = endpoint
    state.answer = '{"flow": "procurement", "confidence": 0.8, "reason": "asks for a quote"}'
    agent = OpenAICompatibleAgent(url, "some-model", api_key="sk-test")
    classification = await agent.classify(QUESTION)
    assert classification.flow is FlowName.PROCUREMENT and classification.confidence == 0.8
    headers, body = state.requests[0]
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["model"] == "some-model" and body["response_format"] == {"type": "json_object"}
    assert "Quote please" in body["messages"][1]["content"]


@pytest.mark.parametrize(
    "answer",
    ["not json at all", '{"flow": "smuggling", "confidence": 0.9}', '{"confidence": 7}'],
)
async def test_a_malformed_answer_is_never_trusted(
    endpoint: tuple[ChatEndpoint, str], answer: str
) -> None:
    state, url = endpoint
    state.answer = answer
    with pytest.raises(MalformedAgentAnswer):
        await OpenAICompatibleAgent(url, "m").classify(QUESTION)

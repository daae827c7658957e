"""The OpenAI-compatible agent against a local HTTP endpoint that speaks the same API."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from adapters.agents.knowledge import best_answer, load_knowledge_base
from adapters.agents.openai_compat import (
    AgentEndpointRejected,
    AgentEndpointUnavailable,
    MalformedAgentAnswer,
    OpenAICompatibleAgent,
)
from bench.support_answers import evaluate, load_table
from orchestrator.bootstrap import make_agent
from orchestrator.settings import SettingsError, load_settings
from use_cases.flows import AgentUsage, ClassifyRequest
from use_cases.models import FlowConfig

ARTICLES = load_knowledge_base()


class ChatEndpoint:
    def __init__(self) -> None:
        self.answer = "{}"
        # the answer computed from the request's body instead, as a model would
        self.answers: Callable[[dict[str, Any]], str] | None = None
        self.status = 200
        self.headers: dict[str, str] = {}
        self.usage: dict[str, int] | None = None
        self.silent = False  # takes the request and never answers
        self.released = threading.Event()
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.status != 200:
            return {"error": {"message": f"status {self.status}", "type": "test"}}
        content = self.answers(body) if self.answers else self.answer
        reply: dict[str, Any] = {
            "choices": [{"message": {"role": "assistant", "content": content}}]
        }
        if self.usage is not None:
            reply["usage"] = self.usage
        return reply


@pytest.fixture
def endpoint() -> Iterator[tuple[ChatEndpoint, str]]:
    state = ChatEndpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append((dict(self.headers), body))
            if state.silent:
                state.released.wait(timeout=30)
                return
            data = json.dumps(state.reply(body)).encode()
            self.send_response(state.status)
            for name, value in {**state.headers, "Content-Type": "application/json"}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for the loop's next poll: a short one keeps teardown quick
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/v1"
    state.released.set()
    server.shutdown()
    server.server_close()


QUESTION = ClassifyRequest(mailbox="info@x", subject="Quote please", text="10 chairs")
SUPPORT = ClassifyRequest(mailbox="support@x", subject="Printer", text="My printer is on fire")


async def test_a_valid_answer_is_validated_into_the_model(
    endpoint: tuple[ChatEndpoint, str],
) -> None:
    state, url = endpoint
    state.answer = '{"flow": "procurement", "confidence": 0.8, "reason": "asks for a quote"}'
    agent = OpenAICompatibleAgent(url, "some-model", api_key="sk-test")
    classification = await agent.classify(QUESTION)
    assert classification.flow == "procurement" and classification.confidence == 0.8
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


async def test_the_tokens_an_answer_cost_come_with_it(endpoint: tuple[ChatEndpoint, str]) -> None:
    state, url = endpoint
    state.usage = {"prompt_tokens": 812, "completion_tokens": 17, "total_tokens": 829}
    state.answer = '{"category": "technical", "priority": "high", "usage": {"prompt_tokens": 1}}'
    triage = await OpenAICompatibleAgent(url, "m").triage(SUPPORT)
    assert triage.usage == AgentUsage(prompt_tokens=812, completion_tokens=17)
    state.usage = None  # an endpoint that does not count: no usage, rather than a made-up one
    assert (await OpenAICompatibleAgent(url, "m").triage(SUPPORT)).usage is None


async def test_an_endpoint_that_never_answers_fails_within_the_configured_timeout(
    endpoint: tuple[ChatEndpoint, str],
) -> None:
    state, url = endpoint
    state.silent = True
    started = time.monotonic()
    with pytest.raises(AgentEndpointUnavailable, match=r"no answer within 0\.5 s") as raised:
        await OpenAICompatibleAgent(url, "m", timeout=0.5).classify(QUESTION)
    assert time.monotonic() - started < 5
    assert not raised.value.non_retryable  # Temporal retries the activity


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_a_busy_or_failing_endpoint_raises_a_retryable_error(
    endpoint: tuple[ChatEndpoint, str], status: int
) -> None:
    state, url = endpoint
    state.status, state.headers = status, {"Retry-After": "7"}
    with pytest.raises(AgentEndpointUnavailable, match=f"HTTP {status}") as raised:
        await OpenAICompatibleAgent(url, "m").classify(QUESTION)
    assert not raised.value.non_retryable
    assert raised.value.next_retry_delay == timedelta(seconds=7)  # the endpoint's wish
    assert len(state.requests) == 1  # one try per activity attempt: Temporal retries


@pytest.mark.parametrize(
    ("status", "hint"),
    [(400, "status 400"), (401, "MAILROOM_AGENT_API_KEY"), (404, "MAILROOM_AGENT_URL")],
)
async def test_a_refused_request_raises_a_clear_error_that_is_not_retried(
    endpoint: tuple[ChatEndpoint, str], status: int, hint: str
) -> None:
    state, url = endpoint
    state.status = status
    with pytest.raises(AgentEndpointRejected, match=f"HTTP {status}") as raised:
        await OpenAICompatibleAgent(url, "m", api_key="sk-secret").classify(QUESTION)
    assert raised.value.non_retryable and hint in str(raised.value)
    assert "sk-secret" not in str(raised.value)


async def test_an_endpoint_nobody_listens_on_raises_a_retryable_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(AgentEndpointUnavailable):
        await OpenAICompatibleAgent(f"http://127.0.0.1:{port}/v1", "m").classify(QUESTION)


def rule_agent_as_a_model(body: dict[str, Any]) -> str:
    """A stand-in model that chooses as the offline agent does, and words an answer of its
    own that must never reach the customer."""
    request = ClassifyRequest.model_validate_json(body["messages"][1]["content"])
    chosen = best_answer(ARTICLES, request)
    return json.dumps(
        {"article": chosen.article, "confidence": chosen.confidence, "answer": "Buy a new one."}
    )


async def test_the_agent_chooses_articles_and_sends_their_own_text(
    endpoint: tuple[ChatEndpoint, str],
) -> None:
    state, url = endpoint
    state.answers, state.usage = rule_agent_as_a_model, {"prompt_tokens": 9, "completion_tokens": 2}
    answer = await OpenAICompatibleAgent(url, "m", articles=ARTICLES).answer_from_kb(SUPPORT)
    fire = next(a for a in ARTICLES if a.id == "printer-fire")
    assert answer.article == "printer-fire" and answer.answer == fire.answer
    assert answer.usage == AgentUsage(prompt_tokens=9, completion_tokens=2)
    system = state.requests[0][1]["messages"][0]["content"]
    assert all(f'"id": "{a.id}"' in system for a in ARTICLES)
    state.answers = None
    state.answer = '{"article": "printer-repair-by-yourself", "confidence": 0.9}'
    with pytest.raises(MalformedAgentAnswer, match="no article"):
        await OpenAICompatibleAgent(url, "m", articles=ARTICLES).answer_from_kb(SUPPORT)


async def test_the_agent_over_http_scores_as_well_as_the_model_behind_it(
    endpoint: tuple[ChatEndpoint, str],
) -> None:
    state, url = endpoint
    state.answers, state.usage = (
        rule_agent_as_a_model,
        {"prompt_tokens": 900, "completion_tokens": 20},
    )
    agent = OpenAICompatibleAgent(url, "m", articles=ARTICLES)
    table = load_table()
    scores = await evaluate(agent, table, FlowConfig().kb_confidence)
    assert scores.precision >= 0.98 and scores.recall >= 0.95
    assert scores.prompt_tokens == 900 * len(table) and scores.completion_tokens == 20 * len(table)


@pytest.fixture
def no_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("MAILROOM_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no mailroom.toml


def test_the_configured_agent_gets_the_timeout_and_the_knowledge_base(
    no_settings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILROOM_AGENT_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("MAILROOM_AGENT_MODEL", "m")
    monkeypatch.setenv("MAILROOM_AGENT_TIMEOUT", "5")
    agent = make_agent(load_settings())
    assert isinstance(agent, OpenAICompatibleAgent) and agent.timeout == 5
    assert set(agent.articles) == {a.id for a in ARTICLES}
    monkeypatch.setenv("MAILROOM_AGENT_TIMEOUT", "PT2M")  # past the activity's own 60 s
    with pytest.raises(SettingsError, match="MAILROOM_AGENT_TIMEOUT"):
        load_settings()

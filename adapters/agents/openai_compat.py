"""An agent backed by any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM,
llama.cpp, Ollama…), switched on by settings. Its answers are parsed as JSON and validated
against the same pydantic models as the rule-based agent: a malformed answer raises, the
activity is retried, and after the retries a human takes over. Nothing it says is trusted
unvalidated.

Retries are Temporal's alone (workflows/agent_calls.py: AGENT_RETRY, 3 attempts with
backoff): an endpoint that is busy or down (429, 5xx, no answer within `timeout`) raises
`AgentEndpointUnavailable`, retryable, after the endpoint's Retry-After when it gives one. A
retry loop in here as well would multiply the attempts, hold a worker slot while it sleeps
and hide the failures from the history. A request the endpoint refuses (400, 401, 403,
404…) gets the same answer every time: `AgentEndpointRejected` is not retried, and a
person takes over at once.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.exceptions import ApplicationError

from adapters.agents.knowledge import Article
from use_cases.flows import (
    AgentUsage,
    Classification,
    ClassifyRequest,
    ExtractRequest,
    KbAnswer,
    PurchaseRequest,
    Triage,
)

Answer = TypeVar("Answer", bound=BaseModel)
# Under the activity's 60 s (workflows/agent_calls.py: AGENT_TIMEOUT), so that the agent's
# own error, not the activity's timeout, says what happened.
DEFAULT_TIMEOUT_SECONDS = 50.0
LONGEST_RETRY_AFTER = timedelta(seconds=60)
# the classifier's labels when the request names none (mailroom's first two flows)
DEFAULT_LABELS = ("procurement", "support")
INSTRUCTIONS = {
    "extract": "Extract the purchase request: items with quantities, budget, currency, "
    "deadline, supplier.",
    "triage": "Triage the support email: category (billing, account, technical, delivery, "
    "general) and priority (high or normal).",
    "answer": "Answer the customer's question if you are sure; give your confidence 0..1; "
    "answer null if unsure.",
    "choose": "Choose the one help-centre article that fully answers the customer's email, "
    "by its id in `article`, with your confidence 0..1; leave `answer` empty. If no article "
    "answers all of it, or the customer says an earlier answer did not help, `article` is "
    "null. The articles: ",
}
HINTS = {
    401: "check MAILROOM_AGENT_API_KEY",
    403: "check MAILROOM_AGENT_API_KEY",
    404: "check MAILROOM_AGENT_URL (it ends in /v1) and MAILROOM_AGENT_MODEL",
}


class MalformedAgentAnswer(ValueError):
    """The model's answer was not the JSON we asked for: retried, then escalated."""


class AgentEndpointUnavailable(ApplicationError):
    """The endpoint is busy or down (429, 5xx, no answer in time): retried by Temporal."""

    def __init__(self, message: str, retry_after: timedelta | None = None) -> None:
        super().__init__(message, type="AgentEndpointUnavailable", next_retry_delay=retry_after)


class AgentEndpointRejected(ApplicationError):
    """The endpoint refused the request (400, 401, 404…): the same every time, not retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type="AgentEndpointRejected", non_retryable=True)


class OpenAICompatibleAgent:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        articles: Sequence[Article] = (),
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        # With articles, the model only chooses one: the customer gets the article's vetted
        # text, never the model's own words.
        self.articles = {a.id: a for a in articles}

    async def classify(self, request: ClassifyRequest) -> Classification:
        """One of the registered flows' labels (the request's), or "other"; any other label
        is a malformed answer, never a flow."""
        labels = request.labels or DEFAULT_LABELS
        instructions = (
            f"Classify the email into one of these flows: {', '.join(labels)}; or 'other'."
        )
        answer = await self._answer(
            "classify", with_schema(instructions, Classification), request, Classification
        )
        if answer.flow not in (*labels, "other"):
            raise MalformedAgentAnswer(f"classify: {answer.flow!r} is not a flow")
        return answer

    async def extract_request(self, request: ExtractRequest) -> PurchaseRequest:
        answer = await self._ask("extract", request, PurchaseRequest)
        return answer.model_copy(update={"requester": request.requester})

    async def triage(self, request: ClassifyRequest) -> Triage:
        return await self._ask("triage", request, Triage)

    async def answer_from_kb(self, request: ClassifyRequest) -> KbAnswer:
        if not self.articles:
            return await self._ask("answer", request, KbAnswer)
        chosen = await self._ask("choose", request, KbAnswer)
        if chosen.article is None:
            return chosen.model_copy(update={"answer": None})
        article = self.articles.get(chosen.article)
        if article is None:
            raise MalformedAgentAnswer(f"choose: no article {chosen.article!r}")
        return chosen.model_copy(update={"answer": article.answer})

    async def ask(self, instructions: str, request: BaseModel, shape: type[Answer]) -> Answer:
        """A question of a flow's own (its adapter's instructions), answered as `shape`,
        validated: a flow that needs the model for something new asks it here."""
        return await self._answer("flow", with_schema(instructions, shape), request, shape)

    async def _ask(self, task: str, request: BaseModel, shape: type[Answer]) -> Answer:
        return await self._answer(task, self._instructions(task, shape), request, shape)

    async def _answer(
        self, task: str, instructions: str, request: BaseModel, shape: type[Answer]
    ) -> Answer:
        body = {
            "model": self.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": instructions},
                {"role": "user", "content": request.model_dump_json()},
            ],
        }
        reply = await self._post(body)
        try:
            answer = shape.model_validate_json(reply["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError, ValidationError) as exc:
            raise MalformedAgentAnswer(f"{task}: {exc}") from exc
        if "usage" in shape.model_fields:
            answer = answer.model_copy(update={"usage": usage_of(reply)})
        return answer

    def _instructions(self, task: str, shape: type[BaseModel]) -> str:
        text = INSTRUCTIONS[task]
        if task == "choose":
            text += json.dumps([{"id": a.id, "text": a.answer} for a in self.articles.values()])
        return with_schema(text, shape)

    async def _post(self, body: dict[str, Any]) -> Any:
        # The socket timeout bounds each wait for the endpoint; wait_for bounds the whole
        # exchange (an endpoint that trickles its answer).
        try:
            return await asyncio.wait_for(asyncio.to_thread(self._exchange, body), self.timeout)
        except TimeoutError:
            raise self._no_answer() from None

    def _no_answer(self) -> AgentEndpointUnavailable:
        return AgentEndpointUnavailable(f"{self.url}: no answer within {self.timeout:g} s")

    def _exchange(self, body: dict[str, Any]) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise http_error(self.url, exc) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise self._no_answer() from None
            raise AgentEndpointUnavailable(f"{self.url}: {reason}") from None
        except json.JSONDecodeError as exc:
            raise MalformedAgentAnswer(f"{self.url}: not JSON: {exc}") from None


def http_error(url: str, error: urllib.error.HTTPError) -> ApplicationError:
    body = error.read(500).decode("utf-8", "replace")
    # the endpoint's words end up in logs and the workflow's history: printable only
    said = "".join(c if c.isprintable() else " " for c in body).strip()
    message = f"{url}: HTTP {error.code} {error.reason}" + (f": {said}" if said else "")
    if error.code == 429 or error.code >= 500:
        return AgentEndpointUnavailable(message, retry_after(error.headers.get("Retry-After")))
    hint = HINTS.get(error.code)
    return AgentEndpointRejected(f"{message} ({hint})" if hint else message)


def retry_after(value: str | None) -> timedelta | None:
    """Retry-After in seconds, at most LONGEST_RETRY_AFTER; None for a date or nothing."""
    if value is None or not value.strip().isdigit():
        return None
    return min(timedelta(seconds=int(value.strip())), LONGEST_RETRY_AFTER)


def usage_of(reply: Any) -> AgentUsage | None:
    """The tokens the endpoint says the answer cost; None when it does not say."""
    try:
        return AgentUsage.model_validate(reply["usage"])
    except (KeyError, TypeError, ValidationError):
        return None


def with_schema(instructions: str, shape: type[BaseModel]) -> str:
    schema = json.dumps(shape.model_json_schema())
    return f"{instructions} Reply with one JSON object matching this JSON schema: {schema}"

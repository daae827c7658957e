"""An agent backed by any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM,
llama.cpp, Ollama…), switched on by settings. Its answers are parsed as JSON and validated
against the same pydantic models as the rule-based agent: a malformed answer raises, the
activity is retried, and after the retries a human takes over. Nothing it says is trusted
unvalidated."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from use_cases.flows import (
    Classification,
    ClassifyRequest,
    ExtractRequest,
    KbAnswer,
    PurchaseRequest,
    Triage,
)

Answer = TypeVar("Answer", bound=BaseModel)
TIMEOUT_SECONDS = 60
INSTRUCTIONS = {
    "classify": "Classify the email into flow 'procurement', 'support' or 'other'.",
    "extract": "Extract the purchase request: items with quantities, budget, currency, "
    "deadline, supplier.",
    "triage": "Triage the support email: category (billing, account, technical, general) "
    "and priority (high or normal).",
    "answer": "Answer the customer's question if you are sure; give your confidence 0..1; "
    "answer null if unsure.",
}


class MalformedAgentAnswer(ValueError):
    """The model's answer was not the JSON we asked for: retried, then escalated."""


class OpenAICompatibleAgent:
    def __init__(self, base_url: str, model: str, api_key: str | None = None) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key

    async def classify(self, request: ClassifyRequest) -> Classification:
        return await self._ask("classify", request, Classification)

    async def extract_request(self, request: ExtractRequest) -> PurchaseRequest:
        answer = await self._ask("extract", request, PurchaseRequest)
        return answer.model_copy(update={"requester": request.requester})

    async def triage(self, request: ClassifyRequest) -> Triage:
        return await self._ask("triage", request, Triage)

    async def answer_from_kb(self, request: ClassifyRequest) -> KbAnswer:
        return await self._ask("answer", request, KbAnswer)

    async def _ask(self, task: str, request: BaseModel, shape: type[Answer]) -> Answer:
        body = {
            "model": self.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {
                    "role": "system",
                    "content": f"{INSTRUCTIONS[task]} Reply with one JSON "
                    f"object matching this JSON schema: {json.dumps(shape.model_json_schema())}",
                },
                {"role": "user", "content": request.model_dump_json()},
            ],
        }
        reply = await asyncio.to_thread(self._post, body)
        try:
            content = reply["choices"][0]["message"]["content"]
            return shape.model_validate_json(content)
        except (KeyError, IndexError, TypeError, ValidationError) as exc:
            raise MalformedAgentAnswer(f"{task}: {exc}") from exc

    def _post(self, body: dict[str, Any]) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers)
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return json.loads(response.read())

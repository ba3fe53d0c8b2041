"""An OpenAI-compatible HTTP API over one loaded model (FastAPI): ``/v1/models``,
``/v1/completions`` and ``/v1/chat/completions`` for a decoder-only language model, decoded by
continuous batching (``generation.continuous``), streamed as server-sent events when asked;
``/v1/embeddings`` for an encoder (mean-pooled, as ``lmlineage embed``); the page at ``/`` and
the JSON it reads under ``/api/`` (``page.py``).

Every error is OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``, with a 4xx
status for a bad request (5xx only for a bug), and the server goes on serving. Bodies are parsed
and checked here, field by field, so each mistake names its field.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import threading
import time
import uuid

from fastapi import FastAPI
from fastapi import Request as HTTPRequest
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException


from ..core.errors import UserError
from ..generation import processors
from ..generation.chat import chat_prompt, end_of_turn
from ..generation.continuous import ContinuousBatcher, Request
from .errors import APIError, field
from .page import add_page

MAX_BODY = 1 << 20  # bytes: far above any prompt the served context holds
MAX_PROMPTS = 64  # prompts in one completion request
MAX_STOPS = 4  # stop strings, as OpenAI allows
MAX_EMBED_INPUTS = 2048
UNSUPPORTED = ("echo", "logprobs", "top_logprobs", "suffix", "best_of", "logit_bias", "presence_penalty",
               "frequency_penalty", "tools", "functions", "response_format")


class Served:
    """The model behind the API and what it can answer: text (a decoder-only LM, through a
    continuous batcher) or embeddings (an encoder)."""

    def __init__(self, model, name: str, max_batch: int = 64, embed=None):
        self.model, self.name, self.created = model, name, int(time.time())
        self.embed = embed  # texts -> (N, d) tensor, for an encoder
        self.batcher = None
        if model.sentence_encoder:
            if embed is None:
                raise UserError(f"{name} is an encoder but no embedding function was given")
            return
        if not model.causal_lm:
            raise UserError(f"{name} is not a decoder-only language model or an encoder",
                            "serve a decoder (gpt2, llama, a GGUF file, ...) for text, or an encoder for embeddings")
        if model.tokenizer is None:
            raise UserError(f"{name} has no tokenizer.json to read prompts with", "serve a checkpoint that carries one")
        if model.new_cache() is None:
            raise UserError(f"{name} shares one block across depths and decodes without a cache",
                            "serve a model without shared layers")
        self.batcher = ContinuousBatcher(model, max_batch=max_batch)

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()


def create_app(served: Served, api_key: str | None = None, max_body: int = MAX_BODY):
    """The FastAPI application serving ``served``; ``api_key``: every request must carry
    ``Authorization: Bearer <api_key>``."""
    app = FastAPI(title="lmlineage", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.served = served
    embed_lock = threading.Lock()  # the encoder runs one batch at a time, off the event loop

    @app.exception_handler(APIError)
    async def api_error(_, e: APIError):
        return JSONResponse(e.body(), status_code=e.status)

    @app.exception_handler(HTTPException)
    async def http_error(_, e: HTTPException):  # unknown path, wrong method
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code)
        return JSONResponse(APIError(e.status_code, str(e.detail), code=code).body(), status_code=e.status_code)

    @app.exception_handler(Exception)
    async def bug(_, e: Exception):
        return JSONResponse(APIError(500, f"internal error: {type(e).__name__}: {e}", kind="server_error").body(),
                            status_code=500)

    def authorize(request: HTTPRequest) -> None:
        if api_key is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
            raise APIError(401, "Incorrect or missing API key: send the header 'Authorization: Bearer <key>'",
                           code="invalid_api_key")

    async def read_json(request: HTTPRequest) -> dict:
        """The body as a JSON object, within the size limit."""
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body:
            raise APIError(413, f"the request body is {length} bytes, over the limit of {max_body}",
                           code="request_too_large")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                raise APIError(413, f"the request body is over the limit of {max_body} bytes", code="request_too_large")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise APIError(400, f"the body is not valid JSON ({e}); send a JSON object", code="invalid_json") from None
        if not isinstance(data, dict):
            raise APIError(400, f"the body must be a JSON object, not {type(data).__name__}", code="invalid_json")
        return data

    async def read_body(request: HTTPRequest) -> dict:
        """The body of an OpenAI request: a JSON object naming the served model."""
        data = await read_json(request)
        model = field(data, "model", str, required=True)
        if model != served.name:
            raise APIError(404, f"The model '{model}' does not exist: this server serves '{served.name}'",
                           param="model", code="model_not_found")
        return data

    @app.get("/v1/models")
    async def models(request: HTTPRequest):
        authorize(request)
        return {"object": "list", "data": [_model_card(served)]}

    @app.get("/v1/models/{name:path}")
    async def model(name: str, request: HTTPRequest):
        authorize(request)
        if name != served.name:
            raise APIError(404, f"The model '{name}' does not exist", param="model", code="model_not_found")
        return _model_card(served)

    @app.post("/v1/completions")
    async def completions(request: HTTPRequest):
        authorize(request)
        body = await read_body(request)
        needs_text(served)
        prompts = _prompts(body, served.model.tokenizer)
        options, stream, usage = _options(body, served.model, [len(p) for p in prompts], default_max=16)
        jobs = _Jobs(served.batcher, prompts, options)
        reply_id, created = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        base = {"id": reply_id, "object": "text_completion", "created": created, "model": served.name}

        if stream:
            async def chunks():
                async for index, kind, value in jobs.events():
                    yield {**base, "choices": [_choice(index, value if kind == "text" else "",
                                                       None if kind == "text" else value)]}

            return _EventStream(_events(chunks(), base, jobs, usage), jobs.cancel)
        await jobs.wait(request)
        return {**base, "choices": [_choice(i, jobs.texts[i], jobs.reasons[i]) for i in range(len(prompts))],
                "usage": jobs.usage()}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: HTTPRequest):
        authorize(request)
        body = await read_body(request)
        needs_text(served)
        messages = _messages(body)
        try:
            text = chat_prompt(served.model, messages, served.name)
        except UserError as e:
            raise APIError(400, str(e), param="messages", code="chat_template") from None
        prompt = served.model.tokenizer.encode(text)
        if not prompt:
            raise APIError(400, "the conversation renders to no tokens", param="messages")
        if "max_completion_tokens" in body and "max_tokens" not in body:
            body = {**body, "max_tokens": body["max_completion_tokens"]}
        options, stream, usage = _options(body, served.model, [len(prompt)], default_max=None)
        end = end_of_turn(served.model.tokenizer)
        if end is not None:  # the end-of-turn token never shows in the reply
            options["stop"] = [*options["stop"], end]
        jobs = _Jobs(served.batcher, [prompt], options)
        reply_id, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        base = {"id": reply_id, "object": "chat.completion.chunk", "created": created, "model": served.name}

        if stream:
            async def chunks():
                yield {**base, "choices": [_delta({"role": "assistant", "content": ""}, None)]}
                stripped = _Stripped()  # a reply is stripped (as `lmlineage generate --chat` prints it)
                async for _, kind, value in jobs.events():
                    if kind == "done":
                        yield {**base, "choices": [_delta({}, value)]}
                    elif piece := stripped.add(value):
                        yield {**base, "choices": [_delta({"content": piece}, None)]}

            return _EventStream(_events(chunks(), base, jobs, usage), jobs.cancel)
        await jobs.wait(request)
        message = {"role": "assistant", "content": jobs.texts[0].strip()}
        return {**base, "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": jobs.reasons[0]}],
                "usage": jobs.usage()}

    @app.post("/v1/embeddings")
    async def embeddings(request: HTTPRequest):
        authorize(request)
        body = await read_body(request)
        if served.embed is None:
            raise APIError(400, f"{served.name} is a language model: it does not embed text; "
                                "serve an encoder for /v1/embeddings", param="model", code="not_an_encoder")
        texts = _embedding_inputs(body)
        encoding = field(body, "encoding_format", str, "float")
        if encoding not in ("float", "base64"):
            raise APIError(400, f"encoding_format must be 'float' or 'base64', got {encoding!r}",
                           param="encoding_format")
        if body.get("dimensions") is not None:
            raise APIError(400, "dimensions is not supported: the encoder's width is fixed", param="dimensions")

        def run():
            with embed_lock:
                return served.embed(texts)

        try:
            vectors = (await run_in_threadpool(run)).float().numpy()
        except UserError as e:
            raise APIError(400, str(e), param="input") from None
        tokens = sum(len(served.model.tokenizer.encode(t)) for t in texts)
        as_sent = (lambda v: base64.b64encode(v.astype("<f4").tobytes()).decode()) if encoding == "base64" else \
            (lambda v: v.tolist())
        data = [{"object": "embedding", "index": i, "embedding": as_sent(v)} for i, v in enumerate(vectors)]
        return {"object": "list", "data": data, "model": served.name,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    add_page(app, served, authorize, read_json)

    def needs_text(served: Served) -> None:
        if served.batcher is None:
            raise APIError(400, f"{served.name} is an encoder: it embeds text but does not generate it; "
                                "use /v1/embeddings", param="model", code="not_a_language_model")

    class _EventStream(StreamingResponse):
        """Server-sent events; whatever ends the response (the last event, a client that went
        away), the requests behind it are cancelled, so their rows leave the batch."""

        def __init__(self, events, on_close):
            super().__init__(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
            self.on_close = on_close

        async def __call__(self, scope, receive, send):
            try:
                await super().__call__(scope, receive, send)
            finally:
                self.on_close()

    return app


class _Jobs:
    """The batcher's requests behind one HTTP request, their events brought onto the event loop."""

    def __init__(self, batcher: ContinuousBatcher, prompts: list[list[int]], options: dict):
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.prompt_tokens = sum(len(p) for p in prompts)
        self.texts = [""] * len(prompts)
        self.reasons: list[str | None] = [None] * len(prompts)
        self.tokens = [0] * len(prompts)
        self.requests = [Request(prompt=p, on_text=self._bridge(i, "text"), on_done=self._bridge(i, "done"), **options)
                         for i, p in enumerate(prompts)]
        for r in self.requests:
            batcher.submit(r)

    def _bridge(self, index: int, kind: str):
        def put(*value):
            try:
                self.loop.call_soon_threadsafe(self.queue.put_nowait, (index, kind, value))
            except RuntimeError:  # the event loop has closed (server shutting down): nobody is listening
                pass
        return put

    async def events(self):
        """(index, "text", piece) as text arrives, then (index, "done", finish_reason) per prompt."""
        left = len(self.requests)
        while left:
            index, kind, value = await self.queue.get()
            if kind == "text":
                self.texts[index] += value[0]
                yield index, kind, value[0]
                continue
            reason, self.tokens[index] = value
            if reason.startswith("error"):
                raise APIError(500, f"decoding failed: {reason}", kind="server_error")
            self.reasons[index] = reason
            left -= 1
            yield index, kind, reason

    async def wait(self, http_request) -> None:
        """Every prompt's whole text; a client that disconnects meanwhile cancels its requests."""
        events = self.events()
        while True:
            step = asyncio.ensure_future(anext(events))
            while not step.done():
                await asyncio.wait([step], timeout=0.25)
                if not step.done() and await http_request.is_disconnected():
                    step.cancel()
                    self.cancel()
                    raise APIError(499, "the client closed the request", code="client_closed")
            try:
                step.result()
            except StopAsyncIteration:
                return

    def cancel(self) -> None:
        for r in self.requests:
            r.cancel()

    def usage(self) -> dict:
        completion = sum(self.tokens)
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion,
                "total_tokens": self.prompt_tokens + completion}


class _Stripped:
    """Streamed pieces whose concatenation is the whole text stripped: leading whitespace is
    dropped, trailing whitespace is held until more text follows it."""

    def __init__(self):
        self.started, self.pending = False, ""

    def add(self, piece: str) -> str:
        if not self.started:
            piece = piece.lstrip()
            self.started = bool(piece)
        text = self.pending + piece
        body = text.rstrip()
        self.pending = text[len(body):]
        return body


async def _events(chunks, base: dict, jobs, usage: bool):
    """A streamed reply as server-sent events: its chunks, the usage when asked, then [DONE]."""
    try:
        async for chunk in chunks:
            yield _sse(chunk)
    except APIError as e:  # the status is sent already: the error is the last event
        yield _sse(e.body())
        return
    if usage:
        yield _sse({**base, "choices": [], "usage": jobs.usage()})
    yield "data: [DONE]\n\n"


def _sse(data: dict) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _choice(index: int, text: str, finish_reason: str | None) -> dict:
    return {"index": index, "text": text, "logprobs": None, "finish_reason": finish_reason}


def _delta(delta: dict, finish_reason: str | None) -> dict:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _model_card(served: Served) -> dict:
    return {"id": served.name, "object": "model", "created": served.created, "owned_by": "lmlineage"}


def _prompts(body: dict, tokenizer) -> list[list[int]]:
    """``prompt``: a string, an array of strings, an array of token ids or an array of such arrays."""
    prompt = body.get("prompt")
    if prompt is None:
        raise APIError(400, "you must provide the 'prompt' field", param="prompt", code="missing_required_parameter")
    if isinstance(prompt, str) or (isinstance(prompt, list) and prompt and _is_ids(prompt)):
        prompt = [prompt]
    if not isinstance(prompt, list) or not prompt:
        raise APIError(400, "'prompt' must be a string, an array of strings or an array of token ids", param="prompt",
                       code="invalid_type")
    if len(prompt) > MAX_PROMPTS:
        raise APIError(400, f"at most {MAX_PROMPTS} prompts per request, got {len(prompt)}", param="prompt")
    out = []
    for p in prompt:
        if isinstance(p, str):
            ids = tokenizer.encode(p)
        elif isinstance(p, list) and _is_ids(p):
            ids = p
            if any(not 0 <= t < tokenizer.vocab_size for t in ids):
                raise APIError(400, f"a token id lies outside the vocabulary [0, {tokenizer.vocab_size})",
                               param="prompt")
        else:
            raise APIError(400, "'prompt' must be a string, an array of strings or an array of token ids",
                           param="prompt", code="invalid_type")
        if not ids:
            raise APIError(400, "a prompt is empty: give at least one character", param="prompt")
        out.append(list(ids))
    return out


def _is_ids(value: list) -> bool:
    return all(isinstance(t, int) and not isinstance(t, bool) for t in value)


def _messages(body: dict) -> list[dict]:
    messages = field(body, "messages", list, required=True)
    if not messages:
        raise APIError(400, "'messages' is empty: give at least one message", param="messages")
    out = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise APIError(400, f"{where} must be an object with 'role' and 'content'", param=where,
                           code="invalid_type")
        role, content = m.get("role"), m.get("content")
        if role not in ("system", "developer", "user", "assistant", "tool"):
            raise APIError(400, f"{where}.role must be system, developer, user, assistant or tool, got "
                                f"{json.dumps(role)[:40]}", param=f"{where}.role")
        if isinstance(content, list):  # content parts: only text ones can be read
            if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                       for p in content):
                raise APIError(400, f"{where}.content: only text parts are supported", param=f"{where}.content")
            content = "".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise APIError(400, f"{where}.content must be a string", param=f"{where}.content", code="invalid_type")
        out.append({"role": "system" if role == "developer" else role, "content": content})
    return out


def _options(body: dict, model, prompt_lengths: list[int], default_max: int | None) -> tuple[dict, bool, bool]:
    """The batcher's settings for a request, whether to stream, and whether to end a stream with usage."""
    limit = model.max_positions
    longest = max(prompt_lengths)
    if longest >= limit:
        raise APIError(400, f"the prompt is {longest} tokens; this model's context is {limit} tokens, which must also "
                            "hold at least one new token: shorten the prompt", param="prompt",
                       code="context_length_exceeded")
    max_tokens = field(body, "max_tokens", int)
    if max_tokens is None:
        max_tokens = limit - longest if default_max is None else min(default_max, limit - longest)
    elif max_tokens < 1:
        raise APIError(400, f"max_tokens must be at least 1, got {max_tokens}", param="max_tokens",
                       code="invalid_value")
    elif longest + max_tokens > limit:
        raise APIError(400, f"this model's context is {limit} tokens; the prompt ({longest}) and max_tokens "
                            f"({max_tokens}) ask for {longest + max_tokens}: lower max_tokens or shorten the prompt",
                       param="max_tokens", code="context_length_exceeded")
    for name in UNSUPPORTED:  # refused rather than silently ignored; their neutral values pass
        if body.get(name) not in (None, False, 0, "", [], {}) + ((1,) if name == "best_of" else ()):
            raise APIError(400, f"'{name}' is not supported by this server", param=name, code="unsupported_parameter")
    n = field(body, "n", int, 1)
    if n != 1:
        raise APIError(400, f"n must be 1 (one choice per prompt), got {n}", param="n", code="invalid_value")
    temperature = field(body, "temperature", float, 1.0)
    if not 0 <= temperature <= 2:
        raise APIError(400, f"temperature must lie in [0, 2], got {temperature}", param="temperature",
                       code="invalid_value")
    top_p = field(body, "top_p", float, 1.0)
    top_k = field(body, "top_k", int)
    penalty = field(body, "repetition_penalty", float, 1.0)
    try:
        processors.check_sampling(temperature, top_k, top_p, penalty)
    except UserError as e:
        raise APIError(400, str(e), code="invalid_value") from None
    seed = field(body, "seed", int)
    if seed is not None and not 0 <= seed < 2**63:
        raise APIError(400, f"seed must lie in [0, 2**63), got {seed}", param="seed", code="invalid_value")
    stop = body.get("stop")
    stop = [] if stop is None else [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or len(stop) > MAX_STOPS or not all(isinstance(s, str) and s for s in stop):
        raise APIError(400, f"'stop' must be a non-empty string or an array of at most {MAX_STOPS} of them",
                       param="stop", code="invalid_value")
    stream = field(body, "stream", bool, False)
    stream_options = field(body, "stream_options", dict, {})
    usage = field(stream_options, "include_usage", bool, False)
    options = dict(max_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                   repetition_penalty=penalty, seed=seed, stop=stop)
    return options, stream, usage


def _embedding_inputs(body: dict) -> list[str]:
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise APIError(400, "'input' must be a string or a non-empty array of strings", param="input",
                       code="invalid_type")
    if len(texts) > MAX_EMBED_INPUTS:
        raise APIError(400, f"at most {MAX_EMBED_INPUTS} inputs per request, got {len(texts)}", param="input")
    if any(not t for t in texts):
        raise APIError(400, "an input is empty: give at least one character", param="input")
    return texts


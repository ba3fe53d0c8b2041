"""The page at ``/`` (``page.html``: plain HTML and JavaScript, nothing fetched from elsewhere) and
the JSON it reads:

- ``GET /api/lineage``: every registered family, its year, parent and what it changed;
- ``GET /api/model``: the served model's name and shape;
- ``POST /api/inspect`` ``{"text", "top"}``: the tokens, the top next tokens and the logit lens
  (a decoder's; an encoder predicts no next token);
- ``POST /api/attention`` ``{"text", "layer", "head"}``: one head's attention map.

The page holds no data, so it is served without the API key; the ``/api/`` routes check it.
"""

from __future__ import annotations

import threading
from importlib import resources

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from ..core.registry import families
from ..evaluation.lens import read
from .errors import APIError, field

MAX_TOKENS = 128  # an attention map is tokens x tokens cells on the page
MAX_TOP = 50


def add_page(app, served, authorize, read_json) -> None:
    """Add the page and its ``/api/`` routes to ``app``, which serves ``served``."""
    html = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    model_lock = threading.Lock()  # one look inside at a time, off the event loop
    last = {}  # the last text's reading: choosing another layer or head reads no more

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return html

    @app.get("/api/lineage")
    async def lineage(request: Request):
        authorize(request)
        return {"families": [{"name": f.name, "year": f.year, "parent": f.parent, "paper": f.paper,
                              "changes": f.changes, "architecture": f.architecture, "objective": f.objective,
                              "presets": list(f.presets)} for f in families()]}

    model = served.model
    readable = (model.causal_lm or model.sentence_encoder) and model.tokenizer is not None

    @app.get("/api/model")
    async def model_info(request: Request):
        authorize(request)
        return {"name": served.name, "family": model.config.family, "readable": readable,
                "predicts": readable and model.causal_lm, "layers": model.config.n_layer,
                "heads": model.config.attention.n_head, "max_tokens": min(MAX_TOKENS, model.max_positions) if readable else 0}

    async def reading(body: dict):
        text = field(body, "text", str, required=True)
        if not readable:
            raise APIError(400, f"{served.name} cannot be read here: the page reads decoder-only language models and "
                                "encoders that carry a tokenizer", param="model", code="not_readable")
        ids = model.tokenizer.encode(text)
        if not ids:
            raise APIError(400, "'text' is empty: type at least one character", param="text", code="invalid_value")
        limit = min(MAX_TOKENS, model.max_positions)
        if len(ids) > limit:
            raise APIError(400, f"the text is {len(ids)} tokens; the page reads at most {limit}: shorten it",
                           param="text", code="context_length_exceeded")

        def run():
            with model_lock:
                if last.get("ids") != ids:
                    last.update(ids=ids, reading=read(model, ids, top=MAX_TOP))
                return last["reading"]

        return await run_in_threadpool(run)

    def tokens(ids) -> list[dict]:
        return [{"id": int(i), "text": token_text(model.tokenizer, int(i))} for i in ids]

    @app.post("/api/inspect")
    async def inspect(request: Request):
        authorize(request)
        body = await read_json(request)
        top = field(body, "top", int, 10)
        if not 1 <= top <= MAX_TOP:
            raise APIError(400, f"'top' must lie in [1, {MAX_TOP}], got {top}", param="top", code="invalid_value")
        r = await reading(body)
        answer = {"tokens": tokens(r.ids), "layers": r.attentions.shape[0], "heads": r.attentions.shape[1],
                  "next": None, "lens": None}
        if r.next_ids is not None:  # a decoder's predictions
            answer["next"] = [{**t, "prob": float(p)} for t, p in zip(tokens(r.next_ids[:top]), r.next_probs[:top])]
            answer["lens"] = [[{**t, "prob": round(float(p), 4)} for t, p in zip(tokens(ids[:, 0]), probs[:, 0])]
                              for ids, probs in zip(r.lens_ids, r.lens_probs)]
        return answer

    @app.post("/api/attention")
    async def attention(request: Request):
        authorize(request)
        body = await read_json(request)
        layer = field(body, "layer", int, required=True)
        head = field(body, "head", int, required=True)
        cfg = model.config
        for name, value, count in (("layer", layer, cfg.n_layer), ("head", head, cfg.attention.n_head)):
            if not 0 <= value < count:
                raise APIError(400, f"'{name}' must lie in [0, {count}), got {value}", param=name,
                               code="invalid_value")
        r = await reading(body)
        return {"tokens": tokens(r.ids), "layer": layer, "head": head,
                "weights": [[round(w, 4) for w in row] for row in r.attentions[layer, head].tolist()]}


def token_text(tokenizer, id: int) -> str:
    """A token as text; a piece of a character (one byte of several) as the vocabulary spells it."""
    text = tokenizer.decode([id])
    return tokenizer.id_to_token(id) or text if "\ufffd" in text else text

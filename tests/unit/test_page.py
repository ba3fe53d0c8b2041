"""The page `lmlineage serve` shows at `/` and the JSON behind it: the lineage as the registry
declares it; tokens, attention maps, next tokens and the logit lens as `evaluation.lens.read`
computes them; bad input refused with a 4xx in OpenAI's error shape. Then the page itself in
headless Chromium (Debian's `chromium`, driven by Playwright): it loads, reads a typed prompt,
draws the heatmap and the next-token table, and a tree node opens its family's details."""

import shutil

import pytest
import torch

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from lmlineage.core.registry import families, get_family  # noqa: E402
from lmlineage.evaluation.lens import read  # noqa: E402
from lmlineage.models import build_model  # noqa: E402
from lmlineage.serve import serving  # noqa: E402
from lmlineage.serve.app import MAX_BODY, Served  # noqa: E402
from lmlineage.serve.page import MAX_TOKENS  # noqa: E402
from lmlineage.tokenizers.hf import train as train_tokenizer  # noqa: E402

TEXT = "The quick brown fox jumps over the lazy dog. To be, or not to be, that is the question. " * 20
PROMPT = "To be, or not to be"


@pytest.fixture(scope="module")
def model():
    tok = train_tokenizer("bpe", [TEXT], vocab_size=300)
    torch.manual_seed(0)
    model = build_model(get_family("gpt2").config("tiny", vocab_size=tok.vocab_size)).eval()
    model.tokenizer = tok
    return model


@pytest.fixture(scope="module")
def root(model):
    served = Served(model, "tiny-gpt2")
    try:
        with serving(served) as url:
            yield url.removesuffix("/v1")
    finally:
        served.close()


def post(root, path, body):
    return httpx.post(root + path, json=body, timeout=60)


def refused(response, status, param=None, code=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and error["type"] == "invalid_request_error"
    assert (param is None or error["param"] == param) and (code is None or error["code"] == code)
    return error["message"]


def test_lineage_lists_every_family_as_the_registry_declares_it(root):
    served = httpx.get(root + "/api/lineage").json()["families"]
    assert [(f["name"], f["year"], f["parent"], f["changes"]) for f in served] == \
        [(f.name, f.year, f.parent, f.changes) for f in families()]
    names = {f["name"] for f in served}
    assert all(f["parent"] is None or f["parent"] in names for f in served)  # the tree closes


def test_model_inspect_and_attention_are_what_read_computes(root, model):
    info = httpx.get(root + "/api/model").json()
    assert info == {"name": "tiny-gpt2", "family": "gpt2", "readable": True, "predicts": True, "layers": 4, "heads": 4,
                    "max_tokens": 64}
    ids = model.tokenizer.encode(PROMPT)
    expected = read(model, ids, top=5)
    data = post(root, "/api/inspect", {"text": PROMPT, "top": 5}).json()
    assert [t["id"] for t in data["tokens"]] == ids
    assert "".join(t["text"] for t in data["tokens"]) == PROMPT
    assert (data["layers"], data["heads"]) == (4, 4)
    assert [t["id"] for t in data["next"]] == expected.next_ids.tolist()
    torch.testing.assert_close(torch.tensor([t["prob"] for t in data["next"]]), expected.next_probs)
    assert len(data["lens"]) == 5 and all(len(row) == len(ids) for row in data["lens"])
    assert [[t["id"] for t in row] for row in data["lens"]] == expected.lens_ids[..., 0].tolist()
    for layer, head in ((0, 0), (3, 2)):
        weights = torch.tensor(post(root, "/api/attention", {"text": PROMPT, "layer": layer, "head": head})
                               .json()["weights"])
        torch.testing.assert_close(weights, expected.attentions[layer, head], atol=5e-5, rtol=0)


def test_choosing_a_layer_or_head_reads_the_model_no_more(root, monkeypatch):
    import lmlineage.serve.page as page

    calls = []
    monkeypatch.setattr(page, "read", lambda *a, **k: calls.append(1) or read(*a, **k))
    text = "the fox, the dog"
    post(root, "/api/inspect", {"text": text})
    for layer, head in ((0, 0), (1, 3), (3, 1)):
        assert post(root, "/api/attention", {"text": text, "layer": layer, "head": head}).status_code == 200
    assert post(root, "/api/inspect", {"text": text, "top": 3}).status_code == 200
    assert len(calls) == 1
    post(root, "/api/inspect", {"text": text + "!"})
    assert len(calls) == 2


def test_bad_page_requests_get_a_4xx_in_the_error_shape(root):
    long_text = "To be " * 200
    cases = [
        ("/api/inspect", {}, 400, "text", "missing_required_parameter"),
        ("/api/inspect", {"text": 3}, 400, "text", "invalid_type"),
        ("/api/inspect", {"text": ""}, 400, "text", "invalid_value"),
        ("/api/inspect", {"text": long_text}, 400, "text", "context_length_exceeded"),
        ("/api/inspect", {"text": "hi", "top": 0}, 400, "top", "invalid_value"),
        ("/api/inspect", {"text": "hi", "top": True}, 400, "top", "invalid_type"),
        ("/api/attention", {"text": "hi", "head": 0}, 400, "layer", "missing_required_parameter"),
        ("/api/attention", {"text": "hi", "layer": 4, "head": 0}, 400, "layer", "invalid_value"),
        ("/api/attention", {"text": "hi", "layer": 0, "head": -1}, 400, "head", "invalid_value"),
        ("/api/attention", {"text": "hi", "layer": 0, "head": "1"}, 400, "head", "invalid_type"),
    ]
    for path, body, status, param, code in cases:
        refused(post(root, path, body), status, param, code)
    refused(httpx.post(root + "/api/inspect", content=b"{not json", timeout=60), 400, code="invalid_json")
    refused(httpx.post(root + "/api/inspect", content=b"[1]", timeout=60), 400, code="invalid_json")
    refused(httpx.post(root + "/api/inspect", content=b"x" * (MAX_BODY + 1), timeout=60), 413)
    refused(httpx.get(root + "/api/nowhere"), 404)
    assert MAX_TOKENS < len(long_text)
    assert post(root, "/api/inspect", {"text": "still serving"}).status_code == 200


def test_reading_beside_decoding_changes_neither(root, model):
    """The page's forward passes run beside the batcher's on the one model: both answers stay
    what each gives alone."""
    from concurrent.futures import ThreadPoolExecutor

    import lmlineage

    expected = lmlineage.generate(model, "The quick", max_new_tokens=24, temperature=0)
    alone = post(root, "/api/inspect", {"text": PROMPT}).json()

    def complete(_):
        body = {"model": "tiny-gpt2", "prompt": "The quick", "max_tokens": 24, "temperature": 0}
        return post(root, "/v1/completions", body).json()["choices"][0]["text"]

    with ThreadPoolExecutor(6) as pool:
        texts = pool.map(complete, range(3))
        readings = pool.map(lambda _: post(root, "/api/inspect", {"text": PROMPT}).json(), range(6))
        assert list(texts) == [expected] * 3
        assert list(readings) == [alone] * 6


@pytest.fixture(scope="module")
def encoder():
    tok = train_tokenizer("bpe", [TEXT], vocab_size=300)
    torch.manual_seed(0)
    encoder = build_model(get_family("bert").config("tiny", vocab_size=tok.vocab_size)).eval()
    encoder.tokenizer = tok
    return encoder


def test_an_encoder_shows_its_attention_but_predicts_no_next_token(encoder):
    served = Served(encoder, "tiny-bert", embed=lambda texts: torch.zeros(len(texts), 8))
    with serving(served) as url:
        root = url.removesuffix("/v1")
        info = httpx.get(root + "/api/model").json()
        assert info["readable"] and not info["predicts"]
        data = post(root, "/api/inspect", {"text": PROMPT}).json()
        ids = encoder.tokenizer.encode(PROMPT)
        assert [t["id"] for t in data["tokens"]] == ids and data["next"] is None and data["lens"] is None
        weights = torch.tensor(post(root, "/api/attention", {"text": PROMPT, "layer": 1, "head": 1}).json()["weights"])
        torch.testing.assert_close(weights, read(encoder, ids).attentions[1, 1], atol=5e-5, rtol=0)


def test_a_model_without_a_tokenizer_gets_the_lineage_but_not_the_playground():
    torch.manual_seed(0)
    bare = build_model(get_family("bert").config("tiny")).eval()
    served = Served(bare, "bare-bert", embed=lambda texts: torch.zeros(len(texts), 8))
    with serving(served) as url:
        root = url.removesuffix("/v1")
        assert not httpx.get(root + "/api/model").json()["readable"]
        assert httpx.get(root + "/api/lineage").status_code == 200
        message = refused(post(root, "/api/inspect", {"text": "hi"}), 400, "model", "not_readable")
        assert "encoders that carry a tokenizer" in message


def test_the_api_key_guards_the_data_but_not_the_page(model):
    served = Served(model, "tiny-gpt2")
    try:
        with serving(served, api_key="sesame") as url:
            root = url.removesuffix("/v1")
            assert httpx.get(root + "/").status_code == 200
            assert httpx.get(root + "/api/lineage").status_code == 401
            assert post(root, "/api/inspect", {"text": "hi"}).status_code == 401
            ok = httpx.post(root + "/api/inspect", json={"text": "hi"}, headers={"Authorization": "Bearer sesame"})
            assert ok.status_code == 200
    finally:
        served.close()


def browser():
    """Debian's chromium driven by Playwright (never a browser Playwright downloads)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    return sync_api, executable


def test_the_page_in_a_real_browser(root, model, tmp_path):
    sync_api, executable = browser()
    errors = []
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = chromium.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(root + "/")
            page.wait_for_selector("#tree .node[data-family=gpt2]")
            assert page.locator("#tree .node").count() == len(families())

            page.fill("#prompt", PROMPT)
            page.click("#run")
            n = len(model.tokenizer.encode(PROMPT))
            page.wait_for_function(f"document.getElementById('status').textContent === '{n} tokens'", timeout=60000)
            page.wait_for_function(f"document.querySelectorAll('#attention rect.cell').length === {n * n}",
                                   timeout=60000)
            assert page.locator("#tokens .token").count() == n
            assert page.locator("#next-tokens tr").count() == 1 + 10  # the header and the top 10
            assert page.locator("#lens tr").count() == 1 + model.config.n_layer + 1
            # the map is the chosen layer's and head's: the last query's weight on the first key
            reading = read(model, model.tokenizer.encode(PROMPT))
            corner = page.locator("#attention rect.cell").nth((n - 1) * n)
            for layer, head in ((0, 0), (3, 1)):
                page.select_option("#layer", str(layer))
                page.select_option("#head", str(head))
                weight = f"{round(float(reading.attentions[layer, head, n - 1, 0]), 4):.4f}"
                cell = f"document.querySelectorAll('#attention rect.cell')[{(n - 1) * n}]"
                page.wait_for_function(f"{cell}.textContent.endsWith('{weight}')", timeout=60000)
                assert corner.text_content().endswith(weight)
            page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)

            page.click("#tree .node[data-family=llama]")
            details = page.inner_text("#family-details")
            llama = get_family("llama")
            assert llama.changes in details and str(llama.year) in details and llama.parent in details
            assert page.locator("#tree .node.selected").get_attribute("data-family") == "llama"
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        finally:
            chromium.close()
    assert not errors, errors
    assert (tmp_path / "page.png").stat().st_size > 10_000


def test_an_encoder_in_a_real_browser(encoder, tmp_path):
    sync_api, executable = browser()
    served = Served(encoder, "tiny-bert", embed=lambda texts: torch.zeros(len(texts), 8))
    with serving(served) as url, sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = chromium.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url.removesuffix("/v1") + "/")
            n = len(encoder.tokenizer.encode("The quick brown fox"))  # the page's own first text
            page.wait_for_function(f"document.getElementById('status').textContent === '{n} tokens'", timeout=60000)
            assert page.locator("#attention rect.cell").count() == n * n
            assert page.locator("#predictions").is_hidden() and page.locator("#no-predictions").is_visible()
            page.screenshot(path=str(tmp_path / "encoder.png"), full_page=True)
        finally:
            chromium.close()

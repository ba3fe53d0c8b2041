"""Chat SFT (`lmlineage finetune CHECKPOINT --data chats.jsonl`): the assistant's tokens alone carry
the loss, packed examples never attend to each other, fine-tuning lowers the held-out response loss
(full and LoRA), the fine-tuned model answers with `generate --chat`, and a conversation without an
assistant turn is refused in one line."""

import json
import random

import pytest
import torch
from torch import nn

from lmlineage.checkpoint.directory import atomic_directory
from lmlineage.checkpoint.model import save_model_files
from lmlineage.cli import main
from lmlineage.core.registry import get_family
from lmlineage.data.conversations import IGNORE, encode, pack, segments
from lmlineage.models import build_model
from lmlineage.tasks.sft import SFTTask
from lmlineage.tokenizers.char import CharTokenizer
from lmlineage.tokenizers.chat import PLAIN_TEMPLATE

CHARS = sorted(set("abcdefghijklmnopqrstuvwxyz :\n"))


def conversation(rng, system=False):
    word = "".join(rng.choice("abcdef") for _ in range(rng.randint(3, 5)))
    return [{"role": "system", "content": "be brief"}] * system + [{"role": "user", "content": f"rev {word}"},
                                                                   {"role": "assistant", "content": word[::-1]}]


def tiny(family="llama", seed=0):
    torch.manual_seed(seed)
    tok = CharTokenizer(CHARS)
    model = build_model(get_family(family).config("tiny", vocab_size=tok.vocab_size))
    model.tokenizer = tok
    return model


def test_segments_train_the_assistant_turns_only():
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
                {"role": "user", "content": "bye"}, {"role": "assistant", "content": "ok"}]
    pieces = segments(messages, PLAIN_TEMPLATE)
    assert "".join(t for t, _ in pieces) == "user: hi\nassistant: yo\nuser: bye\nassistant: ok\n"
    assert [t for t, trained in pieces if trained] == ["yo\n", "ok\n"]


class Logits(nn.Module):
    """A model whose logits are a parameter, so the loss's gradient shows which positions count."""

    def __init__(self, shape):
        super().__init__()
        self.table = nn.Parameter(torch.randn(shape))

    def forward(self, input_ids, position_ids=None, document_ids=None):
        return type("Out", (), {"logits": self.table})()


def test_prompt_tokens_carry_no_loss():
    tok = CharTokenizer(CHARS)
    messages = conversation(random.Random(0), system=True)
    example = encode(tok, messages, PLAIN_TEMPLATE)
    rows = pack([example], len(example.ids))
    stub = Logits((1, len(example.ids), tok.vocab_size))
    SFTTask(stub)(rows).backward()
    grad = stub.table.grad[0].abs().sum(-1)
    # Position t predicts token t + 1: it has a gradient exactly when that token is the assistant's.
    predicts_reply = torch.tensor(example.trained[1:] + [False])
    assert predicts_reply.sum() == len(messages[-1]["content"]) + 1  # the reply and its newline
    assert bool((grad[~predicts_reply] == 0).all())
    assert bool((grad[predicts_reply] > 0).all())
    # The targets say the same: IGNORE wherever the next token is the system's, user's or a header.
    assert ((rows["targets"][0] != IGNORE) == predicts_reply).all()


@pytest.mark.parametrize("family", ["llama", "gpt2"])  # rotary and learned positions
def test_packed_examples_do_not_attend_to_each_other(family):
    model = tiny(family).eval()
    rng = random.Random(1)
    examples = [encode(model.tokenizer, conversation(rng), PLAIN_TEMPLATE) for _ in range(2)]
    length = sum(len(e.ids) for e in examples) + 4
    rows = pack(examples, length)
    assert rows["input_ids"].shape[0] == 1  # both share one row
    with torch.no_grad():
        packed = model(rows["input_ids"], position_ids=rows["position_ids"], document_ids=rows["document_ids"]).logits
        start = 0
        for e in examples:
            alone = model(torch.tensor([e.ids])).logits
            torch.testing.assert_close(packed[:, start:start + len(e.ids)], alone, atol=1e-5, rtol=0)
            start += len(e.ids)
        # Without the document mask the later examples would read the earlier ones.
        leaky = model(rows["input_ids"], position_ids=rows["position_ids"]).logits
    assert (leaky[:, len(examples[0].ids):start] - packed[:, len(examples[0].ids):start]).abs().max() > 1e-3


@pytest.fixture(scope="module")
def base_and_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("sft")
    model = tiny()
    with atomic_directory(root / "base") as tmp:
        save_model_files(tmp, model, model.tokenizer)
    rng = random.Random(0)
    with open(root / "chats.jsonl", "w") as f:
        for _ in range(80):
            f.write(json.dumps({"messages": conversation(rng)}) + "\n")
    return root


@pytest.mark.parametrize("extra", [(), ("--lora", "4")], ids=["full", "lora"])
def test_sft_lowers_held_out_response_loss_and_chats(base_and_data, tmp_path, capsys, extra):
    out = tmp_path / "sft"
    code = main(["finetune", str(base_and_data / "base"), "--data", str(base_and_data / "chats.jsonl"),
                 "--epochs", "4", "--batch-size", "4", "--out", str(out), "--no-progress", "--json", *extra])
    assert code == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["val_loss"] < result["val_loss_before"] - 0.5, result
    if extra:  # saved apart: only the adapter, in peft's layout, the base model named
        assert sorted(p.name for p in out.iterdir() if p.suffix in (".json", ".safetensors")) == \
            ["adapter_config.json", "adapter_model.safetensors", "manifest.json", "sft.json", "tokenizer_config.json"]
    code = main(["generate", str(out), "--chat", "--prompt", "rev abc", "--temperature", "0",
                 "--max-new-tokens", "8"])
    assert code == 0, capsys.readouterr().err


def test_merged_lora_checkpoint_equals_the_adapter(base_and_data, tmp_path, capsys):
    import lmlineage

    for name, extra in (("adapter", ()), ("merged", ("--merge",))):
        assert main(["finetune", str(base_and_data / "base"), "--data", str(base_and_data / "chats.jsonl"),
                     "--epochs", "1", "--lora", "2", "--lora-targets", "attn.qkv,mlp.fc_out",
                     "--out", str(tmp_path / name), "--no-progress", *extra]) == 0
    x = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        adapted = lmlineage.load(str(tmp_path / "adapter"))(x).logits
        merged = lmlineage.load(str(tmp_path / "merged"))(x).logits
        base = lmlineage.load(str(base_and_data / "base"))(x).logits
    torch.testing.assert_close(merged, adapted, atol=1e-5, rtol=0)
    assert (adapted - base).abs().max() > 1e-4


def test_a_conversation_without_an_assistant_turn_is_refused(base_and_data, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": conversation(random.Random(0))}) + "\n" +
                   json.dumps({"messages": [{"role": "user", "content": "hello"}]}) + "\n")
    code = main(["finetune", str(base_and_data / "base"), "--data", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "line 2" in err[0] and "no assistant turn" in err[0]
    assert not (tmp_path / "o").exists()


def test_koala_mixture_weights_sources_and_marks_them(tmp_path):
    from lmlineage.data.conversations import read_mixture

    rng = random.Random(0)
    for name in ("dialogues", "questions"):
        with open(tmp_path / f"{name}.jsonl", "w") as f:
            for _ in range(20):
                f.write(json.dumps({"messages": conversation(rng, system=True)}) + "\n")
    mixed = read_mixture(f"{tmp_path}/dialogues.jsonl:1,{tmp_path}/questions.jsonl:0.25")
    sources = [c[0]["content"] for c in mixed]
    assert sources.count("source: dialogues") == 20 and sources.count("source: questions") == 5
    assert all(c[0]["role"] == "system" and sum(m["role"] == "system" for m in c) == 1 for c in mixed)
    from lmlineage.core.errors import UserError

    with pytest.raises(UserError, match="weight"):
        read_mixture(f"{tmp_path}/dialogues.jsonl:heavy")

"""Streamed text equals the returned text, piece by piece: a character split across byte-level
tokens is not shown half-decoded, the end-of-sequence token's text never appears, and the start
of a stop string is held back until it is known not to be one."""

import torch
from torch import nn

from lmlineage.generation import generate_text
from lmlineage.tokenizers import build_tokenizer


class Script(nn.Module):
    """A stand-in decoder that emits a fixed token sequence, whatever the prompt."""

    def __init__(self, vocab_size: int, script: list[int], prompt_length: int):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # the engine reads the device off a parameter
        self.vocab_size, self.script, self.prompt_length = vocab_size, script, prompt_length

    def new_cache(self, **_):
        return None  # no cache: the engine feeds the whole prefix every step

    def forward(self, input_ids, **_):
        step = input_ids.shape[1] - self.prompt_length
        logits = torch.zeros(input_ids.shape[0], 1, self.vocab_size)
        logits[:, :, self.script[min(step, len(self.script) - 1)]] = 10.0
        return type("Out", (), {"logits": logits})()


def setup(text_after_prompt: str, eos: bool = False):
    tok = build_tokenizer("bpe", ["ab cd ef " * 50], vocab_size=300)  # no merges for "é" or "中"
    prompt = "ab"
    script = tok.encode(text_after_prompt) + ([tok.eos_id] if eos else [])
    model = Script(tok.vocab_size, script, len(tok.encode(prompt)))
    model.tokenizer = tok
    return model, prompt, script, tok


def streamed(model, prompt, n, **options):
    pieces = []
    final = generate_text(model, prompt, max_new_tokens=n, temperature=0, stream=pieces.append, **options)
    return pieces, final


def test_split_characters_are_streamed_whole():
    model, prompt, script, tok = setup(" café 中文 end")
    assert len(script) > len(" café 中文 end")  # the accented and CJK characters take several tokens
    pieces, final = streamed(model, prompt, len(script))
    assert "".join(pieces) == final == " café 中文 end"
    assert not any("\ufffd" in p for p in pieces)


def test_the_end_of_sequence_token_is_not_streamed():
    model, prompt, script, tok = setup(" cd ef", eos=True)
    assert tok.eos_id is not None
    pieces, final = streamed(model, prompt, len(script) + 3)
    assert "".join(pieces) == final == " cd ef"


def test_a_stop_string_is_never_streamed_even_in_part():
    model, prompt, script, tok = setup(" ab cd\n\nef")
    pieces, final = streamed(model, prompt, len(script), stop=["\n\n"])
    assert final == " ab cd"
    assert "".join(pieces) == final

"""Generation past the context (generation/context.py): a decoder with a position table predicts
every token from the last ``max_positions`` tokens, as nanoGPT does, the same through the dynamic
cache, the static cache and no cache; RoPE and ALiBi models decode on past ``max_positions``."""

import pytest
import torch

from lmlineage.core.registry import get_family
from lmlineage.generation import generate
from lmlineage.models import build_model

WINDOW = 12


def tiny(family, **overrides):
    torch.manual_seed(0)
    sizes = dict(vocab_size=29, n_layer=2, d_model=32, attention=dict(n_head=4), max_positions=WINDOW, dropout=0.0)
    return build_model(get_family(family).config("tiny", **(sizes | overrides))).eval()


class Uncached(torch.nn.Module):
    """The same model seen by the engine as one without a cache: the whole sequence every step."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.context_window = model.context_window

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def new_cache(self, **_):
        return None


def window_argmax(model, sequence, start, window):
    """The greedy token after each prefix sequence[:j], j >= start, from one fresh forward over
    the prefix's last ``window`` tokens at positions 0, 1, ... (nanoGPT's ``idx[:, -block_size:]``)."""
    with torch.no_grad():
        return [int(model(sequence[None, max(0, j - window):j]).logits[0, -1].argmax()) for j in
                range(start, len(sequence))]


@pytest.mark.parametrize("family", ["gpt2", "gpt", "ctrl"])  # learned, learned, sinusoidal tables
def test_a_position_table_crops_to_the_last_window(family):
    model = tiny(family)
    assert model.context_window == WINDOW
    prompt = torch.randint(0, 29, (1, 5))
    new = generate(model, prompt, max_new_tokens=3 * WINDOW)
    assert new.shape == (1, 3 * WINDOW)
    sequence = torch.cat([prompt[0], new[0]])
    assert new[0].tolist() == window_argmax(model, sequence, 5, WINDOW)
    for other in (generate(model, prompt, max_new_tokens=3 * WINDOW, static_cache=True),
                  generate(Uncached(model), prompt, max_new_tokens=3 * WINDOW)):
        assert torch.equal(other, new)


def test_a_prompt_longer_than_the_window_is_read_from_its_end():
    model = tiny("gpt2")
    prompt = torch.randint(0, 29, (1, 2 * WINDOW + 3))
    new = generate(model, prompt, max_new_tokens=WINDOW)
    assert torch.equal(new, generate(model, prompt[:, -WINDOW:], max_new_tokens=WINDOW))
    assert new[0].tolist() == window_argmax(model, torch.cat([prompt[0], new[0]]), prompt.shape[1], WINDOW)


def test_left_padded_rows_crop_each_to_its_own_window():
    model = tiny("gpt2")
    short, long = torch.randint(0, 29, (1, 3)), torch.randint(0, 29, (1, 8))
    ids = torch.cat([torch.cat([torch.zeros(1, 5, dtype=torch.long), short], 1), long])
    mask = torch.cat([torch.cat([torch.zeros(1, 5), torch.ones(1, 3)], 1), torch.ones(1, 8)]).long()
    batched = generate(model, ids, mask, max_new_tokens=2 * WINDOW, static_cache=True)
    for row, prompt in enumerate((short, long)):
        assert torch.equal(batched[row], generate(model, prompt, max_new_tokens=2 * WINDOW)[0])


def test_beam_search_past_the_window_matches_with_and_without_a_cache():
    model = tiny("gpt2")
    prompt = torch.randint(0, 29, (2, 4))
    options = dict(max_new_tokens=2 * WINDOW, num_beams=3, num_return_sequences=2)
    assert torch.equal(generate(model, prompt, **options), generate(Uncached(model), prompt, **options))


@pytest.mark.parametrize("family", ["llama", "bloom"])  # RoPE, ALiBi: no table, no window
def test_relative_positions_decode_past_max_positions(family):
    model = tiny(family)
    assert model.context_window is None
    prompt = torch.randint(0, 29, (1, 5))
    new = generate(model, prompt, max_new_tokens=3 * WINDOW)
    assert new.shape == (1, 3 * WINDOW)
    # every token reads the whole sequence, past the length max_positions names
    assert new[0].tolist() == window_argmax(model, torch.cat([prompt[0], new[0]]), 5, window=10**9)
    for other in (generate(model, prompt, max_new_tokens=3 * WINDOW, static_cache=True),
                  generate(Uncached(model), prompt, max_new_tokens=3 * WINDOW)):
        assert torch.equal(other, new)

"""GGUF files against `transformers`: a random tiny LlamaForCausalLM written as GGUF the way
llama.cpp's converter writes it (q/k rows permuted for interleaved rotary, tensors in F32, F16,
Q8_0 and Q4_1, a byte-level BPE vocabulary, a chat template) loads through `lmlineage.load`
with every layer's hidden states within 1e-5 of the reference; transformers' own GGUF loader
reads the quantized file to the same logits; the tokenizer gives transformers' ids; bad files
are refused with one line."""

import functools
import io
import json
import shutil
import sys

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")

import lmlineage  # noqa: E402
from lmlineage.cli import main  # noqa: E402
from lmlineage.core.errors import UserError  # noqa: E402
from lmlineage.generation.chat import chat_prompt, reply  # noqa: E402
from lmlineage.interop.gguf import read  # noqa: E402
from lmlineage.tokenizers.hf import train as train_tokenizer  # noqa: E402

Q = gguf.GGMLQuantizationType
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
TEXT = ("The quick brown fox jumps over the lazy dog. In 1984 there were 365 days and 12 months; "
        "naïve café owners said: don't panic! Ελληνικά 中文 ") * 20
STRINGS = ["The quick brown fox", "don't panic!  twice  spaced\n\nlines", "naïve café 中文", "<|im_start|>user\nhi<|im_end|>",
           "numbers 1984 and 365"]
# Every tensor in F32; or stored as llama.cpp's Q4_1 file stores it (embedding Q8_0, projections
# Q4_1), with the MLP's down projection in F16 to cover that type too.
STORAGE = {
    "f32": {},
    "quantized": {"token_embd.weight": Q.Q8_0, "attn_q": Q.Q4_1, "attn_k": Q.Q4_1, "attn_v": Q.Q4_1,
                  "attn_output": Q.Q4_1, "ffn_gate": Q.Q4_1, "ffn_up": Q.Q4_1, "ffn_down": Q.F16,
                  "output.weight": Q.Q8_0},
}


@functools.cache
def tokenizer_parts():
    """A byte-level BPE trained here, as GGUF's token list, token types and merges, plus ChatML's
    two control tokens."""
    tok = train_tokenizer("bpe", [TEXT], vocab_size=300)
    spec = json.loads(tok.to_json())
    vocab = {**spec["model"]["vocab"], **{a["content"]: a["id"] for a in spec["added_tokens"]}}
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    types = [3 if t == "<|endoftext|>" else 1 for t in tokens]
    tokens += ["<|im_start|>", "<|im_end|>"]
    types += [3, 3]
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    return tokens, types, merges


def permute(w: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's convert_hf_to_gguf.py permute: each head's halves -> interleaved pairs."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_names(cfg):
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    for i in range(cfg.num_hidden_layers):
        for theirs, ours in (("input_layernorm", "attn_norm"), ("self_attn.q_proj", "attn_q"),
                             ("self_attn.k_proj", "attn_k"), ("self_attn.v_proj", "attn_v"),
                             ("self_attn.o_proj", "attn_output"), ("post_attention_layernorm", "ffn_norm"),
                             ("mlp.gate_proj", "ffn_gate"), ("mlp.up_proj", "ffn_up"), ("mlp.down_proj", "ffn_down")):
            names[f"model.layers.{i}.{theirs}.weight"] = f"blk.{i}.{ours}.weight"
    return names


def write_gguf(path, ref, storage=None, tokenizer=True, pre="gpt-2", arch="llama", extra_tensors=(),
               drop=(), metadata=None):
    cfg = ref.config
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    w.add_vocab_size(cfg.vocab_size)
    for key, value in (metadata or {}).items():
        w.add_uint32(key, value) if isinstance(value, int) else w.add_string(key, value)
    if tokenizer:
        tokens, types, merges = tokenizer_parts()
        w.add_tokenizer_model(tokenizer if isinstance(tokenizer, str) else "gpt2")
        if pre is not None:
            w.add_tokenizer_pre(pre)
        w.add_token_list(tokens)
        w.add_token_types(types)
        w.add_token_merges(merges)
        w.add_bos_token_id(len(tokens) - 2)
        w.add_eos_token_id(len(tokens) - 1)
        w.add_chat_template(CHATML)
    names = gguf_names(cfg)
    for name, tensor in ref.state_dict().items():
        if name == "lm_head.weight" and cfg.tie_word_embeddings:
            continue
        target = names[name]
        if target in drop:
            continue
        t = tensor.numpy().astype(np.float32)
        if "q_proj" in name:
            t = permute(t, cfg.num_attention_heads)
        elif "k_proj" in name:
            t = permute(t, cfg.num_key_value_heads)
        kind = next((k for key, k in (storage or {}).items() if key in target), Q.F32)
        w.add_tensor(target, gguf.quants.quantize(t, kind), raw_dtype=kind if kind not in (Q.F32, Q.F16) else None)
    for name, t in extra_tensors:
        w.add_tensor(name, t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def reference(tie=False, vocab=302):
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                   num_key_value_heads=2, intermediate_size=96, max_position_embeddings=128,
                                   rope_theta=5000.0, rms_norm_eps=1e-5, tie_word_embeddings=tie,
                                   bos_token_id=300, eos_token_id=301, attn_implementation="eager")
    return transformers.LlamaForCausalLM(cfg).eval()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("gguf")
    out = {}
    for tie in (False, True):
        ref = reference(tie)
        for storage in STORAGE:
            out[tie, storage] = (ref, write_gguf(root / f"tiny-{'tied' if tie else 'untied'}-{storage}.gguf", ref,
                                                 STORAGE[storage]))
    return out


def batch(vocab, length):
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(0, vocab, (3, length), generator=g)
    mask = torch.ones_like(ids)
    mask[1, :2] = 0
    mask[2, : length // 2] = 0
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("length", [5, 17, 48])
def test_f32_file_matches_the_reference_model(files, tie, length):
    ref, path = files[tie, "f32"]
    ours = lmlineage.load(str(path))
    assert ours.config.embedding.tie == tie and ours.config.position.rope_theta == 5000.0 and ours.config.attention.kv_heads == 2
    ids, mask, pos = batch(ref.config.vocab_size, length)
    with torch.no_grad():
        theirs = ref(ids, attention_mask=mask, position_ids=pos, output_hidden_states=True)
        mine = ours(ids, attention_mask=mask, position_ids=pos, output_hidden_states=True)
    keep = mask.bool()
    for a, b in zip(mine.hidden_states[:-1], theirs.hidden_states[:-1]):
        torch.testing.assert_close(a[keep], b[keep], atol=1e-5, rtol=0)
    torch.testing.assert_close(mine.logits[keep], theirs.logits[keep], atol=1e-5, rtol=0)


def transformers_gguf(path):
    return transformers.AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32, attn_implementation="eager").eval()


@pytest.mark.parametrize("tie", [False, True])
def test_quantized_file_matches_transformers_loading_it(files, tie):
    _, path = files[tie, "quantized"]
    ours, theirs = lmlineage.load(str(path)), transformers_gguf(path)
    ids, mask, pos = batch(302, 17)
    with torch.no_grad():
        a = ours(ids, attention_mask=mask, position_ids=pos).logits
        b = theirs(ids, attention_mask=mask, position_ids=pos).logits
    keep = mask.bool()
    torch.testing.assert_close(a[keep], b[keep], atol=1e-5, rtol=0)
    # quantization really happened: the weights are not the F32 file's
    f32 = lmlineage.load(str(files[tie, "f32"][1]))
    assert not torch.equal(ours.backbone.layers[0].attn.qkv.weight, f32.backbone.layers[0].attn.qkv.weight)


def test_blocks_dequantize_as_the_format_specifies(files):
    """Q8_0: per 32 weights an fp16 scale d, then 32 int8 q; w = d*q. Q4_1: an fp16 scale d and
    minimum m, then 16 bytes; weight j < 16 is d*(byte j & 15) + m, weight j + 16 is d*(byte j >> 4) + m."""
    from lmlineage.interop.gguf import dequantize

    _, tensors = read(files[False, "quantized"][1])
    by_name = {t.name: t for t in tensors}
    embed, q = by_name["token_embd.weight"], by_name["blk.0.attn_q.weight"]
    assert (embed.type, q.type) == (Q.Q8_0, Q.Q4_1)
    row = embed.data[7]
    d = row[:2].view(np.float16).astype(np.float32)[0]
    expect = d * row[2:34].view(np.int8).astype(np.float32)
    np.testing.assert_array_equal(dequantize(embed, "t")[7, :32].numpy(), expect)
    row = q.data[5]
    d, m = row[:4].view(np.float16).astype(np.float32)
    low, high = row[4:20] & 15, row[4:20] >> 4
    expect = np.concatenate([d * low + m, d * high + m]).astype(np.float32)
    np.testing.assert_allclose(dequantize(q, "t")[5, :32].numpy(), expect, rtol=0, atol=1e-6)


def test_reader_agrees_with_the_gguf_package(files, tmp_path):
    path = write_gguf(tmp_path / "kinds.gguf", reference(), STORAGE["quantized"],
                      metadata={"test.some_uint": 7, "test.some_text": "héllo"})
    ours, tensors = read(path)
    theirs = gguf.GGUFReader(path)
    for name, field in theirs.fields.items():
        if name.startswith("GGUF."):
            continue
        value = field.contents()
        assert ours[name] == (value.tolist() if isinstance(value, np.ndarray) else value), name
    assert set(ours) == {n for n in theirs.fields if not n.startswith("GGUF.")}
    assert [t.name for t in tensors] == [t.name for t in theirs.tensors]
    for mine, their in zip(tensors, theirs.tensors):
        assert mine.type == their.tensor_type and mine.shape == tuple(reversed(their.shape.tolist()))
        np.testing.assert_array_equal(mine.data.reshape(-1), np.asarray(their.data).view(np.uint8).reshape(-1))


# ---- the tokenizer and the chat template --------------------------------------------------------


@pytest.mark.parametrize("pre", ["gpt-2", "llama-bpe"])
def test_tokenizer_ids_equal_transformers(tmp_path, pre):
    path = write_gguf(tmp_path / "tok.gguf", reference(), pre=pre)
    ours = lmlineage.load(str(path)).tokenizer
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file=path.name)
    for text in STRINGS:
        assert ours.encode(text) == theirs.encode(text, add_special_tokens=False), text
        assert ours.decode(ours.encode(text)) == text
    assert (ours.bos_id, ours.eos_id) == (300, 301)
    assert ours.chat_template == CHATML


def sentencepiece_parts():
    """A SentencePiece-style BPE vocabulary as LLaMA-2 GGUF files carry it: <unk> <s> </s>, the 256
    byte tokens, then pieces with "▁" for spaces, scored so that earlier merges score higher; no
    merges stored."""
    import tokenizers
    from tokenizers import models, pre_tokenizers, trainers

    hf = tokenizers.Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    hf.train_from_iterator([TEXT], trainers.BpeTrainer(vocab_size=300, show_progress=False))
    learned = [t for t, _ in sorted(hf.get_vocab().items(), key=lambda kv: kv[1])]
    tokens = ["<unk>", "<s>", "</s>", *(f"<0x{b:02X}>" for b in range(256)), *learned]
    types = [2, 3, 3, *[6] * 256, *[1] * len(learned)]
    scores = [0.0] * 259 + [-float(i) for i in range(len(learned))]
    return tokens, types, scores


def test_sentencepiece_tokenizer_ids_equal_transformers(tmp_path):
    tokens, types, scores = sentencepiece_parts()
    path = tmp_path / "spm.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_scores(scores)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    from lmlineage.interop.gguf import gguf_tokenizer

    ours = gguf_tokenizer(read(path)[0], str(path))
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file=path.name)
    for text in [*STRINGS, " leading space", "tabs\tand ünïcödé ☃", "<s>twice</s>"]:
        ids = ours.encode(text)
        assert ids == theirs.encode(text, add_special_tokens=False), text
        assert ours.decode(ids) == theirs.decode(ids), text
    assert any(tokens[i].startswith("<0x") for i in ours.encode("☃"))  # bytes for what the vocabulary lacks
    assert (ours.bos_id, ours.eos_id) == (1, 2)


def test_smollm_pre_tokenizer_cuts_every_digit(tmp_path):
    """llama.cpp's "smollm" (and "starcoder") split takes each digit on its own before GPT-2's
    split (llama-vocab.cpp); transformers' GGUF reader ignores it, so only digit-free text agrees."""
    path = write_gguf(tmp_path / "tok.gguf", reference(), pre="smollm")
    ours = lmlineage.load(str(path)).tokenizer
    assert [ours.decode([i]) for i in ours.encode("in 1984")][-4:] == ["1", "9", "8", "4"]
    gpt2 = lmlineage.load(str(write_gguf(tmp_path / "gpt2.gguf", reference(), pre="gpt-2"))).tokenizer
    assert len(gpt2.encode("in 1984")) < len(ours.encode("in 1984"))  # this vocabulary merged digits
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file="tok.gguf")
    for text in [s for s in STRINGS if not any(c.isdigit() for c in s)]:
        assert ours.encode(text) == theirs.encode(text, add_special_tokens=False), text


def test_chat_prompt_is_what_transformers_renders(files, tmp_path):
    _, path = files[False, "f32"]
    ours = lmlineage.load(str(path))
    shutil.copy(path, tmp_path / path.name)
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file=path.name)
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "and then?"}]
    text = chat_prompt(ours, messages)
    assert text == theirs.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert ours.tokenizer.encode(text) == theirs.apply_chat_template(messages, add_generation_prompt=True,
                                                                     return_dict=False)


# ---- the command line ---------------------------------------------------------------------------


def greedy_reference(ref, ids, n):
    out = ref.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False, eos_token_id=None,
                       pad_token_id=0)
    return out[0, len(ids):].tolist()


def test_generate_cli_continues_like_the_reference(files, capsys):
    ref, path = files[False, "quantized"]
    theirs = transformers_gguf(path)
    prompt = "The quick brown"
    assert main(["generate", str(path), "--prompt", prompt, "--max-new-tokens", "12", "--temperature", "0"]) == 0
    printed = capsys.readouterr().out
    tok = lmlineage.load(str(path)).tokenizer
    ids = tok.encode(prompt)
    expected = greedy_reference(theirs, ids, 12)
    if 301 in expected:  # the end-of-turn token ends generation
        expected = expected[: expected.index(301)]
    assert printed == prompt + tok.decode(expected) + "\n"


def test_chat_cli_one_shot_and_conversation(files, capsys, monkeypatch):
    ref, path = files[False, "f32"]
    options = ["--max-new-tokens", "8", "--temperature", "0"]
    model = lmlineage.load(str(path))
    first = [{"role": "user", "content": "The quick brown fox"}]
    ids = model.tokenizer.encode(chat_prompt(model, first))
    expected = greedy_reference(ref, ids, 8)
    expected = expected[: expected.index(301)] if 301 in expected else expected
    streamed = []
    answer = reply(model, list(first), stream=streamed.append, max_new_tokens=8, temperature=0)
    assert answer == model.tokenizer.decode(expected).strip()
    assert main(["generate", str(path), "--chat", "--prompt", "The quick brown fox", *options]) == 0
    assert capsys.readouterr().out == "".join(streamed) + "\n"

    # two turns from standard input: the second sees the first exchange through the template
    second = [*first, {"role": "assistant", "content": answer}, {"role": "user", "content": "naïve café"}]
    streamed2 = []
    reply(model, second, stream=streamed2.append, max_new_tokens=8, temperature=0)
    monkeypatch.setattr(sys, "stdin", io.StringIO("The quick brown fox\n\nnaïve café\n"))
    assert main(["generate", str(path), "--chat", *options]) == 0
    assert capsys.readouterr().out == "".join(streamed) + "\n" + "".join(streamed2) + "\n"


def test_bad_files_are_refused(files, tmp_path, cli_refused):
    _, good = files[False, "f32"]
    ref = reference()
    not_gguf = tmp_path / "x.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 not a model")
    truncated = tmp_path / "cut.gguf"
    truncated.write_bytes(good.read_bytes()[:5000])
    cases = [
        (not_gguf, ["is not a GGUF file"]),
        (truncated, ["cut.gguf is not a readable GGUF file", "truncated"]),
        (tmp_path / "absent.gguf", ["absent.gguf does not exist"]),
        (write_gguf(tmp_path / "gemma.gguf", ref, arch="gemma"), ["architecture 'gemma' is not supported"]),
        (write_gguf(tmp_path / "moe.gguf", ref, metadata={"llama.expert_count": 8}), ["mixture-of-experts"]),
        (write_gguf(tmp_path / "extra.gguf", ref, extra_tensors=[("rope_freqs.weight", np.ones(8, np.float32))]),
         ["rope_freqs.weight"]),
        (write_gguf(tmp_path / "missing.gguf", ref, drop={"blk.1.ffn_up.weight"}), ["layers.1.mlp.fc_in.weight"]),
        (write_gguf(tmp_path / "wp.gguf", ref, tokenizer="bert"), ["tokenizer model 'bert' is not supported"]),
        (write_gguf(tmp_path / "pre.gguf", ref, pre="klingon"), ["pre-tokenizer 'klingon' is not supported"]),
    ]
    for path, needles in cases:
        line = cli_refused("generate", path, "--prompt", "hi")
        assert all(needle in line for needle in needles), line
        if path.exists():
            with pytest.raises(UserError):
                lmlineage.load(str(path))
    untemplated = write_gguf(tmp_path / "plain.gguf", ref, tokenizer=False)
    cli_refused("generate", untemplated, "--chat", "--prompt", "hi", needle="has no chat template")
    assert main(["generate", str(good), "--max-new-tokens", "3"]) == 0  # no --prompt: a new document


def test_rope_permute_inverts_llama_cpp_permute():
    from lmlineage.core.registry import get_family
    from lmlineage.interop.rules import RopePermute

    cfg = get_family("llama").config("tiny", attention=dict(n_head=4, n_kv_head=2), d_model=64)
    w = torch.randn(32, 64)  # a key projection: 2 heads of 16 channels
    rule = RopePermute("ours", "theirs", heads="kv_heads")
    out = {}
    rule.load({"theirs": torch.from_numpy(permute(w.numpy(), 2))}, out, set(), cfg)
    assert torch.equal(out["ours"], w)
    back = {}
    rule.export(out, back, cfg)
    assert torch.equal(back["theirs"], torch.from_numpy(permute(w.numpy(), 2)))


def test_gguf_model_exports_to_a_reference_directory(files, tmp_path):
    """GGUF in, a transformers directory out (with the tokenizer): same logits there."""
    from lmlineage.interop.reference import to_hf

    _, path = files[True, "quantized"]
    ours = lmlineage.load(str(path))
    to_hf(ours, tmp_path / "hf", tokenizer=ours.tokenizer)
    theirs = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "hf", attn_implementation="eager").eval()
    ids, mask, pos = batch(302, 17)
    with torch.no_grad():
        a = ours(ids, attention_mask=mask, position_ids=pos).logits
        b = theirs(ids, attention_mask=mask, position_ids=pos).logits
    torch.testing.assert_close(a[mask.bool()], b[mask.bool()], atol=1e-5, rtol=0)
    assert lmlineage.load(str(tmp_path / "hf")).tokenizer.encode(STRINGS[1]) == ours.tokenizer.encode(STRINGS[1])

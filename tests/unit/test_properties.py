"""Property-based checks of the bad-input contract: whatever the command line, the config, the
corpus bytes or the text, the answer is success or the clean one-line error with exit code 2 --
never a traceback -- and a failed command leaves its output directory as it was."""

import dataclasses
import hashlib
import tempfile
import typing
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmlineage
from lmlineage import cli
from lmlineage.core.config import CHOICES, ModelConfig, Spec, merge
from lmlineage.core.errors import UserError
from lmlineage.models import build_model
from lmlineage.tokenizers import CharTokenizer, build_tokenizer
from lmlineage.checkpoint.directory import atomic_directory
from lmlineage.checkpoint.model import save_model_files

TEXT = "the cat sat on a mat.\n" * 60
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def snapshot(path: Path) -> dict | None:
    if not path.exists():
        return None
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(path.rglob("*"))}


def clean_outcome(capsys, argv) -> int:
    """Run the CLI; it either succeeds or fails with exactly the one-line error and exit code 2."""
    capsys.readouterr()
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
    return code


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A tiny checkpoint (built, not trained: fast) and corpora good and bad."""
    root = tmp_path_factory.mktemp("props")
    tok = CharTokenizer.train([TEXT])
    torch.manual_seed(0)
    model = lmlineage.load("gpt2", n_layer=1, attention=dict(n_head=2), d_model=16, max_positions=32,
                           vocab_size=tok.vocab_size)
    with atomic_directory(root / "ckpt") as tmp:
        save_model_files(tmp, model, tok)
    paths = {"ckpt": root / "ckpt", "good": root / "good.txt", "short": root / "short.txt",
             "binary": root / "binary.txt", "missing": root / "missing.txt", "dir": root}
    paths["good"].write_text(TEXT)
    paths["short"].write_text("ab")  # fails after every option is checked: shorter than any context
    paths["binary"].write_bytes(b"the\0cat")
    return paths


# ---- random command lines -----------------------------------------------------------------------

NUMBERS = ["0", "1", "2", "-1", "3", "64", "1e-300", "0.5", "1.5", "-0.0", "nan", "inf", "-inf", "1e9",
           str(2**63), str(2**70), "x", "", "0x10", "1_000", " 2"]
WORDS = ["", "gpt2", "tiny", "small", "huge", "char", "bpe", "wordpiece", "unigram", "foo", "cpu", "cuda",
         "cuda:7", "meta", "float32", "bfloat16", "fp16", "-", "--", "\x00", "\udcff", "é", "a b", "../x"]
VALUES = st.one_of(st.sampled_from(NUMBERS), st.sampled_from(WORDS), st.text(max_size=6))

TRAIN_FLAGS = ["--preset", "--tokenizer", "--vocab-size", "--steps", "--batch-size", "--context", "--lr",
               "--warmup", "--seed", "--device", "--dtype", "--eval-interval", "--eval-batches", "--bogus"]
SWITCHES = ["--compile", "--resume", "--no-progress", "--json", "--bogus-switch"]
GENERATE_FLAGS = ["--max-new-tokens", "--temperature", "--top-k", "--top-p", "--repetition-penalty", "--stop",
                  "--seed", "--device", "--dtype", "--tokenizer", "--prompt", "--bogus"]


def options(flags):
    return st.lists(st.one_of(st.tuples(st.sampled_from(flags), VALUES).map(list),
                              st.sampled_from(SWITCHES).map(lambda s: [s])), max_size=4).map(
        lambda pairs: [a for pair in pairs for a in pair])


@settings(max_examples=40, **SETTINGS)
@given(family=st.sampled_from(["gpt2", "gpt2", "nosuch", ""]), data=st.sampled_from(["short", "binary", "missing"]),
       opts=options(TRAIN_FLAGS))
def test_train_command_lines(capsys, files, family, data, opts):
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "run"
        argv = ["train", family, *opts, "--data", str(files[data]), "--out", str(out)]
        assert clean_outcome(capsys, argv) == 2  # every corpus here is bad, so every run fails...
        assert not out.exists()  # ...and leaves nothing behind


@settings(max_examples=40, **SETTINGS)
@given(prompt=st.one_of(st.sampled_from(["the", "", "the cat sat " * 4, "ZZZ", "\udcff"]), st.text(max_size=8)),
       opts=options(GENERATE_FLAGS))
def test_generate_command_lines(capsys, files, prompt, opts):
    before = snapshot(files["ckpt"])
    clean_outcome(capsys, ["generate", str(files["ckpt"]), "--prompt", prompt, "--max-new-tokens", "3", *opts])
    assert snapshot(files["ckpt"]) == before


@settings(max_examples=25, **SETTINGS)
@given(data=st.sampled_from(["good", "short", "binary", "missing", "dir"]),
       opts=options(["--device", "--data", "--vocab-size", "--bogus"]), kind=st.one_of(st.sampled_from(WORDS), VALUES))
def test_eval_and_tokenizer_command_lines(capsys, files, data, opts, kind):
    before = snapshot(files["ckpt"])
    clean_outcome(capsys, ["eval", str(files["ckpt"]), "--data", str(files[data]), *opts])
    assert snapshot(files["ckpt"]) == before
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "tok"
        if clean_outcome(capsys, ["tokenizer", "train", kind, "--data", str(files[data]), *opts[:2],
                                 "--out", str(out)]) == 2:
            assert not out.exists()


# ---- random configs -----------------------------------------------------------------------------

SPECS = {f.name: _spec for f in dataclasses.fields(ModelConfig)
         if isinstance(_spec := typing.get_type_hints(ModelConfig)[f.name], type) and issubclass(_spec, Spec)}
KEYS = sorted({f.name for f in dataclasses.fields(ModelConfig)}
              | {f.name for spec in SPECS.values() for f in dataclasses.fields(spec)})
LEAF = st.one_of(st.none(), st.booleans(), st.integers(-3, 8), st.integers(), st.floats(), st.text(max_size=8),
                 st.lists(st.text(max_size=3), max_size=2))
ANY_VALUE = st.one_of(LEAF, st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=3)), LEAF, max_size=3))


@settings(max_examples=40, **SETTINGS)
@given(st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), ANY_VALUE, max_size=8))
def test_random_config_dicts(data):
    try:
        cfg = ModelConfig.from_dict(data)
    except UserError:
        return
    assert isinstance(cfg, ModelConfig)


def nested(leaves: dict) -> dict:
    """{"a.b": strategy} -> {"a": fixed_dictionaries({}, optional={"b": strategy})}, top-level keys as they are."""
    out, parts = {}, {}
    for path, strategy in leaves.items():
        head, _, leaf = path.partition(".")
        if leaf:
            parts.setdefault(head, {})[leaf] = strategy
        else:
            out[head] = strategy
    return {**out, **{head: st.fixed_dictionaries({}, optional=sub) for head, sub in parts.items()}}


BOOLEANS = {f"{name}.{f.name}": st.booleans() for name, spec in SPECS.items() for f in dataclasses.fields(spec)
            if typing.get_type_hints(spec)[f.name] is bool}
SMALL = nested({"vocab_size": st.integers(-2, 40), "n_layer": st.integers(-1, 2),
                "attention.n_head": st.integers(-1, 4),
                "attention.n_kv_head": st.one_of(st.none(), st.integers(-2, 4)), "d_model": st.integers(-1, 16),
                "mlp.d_ff": st.one_of(st.none(), st.integers(-2, 16)),
                "attention.head_dim": st.one_of(st.none(), st.integers(-2, 8)),
                "max_positions": st.integers(-1, 16), "norm.eps": st.floats(-1, 1), "dropout": st.floats(-1, 2),
                "init.std": st.floats(-1, 1), "position.rotary_fraction": st.floats(-1, 2),
                "position.rope_theta": st.floats(-10, 1e5), "bias": st.booleans(),
                **{path: st.sampled_from(["nope", *choices]) for path, choices in CHOICES.items()}, **BOOLEANS})


@settings(max_examples=40, **SETTINGS)
@given(st.fixed_dictionaries({}, optional=SMALL))
def test_a_config_that_validates_builds_and_runs(data):
    """A config that from_dict accepts must build and run: a checkpoint's config.json is input too."""
    try:
        cfg = ModelConfig.from_dict(merge({"family": "gpt2", "vocab_size": 11, "n_layer": 1, "attention": {"n_head": 2},
                                           "d_model": 8, "max_positions": 8}, data))
    except UserError:
        return
    model = build_model(cfg).eval()
    ids = torch.zeros(1, min(3, cfg.max_positions), dtype=torch.long)
    assert model(ids).logits.shape == (1, ids.shape[1], cfg.vocab_size)


# ---- random corpus bytes ------------------------------------------------------------------------


@settings(max_examples=8, **SETTINGS)
@given(st.one_of(st.binary(max_size=300), st.text(min_size=1, max_size=30).map(lambda t: (t * 20).encode()),
                 st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_random_corpus_bytes(capsys, raw):
    with tempfile.TemporaryDirectory() as scratch:
        corpus, out = Path(scratch) / "corpus.txt", Path(scratch) / "run"
        corpus.write_bytes(raw)
        argv = ["train", "gpt2", "--data", str(corpus), "--out", str(out), "--steps", "1", "--context", "4",
                "--batch-size", "2", "--eval-batches", "1", "--no-progress"]
        if clean_outcome(capsys, argv) == 0:
            assert (out / "best" / "model.safetensors").exists()
        else:
            assert not out.exists()


# ---- random text through the tokenizers ---------------------------------------------------------

ANY_TEXT = st.text(alphabet=st.characters(blacklist_categories=()), max_size=40)  # surrogates and controls too


@pytest.fixture(scope="module")
def tokenizers():
    return {"char": CharTokenizer.train([TEXT + "\x00\t\r\x85é"]),
            "bpe": build_tokenizer("bpe", [TEXT], 300)}


@settings(max_examples=60, **SETTINGS)
@given(text=st.one_of(ANY_TEXT, st.text(alphabet="the cat sat on a mat.\n", max_size=40)),
       kind=st.sampled_from(["char", "bpe"]))
def test_tokenizer_strings(tokenizers, text, kind):
    tok = tokenizers[kind]
    try:
        ids = tok.encode(text)
    except UserError:
        return
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text

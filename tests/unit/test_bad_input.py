"""Bad input is answered properly: one line naming the problem (and the fix), exit code 2, no
traceback, nothing half-written; an internal bug still shows its traceback.

Every case calls ``lmlineage.cli.main`` in-process; one runs ``python -m lmlineage`` for real.
"""

import hashlib
import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

import lmlineage
from lmlineage import cli
from lmlineage.core.errors import UserError

# A small corpus: 28 characters, ~6 KB, so a run trains in a second or two.
WORDS = "the quick brown fox jumps over a lazy dog while cats sit on mats and sing".split()
TEXT = "\n".join(" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(9)) for i in range(120)) + "\n"
TRAIN = ["--steps", "2", "--context", "16", "--batch-size", "4", "--eval-batches", "1", "--no-progress"]


def snapshot(path: Path) -> dict | None:
    """Every file under ``path`` with its content hash (None: the path does not exist)."""
    path = Path(path)
    if not path.exists():
        return None
    if path.is_file():
        return {".": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(path.rglob("*"))}


def fails_cleanly(capsys, argv, *needles, keep=()) -> str:
    """Run the CLI in-process; assert the one-line clean error, and that every path in ``keep``
    (an --out directory, a checkpoint) is exactly as it was. Returns the error line."""
    before = {str(p): snapshot(p) for p in keep}
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0].strip() != "error:", err
    assert out == "", f"a failed command printed to stdout: {out!r}"
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert {str(p): snapshot(p) for p in keep} == before, "a failed command changed its output"
    return lines[0]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "words.txt"
    path.write_text(TEXT)
    return path


@pytest.fixture(scope="module")
def run_dir(cli_train, corpus) -> Path:
    """One real tiny training run; its best/ is the checkpoint the generate/eval cases damage."""
    return cli_train("gpt2", "--data", corpus, *TRAIN)


@pytest.fixture
def checkpoint(run_dir, tmp_path) -> Path:
    """A private copy of the run's best/ checkpoint, free to damage."""
    return Path(shutil.copytree(run_dir / "best", tmp_path / "ckpt"))


def rewrite_json(directory: Path, name: str, change) -> None:
    """Edit one JSON file of a checkpoint and record its new checksum in the manifest, so the
    check after the checksum is the one that fires."""
    path = directory / name
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    if name != "manifest.json":
        fix_checksum(directory, name)


def fix_checksum(directory: Path, name: str) -> None:
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["files"][name] = hashlib.sha256((directory / name).read_bytes()).hexdigest()
    (directory / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory) -> Path:
    """A tiny GPT-2 saved by the reference implementation itself."""
    transformers = pytest.importorskip("transformers")
    import torch

    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=40, n_embd=16, n_layer=1, n_head=2, n_positions=32,
                                  bos_token_id=0, eos_token_id=0)
    directory = tmp_path_factory.mktemp("ref") / "gpt2"
    transformers.GPT2LMHeadModel(cfg).save_pretrained(directory, safe_serialization=True)
    return directory


# ---- train ------------------------------------------------------------------------------------


def _bad_corpus(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.txt"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "binary":
        path.write_bytes(TEXT[:500].encode() + b"\0\x01\x02" + TEXT[:500].encode())
    elif kind == "latin1":
        path.write_bytes(TEXT[:500].encode() + "caf\xe9".encode("latin-1") + TEXT[:500].encode())
    elif kind == "short":
        path.write_text("the cat sat")
    return path


@pytest.mark.parametrize(("kind", "needles"), [
    ("missing", ["missing.txt", "does not exist"]),
    ("empty", ["empty.txt", "is empty"]),
    ("binary", ["binary.txt", "binary", "NUL byte at byte offset 500"]),
    ("latin1", ["latin1.txt", "not valid UTF-8", "offset 503", "re-encode"]),
    ("short", ["fewer than the context of 16", "smaller --context"]),
])
def test_train_refuses_bad_corpus(capsys, tmp_path, kind, needles):
    data = _bad_corpus(tmp_path, kind)
    out = tmp_path / "out"
    fails_cleanly(capsys, ["train", "gpt2", "--data", data, "--out", out, *TRAIN], *needles, keep=[out])
    assert not out.exists()


def test_train_refuses_empty_corpus_folder_and_bad_jsonl(capsys, tmp_path):
    out = tmp_path / "out"
    (tmp_path / "folder").mkdir()
    fails_cleanly(capsys, ["train", "gpt2", "--data", tmp_path / "folder", "--out", out, *TRAIN],
                  "has no .txt files", keep=[out])
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"body": "no text"}\n')
    fails_cleanly(capsys, ["train", "gpt2", "--data", tmp_path / "bad.jsonl", "--out", out, *TRAIN],
                  "line 2", '"text"', keep=[out])
    fails_cleanly(capsys, ["train", "gpt2", "--data", "", "--out", out, *TRAIN], "empty", keep=[out])
    fails_cleanly(capsys, ["train", "gpt2", "--data", "no-such-corpus", "--out", out, *TRAIN],
                  "unknown corpus 'no-such-corpus'", "shakespeare", keep=[out])
    assert not out.exists()


@pytest.mark.parametrize(("args", "needles"), [
    (["nosuch"], ["unknown family 'nosuch'", "gpt2"]),
    (["gpt2", "--preset", "huge"], ["no preset 'huge'", "tiny"]),
    (["gpt2", "--tokenizer", "foo"], ["unknown tokenizer 'foo'", "bpe"]),
    (["gpt2", "--dtype", "foo"], ["'foo'", "float32"]),
    (["gpt2", "--device", "foo"], ["device 'foo'", "cpu"]),
    (["gpt2", "--steps", "0"], ["--steps", "0 must be >= 1"]),
    (["gpt2", "--steps", "x"], ["--steps", "'x' is not an integer"]),
    (["gpt2", "--lr", "nan"], ["--lr", "'nan' is not a finite number"]),
    (["gpt2", "--lr", "1e9"], ["--lr", "out of range"]),
    (["gpt2", "--seed", "-1"], ["--seed", "-1"]),
    (["gpt2", "--seed", str(2**64)], ["--seed"]),
    (["gpt2", "--vocab-size", "300"], ["char tokenizer", "vocab size"]),
    (["gpt2", "--tokenizer", "bpe", "--vocab-size", "100"], ["too small", "257"]),
    (["gpt2", "--bogus-flag"], ["unrecognized arguments: --bogus-flag", "--help"]),
    (["gpt2", "--resume"], ["--resume", "does not exist", "without --resume"]),
])
def test_train_refuses_bad_options(capsys, tmp_path, corpus, args, needles):
    out = tmp_path / "out"
    fails_cleanly(capsys, ["train", *args, "--data", corpus, "--out", out, *TRAIN], *needles, keep=[out])
    assert not out.exists()


def test_train_refuses_out_that_is_a_file_or_empty(capsys, tmp_path, corpus, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty --out would otherwise mean the working directory
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    fails_cleanly(capsys, ["train", "gpt2", "--data", corpus, "--out", a_file, *TRAIN],
                  "is a file, not a directory", keep=[tmp_path])
    fails_cleanly(capsys, ["train", "gpt2", "--data", corpus, "--out", a_file / "sub", *TRAIN],
                  "is a file, not a directory", keep=[tmp_path])
    fails_cleanly(capsys, ["train", "gpt2", "--data", corpus, "--out", "", *TRAIN], "--out is empty",
                  keep=[tmp_path])
    fails_cleanly(capsys, ["tokenizer", "train", "char", "--data", corpus, "--out", a_file],
                  "is a file, not a directory", keep=[tmp_path])


def test_train_refuses_an_existing_run_and_a_mismatched_resume(capsys, tmp_path, run_dir, corpus):
    out = Path(shutil.copytree(run_dir, tmp_path / "run"))
    fails_cleanly(capsys, ["train", "gpt2", "--data", corpus, "--out", out, *TRAIN],
                  "already holds a run", "--resume", keep=[out])
    fails_cleanly(capsys, ["train", "gpt2", "--preset", "small", "--resume", "--data", corpus, "--out", out, *TRAIN],
                  "--resume", "d_model=128 (now 384)", keep=[out])
    # a damaged checkpoint is refused before the run's prepared data is touched
    (out / "last" / "model.safetensors").write_bytes(b"\0" * 64)
    fails_cleanly(capsys, ["train", "gpt2", "--resume", "--data", corpus, "--out", out, *TRAIN],
                  "model.safetensors does not match its checksum", keep=[out])


def test_resume_with_another_corpus_is_refused(capsys, tmp_path, run_dir):
    # a run remembers its corpus (run.json): another one is refused before its tokens are read
    out = Path(shutil.copytree(run_dir, tmp_path / "run"))
    other = tmp_path / "other.txt"
    other.write_text("ZEBRA QUAY " * 200)
    fails_cleanly(capsys, ["train", "gpt2", "--resume", "--data", other, "--out", out, *TRAIN],
                  "was started with --data", keep=[out])


# ---- generate and eval: the checkpoint -----------------------------------------------------------


def generate(path, *more):
    return ["generate", path, "--prompt", "the", "--max-new-tokens", "3", "--seed", "0", *more]


def evaluate(path, corpus):
    return ["eval", path, "--data", corpus]


@pytest.mark.parametrize("verb", ["generate", "eval"])
def test_checkpoint_path_problems(capsys, tmp_path, corpus, verb):
    argv = (lambda p: generate(p)) if verb == "generate" else (lambda p: evaluate(p, corpus))
    fails_cleanly(capsys, argv(tmp_path / "missing"), "missing does not exist")
    fails_cleanly(capsys, argv(corpus), "is not a directory")
    (tmp_path / "empty").mkdir()
    fails_cleanly(capsys, argv(tmp_path / "empty"), "holds no checkpoint", keep=[tmp_path / "empty"])


def test_a_bare_name_that_is_neither_directory_nor_family(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fails_cleanly(capsys, generate("myrun"), "'myrun' is neither a directory nor a family name", "gpt2")


@pytest.mark.parametrize("verb", ["generate", "eval"])
def test_truncated_weights(capsys, checkpoint, corpus, verb):
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    argv = generate(checkpoint) if verb == "generate" else evaluate(checkpoint, corpus)
    fails_cleanly(capsys, argv, "model.safetensors does not match its checksum", keep=[checkpoint])
    fix_checksum(checkpoint, "model.safetensors")  # now the safetensors reader is what refuses it
    fails_cleanly(capsys, argv, "model.safetensors is not a readable safetensors file", "truncated",
                  keep=[checkpoint])


def test_manifest_from_another_format_version(capsys, checkpoint, corpus):
    def future(manifest):
        manifest["format_version"] = 99
        manifest["lmlineage_version"] = "7.3.1"

    rewrite_json(checkpoint, "manifest.json", future)
    line = fails_cleanly(capsys, evaluate(checkpoint, corpus), "format 99", "written by lmlineage 7.3.1",
                         keep=[checkpoint])
    assert "reads format 1" in line
    fails_cleanly(capsys, generate(checkpoint), "7.3.1", keep=[checkpoint])


@pytest.mark.parametrize("manifest", ["[1, 2]", '{"format_version": 1, "files": [1]}', "{not json"])
def test_damaged_manifest(capsys, checkpoint, manifest):
    (checkpoint / "manifest.json").write_text(manifest)
    fails_cleanly(capsys, generate(checkpoint), "manifest.json", keep=[checkpoint])


def test_config_with_unknown_key(capsys, checkpoint):
    rewrite_json(checkpoint, "config.json", lambda c: c.update(n_wings=2))
    fails_cleanly(capsys, generate(checkpoint), "config.json", "unknown config key(s): n_wings", keep=[checkpoint])


@pytest.mark.parametrize(("change", "needles"), [
    ({"d_model": 64}, ["has shape", "(64, 128)", "(64, 64)"]),
    ({"vocab_size": 5}, ["embed_tokens.weight", "(28, 128)", "(5, 128)"]),
    ({"n_layer": 2}, ["weights do not fit", "backbone.layers.2"]),
    ({"n_layer": "4"}, ["n_layer='4'", "wrong type"]),
    ({"family": "zzz"}, ["unknown family 'zzz'"]),
])
def test_config_that_does_not_match_the_weights(capsys, checkpoint, change, needles):
    rewrite_json(checkpoint, "config.json", lambda c: c.update(change))
    fails_cleanly(capsys, generate(checkpoint), *needles, keep=[checkpoint])


def test_weights_with_nan(capsys, checkpoint):
    weights = checkpoint / "model.safetensors"
    state = load_file(str(weights))
    state["backbone.norm.weight"][0] = float("nan")
    save_file(state, str(weights), metadata={"format": "pt"})
    fix_checksum(checkpoint, "model.safetensors")
    fails_cleanly(capsys, generate(checkpoint), "backbone.norm.weight holds nan or inf", keep=[checkpoint])


def test_damaged_tokenizer(capsys, checkpoint, run_dir):
    fails_cleanly(capsys, generate(run_dir, "--tokenizer", checkpoint / "nope.json"), "nope.json does not exist")
    rewrite_json(checkpoint, "tokenizer.json", lambda t: t.update(model="nope"))
    fails_cleanly(capsys, generate(checkpoint), "tokenizer.json", "no 'model' object", keep=[checkpoint])


def test_reference_dir_with_an_extra_tensor(capsys, reference_dir, tmp_path):
    directory = Path(shutil.copytree(reference_dir, tmp_path / "ref"))
    state = load_file(str(directory / "model.safetensors"))
    state["transformer.h.0.attn.stowaway"] = state["transformer.ln_f.bias"].clone()
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    fails_cleanly(capsys, generate(directory), "transformer.h.0.attn.stowaway", keep=[directory])
    with pytest.raises(UserError, match="transformer.h.0.attn.stowaway"):
        lmlineage.load(str(directory))


def test_reference_dir_without_tokenizer(capsys, reference_dir, corpus):
    fails_cleanly(capsys, generate(reference_dir), "no tokenizer.json", "--tokenizer", keep=[reference_dir])
    fails_cleanly(capsys, evaluate(reference_dir, corpus), "no tokenizer.json", keep=[reference_dir])


# ---- generate: the prompt and the sampling options ----------------------------------------------


@pytest.mark.parametrize(("options", "needles"), [
    (["--prompt", ""], ["--prompt is empty"]),
    (["--prompt", "ZEBRA"], ["character 'Z'", "vocabulary"]),
    (["--prompt", "the", "--temperature", "-1"], ["temperature", "-1"]),
    (["--prompt", "the", "--temperature", "1e-300"], ["temperature", "use 0 for greedy"]),
    (["--prompt", "the", "--temperature", "nan"], ["--temperature", "'nan'"]),
    (["--prompt", "the", "--top-p", "0"], ["top_p", "(0, 1]"]),
    (["--prompt", "the", "--top-p", "1.5"], ["top_p", "1.5"]),
    (["--prompt", "the", "--top-k", "-2"], ["top_k", "-2"]),
    (["--prompt", "the", "--repetition-penalty", "0"], ["repetition_penalty"]),
    (["--prompt", "the", "--seed", str(2**70)], ["--seed"]),
    (["--prompt", "the", "--dtype", "foo"], ["dtype 'foo'"]),
    (["--prompt", "the", "--device", "cuda:x"], ["device 'cuda:x'"]),
])
def test_generate_refuses_bad_prompts_and_options(capsys, run_dir, options, needles):
    fails_cleanly(capsys, ["generate", run_dir, *options], *needles, keep=[run_dir])


def test_generate_with_its_defaults_on_a_run_trained_with_its_defaults(capsys, tmp_path, corpus):
    """`lmlineage train gpt2 --preset tiny` then `lmlineage generate RUN`: no --prompt (a new
    document) and 200 new tokens, past the 64-token context of learned positions (cropped as
    nanoGPT crops); with --prompt, 200 tokens after it."""
    run = tmp_path / "run"
    assert cli.main(["train", "gpt2", "--preset", "tiny", "--data", str(corpus), "--out", str(run), "--steps", "2",
                     "--no-progress"]) == 0
    assert lmlineage.load(str(run)).context_window == 64
    capsys.readouterr()
    assert cli.main(["generate", str(run), "--seed", "0"]) == 0
    out, err = capsys.readouterr()
    assert len(out) == 200 + 1 and err == "", (out, err)  # char tokens, then a newline
    assert cli.main(["generate", str(run), "--prompt", "the " * 20, "--seed", "0"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("the " * 20) and len(out) == 80 + 200 + 1 and err == "", (out, err)


def test_extreme_but_valid_sampling_options_work(capsys, run_dir):
    capsys.readouterr()
    assert cli.main(["generate", str(run_dir), "--prompt", "the", "--max-new-tokens", "4", "--top-p", "1e-30"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("the") and len(out) == len("the") + 4 + 1 and err == ""
    model = lmlineage.load(str(run_dir))
    for options in ({"temperature": 1e-6}, {"repetition_penalty": 1e-30}, {"repetition_penalty": 1e30},
                    {"temperature": 1e30}, {"top_k": 2**70}, {"top_p": 1e-300, "temperature": 1.0}):
        assert len(lmlineage.generate(model, "the", max_new_tokens=4, seed=0, **options)) == 4


def test_eval_refuses_a_bad_corpus(capsys, tmp_path, run_dir):
    for kind, needle in (("empty", "is empty"), ("binary", "binary"), ("latin1", "UTF-8")):
        fails_cleanly(capsys, evaluate(run_dir, _bad_corpus(tmp_path, kind)), needle, keep=[run_dir])
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("the")
    fails_cleanly(capsys, evaluate(run_dir, tiny), "too short to evaluate", keep=[run_dir])


# ---- pickles ----------------------------------------------------------------------------------


class _Payload:
    """Unpickling this calls ``Path.touch(marker)``: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickles_are_refused_by_every_loader_and_never_run(capsys, tmp_path, reference_dir, run_dir, corpus):
    from lmlineage.checkpoint.files import read_weights
    from lmlineage.checkpoint.model import load_model
    from lmlineage.interop.reference import from_hf
    from lmlineage.models import build_model

    marker = tmp_path / "PAYLOAD_RAN"
    payload = pickle.dumps({"transformer.wte.weight": _Payload(marker)})
    # a reference directory whose weights are a pickle, and one of our checkpoints with one added
    hf_dir = tmp_path / "hf"
    hf_dir.mkdir()
    shutil.copy(reference_dir / "config.json", hf_dir / "config.json")
    (hf_dir / "pytorch_model.bin").write_bytes(payload)
    ours = Path(shutil.copytree(run_dir / "best", tmp_path / "ours"))
    (ours / "training_args.pt").write_bytes(payload)

    for directory, name in ((hf_dir, "pytorch_model.bin"), (ours, "training_args.pt")):
        for load in (lmlineage.load, from_hf, lambda d: load_model(d, build_model)):
            with pytest.raises(UserError, match=f"{name} is a pickle file"):
                load(directory)
        fails_cleanly(capsys, generate(directory), name, "pickle", keep=[directory])
        fails_cleanly(capsys, evaluate(directory, corpus), name, "pickle", keep=[directory])
    with pytest.raises(UserError, match="pytorch_model.bin is a pickle file"):
        read_weights(hf_dir)  # the shared weight reader, when no safetensors file is there
    assert not marker.exists(), "a loader unpickled the payload"

    pickle.loads(payload)  # the control: the payload is live
    assert marker.exists()


# ---- bugs keep their traceback; the real process ------------------------------------------------


def test_an_internal_bug_keeps_its_traceback(monkeypatch):
    def broken(args):
        return 1 / 0

    monkeypatch.setitem(cli.COMMANDS, "models", broken)
    with pytest.raises(ZeroDivisionError):
        cli.main(["models"])


def test_user_error_raised_inside_a_command_is_exit_2(capsys, monkeypatch):
    def refuses(args):
        raise UserError("the thing is wrong", "do the other thing")

    monkeypatch.setitem(cli.COMMANDS, "models", refuses)
    assert cli.main(["models"]) == 2
    assert capsys.readouterr().err == "error: the thing is wrong (do the other thing)\n"


def test_real_process_exit_code_and_stderr(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "lmlineage", "train", "gpt2", "--data", str(tmp_path / "nope.txt"), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"error: corpus path {tmp_path / 'nope.txt'} does not exist (check the path)\n"
    assert not out.exists()


def test_train_function_not_shadowed_by_its_subpackage():
    # Importing lmlineage.train.* binds the subpackage on the parent; the API function must win.
    import lmlineage
    import lmlineage.train.trainer  # noqa: F401

    assert callable(lmlineage.train)


def test_families_function_not_shadowed_by_its_subpackage():
    import lmlineage

    names = [f.name for f in lmlineage.families()]  # importing every family binds lmlineage.families.*
    assert callable(lmlineage.families) and "gpt2" in names and "llama" in names

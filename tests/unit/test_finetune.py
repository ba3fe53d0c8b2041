"""`lmlineage finetune`: each task type on tiny synthetic data with a rule a tiny encoder can learn
in a few epochs, scored on held-out examples against what chance (or the most frequent label)
gets; the fine-tuned checkpoint (safetensors + JSON with its label map) loads again and exports
to the reference task class; bad files are one-line errors that write nothing."""

import json
import random

import pytest
import torch

from lmlineage import cli
from lmlineage.core.registry import get_family
from lmlineage.models import build_model
from lmlineage.tokenizers import build_tokenizer
from lmlineage.checkpoint.directory import atomic_directory
from lmlineage.checkpoint.model import save_model_files

WORDS = "alpha beta gamma delta omega kappa sigma theta zeta lambda".split()
COLORS = ["red", "blue", "green"]


@pytest.fixture(autouse=True)
def one_thread():
    """A width-32 model runs several times faster on one thread than on two busy ones."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sentence(rng, n=6):
    return [rng.choice(WORDS) for _ in range(n)]


def word_vocabulary(words):
    """BERT's WordPiece over a fixed word list (a trained one's ids vary from run to run)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    from lmlineage.tokenizers.hf import BERT_SPECIALS, HFTokenizer

    hf = Tokenizer(models.WordPiece({w: i for i, w in enumerate(BERT_SPECIALS + words)}, unk_token="[UNK]"))
    hf.add_special_tokens(BERT_SPECIALS)
    hf.normalizer = normalizers.BertNormalizer(lowercase=True)
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return HFTokenizer(hf, "wordpiece")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny random BERT with a wordpiece vocabulary of the synthetic words, as our checkpoint."""
    tok = word_vocabulary(WORDS + COLORS + ["good", "bad", "thing", "what", "colour"])
    torch.manual_seed(0)
    cfg = get_family("bert").config("tiny", vocab_size=tok.vocab_size, n_layer=2, d_model=32,
                     attention=dict(n_head=4), mlp=dict(d_ff=64), max_positions=64, dropout=0.0)
    directory = tmp_path_factory.mktemp("base") / "bert"
    with atomic_directory(directory) as tmp:
        save_model_files(tmp, build_model(cfg), tok)
    return directory


def examples(task, n, seed=0):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = sentence(rng)
        if task == "classify":  # the label is which of two words the text holds
            label = rng.choice(["good", "bad"])
            words.insert(rng.randrange(len(words)), label)
            out.append({"text": " ".join(words), "label": label})
        elif task == "pair":  # which of the two texts holds "good": only segments and [SEP] tell
            a, b = words[:3], words[3:]
            label = rng.choice(["first", "second"])
            (a if label == "first" else b).insert(rng.randrange(4), "good")
            out.append({"text_a": " ".join(a), "text_b": " ".join(b), "label": label})
        elif task == "tag":  # colours are tagged COLOR, other words O
            tokens = [rng.choice(COLORS) if rng.random() < 0.3 else w for w in words]
            out.append({"tokens": tokens, "tags": ["COLOR" if t in COLORS else "O" for t in tokens]})
        elif task == "qa":  # the answer is the colour in the context
            words.insert(rng.randrange(len(words)), rng.choice(COLORS))
            context = " ".join(words)
            answer = next(w for w in words if w in COLORS)
            out.append({"context": context, "question": "what colour", "answer_text": answer,
                        "answer_start": context.index(answer)})
        else:  # choice: the choice naming the context's colour
            color = rng.choice(COLORS)
            choices = [f"{c} thing" for c in rng.sample(COLORS, 3)]
            out.append({"question": f"{' '.join(words[:3])} {color}", "choices": choices,
                        "label": choices.index(f"{color} thing")})
    return out


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# task -> (training examples, epochs, the held-out metric, what it must reach)
LEARNABLE = {
    "classify": (200, 5, "accuracy", 0.85),
    "pair": (240, 6, "accuracy", 0.8),
    "tag": (160, 5, "accuracy", 0.9),
    "qa": (240, 8, "exact_match", 0.6),
    "choice": (240, 16, "accuracy", 0.5),
}


@pytest.mark.parametrize("task", LEARNABLE)
def test_a_tiny_encoder_learns_each_task(task, base, tmp_path, cli_run):
    n, epochs, metric, floor = LEARNABLE[task]
    train = write_jsonl(tmp_path / "train.jsonl", examples(task, n))
    val = write_jsonl(tmp_path / "val.jsonl", examples(task, 80, seed=1))
    out = tmp_path / "out"
    code, stdout, err = cli_run("finetune", base, "--task", task, "--data", train, "--val", val, "--epochs", epochs,
                                "--lr", "2e-3", "--batch-size", "16", "--out", out, "--no-progress", "--json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["metrics"][metric] >= floor, result
    if result["baseline"]:  # chance or the most frequent label, on the same examples
        assert result["metrics"]["accuracy"] > result["baseline"]["accuracy"] + 0.1, result
    summary = json.loads((out / "finetune.json").read_text())
    assert summary["task"] == task and summary["metrics"] == result["metrics"]


def test_checkpoint_keeps_its_label_map_and_exports(base, tmp_path, cli_run):
    import lmlineage
    from lmlineage.interop.reference import to_hf

    data = write_jsonl(tmp_path / "train.jsonl", examples("classify", 60))
    code, stdout, err = cli_run("finetune", base, "--task", "classify", "--data", data, "--epochs", "1",
                                "--out", tmp_path / "out", "--no-progress")
    assert code == 0, err
    assert "accuracy" in stdout and "54 training / 6 held-out" in stdout  # --val-fraction 0.1
    model = lmlineage.load(tmp_path / "out")
    assert model.config.heads == ["pooler", "classifier"] and model.config.labels == ["bad", "good"]
    assert json.loads((tmp_path / "out" / "finetune.json").read_text())["labels"] == ["bad", "good"]
    assert model.tokenizer is not None and model.mlm is None
    transformers = pytest.importorskip("transformers")
    to_hf(model, tmp_path / "hf")
    ref = transformers.BertForSequenceClassification.from_pretrained(tmp_path / "hf", attn_implementation="eager")
    assert ref.config.id2label == {0: "bad", 1: "good"}
    ids = torch.tensor([[2, 10, 11, 3]])
    torch.testing.assert_close(ref.eval()(ids).logits, model(ids).task_logits, atol=1e-5, rtol=0)


def test_a_reference_directory_and_csv_fine_tune(base, tmp_path, cli_run):
    """A transformers-format directory (what all-MiniLM-L6-v2 is) as the base; CSV with list cells."""
    import lmlineage
    from lmlineage.interop.reference import to_hf

    model = lmlineage.load(base)
    to_hf(model, tmp_path / "ref", tokenizer=model.tokenizer)
    rows = examples("tag", 40)
    lines = ["tokens,tags"] + [f"{' '.join(r['tokens'])},{' '.join(r['tags'])}" for r in rows]
    (tmp_path / "tags.csv").write_text("\n".join(lines) + "\n")
    code, stdout, err = cli_run("finetune", tmp_path / "ref", "--task", "tag", "--data", tmp_path / "tags.csv",
                                "--epochs", "1", "--out", tmp_path / "out", "--no-progress", "--json")
    assert code == 0, err
    assert lmlineage.load(tmp_path / "out").config.labels == ["COLOR", "O"]


BAD = {
    "missing field": ('{"text": "alpha beta"}\n{"text": "beta", "label": 1}\n', "line 1: missing field(s) label"),
    "not json": ('{"text": "a", "label": 1}\n{oops\n', "line 2 is not valid JSON"),
    "one example": ('{"text": "a", "label": 1}\n', "at least 2"),
    "empty text": ('{"text": " ", "label": 1}\n{"text": "b", "label": 0}\n', "text must be non-empty"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_files_are_one_line_errors(case, base, tmp_path, cli_run):
    text, message = BAD[case]
    (tmp_path / "bad.jsonl").write_text(text)
    code, out, err = cli_run("finetune", base, "--task", "classify", "--data", tmp_path / "bad.jsonl",
                             "--out", tmp_path / "out", "--no-progress")
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("task, rows, message", [
    ("qa", [{"context": "alpha red", "question": "q", "answer_start": 0, "answer_text": "red"}] * 2,
     "answer_text is not at answer_start 0"),
    ("tag", [{"tokens": ["a", "b"], "tags": ["O"]}] * 2, "2 tokens but 1 tags"),
    ("choice", [{"context": "c", "choices": ["x", "y"], "label": 2}] * 2, "label 2 is not the index"),
])
def test_bad_examples_name_the_problem(task, rows, message, base, tmp_path, cli_run):
    data = write_jsonl(tmp_path / "bad.jsonl", rows)
    code, _, err = cli_run("finetune", base, "--task", task, "--data", data, "--out", tmp_path / "out")
    assert code == 2 and message in err, err


def test_wrong_file_type_task_and_non_encoder(base, tmp_path, cli_run):
    (tmp_path / "x.txt").write_text("alpha\n")
    code, _, err = cli_run("finetune", base, "--task", "classify", "--data", tmp_path / "x.txt")
    assert code == 2 and "give a .jsonl or .csv file" in err
    data = write_jsonl(tmp_path / "d.jsonl", examples("classify", 4))
    code, _, err = cli_run("finetune", base, "--task", "summarise", "--data", data)
    assert code == 2 and "unknown task 'summarise'" in err
    gpt = tmp_path / "gpt"
    with atomic_directory(gpt) as tmp:
        save_model_files(tmp, build_model(get_family("gpt2").config("tiny", vocab_size=60, n_layer=1)),
                         build_tokenizer("wordpiece", ["alpha beta"] * 5, vocab_size=30))
    code, _, err = cli_run("finetune", gpt, "--task", "classify", "--data", data, "--out", tmp_path / "o")
    assert code == 2 and "fine-tune an encoder" in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("task", ["classify", "qa"])
def test_deberta_fine_tunes_without_a_pooler(task, tmp_path):
    """DeBERTa has no pooler: sentence heads read [CLS] itself; its relative table carries over."""
    from lmlineage.tasks.finetune import FineTuneConfig, finetune_model

    torch.manual_seed(0)
    tok = word_vocabulary(WORDS + COLORS + ["good", "bad", "thing", "what", "colour"])
    base = build_model(get_family("deberta").config("tiny", vocab_size=tok.vocab_size, n_layer=2, d_model=32,
                                                    attention=dict(n_head=4), mlp=dict(d_ff=64), dropout=0.0))
    base.tokenizer = tok
    result = finetune_model(base, task=task, train=examples(task, 200), val=examples(task, 80, seed=1),
                            cfg=FineTuneConfig(epochs=5, lr=2e-3, progress=False), out=tmp_path / "out")
    assert result.metrics["accuracy" if task == "classify" else "exact_match"] >= 0.9, result.metrics
    import lmlineage

    tuned = lmlineage.load(tmp_path / "out")
    assert tuned.config.family == "deberta" and tuned.pooler is None
    # the relative table came from the base model and was fine-tuned with the rest
    table = lambda model: model.backbone.score_mod.rel_embeddings.weight  # noqa: E731
    assert not torch.equal(table(tuned), table(base))


# ---- pooling: as the checkpoint was trained, unless told ------------------------------------------
def sentence_transformers_dir(base, directory, mode):
    """``base`` as sentence-transformers lays a model out: the reference directory plus modules.json
    naming a Pooling module whose config turns ``mode`` on (cls_token, mean_tokens, max_tokens)."""
    import lmlineage
    from lmlineage.interop.reference import to_hf

    model = lmlineage.load(base)
    to_hf(model, directory, tokenizer=model.tokenizer)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]
    (directory / "modules.json").write_text(json.dumps(modules))
    (directory / "1_Pooling").mkdir()
    (directory / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, **{f"pooling_mode_{m}": m == mode for m in ("cls_token", "mean_tokens",
                                                                                     "max_tokens")}}))
    return directory


@pytest.mark.parametrize("layout, option, expected", [
    ("mean_tokens", None, "mean"),  # all-MiniLM-L6-v2's own set-up
    ("mean_tokens", "cls", "cls"),
    ("cls_token", None, "cls"),
    ("max_tokens", None, "cls"),  # a pooling fine-tuning does not offer: the plain BERT default
    (None, None, "cls"),  # our BERT checkpoint: [CLS] through its pooler
    (None, "mean", "mean"),
])
def test_pooling_is_the_checkpoints_own_unless_told(layout, option, expected, base, tmp_path, cli_run):
    from torch.nn import functional as F

    import lmlineage
    from lmlineage.heads.pooler import mean_pool

    source = base if layout is None else sentence_transformers_dir(base, tmp_path / "st", layout)
    data = write_jsonl(tmp_path / "train.jsonl", examples("classify", 40))
    pooling = [] if option is None else ["--pooling", option]
    code, _, err = cli_run("finetune", source, "--task", "classify", "--data", data, "--epochs", "1", *pooling,
                           "--out", tmp_path / "out", "--no-progress", "--json")
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "finetune.json").read_text())["pooling"] == expected
    tuned = lmlineage.load(tmp_path / "out")  # the choice travels with the checkpoint
    assert tuned.config.pooling == expected
    assert (tuned.pooler is not None) == (expected == "cls")
    ids = torch.tensor([[2, 10, 11, 12, 3], [2, 13, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    with torch.no_grad():
        out = tuned(ids, attention_mask=mask)
        hidden = out.last_hidden_state
        summary = F.normalize(mean_pool(hidden, mask), dim=-1) if expected == "mean" else tuned.pooler(hidden)
        torch.testing.assert_close(out.task_logits, tuned.classifier.out(summary), atol=1e-6, rtol=0)


def test_pooling_applies_to_sentence_tasks_only(base, tmp_path, cli_run):
    data = write_jsonl(tmp_path / "train.jsonl", examples("tag", 10))
    code, out, err = cli_run("finetune", base, "--task", "tag", "--data", data, "--pooling", "mean",
                             "--out", tmp_path / "out", "--no-progress")
    assert code == 2 and out == "" and err.count("\n") == 1 and "--pooling applies to" in err, err
    assert not (tmp_path / "out").exists()


def test_a_linear_probe_starts_the_sentence_head(base):
    """LP-FT: the head starts as the L2-regularised logistic regression on the frozen summaries (its
    objective is at a minimum: no gradient left), better than the random head it replaces; the
    encoder is left as it was."""
    import lmlineage
    from lmlineage.tasks.finetune import (Encoder, FineTuneConfig, FineTuneTask, label_names, probe_head,
                                          with_task_head)

    loaded = lmlineage.load(base)
    train = examples("classify", 80)
    labels = label_names(train, "classify")
    task = FineTuneTask(with_task_head(loaded, "classify", labels), "classify").eval()
    encoder = Encoder(loaded.tokenizer, "classify", labels, 64, segments=True)
    items = [encoder.encode(e) for e in train]
    batch = encoder.collate(items)
    layer = task.model.classifier.out

    def objective():  # scikit-learn's LogisticRegression(C=1): summed cross-entropy + |W|^2 / 2
        layer.zero_grad()
        value = torch.nn.functional.cross_entropy(task.logits(batch), batch["target"], reduction="sum")
        value = value + layer.weight.square().sum() / 2
        value.backward()
        return value.item(), max(p.grad.abs().max().item() for p in layer.parameters())

    backbone = {k: v.clone() for k, v in task.model.backbone.state_dict().items()}
    before, _ = objective()
    probe_head(task, encoder, items, FineTuneConfig(progress=False))
    task.eval()
    after, gradient = objective()
    assert after < before and gradient < 1e-3, (before, after, gradient)
    assert all(torch.equal(v, task.model.backbone.state_dict()[k]) for k, v in backbone.items())


# ---- using the encoders: generate refuses with what to do instead; predict ----------------------
@pytest.fixture(scope="module")
def classifier(base, tmp_path_factory):
    """`finetune --task classify` of the tiny BERT: a checkpoint with finetune.json."""
    directory = tmp_path_factory.mktemp("classifier")
    data = write_jsonl(directory / "train.jsonl", examples("classify", 200))
    assert cli.main([str(a) for a in ["finetune", base, "--task", "classify", "--data", data, "--epochs", "5",
                                      "--lr", "2e-3", "--out", directory / "out", "--no-progress"]]) == 0
    return directory / "out"


def test_generate_on_an_encoder_says_what_it_can_do(base, classifier, tmp_path, cli_run):
    import lmlineage
    from lmlineage.interop.reference import to_hf

    model = lmlineage.load(base)
    to_hf(model, tmp_path / "ref", tokenizer=model.tokenizer)
    for checkpoint, needles in ((base, ["embed", "eval", "finetune"]), (tmp_path / "ref", ["embed", "finetune"]),
                                (classifier, ["predict", "embed"])):
        for prompt in (["--prompt", "red"], []):
            code, out, err = cli_run("generate", checkpoint, *prompt)
            assert code == 2 and out == "" and err.count("\n") == 1, err
            assert "encoder" in err and "does not generate" in err and all(n in err for n in needles), err
    with pytest.raises(lmlineage.UserError, match="embed"):
        lmlineage.generate(model, "red")


def test_predict_prints_each_label_with_its_probability(classifier, tmp_path, cli_run):
    code, out, err = cli_run("predict", classifier, "--text", "alpha good beta", "--text", "bad gamma")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and [line.split("\t")[0] for line in lines] == ["good", "bad"], out
    assert all(0.5 < float(line.split("\t")[1]) <= 1 for line in lines), out
    data = write_jsonl(tmp_path / "inputs.jsonl", [{"text": "good"}, {"text": "bad", "label": "bad"}])
    code, out, err = cli_run("predict", classifier, "--data", data, "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["label"] for r in rows] == ["good", "bad"]
    for r in rows:  # softmax probabilities over the label map
        assert set(r["scores"]) == {"bad", "good"} and abs(sum(r["scores"].values()) - 1) < 1e-5
        assert r["score"] == max(r["scores"].values())


@pytest.mark.parametrize("task", ["tag", "qa", "choice"])
def test_predict_tags_answers_and_choices(task, base, tmp_path, cli_run):
    n, epochs, _, _ = LEARNABLE[task]
    train = write_jsonl(tmp_path / "train.jsonl", examples(task, 40))
    assert cli_run("finetune", base, "--task", task, "--data", train, "--epochs", 1, "--lr", "2e-3",
                   "--out", tmp_path / "out", "--no-progress")[0] == 0
    inputs = examples(task, 3, seed=5)
    data = write_jsonl(tmp_path / "in.jsonl", [{k: v for k, v in e.items() if k in ("tokens", "context", "question",
                                                                                   "choices")} for e in inputs])
    code, out, err = cli_run("predict", tmp_path / "out", "--data", data)
    assert code == 0 and len(out.splitlines()) == 3, err
    code, out, err = cli_run("predict", tmp_path / "out", "--data", data, "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    if task == "tag":
        assert [[w for w, _, _ in r["tags"]] for r in rows] == [e["tokens"] for e in inputs]
        assert all(t in ("COLOR", "O") and 0 < p <= 1 for r in rows for _, t, p in r["tags"])
    elif task == "qa":
        assert all(r["answer"] in e["context"] and 0 <= r["score"] <= 1 for r, e in zip(rows, inputs))
    else:
        assert all(r["text"] == e["choices"][r["choice"]] and 1 / 3 <= r["score"] <= 1 for r, e in zip(rows, inputs))
    if task != "tag":  # one --text cannot hold a question and its context
        code, _, err = cli_run("predict", tmp_path / "out", "--text", "red")
        assert code == 2 and "--data" in err and err.count("\n") == 1, err


def test_predict_refuses_a_checkpoint_not_fine_tuned(base, classifier, tmp_path, cli_run):
    code, out, err = cli_run("predict", base, "--text", "red")
    assert code == 2 and out == "" and err.count("\n") == 1 and "not a fine-tuned checkpoint" in err, err
    code, _, err = cli_run("predict", classifier)
    assert code == 2 and "--text" in err and "--data" in err, err


def test_a_single_label_data_set_is_refused(base, tmp_path, cli_run):
    """It was accepted and scored accuracy 1.000 against a trivial baseline of 1.000."""
    rows = [{**e, "label": "good"} for e in examples("classify", 20)]
    data = write_jsonl(tmp_path / "one.jsonl", rows)
    code, out, err = cli_run("finetune", base, "--task", "classify", "--data", data, "--out", tmp_path / "out",
                             "--no-progress")
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert "every example has the label 'good'" in err and "two labels" in err and not (tmp_path / "out").exists()

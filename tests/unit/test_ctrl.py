"""CTRL's control codes (Keskar et al. 2019, section 3): every training document starts with the
name of its source, and the tokens the model trains on carry it."""

import pytest

from lmlineage.cli import main
from lmlineage.data.corpora import iter_corpus_chunks, load_corpus, shakespeare_genres
from lmlineage.data.tokens import open_token_file
from lmlineage.objectives.control_codes import ControlCodes
from lmlineage.tokenizers import load_tokenizer

CODE = ControlCodes.prefix


def test_builtin_plays_start_with_their_genre():
    genres = shakespeare_genres()
    assert set(genres) == {"Comedies", "Histories", "Problems", "Roman", "Romances", "Tragedies"}
    plain, coded = load_corpus(None), load_corpus(None, CODE)
    assert len(coded) == len(plain) == len(genres) == 38
    for genre, text, doc in zip(genres, plain, coded):
        assert doc == f"{genre}\n{text}"
    # The streamed corpus (what training tokenizes) carries the same codes.
    assert "".join(iter_corpus_chunks(None, control_code=CODE)) == "\n\n".join(coded)


def test_a_folder_codes_each_file_by_its_name_and_empty_files_stay_empty(tmp_path):
    (tmp_path / "letters.txt").write_text("Dear Sir,\nyours.")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "poems.txt").write_text("Roses are red.")
    assert load_corpus(tmp_path, CODE) == ["letters\nDear Sir,\nyours.", "poems\nRoses are red."]
    assert "".join(iter_corpus_chunks(tmp_path, chunk_chars=4, control_code=CODE)) == \
        "letters\nDear Sir,\nyours.\n\npoems\nRoses are red."


def test_train_ctrl_prefixes_the_tokenized_documents(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "alpha.txt").write_text("the quick brown fox jumps over the lazy dog. " * 40)
    (corpus / "omega.txt").write_text("pack my box with five dozen liquor jugs! " * 40)
    out = tmp_path / "run"
    code = main(["train", "ctrl", "--data", str(corpus), "--out", str(out), "--steps", "2", "--context", "16",
                 "--batch-size", "2", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    tok = load_tokenizer(out / "last")
    text = tok.decode(open_token_file(out / "data" / "train.bin").tolist()) + \
        tok.decode(open_token_file(out / "data" / "val.bin").tolist())
    assert text.startswith("alpha\nthe quick brown fox")
    assert "\n\nomega\npack my box" in text


@pytest.mark.parametrize("objective", ["clm", "clm+control"])
def test_the_loss_is_the_causal_lm_loss(objective):
    import torch

    from lmlineage.models import build_model
    from lmlineage.core.registry import get_family
    from lmlineage.tasks import TASKS
    from lmlineage.tasks.causal_lm import CausalLMTask

    torch.manual_seed(0)
    model = build_model(get_family("ctrl").config("tiny", vocab_size=30, n_layer=1, d_model=32))
    ids = torch.randint(0, 30, (2, 9))
    batch = (ids[:, :-1], ids[:, 1:])
    assert torch.equal(TASKS[objective](model)(batch), CausalLMTask(model)(batch))

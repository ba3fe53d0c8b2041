"""ALBERT, DistilBERT and ELECTRA (discriminator and generator) against the `transformers`
reference, loaded through our production loader: every layer's hidden states and the head
logits within 1e-5 (fp32, CPU) on padded batches at three lengths, with segment ids where the
family has them; and our export loading strictly in `transformers` with the same logits."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlineage import load  # noqa: E402
from lmlineage.interop.reference import to_hf  # noqa: E402

BERT_LIKE = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
FACTORIZED = dict(BERT_LIKE, embedding_size=16)  # E < H: the projection up is exercised
ARCHITECTURES = {  # reference class -> (config class, tiny kwargs, our heads, has segments, logits names)
    "AlbertForPreTraining": ("AlbertConfig", FACTORIZED, ["pooler", "mlm", "sop"], True,
                             (("logits", "prediction_logits"), ("pair_logits", "sop_logits"))),
    "DistilBertForMaskedLM": ("DistilBertConfig", dict(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37),
                              ["mlm"], False, (("logits", "logits"),)),
    "ElectraForPreTraining": ("ElectraConfig", FACTORIZED, ["rtd"], True, (("rtd_logits", "logits"),)),
    "ElectraForMaskedLM": ("ElectraConfig", FACTORIZED, ["mlm"], True, (("logits", "logits"),)),
}


def reference(architecture, directory, **changes):
    torch.manual_seed(0)
    config_cls, kwargs, *_ = ARCHITECTURES[architecture]
    cfg = getattr(transformers, config_cls)(**{**kwargs, **changes}, attn_implementation="eager")
    ref = getattr(transformers, architecture)(cfg).eval()
    with torch.no_grad():  # biases start at zero and LayerNorms at one: perturb them so a swap shows
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ref.save_pretrained(directory)
    return ref, load(directory)  # the production loader: lmlineage.load on a reference directory


def batch(length, vocab=99):
    """[CLS] A [SEP] B [SEP]-like rows with right padding: none, 2 tokens, half the row."""
    g = torch.Generator().manual_seed(length)
    ids = torch.randint(5, vocab, (3, length), generator=g)
    mask, segments = torch.ones_like(ids), torch.zeros_like(ids)
    for row, n_pad in enumerate((0, 2, length // 2)):
        real = length - n_pad
        mask[row, real:] = 0
        ids[row, real:] = 0
        segments[row, real // 2: real] = 1
    ids[:, 0] = 2
    return ids, mask, segments


def outputs(model, architecture, ids, mask, segments):
    extra = {"token_type_ids": segments} if ARCHITECTURES[architecture][3] else {}
    with torch.no_grad():
        return model(ids, attention_mask=mask, output_hidden_states=True, **extra)


def assert_heads_match(architecture, mine, theirs):
    for ours_name, their_name in ARCHITECTURES[architecture][4]:
        torch.testing.assert_close(getattr(mine, ours_name), getattr(theirs, their_name), atol=1e-5, rtol=0)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("length", [5, 17, 48])
def test_hidden_states_and_logits(architecture, length, tmp_path):
    ref, ours = reference(architecture, tmp_path)
    assert sorted(ours.config.heads) == sorted(ARCHITECTURES[architecture][2])
    ids, mask, segments = batch(length)
    theirs, mine = outputs(ref, architecture, ids, mask, segments), outputs(ours, architecture, ids, mask, segments)
    assert len(mine.hidden_states) == len(theirs.hidden_states) == 3
    for a, b in zip(mine.hidden_states, theirs.hidden_states):  # padded positions too
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    assert_heads_match(architecture, mine, theirs)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_export_loads_strictly_in_transformers(architecture, tmp_path):
    ref, ours = reference(architecture, tmp_path / "ref")
    to_hf(ours, tmp_path / "out")
    back, info = getattr(transformers, architecture).from_pretrained(
        tmp_path / "out", output_loading_info=True, attn_implementation="eager")
    assert not any(info.values()), info
    ids, mask, segments = batch(11)
    theirs, mine = outputs(back.eval(), architecture, ids, mask, segments), outputs(ours, architecture, ids, mask,
                                                                                   segments)
    torch.testing.assert_close(theirs.hidden_states[-1], mine.last_hidden_state, atol=1e-5, rtol=0)
    assert_heads_match(architecture, mine, theirs)


def test_albert_shares_one_layer_and_factorizes_its_embeddings(tmp_path):
    """Four layers of ALBERT hold the parameters of one; the word embeddings are E wide."""
    ref, ours = reference("AlbertForPreTraining", tmp_path, num_hidden_layers=4)
    assert len(ours.backbone.layers) == 1 and ours.config.n_layer == 4
    assert ours.backbone.embed_tokens.weight.shape == (99, 16)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    ids, mask, segments = batch(17)
    mine, theirs = (outputs(m, "AlbertForPreTraining", ids, mask, segments) for m in (ours, ref))
    assert len(mine.hidden_states) == 5
    for a, b in zip(mine.hidden_states, theirs.hidden_states):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_electra_with_equal_widths_has_no_projection(tmp_path):
    """ELECTRA-Base embeds at the hidden width: no embeddings_project either way."""
    ref, ours = reference("ElectraForPreTraining", tmp_path / "ref", embedding_size=32)
    assert ours.backbone.embed_proj is None
    ids, mask, segments = batch(9)
    assert_heads_match("ElectraForPreTraining", outputs(ours, "ElectraForPreTraining", ids, mask, segments),
                       outputs(ref, "ElectraForPreTraining", ids, mask, segments))
    to_hf(ours, tmp_path / "out")
    _, info = transformers.ElectraForPreTraining.from_pretrained(tmp_path / "out", output_loading_info=True)
    assert not any(info.values()), info


def test_albert_groupings_other_than_all_shared_are_refused(tmp_path):
    from lmlineage.core.errors import UserError

    transformers.AlbertForPreTraining(transformers.AlbertConfig(**FACTORIZED, num_hidden_groups=2)).save_pretrained(
        tmp_path)
    with pytest.raises(UserError, match="num_hidden_groups=2"):
        load(tmp_path)

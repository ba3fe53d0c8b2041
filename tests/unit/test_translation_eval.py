"""BLEU through sacrebleu and the word-by-word dictionary baseline."""

import pytest

from lmlineage.evaluation.translation import WordByWord, bleu, exact_match, target_units

pytest.importorskip("sacrebleu")
pytest.importorskip("scipy")


def test_bleu_tokenizes_chinese_by_character():
    assert bleu(["起初，神創造天地。"], ["起初，神創造天地。"], "zh") == pytest.approx(100.0)
    # Unsegmented Chinese is one "word" to the 13a tokenizer: no 4-gram can match at all.
    assert bleu(["起初神創造天地"], ["起初，神創造天地。"], "zh") > 40
    assert bleu(["起初神創造天地"], ["起初，神創造天地。"], None) == 0.0
    assert bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(100.0)
    assert exact_match(["a", "b"], ["a", "c"]) == 0.5


def test_word_by_word_learns_a_dictionary_from_aligned_pairs():
    words = {"god": "神", "king": "王", "water": "水", "land": "地", "light": "光", "day": "日"}
    names = list(words)
    pairs = []
    for i in range(60):  # every sentence: three words in some order, the characters in the same order
        chosen = [names[(i + k * (1 + i % 4)) % len(names)] for k in range(3)]
        pairs.append((" ".join(["the", *chosen]), "的" + "".join(words[w] for w in chosen)))
    model = WordByWord.fit(pairs)
    for word, char in words.items():
        assert model.dictionary[word][0] == char
    assert model.translate("God king WATER") == "神王水"
    assert model.translate("unknown words") == ""
    assert target_units("神，王") == {"神", "王", "神王"}

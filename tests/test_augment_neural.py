"""Back-translation, masked-LM augmentation and the Self-Instruct generator on tiny local models.

The models are built from configs with random weights and a word-level tokenizer made here, so these
tests check the mechanism (batching, dedup, never the original word, seeding), not translation quality.
"""

import random

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import (
    BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel, MarianConfig, MarianMTModel, PreTrainedTokenizerFast,
    T5Config, T5ForConditionalGeneration,
)

from llmcourse.augment import (
    MaskedLM, Translator, augment_records, back_translate, compute_idf, hf_generator, mask_weights, mlm_augment,
)

WORDS = ("the quick brown fox jumps over lazy dog a cat sat on mat happy sad movie film good great bad "
         "translate english to german : .").split()


def word_tokenizer(specials, template=None, **roles):
    vocab = {t: i for i, t in enumerate(specials + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=roles["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    if template:
        tok.post_processor = processors.TemplateProcessing(single=template[0], special_tokens=template[1])
    tok.decoder = decoders.WordPiece()  # joins words with spaces
    return PreTrainedTokenizerFast(tokenizer_object=tok, **roles)


@pytest.fixture(scope="module")
def seq2seq_tok():
    return word_tokenizer(["<pad>", "</s>", "<unk>"], ("$A </s>", [("</s>", 1)]),
                          pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def marian(tok, seed):
    cfg = MarianConfig(vocab_size=len(tok), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                       decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
                       pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, forced_eos_token_id=1)
    torch.manual_seed(seed)
    return MarianMTModel(cfg).eval()


@pytest.fixture(scope="module")
def pivots(seq2seq_tok):
    return [(Translator(marian(seq2seq_tok, 0), seq2seq_tok, max_new_tokens=6, batch_size=2),
             Translator(marian(seq2seq_tok, 1), seq2seq_tok, max_new_tokens=6, batch_size=2)),
            (Translator(marian(seq2seq_tok, 2), seq2seq_tok, max_new_tokens=6, num_beams=2, num_return_sequences=2),
             Translator(marian(seq2seq_tok, 3), seq2seq_tok, max_new_tokens=6))]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: see conftest


TEXTS = ["the quick brown fox", "a cat sat on the mat", "", "happy movie", "good film", "the lazy dog"]


# --------------------------------------------------------------------------- back-translation


def test_translator_returns_num_return_sequences_per_text_and_nothing_for_blank(pivots):
    out = pivots[1][0](TEXTS)
    assert len(out) == len(TEXTS) and out[2] == []
    assert all(len(o) == 2 for i, o in enumerate(out) if i != 2)


def test_translator_batches_and_batching_does_not_change_results(seq2seq_tok):
    model = marian(seq2seq_tok, 5)
    calls = []
    generate = model.generate
    model.generate = lambda **kw: calls.append(kw["input_ids"].shape[0]) or generate(**kw)
    batched = Translator(model, seq2seq_tok, max_new_tokens=6, batch_size=2)(TEXTS)
    assert calls == [2, 2, 1]  # 5 non-blank texts in batches of 2
    one_by_one = Translator(model, seq2seq_tok, max_new_tokens=6, batch_size=1)(TEXTS)
    assert batched == one_by_one


def test_translator_prepends_the_t5_prefix(seq2seq_tok):
    cfg = T5Config(vocab_size=len(seq2seq_tok), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                   pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    torch.manual_seed(0)
    t5 = T5ForConditionalGeneration(cfg).eval()
    lengths = []
    generate = t5.generate
    t5.generate = lambda **kw: lengths.append(kw["input_ids"].shape[1]) or generate(**kw)
    out = Translator(t5, seq2seq_tok, prefix="translate english to german : ", max_new_tokens=4)(["good film"])
    Translator(t5, seq2seq_tok, max_new_tokens=4)(["good film"])
    assert len(out) == 1 and lengths == [2 + 5 + 1, 2 + 1]  # 'good film' + 5 prefix words + </s>


def test_back_translate_gives_distinct_non_empty_paraphrases_without_the_original(pivots):
    out = back_translate(TEXTS, pivots)
    assert len(out) == len(TEXTS) and out[2] == []
    for text, variants in zip(TEXTS, out):
        keys = [" ".join(v.lower().split()) for v in variants]
        assert all(v.strip() for v in variants) and len(set(keys)) == len(keys) and text.lower() not in keys
        assert len(variants) <= 1 + 2  # pivot 1 gives one round trip, pivot 2 two


def test_back_translate_drops_round_trips_equal_to_the_original_and_duplicates():
    upper = lambda texts: [[t.upper(), t.upper() + " !"] for t in texts]  # noqa: E731
    lower = lambda texts: [[t.lower()] for t in texts]  # noqa: E731
    out = back_translate(["Good film", "bad"], [(upper, lower), (upper, lower)])
    assert out == [["good film !"], ["bad !"]]  # 'good film' is the original up to case; the 2nd pivot adds nothing new
    kept = back_translate(["Good film"], [(upper, lower)], keep_identical=True)
    assert kept == [["good film", "good film !"]]


def test_back_translate_accepts_named_pivots(pivots):
    assert back_translate(["good film"], {"de": pivots[0]}) == back_translate(["good film"], [pivots[0]])


def test_back_translate_rejects_malformed_pivots():
    with pytest.raises(ValueError, match="no pivots"):
        back_translate(["x"], [])
    with pytest.raises(TypeError, match=r"pivots\[0\]"):
        back_translate(["x"], [lambda t: t])


def test_translator_refuses_a_decoder_only_model(causal):
    model, tok = causal
    with pytest.raises(TypeError, match="encoder-decoder"):
        Translator(model, tok)


def test_translator_explains_return_sequences_without_beams(seq2seq_tok):
    with pytest.raises(ValueError, match="num_beams"):
        Translator(marian(seq2seq_tok, 0), seq2seq_tok, num_return_sequences=3)


def test_translator_sampling_is_seeded_and_leaves_torch_rng_alone(seq2seq_tok):
    model = marian(seq2seq_tok, 7)
    make = lambda: Translator(model, seq2seq_tok, max_new_tokens=6, do_sample=True, num_return_sequences=3, seed=11)  # noqa: E731
    state = torch.random.get_rng_state()
    a = make()(TEXTS)
    assert torch.equal(state, torch.random.get_rng_state())
    assert a == make()(TEXTS)


def test_translator_rejects_unknown_target_language(seq2seq_tok):
    with pytest.raises(ValueError, match="target_lang"):
        Translator(marian(seq2seq_tok, 0), seq2seq_tok, target_lang="deu_Latn")


# --------------------------------------------------------------------------- masked LM


@pytest.fixture(scope="module")
def mlm():
    tok = word_tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "##s"], ("[CLS] $A [SEP]", [("[CLS]", 2), ("[SEP]", 3)]),
                         pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    cfg = BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64, pad_token_id=0)
    torch.manual_seed(0)
    return BertForMaskedLM(cfg).eval(), tok


def biased(model, tok, words, value):
    """A copy of the masked LM whose output bias makes ``words`` its top predictions everywhere."""
    import copy

    m = copy.deepcopy(model)
    with torch.no_grad():
        for w, v in zip(words, value):
            m.cls.predictions.bias[tok.convert_tokens_to_ids(w)] += v
    return m


def test_mlm_never_returns_the_original_word(mlm):
    model, tok = mlm
    # the model is pushed to predict 'quick' and 'fox' — the words being masked — above everything
    m = biased(model, tok, ["quick", "fox", "cat"], [1000.0, 900.0, 800.0])
    out = mlm_augment(["quick fox"], m, tok, num_aug=20, mask_fraction=0.5, rng=0, temperature=0)
    # one of the two words is masked: 'quick' -> 'fox' (its best non-original), 'fox' -> 'quick'
    assert sorted(out[0]) == ["fox fox", "quick quick"]


def test_mlm_keeps_case_and_punctuation_and_skips_stop_words(mlm):
    model, tok = mlm
    m = biased(model, tok, ["cat"], [1000.0])
    out = mlm_augment(["The Dog sat on the mat."], m, tok, num_aug=10, mask_fraction=0.2, rng=0, temperature=0)
    # non-stop words: Dog, sat, mat. -> exactly one masked (floor(0.2 * 6) = 1) and refilled with 'cat'
    assert sorted(out[0]) == ["The Cat sat on the mat.", "The Dog cat on the mat.", "The Dog sat on the cat."]


def test_mlm_variants_are_distinct_and_differ_from_the_text(mlm):
    model, tok = mlm
    out = mlm_augment(TEXTS, model, tok, num_aug=5, rng=1)
    for text, variants in zip(TEXTS, out):
        assert text not in variants and len(set(variants)) == len(variants)
        assert all(len(v.split()) == len(text.split()) for v in variants)
    assert out[2] == []  # blank text


def test_mlm_batch_size_does_not_change_the_result(mlm):
    model, tok = mlm
    a = mlm_augment(TEXTS, model, tok, num_aug=3, rng=4, batch_size=1)
    assert a == mlm_augment(TEXTS, model, tok, num_aug=3, rng=4, batch_size=16)


def test_mlm_text_of_only_stop_words_gets_no_variant(mlm):
    model, tok = mlm
    assert mlm_augment(["the of a", "!!!"], model, tok, num_aug=3, rng=0) == [[], []]


def test_mlm_needs_a_mask_token(seq2seq_tok, mlm):
    with pytest.raises(ValueError, match="mask token"):
        mlm_augment(["good film"], mlm[0], seq2seq_tok)


def test_tfidf_selection_prefers_common_words():
    corpus = ["common rare", "common words here", "common again"]
    idf = compute_idf(corpus)
    w = mask_weights("common rare".split(), "tfidf", idf=idf)
    # idf(common) = ln(4/4)+1 = 1, idf(rare) = ln(4/2)+1 = 1.69; tf = 1/2 each -> weights 2 and 1.18
    assert w[0] == pytest.approx(2.0) and w[1] == pytest.approx(1 / (0.5 * (1 + 0.6931471805599453)))


def test_mask_weight_heuristics():
    words = "The cat , sat".split()
    assert mask_weights(words, "stopwords") == [0.0, 1.0, 0.0, 1.0]
    assert mask_weights(words, "random") == [1.0, 1.0, 0.0, 1.0]  # punctuation never masked
    assert mask_weights(words, lambda ws: [0, 0, 5, 2]) == [0.0, 0.0, 0.0, 2.0]
    with pytest.raises(ValueError, match="selection"):
        mask_weights(words, "pos-tags")


def test_masked_lm_augmenter_on_records(mlm):
    model, tok = mlm
    recs = [{"instruction": "good movie", "input": "", "output": "great film"}]
    out = augment_records(recs, MaskedLM(model, tok), num_aug=2, rng=0)
    assert out[0] == recs[0] and all(r["output"] == "great film" for r in out) and len(out) >= 2


# --------------------------------------------------------------------------- generator for Self-Instruct


@pytest.fixture(scope="module")
def causal():
    tok = word_tokenizer(["<pad>", "<unk>", "<eos>"], pad_token="<pad>", unk_token="<unk>", eos_token="<eos>")
    cfg = GPT2Config(vocab_size=len(tok), n_embd=16, n_layer=1, n_head=2, n_positions=128, pad_token_id=0,
                     eos_token_id=2, bos_token_id=2)
    torch.manual_seed(0)
    return GPT2LMHeadModel(cfg).eval(), tok


def test_hf_generator_returns_only_new_text_one_per_prompt(causal):
    model, tok = causal
    gen = hf_generator(model, tok, max_new_tokens=5, batch_size=2, seed=0)
    out = gen(["the quick brown fox", "a cat", "good film sat on the mat"])
    assert len(out) == 3 and all(len(o.split()) <= 5 for o in out)
    assert tok.padding_side == "right"  # restored after left-padded generation


def test_hf_generator_is_seeded_and_leaves_torch_rng_alone(causal):
    model, tok = causal
    state = torch.random.get_rng_state()
    a = hf_generator(model, tok, max_new_tokens=8, seed=3)(["the cat", "a dog"])
    b = hf_generator(model, tok, max_new_tokens=8, seed=3)(["the cat", "a dog"])
    assert a == b and torch.equal(state, torch.random.get_rng_state())


def test_hf_generator_needs_a_pad_token(causal):
    model, _ = causal
    tok = word_tokenizer(["<unk>", "<eos>"], unk_token="<unk>", eos_token="<eos>")
    with pytest.raises(ValueError, match="pad token"):
        hf_generator(model, tok)


def test_hf_generator_drives_self_instruct(causal):
    from llmcourse.augment import self_instruct

    model, tok = causal
    seeds = [{"instruction": "translate the movie", "input": "", "output": "film"}]
    result = self_instruct(seeds, hf_generator(model, tok, max_new_tokens=8), num_instructions=1, max_calls=2,
                           batch_size=2, rng=0)
    assert result.stats["calls"] == 2 and result.stats["prompts"] == 4  # random weights: nothing parseable

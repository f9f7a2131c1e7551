"""augment_records: which fields change, outputs and labels untouched, label-preserving filter, bad input."""

import copy

import pytest

from llmcourse.augment import AEDA, EDA, augment_records

THESAURUS = {"sort": ["order", "arrange"], "list": ["sequence"], "movie": ["film"], "great": ["superb"],
             "terrible": ["awful"]}
ALPACA = [
    {"instruction": "Sort the list in ascending order.", "input": "3 1 2", "output": "1 2 3"},
    {"instruction": "Reverse the list.", "input": "", "output": "2 1"},
]


def test_only_the_instruction_changes_by_default():
    out = augment_records(ALPACA, EDA(synonyms=THESAURUS), num_aug=3, rng=0)
    assert len(out) == 2 * (1 + 3)
    for rec in out:
        source = ALPACA[0] if rec["output"] == "1 2 3" else ALPACA[1]
        assert rec["input"] == source["input"] and rec["output"] == source["output"]
    assert len({r["instruction"] for r in out[:4]}) > 1


def test_originals_come_first_and_can_be_left_out():
    out = augment_records(ALPACA, AEDA(), num_aug=2, rng=0)
    assert out[0] == ALPACA[0] and out[3] == ALPACA[1]
    only_new = augment_records(ALPACA, AEDA(), num_aug=2, rng=0, keep_original=False)
    assert len(only_new) == 4 and ALPACA[0] not in only_new


def test_input_records_are_not_modified():
    before = copy.deepcopy(ALPACA)
    out = augment_records(ALPACA, AEDA(), num_aug=1, rng=0)
    out[0]["instruction"] = "changed"
    assert ALPACA == before


def test_several_fields_take_their_kth_variant_together():
    recs = [{"instruction": "Summarise the text.", "input": "The movie was great", "output": "Good film."}]
    out = augment_records(recs, AEDA(), fields=("instruction", "input"), num_aug=2, rng=0, keep_original=False)
    assert len(out) == 2 and all(r["input"] != recs[0]["input"] and r["output"] == "Good film." for r in out)


def test_blank_field_gets_no_copy():
    out = augment_records([{"instruction": "", "input": "", "output": "x"}], AEDA(), num_aug=3, rng=0)
    assert out == [{"instruction": "", "input": "", "output": "x"}]


def test_augmenting_output_needs_an_explicit_yes():
    with pytest.raises(ValueError, match="augment_output=True"):
        augment_records(ALPACA, AEDA(), fields=("instruction", "output"))
    out = augment_records(ALPACA, AEDA(), fields=("output",), augment_output=True, num_aug=1, rng=0, keep_original=False)
    assert out[0]["output"] != "1 2 3"


def test_labels_are_copied_and_label_check_drops_flipped_copies():
    data = [{"text": "a great movie", "label": 1}, {"text": "a dull movie", "label": 0}]
    # a careless thesaurus: 'terrible' listed as a synonym of 'great' flips the label
    flipping = EDA(alpha_sr=0.34, alpha_ri=0, alpha_rs=0, p_rd=0,
                   synonyms={"great": ["terrible", "superb"], "dull": ["boring"], "movie": ["film"]})
    out = augment_records(data, flipping, fields=("text",), label_field="label", num_aug=8, rng=0)
    assert [r["label"] for r in out] == [1] * 9 + [0] * 9  # labels copied as they were
    assert {"text": "a terrible movie", "label": 1} in out

    def classifier(rec):  # a keyword classifier we trust
        return 0 if ("terrible" in rec["text"] or "dull" in rec["text"] or "boring" in rec["text"]) else 1

    checked = augment_records(data, flipping, fields=("text",), label_field="label", num_aug=8, rng=0,
                              label_check=classifier)
    assert all(classifier(r) == r["label"] for r in checked)
    assert {"text": "a terrible movie", "label": 1} not in checked and len(checked) > 2  # flipped copies gone, others kept


def test_same_seed_same_records():
    a = augment_records(ALPACA, EDA(synonyms=THESAURUS), num_aug=4, rng=9)
    assert a == augment_records(ALPACA, EDA(synonyms=THESAURUS), num_aug=4, rng=9)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(fields=("instructions",)), ValueError, r"records\[0\]: no field 'instructions'"),
    (dict(fields=()), ValueError, "fields is empty"),
    (dict(label_field="label"), ValueError, r"records\[0\]: no label field"),
    (dict(label_check=lambda r: 1), ValueError, "label_check needs label_field"),
    (dict(num_aug=-1), ValueError, "num_aug"),
    (dict(fields=("instruction",), label_field="instruction"), ValueError, "copied, never augmented"),
])
def test_bad_arguments_say_what_to_fix(kwargs, error, match):
    with pytest.raises(error, match=match):
        augment_records(ALPACA, AEDA(), **kwargs)


def test_a_single_record_instead_of_a_list_is_refused():
    with pytest.raises(TypeError, match="list of dicts"):
        augment_records(ALPACA[0], AEDA())


def test_eda_augmenter_rejects_bad_rates():
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        EDA(alpha_sr=2.0, synonyms=THESAURUS)

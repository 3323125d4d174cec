"""The support check: figures and names of an answer sentence must be in a source it cites."""

import pytest

from paperqa_local.support import SourceText, check_sentence, drop_clause, figures, names, short_name

SOURCES = {
    1: SourceText(1, "Deoxys: A Causal Inference Engine. Deoxys reduces average VM downtime by 53% compared to a legacy policy.",
                  2024, "Deoxys"),
    2: SourceText(2, "SWIFT: On-the-fly Self-speculative Decoding. SWIFT achieves a 1.3x-1.6x speedup on LLaMA-2.", 2024, "SWIFT"),
    3: SourceText(3, "Recursive Speculative Decoding. Drafts form a tree sampled without replacement; we test two models.", 2023),
}


@pytest.mark.parametrize("text, expected", [
    ("cut by 53 % [1]", ["53"]), ("85.0 points", ["85"]), ("1.3× faster", ["1.3"]), ("1.3x-1.6x", ["1.3", "1.6"]),
    ("1,000 GPUs", ["1000"]), ("GPT-4 and a 7B model", []), ("version v1.2.3", []), ("2–4% better", ["2", "4"]),
])
def test_figures_are_read_as_values_however_written(text, expected):
    assert figures(text) == expected


def test_names_skip_generic_acronyms():
    assert names("TokenFLEX and LoRA beat GPT-4 on BLEU with LLMs on GPUs.") == ["TokenFLEX", "LoRA", "GPT-4", "BLEU"]
    assert short_name("Deoxys: A Causal Inference Engine") == "Deoxys" and short_name("Recursive Speculative Decoding") is None


def test_a_sentence_whose_facts_are_in_its_source_keeps_its_citation():
    verdict = check_sentence("Deoxys cuts VM downtime by 53.0 % against the old policy.", [1], SOURCES)
    assert (verdict.keys, verdict.dropped, verdict.unsupported) == ([1], [], False)


def test_a_figure_of_another_source_moves_the_citation_there():
    verdict = check_sentence("Self-speculation gives a 1.3x to 1.6x speedup.", [3], SOURCES)
    assert verdict.keys == [2] and verdict.text == "Self-speculation gives a 1.3x to 1.6x speedup."


def test_a_figure_credited_to_the_wrong_named_paper_is_cut_not_moved():
    verdict = check_sentence("Deoxys gives a 1.3x speedup.", [1], SOURCES)
    assert verdict.text == "" and verdict.keys == [] and verdict.dropped == ["1.3 (from another paper)"]


def test_an_invented_figure_loses_its_clause_and_the_rest_stays_cited():
    verdict = check_sentence("Deoxys picks mitigation actions with causal inference, cutting downtime by 70%.", [1], SOURCES)
    assert verdict.text == "Deoxys picks mitigation actions with causal inference." and verdict.keys == [1]
    assert verdict.dropped == ["70 (in no retrieved source)"]
    assert check_sentence("It achieves a BLEU score of 41.0.", [1], SOURCES).text == ""


def test_numbers_written_as_words_and_the_papers_year_count_as_given():
    assert check_sentence("Recursive speculative decoding tests 2 models.", [3], SOURCES).keys == [3]
    assert check_sentence("Deoxys appeared in 2024.", [1], SOURCES).keys == [1]


def test_a_name_in_no_retrieved_source_drops_the_sentence_unless_the_user_said_it():
    verdict = check_sentence("Deoxys is evaluated with BLEU.", [1], SOURCES)
    assert (verdict.text, verdict.keys, verdict.invented) == ("", [], ["BLEU"])
    assert check_sentence("Deoxys is evaluated with BLEU.", [1], SOURCES, question="Is Deoxys measured by BLEU?").keys == [1]
    guessed = check_sentence("Deoxys was tested on puzzles such as Sokoban and Tetris.", [1], SOURCES)
    assert (guessed.text, guessed.invented) == ("", ["Sokoban", "Tetris"])


def test_a_name_only_another_paper_holds_marks_a_sentence_about_this_one_unsupported():
    verdict = check_sentence("Deoxys is evaluated on LLaMA-2.", [1], SOURCES)
    assert verdict.unsupported and verdict.keys == [] and verdict.text and not verdict.invented


def test_drop_clause_keeps_a_readable_sentence_or_nothing():
    assert drop_clause("The method is fast (3.2x faster) and simple.", ["3.2"]) == "The method is fast and simple."
    assert drop_clause("It is 3.2x faster.", ["3.2"]) is None


def test_a_number_written_as_a_word_supports_only_a_plain_count():
    sources = {1: SourceText(1, "OneWay: a one-step student. It reaches a good FID with two encoders.", 2024, "OneWay")}
    assert check_sentence("OneWay uses 2 encoders.", [1], sources).keys == [1]
    assert check_sentence("OneWay reaches an FID of 1.00.", [1], sources).text == ""  # "one-step" is no figure
    assert check_sentence("OneWay uses 2% of its encoders.", [1], sources).text == ""
    assert check_sentence("OneWay is 1 model.", [1], sources).text == ""  # nor does "one" support a plain 1
    # … and only a count of the same things: "nine IQA datasets" is no "9 reference pictures"
    sources = {1: SourceText(1, "Compare2Score. Experiments on nine IQA datasets validate it.", 2024, "Compare2Score")}
    assert check_sentence("Compare2Score is tested on 9 IQA datasets.", [1], sources).keys == [1]
    assert check_sentence("It scores against 9 reference pictures at test time.", [1], sources).text == ""


def test_a_sentence_about_one_paper_never_gets_another_papers_system():
    sources = {**SOURCES, 4: SourceText(4, "Taming Latency in LLM Serving with Chunked Prefills. Chunked prefills keep decodes "
                                           "flowing.", 2024, None, "Taming Latency in LLM Serving with Chunked Prefills")}
    # the answer's lead names paper 4 (no short name: its title); the rest is paper 2's system
    verdict = check_sentence("Taming Latency in LLM Serving with Chunked Prefills presents SWIFT, a self-speculative "
                             "decoder [2].", [2], sources)
    assert verdict.text == "" and verdict.keys == [] and "SWIFT (another paper's" in verdict.dropped[0]
    assert check_sentence("SWIFT is a self-speculative decoder [2].", [2], sources).keys == [2]
    verdict = check_sentence("Deoxys is evaluated with BLEU.", [1], sources)  # a name in no source: the model's guess
    assert verdict.text == "" and verdict.invented == ["BLEU"]

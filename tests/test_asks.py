"""What figure a question asks for, and whether a sentence gives it (asks.py)."""

import numpy as np

from paperqa_local.asks import asked_figures, gives


def labels(question: str) -> list[str]:
    return [ask.label for ask in asked_figures(question)]


def test_the_kinds_of_figure_a_question_asks_for():
    assert labels("How many hours of audio do the new tasks contain?") == ["how many hours"]
    assert labels("How many parameters does the largest PaLM 2 model have, and how many tokens was it trained on?") == \
        ["how many parameters", "how many tokens"]
    assert labels("Alipay's trie-based decoding - how many times faster is it than normal generation?") == ["the speedup"]
    assert labels("How much quicker is a ViT on GPU when every layer is int8?") == ["the speedup"]
    assert labels("What wall-clock speedup do you get from running copies in parallel?") == ["the speedup"]
    assert labels("How much did that blueprint reduce successful hijacking?") == ["the percentage"]
    assert labels("What COCO-30k FID does the one-pass student reach?") == ["the FID"]
    assert labels("What's its exact control rate in Hz compared with OpenVLA?") == ["the figure in Hz"]
    assert labels("How big was the pretraining token budget for the small Phi model?") == \
        ["the size of the pretraining token budget"]


def test_a_question_asking_for_no_figure_asks_for_none():
    assert labels("Which drop-in attention kernels claim to beat FlashAttention-2, and what's the trick in each?") == []
    assert labels("Can early-exit tricks be applied to Mamba LMs?") == []
    assert labels("Does BLEU correlate with human judgement in these papers?") == []  # named, not asked for


def test_a_sentence_gives_the_figure_of_the_asked_kind_only():
    hours, = asked_figures("How many hours of audio do the tasks contain?")
    assert gives(hours, "SLUE Phase-2 contains 135 hours of speech [1].")
    assert not gives(hours, "SLUE Phase-2 contains four tasks and 12 datasets [1].")
    speedup, = asked_figures("How much faster is prefill?")
    assert gives(speedup, "It reaches a 3.72~4.11× inference speedup [1].")
    assert gives(speedup, "Prefill is 2.4 times faster than dense attention.")
    assert not gives(speedup, "It keeps 98.1% of the accuracy (2024) [1].")
    tokens = asked_figures("How big was the pretraining token budget?")[0]
    assert gives(tokens, "Phi-4-Mini was pretrained on 5 trillion tokens.")
    assert not gives(tokens, "Phi-4-Mini is a 3.8-billion-parameter language model [1].")
    seconds, = asked_figures("How many seconds does one encrypted token take?")
    assert not gives(seconds, "It uses 32 layers and was tested on several tasks.")  # "s…" words are not seconds
    assert gives(seconds, "One token takes 2.1 s on encrypted data.")


def test_a_question_asking_which_dataset_is_answered_by_a_name_only():
    datasets, = asked_figures("Which indoor scene dataset was the scene-graph-to-3D-room model trained on?")
    assert datasets.label == "which dataset was used"
    title = "EchoScene: Indoor Scene Generation via Information Echo"
    assert not gives(datasets, "EchoScene was trained and evaluated on indoor scene datasets [1].", title=title)
    assert gives(datasets, "EchoScene is evaluated on the SG-FRONT dataset [1].", title=title)


def test_a_count_in_words_gives_it_and_a_how_many_says_what_size_means():
    asks = asked_figures("How large is the crowd-labeling dump: how many workers, tasks and labels?")
    assert [ask.label for ask in asks] == ["how many workers"]
    assert gives(asks[0], "It comprises approximately two thousand workers and one million tasks [1].")


def test_numbers_the_question_or_the_title_already_hold_give_nothing():
    reports, = asked_figures("Roughly how many RCT reports does the second release of Evidence Inference 2.0 cover?")
    title = "Evidence Inference 2.0: More Data, Better Models"
    assert not gives(reports, "Evidence Inference 2.0 reports that the corpus and code are available [1].", reports and
                     "Roughly how many RCT reports does Evidence Inference 2.0 cover?", title)
    assert gives(reports, "The corpus now covers 4,000 RCT reports [1].", "", title)


def test_a_factor_and_the_hardware_are_asked_for():
    assert labels("By what factor could the transformer be shrunk while keeping its accuracy?") == ["the factor"]
    chips, = asked_figures("What chips did they benchmark on to get their speedup figures?")
    assert chips.label == "which hardware was used" and chips.named
    assert not gives(chips, "They deploy it on the GPU's integer arithmetic units [1].")
    assert gives(chips, "They measure it on an NVIDIA A100 GPU [1].")


def test_which_cities_is_answered_only_by_a_name_next_to_them():
    cities, = asked_figures("Which cities did the SEENet location-relationship model get evaluated on?")
    assert cities.label == "which cities were used" and cities.named
    title = "Multi-Temporal Relationship Inference in Urban Areas"
    assert not gives(cities, "SEENet evaluated SEConv on a set of cities [1].", title=title)  # a name, not a city's
    assert not gives(cities, "SEENet was evaluated on four real-world datasets [1].", title=title)
    assert gives(cities, "SEENet is evaluated on data from Beijing and Shanghai, two large cities [1].", title=title)
    assert [ask.label for ask in asked_figures("How quickly does EgoPoser run, in frames per second?")] == [
        "the speed", "the figure in frames per second"]


def test_which_models_and_which_base_model_are_asked_to_be_named():
    from paperqa_local.asks import initials

    models, = asked_figures("Which ten LLMs were compared in the study of API inference runtimes?")
    assert models.label == "which LLMs were used" and models.named
    assert not gives(models, "The study compared ten state-of-the-art LLMs [1].")
    assert gives(models, "The study compared ten LLMs, among them Llama-2 and Falcon [1].")
    base, licence = asked_figures("What base model is TIM built on, and what licence are its weights under?")
    assert (base.label, licence.label) == ("which base model was used", "the licence")
    datasets_question = "Which nine image quality assessment datasets were used to test Compare2Score?"
    datasets, = asked_figures(datasets_question)
    assert "iqa" in initials("image quality assessment datasets") and "cad" in initials("context-aware decoding")
    assert not gives(datasets, "Compare2Score used nine IQA datasets [1].", datasets_question, "Compare2Score")


def test_which_sampler_or_algorithm_is_given_by_a_new_name_anywhere_in_the_sentence():
    from paperqa_local.asks import giving_sentence
    from paperqa_local.evidence import Source
    from paperqa_local.types import SearchHit

    question = "Which deterministic sampler does its what-if procedure build on?"
    sampler, = asked_figures(question)
    assert sampler.named and sampler.loose
    assert gives(sampler, "They propose a DDIM-based counterfactual procedure [1].", question)
    assert gives(asked_figures("What grouping algorithm does it rely on?")[0], "It groups keys offline with K-means clustering [1].")
    assert not gives(sampler, "Its counterfactual procedure is deterministic [1].", question)
    title = "ORBIT: An Object Property Reasoning Benchmark"  # the paper's own name answers no "which VLM"
    vlm, = asked_figures("Which VLM came first on the count-based benchmark?")
    assert not gives(vlm, "ORBIT finds the best-performing model reaches only 40% accuracy [1].", title=title)
    # a source's sentence must name it beside the asked thing, as for any named ask
    sentences = ["Its what-if procedure builds on CelebA-trained Transformer features.", "A deterministic DDIM sampler drives it."]
    title = "Causal Diffusion Autoencoders"
    source = Source(1, SearchHit("p1", title, 1.0, " ".join(sentences)), sentences, np.zeros((3, 2)), 0.5, [title, *sentences])
    assert giving_sentence(sampler, question, [source])[1] == sentences[1]


def test_a_parameter_count_is_given_only_by_a_number_of_parameters():
    count, = asked_figures("What is the parameter count of the SILO language model?")
    assert count.label == "the parameter count"
    assert not gives(count, "The parameter count of the SILO language model trained on the licensed corpus is 228B tokens [1].")
    assert gives(count, "SILO has 1.3B parameters [1].")


def test_what_speed_how_well_and_how_much_bigger_are_each_asked_for():
    assert labels("How many simulated distributions went into its training?") == ["how many simulated distributions"]
    assert labels("What speed did it hit for a 7B chat model?") == ["the speed"]
    assert labels("What speed-up does it give?") == ["the speedup"]
    well, = asked_figures("How well can it predict a hallucination before it happens?")
    assert gives(well, "It reaches up to 82% F1 for hallucination anticipation [1].")
    assert not gives(well, "It predicts hallucinations before they are produced [1].")
    bigger = [a for a in asked_figures("By how much did it cut latency, and how much bigger models can it serve?")
              if a.label == "how much bigger models"][0]
    assert gives(bigger, "It can inference 25x larger models than GPU-only solutions [1].")
    assert not gives(bigger, "It reduces latency by up to 7.3X over the state of the art [1].")
    assert labels("What does the model predict, and which benchmark was it tested on?") == ["which benchmark was used"]
    phones, = asked_figures("On which specific phones or development boards was the engine benchmarked?")
    assert phones.label == "which hardware was used"
    assert not gives(phones, "It was benchmarked on various phones and development boards [1].")
    assert gives(phones, "It was benchmarked on a Jetson TX2 board and a Pixel 7 phone [1].")


def test_of_a_source_the_sentence_closest_to_the_question_in_digits_gives_the_figure():
    from paperqa_local.asks import giving_sentence
    from paperqa_local.evidence import Source
    from paperqa_local.text import split_sentences
    from paperqa_local.types import SearchHit

    question = "How much more throughput does phase splitting buy at equal cost and power?"
    ask, = asked_figures(question)
    abstract = ("Our clusters are optimized for three key objectives: throughput, cost, and power. We achieve 1.4x "
                "higher throughput at 20% lower cost than current designs. Alternatively, we can achieve 2.35x more "
                "throughput with the same cost and power budgets.")
    title = "Splitwise: Efficient generative LLM inference using phase splitting"
    sentences = split_sentences(abstract)
    source = Source(1, SearchHit("p1", title, 1.0, abstract), sentences, np.zeros((4, 2)), 0.5, [title, *sentences])
    found = giving_sentence(ask, question, [source])
    assert found and found[1].startswith("Alternatively, we can achieve 2.35x")

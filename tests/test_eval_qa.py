"""`paperqa-local eval qa` end to end on tiny SciFact- and PubMedQA-shaped folders, with the real 0.5B model."""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

DOCS = {
    "11": ("Statins lower LDL cholesterol", "In a trial of 4,000 adults, statins lowered LDL cholesterol by 35% over two years."),
    "12": ("Coffee and sleep", "Drinking coffee in the evening delayed sleep onset by 40 minutes in healthy adults."),
    "13": ("Bees and pesticides", "Neonicotinoid exposure reduced the foraging success of honey bees in field colonies."),
}


def _scifact(folder):
    (folder / "scifact").mkdir(parents=True)
    with open(folder / "scifact" / "corpus.jsonl", "w") as out:
        for doc_id, (title, text) in DOCS.items():
            out.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    claims = [
        {"id": 1, "claim": "Statins lower LDL cholesterol.", "evidence": {"11": [{"sentences": [0], "label": "SUPPORT"}]}},
        {"id": 2, "claim": "Evening coffee has no effect on when people fall asleep.", "evidence": {"12": [{"sentences": [0], "label": "CONTRADICT"}]}},
        {"id": 3, "claim": "Volcanic ash improves wheat yields in Iceland.", "evidence": {}},
    ]
    (folder / "scifact" / "claims_dev.jsonl").write_text("".join(json.dumps(c) + "\n" for c in claims))


def _pubmedqa(folder):
    (folder / "pubmedqa").mkdir(parents=True)
    data = {doc_id: {"QUESTION": q, "CONTEXTS": [DOCS[doc_id][1]], "YEAR": "2020", "final_decision": a}
            for doc_id, q, a in (("11", "Do statins lower LDL cholesterol?", "yes"),
                                 ("13", "Do neonicotinoids improve bee foraging?", "no"))}
    (folder / "pubmedqa" / "ori_pqal.json").write_text(json.dumps(data))
    (folder / "pubmedqa" / "test_ground_truth.json").write_text(json.dumps({"11": "yes", "13": "no"}))


@pytest.mark.parametrize("dataset,maker", [("scifact", _scifact), ("pubmedqa", _pubmedqa)])
def test_eval_qa_reports_metrics_and_per_item_output(tmp_path, dataset, maker):
    maker(tmp_path / "eval")
    out = tmp_path / "items.jsonl"
    run = subprocess.run([sys.executable, "-m", "paperqa_local", "--data-dir", str(tmp_path / "data"), "eval", "qa",
                          "--dataset", dataset, "--eval-dir", str(tmp_path / "eval"), "--preset", "fast",
                          "--out", str(out), "--json"], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    items = [json.loads(line) for line in out.read_text().splitlines()]
    assert result["items"] == len(items) == (3 if dataset == "scifact" else 2)
    assert result["citations_not_retrieved"] == 0
    from paperqa_local.hardware import gpu_offload_supported

    # the summary is what the per-item rows say: accuracy and the confusion matrix recounted from them
    right = sum(item["gold"] == item["predicted"] for item in items)
    assert result["accuracy"] == round(right / len(items), 4)
    labels = result["confusion"]["rows_gold_columns_predicted"]
    assert sum(result["confusion"]["matrix"][i][i] for i in range(len(labels))) == right
    assert sum(map(sum, result["confusion"]["matrix"])) == len(items)
    assert result["machine"]["cores"] >= 1 and result["machine"]["cpu"] and result["machine"]["llm_gpu_offload"] == gpu_offload_supported()
    first = items[0]
    assert first["gold_docs"] == ["11"] and "11" in first["cited"], first
    assert result["gold_cited_rate"] >= 0.5


def test_a_fact_is_found_as_whole_words_and_a_figure_with_its_unit():
    from paperqa_local.eval.seeds import fact_found

    assert fact_found(["4.11"], "reaching a 3.72~4.11× inference speedup [1]")
    assert fact_found(["48%"], "48 % of the fixes are small")
    assert not fact_found(["EAD"], "instead of retraining")
    assert not fact_found(["4.1"], "a 4.11x speedup")

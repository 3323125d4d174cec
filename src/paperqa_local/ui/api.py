"""The app's API for programs (`gradio_client`, `curl`): one call, one answer; the page's own events stay private."""

# No `from __future__ import annotations` here: Gradio reads these signatures to describe the API.
from ..errors import PaperQAError


def add_api(qa) -> None:
    """`/ask`, `/check` and `/search` on the app being built (call inside its `gr.Blocks`)."""
    import gradio as gr

    def ask(question: str, k: int = qa.settings.k, year_from: int | None = None, year_to: int | None = None) -> dict:
        """Answer a question from the indexed papers. Returns the answer as a dict: text with [n] markers,
        answerable, citations (key, paper_id, title, year, supporting sentences, score), contexts, timings,
        and markdown (the text with its reference list)."""
        if not question.strip():
            raise gr.Error("Ask a question: the text is empty.")
        try:
            answer = qa.ask(question, k=int(k), year_from=year_from, year_to=year_to)
        except PaperQAError as exc:
            raise gr.Error(str(exc)) from exc  # for API clients: plain text
        return {**answer.to_dict(), "markdown": answer.to_markdown()}

    def check(claim: str, k: int = qa.settings.k) -> dict:
        """Check a claim against the indexed papers. Returns the answer as a dict whose verdict is SUPPORTS,
        CONTRADICTS or NOT ENOUGH INFO, with the cited papers and their evidence sentences."""
        if not claim.strip():
            raise gr.Error("Write a claim to check: the text is empty.")
        try:
            answer = qa.check(claim, k=int(k))
        except PaperQAError as exc:
            raise gr.Error(str(exc)) from exc
        return {**answer.to_dict(), "markdown": answer.to_markdown()}

    def search_papers(query: str, k: int = qa.settings.k, year_from: int | None = None,
                      year_to: int | None = None) -> list[dict]:
        """Hybrid (keyword + semantic) search over the indexed papers: for each paper its id, title, year,
        score, best matching text and metadata."""
        hits = qa.search(query, k=int(k), year_from=year_from, year_to=year_to)
        return [{**hit.to_dict(), "text": hit.text, "metadata": hit.metadata} for hit in hits]

    gr.api(ask, api_name="ask", concurrency_limit=qa.answer_slots(), concurrency_id="llm")
    gr.api(check, api_name="check", concurrency_limit=qa.answer_slots(), concurrency_id="llm")
    gr.api(search_papers, api_name="search", concurrency_limit=2)

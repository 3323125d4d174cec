(() => {
  document.addEventListener("click", (event) => {
    const chip = event.target.closest && event.target.closest("a.pq-chip");
    if (!chip) return;
    const match = /^#pq-src-(\d+|check)-(\d+)$/.exec(chip.getAttribute("href") || "");
    if (!match) return;
    event.preventDefault();
    event.stopPropagation();
    // a chat answer's sources live in #pq-sources, one .pq-turn per answer; a claim check's in #pq-verdict
    const panel = document.getElementById(match[1] === "check" ? "pq-verdict" : "pq-sources");
    if (!panel) return;
    panel.querySelectorAll(".pq-turn").forEach((turn) => { turn.hidden = turn.id !== "pq-turn-" + match[1]; });
    panel.querySelectorAll(".pq-selected").forEach((card) => card.classList.remove("pq-selected"));
    const card = document.getElementById("pq-src-" + match[1] + "-" + match[2]);
    if (!card) return;
    card.open = true;
    card.classList.add("pq-selected");
    card.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }, true);
})();

(() => {
  // Light / dark: the choice is kept in localStorage and wins over the system's (Gradio sets body.dark on load).
  const THEME = "pq-theme";
  const applyTheme = () => {
    const wanted = localStorage.getItem(THEME);
    if (wanted) document.body.classList.toggle("dark", wanted === "dark");
  };
  window.pqToggleTheme = () => {
    localStorage.setItem(THEME, document.body.classList.contains("dark") ? "light" : "dark");
    applyTheme();
  };
  const watchTheme = () => {
    applyTheme();
    new MutationObserver(() => {
      const wanted = localStorage.getItem(THEME);
      if (wanted && document.body.classList.contains("dark") !== (wanted === "dark")) applyTheme();
    }).observe(document.body, { attributes: true, attributeFilter: ["class"] });
  };
  if (document.body) watchTheme(); else document.addEventListener("DOMContentLoaded", watchTheme);

  // On a narrow screen the sidebar would cover the whole page: start with it closed (its toggle opens it).
  if (window.innerWidth < 768) {
    const started = Date.now();
    const closeSidebar = setInterval(() => {
      const open = document.querySelector(".sidebar.open");
      const toggle = open && open.querySelector(".toggle-button");
      if (toggle) toggle.click();
      if (toggle || Date.now() - started > 15000) clearInterval(closeSidebar);
    }, 200);
  }

  const copyText = async (text) => {
    try {
      await navigator.clipboard.writeText(text);
    } catch (error) {  // no clipboard API (an insecure origin): the old way
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
  };

  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a.pq-chip, a.pq-copy");
    if (!link) return;
    const href = link.getAttribute("href") || "";
    const copy = /^#pq-copy-(\d+)$/.exec(href);
    if (copy) {  // the answer with its references, kept in the sources panel
      event.preventDefault();
      event.stopPropagation();
      const source = document.getElementById("pq-copy-text-" + copy[1]);
      if (!source) return;
      copyText(source.textContent).then(() => {
        link.textContent = "Copied ✓";
        setTimeout(() => { link.textContent = "Copy answer"; }, 2000);
      });
      return;
    }
    const match = /^#pq-src-(\d+|check)-(\d+)$/.exec(href);
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

  // Hovering a chip previews its source: title (year) — “the supporting sentence”.
  let preview = null;
  const hide = () => { if (preview) { preview.remove(); preview = null; } };
  document.addEventListener("mouseover", (event) => {
    const chip = event.target.closest && event.target.closest("a.pq-chip");
    if (!chip) return;
    if (chip.title) { chip.dataset.preview = chip.title; chip.removeAttribute("title"); }  // no second tooltip
    const text = chip.dataset.preview || "";
    const split = text.indexOf(" — ");
    hide();
    preview = document.createElement("div");
    preview.id = "pq-preview";
    preview.setAttribute("role", "tooltip");
    const head = document.createElement("span");
    head.className = "pq-preview-title";
    head.textContent = split >= 0 ? text.slice(0, split) : text;
    preview.appendChild(head);
    if (split >= 0) preview.appendChild(document.createTextNode(text.slice(split + 3)));
    document.body.appendChild(preview);
    const box = chip.getBoundingClientRect();
    const left = Math.max(4, Math.min(box.left, window.innerWidth - preview.offsetWidth - 4));
    const below = box.bottom + 6 + preview.offsetHeight < window.innerHeight;
    preview.style.left = left + "px";
    preview.style.top = (below ? box.bottom + 6 : Math.max(4, box.top - preview.offsetHeight - 6)) + "px";
  });
  document.addEventListener("mouseout", (event) => {
    if (event.target.closest && event.target.closest("a.pq-chip")) hide();
  });

  // A click on a map point opens its paper: the point's description (Vega's aria-label) names its title.
  document.addEventListener("click", (event) => {
    const map = event.target.closest && event.target.closest("#pq-map");
    const mark = map && event.target.closest("[aria-label]");
    if (!mark) return;
    const found = /(?:^|; )title: (.*?)(?=; (?:year|paper|x|y|PC 1|PC 2): |$)/.exec(mark.getAttribute("aria-label") || "");
    const box = document.querySelector("#pq-map-pick textarea, #pq-map-pick input");
    if (!found || !box) return;
    box.value = found[1];
    box.dispatchEvent(new Event("input", { bubbles: true }));
    box.dispatchEvent(new Event("change", { bubbles: true }));
  });
})();

"""Floors only go down: every import inside the package, at module level or inside a function, goes to a lower
floor of FLOORS (or sideways where SIDEWAYS says why), and no modules import each other in a circle.

Drawn from the source with `ast`, so it needs no imports of its own and runs in a second.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "paperqa_local"

# The house, from the ground up. A module's floor is that of its top-level name: `ui/render.py` is on "ui"'s.
FLOORS = {
    # the nouns and plain tools every other module speaks; host probes (cores, CPU, GPU offload)
    "types": 0, "errors": 0, "text": 0, "hardware": 0, "memory": 0,
    "config": 1,
    # the components: storage, keyword index, embedder, LLM, model files, input parsers
    "store": 2, "store_client": 2, "store_state": 2,
    "keyword": 2, "keyword_segment": 2, "embed": 2, "llm": 2, "llm_base": 2, "llm_http": 2, "models": 2, "sources": 2,
    "integrations": 2,  # llama-index: its documents in (PDF pages, page-aware splitting), retriever/query engine out
    "ingest": 3, "retrieve": 3, "keyword_sync": 3,
    # answering's parts
    "evidence": 4, "support": 4, "guard": 4, "wording": 4, "asks": 4, "followup": 4,
    "answer": 5, "judge": 5, "coverage": 5,
    # the facade; "" is the package itself (`from paperqa_local import PaperQA` hands out the facade)
    "qa": 6, "": 6,
    # what users run
    "ui": 7, "cli": 7, "cli_papers": 7, "cli_setup": 7, "cli_eval": 7, "cli_shared": 7, "eval": 7, "__main__": 7,
}

# Imports between two modules of one floor, each with its reason. (Within one package, such as ui/, modules
# import each other freely: the package is one room; the cycle test still covers them.)
SIDEWAYS = {
    ("store", "store_client"): "the store opens Chroma, and words its failures, through store_client",
    ("store", "store_state"): "the store reads each paper's state back from its chunks' metadata",
    ("keyword", "keyword_segment"): "the keyword index is a main segment and a delta segment",
    ("llm", "models"): "the LLM loads the GGUF file that models.py finds",
    ("llm", "llm_base"): "the llama.cpp backend implements the LLM interface",
    ("llm_http", "llm_base"): "the server backend implements the LLM interface",
    ("llm", "llm_http"): "the one factory, load_llm, picks the server backend when llm_base_url is set",
    ("ingest", "keyword_sync"): "ingest brings the keyword index up to date after writing",
    ("sources", "integrations"): "PDFs are read by llama-index's PDF reader, like any llama-index documents",
    ("retrieve", "keyword_sync"): "retrieval checks the keyword index is in step before searching",
    ("evidence", "guard"): "evidence is defused before the model reads it",
    ("evidence", "support"): "evidence sentences are scored by the figures they hold",
    ("wording", "evidence"): "wording names the sources evidence picked",
    ("wording", "support"): "wording reads citation markers and short names",
    ("asks", "support"): "an asked figure is read like support reads figures and names",
    ("judge", "answer"): "claim checks reuse the answer's citation checks",
    ("answer", "coverage"): "an answer's notes of what is not reported are checked against its cited sources",
    ("", "qa"): "the package hands out the facade",
    ("cli", "ui"): "`paperqa-local serve`",
    ("cli", "cli_papers"): "the parser hands ingest, stats, search and papers to their commands",
    ("cli", "cli_setup"): "the parser hands config and models to their commands",
    ("cli", "cli_eval"): "the parser hands eval to its command",
    ("cli", "cli_shared"): "ask and check open the facade and print JSON like every command",
    ("cli_papers", "cli_shared"): "the commands open the facade and print JSON the same way",
    ("cli_setup", "cli_shared"): "the commands read the command line's settings and print JSON the same way",
    ("cli_eval", "cli_shared"): "the commands print JSON the same way",
    ("cli_eval", "eval"): "`paperqa-local eval`",
    ("__main__", "cli"): "`python -m paperqa_local` is the CLI",
}

# Imports under `if TYPE_CHECKING:` run only in a type checker, never at run time; these may point up.
# Answering takes the facade as its argument and names its type; it never imports it.
TYPE_ONLY_UP = {("answer", "qa"), ("coverage", "qa"), ("evidence", "qa"), ("judge", "qa"), ("followup", "qa")}

# sources/ is being reworked: its __init__ dispatches to the parsers, which import ParseResult back from it
# (a circle within the package). Drop this once ParseResult lives in a module of its own.
CYCLE_EXEMPT_PACKAGES = {"sources"}


class Import(NamedTuple):
    line: int
    target: str  # dotted, under paperqa_local: "qa", "ui.render", "" for the package itself
    type_only: bool


def module_name(path: Path) -> str:
    """`src/paperqa_local/ui/render.py` → "ui.render"; a package's __init__ → the package ("ui", or "")."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def floor_name(module: str) -> str:
    return module.split(".")[0]


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(module: str, is_package: bool, tree: ast.AST) -> list[Import]:
    """Every import of a paperqa_local module in `tree`, wherever it stands, with its target resolved."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    package = [part for part in package if part]
    found: list[Import] = []

    def resolve(node: ast.ImportFrom) -> list[str]:
        if node.level:  # from . / from .. : the current package, or the one above it
            base = package[: len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
        elif node.module and (node.module == "paperqa_local" or node.module.startswith("paperqa_local.")):
            base = node.module.split(".")[1:]
        else:
            return []
        prefix = ".".join(base)

        def named(name: str) -> str:  # `from . import types` imports a module; `from . import __version__` a name
            path = PACKAGE.joinpath(*base, name)
            return ".".join([*base, name]) if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file() else prefix

        return sorted({named(alias.name) for alias in node.names})

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.ImportFrom):
            found.extend(Import(node.lineno, target, type_only) for target in resolve(node))
        elif isinstance(node, ast.Import):
            found.extend(Import(node.lineno, alias.name.split(".", 1)[1] if "." in alias.name else "", type_only)
                         for alias in node.names
                         if alias.name == "paperqa_local" or alias.name.startswith("paperqa_local."))
        if isinstance(node, ast.If) and is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, type_only)

    visit(tree, False)
    return found


def wrong_way(module: str, is_package: bool, tree: ast.AST) -> list[str]:
    """The imports of `module` that go up a floor, or sideways without a reason in SIDEWAYS."""
    here = floor_name(module)
    problems = []
    for imp in imports(module, is_package, tree):
        there = floor_name(imp.target)
        if there == here:
            continue  # itself, or a module of its own package (ui/, eval/, sources/): one room
        if there not in FLOORS:
            problems.append(f"{module}:{imp.line} imports {imp.target}, which has no floor")
        elif imp.type_only and (here, there) in TYPE_ONLY_UP:
            continue
        elif FLOORS[there] > FLOORS[here] or (FLOORS[there] == FLOORS[here] and (here, there) not in SIDEWAYS):
            problems.append(f"{module or 'paperqa_local'}:{imp.line} imports {imp.target or 'paperqa_local'}: "
                            f"floor {FLOORS[here]} ({here or 'the package'}) → floor {FLOORS[there]} ({there or 'the package'})")
    return problems


def modules() -> list[tuple[str, bool, ast.AST, Path]]:
    return [(module_name(path), path.name == "__init__.py", ast.parse(path.read_text(encoding="utf-8")), path)
            for path in sorted(PACKAGE.rglob("*.py"))]


def test_every_module_has_a_floor():
    missing = sorted({floor_name(name) for name, *_ in modules()} - set(FLOORS))
    assert not missing, f"add these to FLOORS in {Path(__file__).name}: {missing}"


def test_every_import_goes_down_a_floor():
    problems = [problem for name, is_package, tree, _ in modules() for problem in wrong_way(name, is_package, tree)]
    assert not problems, "imports that point the wrong way:\n" + "\n".join(problems)


def test_the_check_catches_an_import_going_up():
    """The rule the test above applies, on code that breaks it: a store that imports the facade."""
    assert wrong_way("store", False, ast.parse("from .qa import PaperQA\n")) == [
        "store:1 imports qa: floor 2 (store) → floor 6 (qa)"]
    inside_a_function = ast.parse("def f():\n    from ..answer import DECLINE\n")
    assert wrong_way("sources.seeds", False, inside_a_function) == [
        "sources.seeds:2 imports answer: floor 2 (sources) → floor 5 (answer)"]
    assert wrong_way("config", False, ast.parse("import paperqa_local.llm\n")) == [
        "config:1 imports llm: floor 1 (config) → floor 2 (llm)"]
    assert wrong_way("keyword", False, ast.parse("from .embed import Embedder\n")) == [
        "keyword:1 imports embed: floor 2 (keyword) → floor 2 (embed)"]  # sideways, with no reason given
    type_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .qa import PaperQA\n"
    assert wrong_way("answer", False, ast.parse(type_only)) == []
    assert wrong_way("store", False, ast.parse(type_only)) == [
        "store:3 imports qa: floor 2 (store) → floor 6 (qa)"]  # type-only, but not one TYPE_ONLY_UP allows


MAX_LINES = 400  # past this a module holds more than one concept: split it along a seam (STYLE.md)


def test_no_module_is_over_400_lines():
    sizes = {path.relative_to(PACKAGE).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
             for path in sorted(PACKAGE.rglob("*.py"))}
    assert len(sizes) > 20 and sizes["store.py"] > 100  # the walk finds the package's modules
    over = [f"{name}: {lines} lines" for name, lines in sizes.items() if lines > MAX_LINES]
    assert not over, f"modules over {MAX_LINES} lines (split each along a seam):\n" + "\n".join(over)


def test_no_modules_import_each_other_in_a_circle():
    graph: dict[str, set[str]] = {}
    for name, is_package, tree, _ in modules():
        graph[name] = {imp.target for imp in imports(name, is_package, tree) if not imp.type_only
                       and not (floor_name(name) in CYCLE_EXEMPT_PACKAGES and floor_name(imp.target) == floor_name(name))}
    cycles, done, path = [], set(), []

    def walk(node: str) -> None:
        if node in path:
            cycles.append(" → ".join([*path[path.index(node):], node]))
            return
        if node in done:
            return
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if target != node:
                walk(target)
        path.pop()
        done.add(node)

    for node in sorted(graph):
        walk(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)

"""coursekit.data.evaluation and coursekit.data.metrics: generic aggregation, dataset-owned
scores, the multi-sample scores on samplers whose answers are known, and no import cycles."""
import ast
import itertools
from pathlib import Path

import pytest
import torch

import coursekit
from coursekit.data.evaluation import evaluate_paired, evaluate_samples, evaluate_unpaired
from coursekit.data.metrics import mean_pairwise_distance, mode_histogram, total_variation
from coursekit.data.synthetic.facades import FACADE_STYLES, SyntheticFacades

PACKAGE = Path(coursekit.__file__).parent


# ----------------------------------------------------------------------------- import graph
def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """module -> the package modules it imports, at module level or inside functions (a lazy
    import is still a dependency: it only moves the cycle to run time)."""
    modules = {}
    for path in root.rglob("*.py"):
        parts = (package, *path.relative_to(root).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the package (or the module's package) upwards
                    anchor = name.split(".")[: None if is_package else -1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                # "from pkg import mod" imports pkg.mod; "from mod import name" imports mod.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                           for a in node.names]
            for target in targets:
                while target and target not in modules:  # "pkg.mod.func" -> "pkg.mod"
                    target = target.rpartition(".")[0]
                if target and target != name:
                    deps.add(target)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_lazy_import_cycle(tmp_path):
    # The shape of the cycle this package used to have: a top-level import one way, a lazy
    # (function-level) import back.
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub.b import f\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import g\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.b"]]


def test_no_import_cycle_in_coursekit():
    graph = import_graph(PACKAGE, "coursekit")
    assert {"coursekit.data.metrics", "coursekit.data.synthetic.base"} <= graph[
        "coursekit.data.synthetic.zebras"]  # the parser sees the imports
    assert cycles(graph) == []


def test_metrics_import_nothing_else_from_coursekit_and_evaluation_no_dataset():
    graph = import_graph(PACKAGE, "coursekit")
    assert graph["coursekit.data.metrics"] == set()
    assert graph["coursekit.data.evaluation"] == {"coursekit.data.metrics"}


# ----------------------------------------------------------------------------- metrics
def test_mean_pairwise_distance_by_hand():
    # Three samples of one 1-pixel input: 0, 0.5 and -1 -> pairs 0.5, 1.0, 1.5 -> mean 1.0.
    samples = torch.tensor([0.0, 0.5, -1.0]).view(3, 1, 1, 1, 1)
    assert mean_pairwise_distance(samples) == pytest.approx(1.0)
    assert mean_pairwise_distance(torch.ones(4, 2, 3, 2, 2)) == 0.0
    with pytest.raises(ValueError, match="S >= 2"):
        mean_pairwise_distance(torch.zeros(1, 2, 3, 4, 4))


def test_mode_histogram_and_total_variation_by_hand():
    p = mode_histogram(torch.tensor([0, 0, 1, 3]), 4)
    assert p.tolist() == [0.5, 0.25, 0.0, 0.25]
    # |0.5-0.25| + |0.25-0.25| + |0-0.25| + |0.25-0.25| = 0.5, halved.
    assert total_variation(p, torch.full((4,), 0.25)) == pytest.approx(0.25)
    assert total_variation(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])) == 1.0
    with pytest.raises(ValueError, match="0..3"):
        mode_histogram(torch.tensor([4]), 4)
    with pytest.raises(ValueError, match="summing to 1"):
        total_variation(torch.tensor([0.5, 0.4]), torch.tensor([0.5, 0.5]))


# ----------------------------------------------------------------------------- aggregation
class Plain(torch.utils.data.Dataset):
    """A dataset with no scorer (like a folder of real images)."""

    def __init__(self, n=5, size=8):
        g = torch.Generator().manual_seed(0)
        self.a = torch.rand(n, 3, size, size, generator=g) * 2 - 1
        self.b = torch.rand(n, 3, size, size, generator=g) * 2 - 1

    def __len__(self):
        return len(self.a)

    def __getitem__(self, i):
        return {"A": self.a[i], "B": self.b[i], "path": f"{i}.png"}


def test_data_without_a_scorer_gets_what_needs_no_ground_truth():
    ds = Plain()
    paired = evaluate_paired(lambda x: torch.zeros_like(x), ds, batch_size=2)
    assert paired == {"l1": pytest.approx(float(ds.b.abs().mean()))}
    unpaired = evaluate_unpaired(lambda x: x + 0.25, ds, lambda x: x, batch_size=3)
    # clamp(x + 0.25, -1, 1) - x: 0.25 except where x > 0.75.
    change = float(((ds.a + 0.25).clamp(-1, 1) - ds.a).abs().mean())
    assert unpaired == {"AtoB_mean_abs_change": pytest.approx(change),
                        "BtoA_mean_abs_change": 0.0}
    samples = evaluate_samples(lambda x: torch.rand_like(x) * 2 - 1, ds, n_samples=3)
    assert set(samples) == {"diversity"}
    # E|U - U'| on [-1, 1] is 2/3; over 3 pairs x 960 values its standard error is ~0.01, so
    # 0.05 (5 errors) fails only a sampler that is not independent uniform noise.
    assert samples["diversity"] == pytest.approx(2 / 3, abs=0.05)


def test_a_translation_that_changes_the_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="must keep the image shape"):
        evaluate_unpaired(lambda x: x[..., :4, :4], Plain())
    with pytest.raises(ValueError, match="n_samples must be >= 2"):
        evaluate_samples(lambda x: x, Plain(), n_samples=1)


def test_the_dataset_scores_all_items_in_one_call_with_its_own_fields():
    calls = []

    class Scored(Plain):
        def score(self, inputs, outputs, items, direction):
            calls.append((inputs.shape[0], direction, sorted(items)))
            return {"mean_output": float(outputs.mean())}

    ds = Scored(n=7)
    scores = evaluate_unpaired(lambda x: torch.full_like(x, 0.5), torch.utils.data.Subset(ds, range(6)),
                               lambda x: -torch.ones_like(x), batch_size=4)
    assert scores == {"AtoB_mean_output": 0.5, "BtoA_mean_output": -1.0}
    assert calls == [(6, "AtoB", ["A", "B"]), (6, "BtoA", ["A", "B"])]  # strings ("path") left out


# ----------------------------------------------------------------------------- known samplers
@pytest.fixture(scope="module")
def facades():
    return SyntheticFacades("test", size=32, length=8)


def test_evaluate_samples_on_samplers_whose_answers_are_known(facades):
    k = len(FACADE_STYLES)
    index = {facades[i]["A"].numpy().tobytes(): i for i in range(len(facades))}
    counter = itertools.count()

    def every_style(x):  # call j returns the true render of each input in style j mod k
        style = next(counter) % k
        return torch.stack([facades.render(index[a.numpy().tobytes()], style)["B"] for a in x])

    fixed = facades[0]["B"]
    true = evaluate_samples(every_style, facades, n_samples=k)
    same = evaluate_samples(lambda x: fixed.expand_as(x), facades, n_samples=k)
    noise = evaluate_samples(lambda x: torch.rand_like(x) * 2 - 1, facades, n_samples=k)

    # The true renders: every style for every input, in the data's (uniform) proportions,
    # and photos the segmenter reads as their label maps (real photos: ~0.9 at 32 px).
    assert true["modes_covered"] == k and true["modes_per_input"] == k
    assert true["mode_tv"] == pytest.approx(0.0, abs=1e-9)
    assert true["num_modes"] == k
    assert true["pixel_accuracy"] > 0.8
    assert true["diversity"] > 0.1
    # One image whatever the input: no diversity, one style, TV = 1 - 1/k from uniform.
    assert same["diversity"] == 0.0
    assert same["modes_covered"] == 1 and same["modes_per_input"] == 1
    assert same["mode_tv"] == pytest.approx(1 - 1 / k)
    assert same["pixel_accuracy"] < true["pixel_accuracy"] - 0.3
    # Noise: as diverse as it gets, and no facade at all.
    # E|U - U'| = 2/3; 6 pairs x 8 x 3 x 32 x 32 values: standard error ~0.002, so 0.02 is
    # 10 errors and still far from any structured output (the true renders: 0.45).
    assert noise["diversity"] == pytest.approx(2 / 3, abs=0.02)
    assert noise["pixel_accuracy"] < 0.3

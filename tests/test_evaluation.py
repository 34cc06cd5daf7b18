"""coursekit.data.evaluation and coursekit.data.metrics: generic aggregation, dataset-owned
scores, the multi-sample scores on samplers whose answers are known, and no import cycles."""
import ast
import itertools
from pathlib import Path

import pytest
import torch

import coursekit
from coursekit.data.evaluation import evaluate_paired, evaluate_samples, evaluate_unpaired
from coursekit.data.metrics import (mean_pairwise_distance, mode_histogram, nearest_distances,
                                    total_variation)
from coursekit.data.synthetic.facades import SyntheticFacades

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


def test_nearest_distances_by_hand():
    # One input, 1-pixel images. Targets -1 and 1; samples 0.9 and 0.7.
    # recall: -1 -> nearest 0.7 (1.7), 1 -> 0.9 (0.1): 0.9; precision: 0.1 and 0.3: 0.2.
    samples = torch.tensor([0.9, 0.7]).view(2, 1, 1, 1, 1)
    targets = torch.tensor([-1.0, 1.0]).view(1, 2, 1, 1, 1)
    recall, precision = nearest_distances(samples, targets)
    assert recall == pytest.approx(0.9) and precision == pytest.approx(0.2)
    with pytest.raises(ValueError, match="same N"):
        nearest_distances(samples, torch.zeros(2, 2, 1, 1, 1))


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


class Oracle:
    """Samplers that know which test item an input is (by its exact label image) and so can
    return any true render of it: every answer below is known in advance."""

    def __init__(self, ds):
        self.index = {ds[i]["A"].numpy().tobytes(): i for i in range(len(ds))}
        self.targets = torch.stack([ds.mode_targets(i) for i in range(len(ds))])  # (N, K, ...)
        self.k = self.targets.shape[1]

    def items(self, x):
        return torch.tensor([self.index[a.numpy().tobytes()] for a in x])

    def style(self, style):  # the true render of each input in one style
        return lambda x, *_: self.targets[self.items(x), style]

    def random_style(self, shift=0):  # item i + shift's true render, in a random style
        def sample(x):
            i = (self.items(x) + shift) % len(self.targets)
            return self.targets[i, torch.randint(self.k, (len(x),))]
        return sample

    def mean(self, x, *_):  # the pixel-wise mean of the input's true renders in every style
        return self.targets[self.items(x)].mean(1)


@pytest.fixture(scope="module")
def oracle(facades):
    return Oracle(facades)


def l1(a, b):
    return float((a - b).abs().mean())


def test_true_renders_in_every_style_cover_every_mode_exactly(facades, oracle):
    k = oracle.k
    counter = itertools.count()

    def every_style(x):  # call j returns the true render of each input in style j mod k
        return oracle.style(next(counter) % k)(x)

    true = evaluate_samples(every_style, facades, n_samples=k)
    # These 8 items' renders all pass faithful (its lowest pixel accuracy here is 0.78), so
    # every input shows every style in the data's (uniform) proportions, and every true render
    # is itself a sample: both distances are exactly 0.
    assert true["faithful_rate"] == 1.0
    assert true["modes_covered"] == k and true["modes_per_input"] == k
    assert true["mode_tv"] == pytest.approx(0.0, abs=1e-9)
    assert true["num_modes"] == k
    assert true["recall_distance"] == 0.0 and true["precision_distance"] == 0.0
    assert true["pixel_accuracy"] > 0.8  # real photos: ~0.9 at 32 px
    assert true["diversity"] > 0.1


def test_a_true_render_in_a_random_style(facades, oracle):
    scores = evaluate_samples(oracle.random_style(), facades, n_samples=8)
    assert scores["faithful_rate"] == 1.0  # see above: these renders all pass
    assert scores["modes_covered"] == oracle.k
    # 8 draws of 4 styles miss a given one with probability (3/4)^8 = 0.1: 3.6 styles per
    # input expected; 3 fails a sampler that repeats styles (2.0 would be a coin flip).
    assert scores["modes_per_input"] >= 3
    # 64 draws from 4 equal styles: TV's standard deviation is ~0.06; 0.2 is 3 of them.
    assert scores["mode_tv"] < 0.2
    assert scores["precision_distance"] == 0.0  # every sample is a true render
    # Only the styles an input missed add to recall: 10 % of (item, style) pairs at the
    # inter-style distance (~0.28) is 0.03; 0.1 fails a sampler that misses a third.
    assert 0.0 <= scores["recall_distance"] < 0.1


def test_one_fixed_style_covers_one_mode_and_has_a_poor_recall(facades, oracle):
    scores = evaluate_samples(oracle.style(0), facades, n_samples=4)
    t = oracle.targets
    assert scores["faithful_rate"] == 1.0
    assert scores["diversity"] == 0.0
    assert scores["modes_covered"] == 1 and scores["modes_per_input"] == 1
    assert scores["mode_tv"] == pytest.approx(1 - 1 / oracle.k)  # all on 1 of 4 equal modes
    assert scores["precision_distance"] == 0.0
    # Each true render's nearest sample is the style-0 render: by hand, over items and styles.
    by_hand = float((t - t[:, :1]).abs().mean())
    assert scores["recall_distance"] == pytest.approx(by_hand, rel=1e-5)  # float32 sums
    assert scores["recall_distance"] > 0.15  # styles differ by far more (test_synthetic_facades)


def test_the_mean_of_the_styles_is_no_photo_and_covers_no_mode(facades, oracle):
    scores = evaluate_samples(oracle.mean, facades, n_samples=2)
    t = oracle.targets
    assert scores["faithful_rate"] == 0.0
    assert scores["modes_covered"] == 0 and scores["modes_per_input"] == 0
    assert scores["mode_tv"] == 1.0  # every sample in the "no mode" bin
    mean = t.mean(1, keepdim=True)
    assert scores["recall_distance"] == pytest.approx(l1(t, mean), rel=1e-5)
    nearest = (t - mean).abs().flatten(2).mean(2).min(1).values.mean()
    assert scores["precision_distance"] == pytest.approx(float(nearest), rel=1e-5)


def test_noise_and_the_input_itself_are_never_faithful(facades, oracle):
    noise = evaluate_samples(lambda x: torch.rand_like(x) * 2 - 1, facades, n_samples=4)
    copy = evaluate_samples(lambda x: x, facades, n_samples=2)
    for scores in (noise, copy):
        assert scores["faithful_rate"] == 0.0 and scores["modes_covered"] == 0
        assert scores["mode_tv"] == 1.0
        # Both are further from every true render than the renders are from each other.
        assert min(scores["recall_distance"], scores["precision_distance"]) > 0.3
    # E|U - U'| = 2/3; 6 pairs x 8 x 3 x 32 x 32 values: standard error ~0.002, so 0.02 is
    # 10 errors and still far from any structured output (the true renders: ~0.3).
    assert noise["diversity"] == pytest.approx(2 / 3, abs=0.02)
    assert noise["pixel_accuracy"] < 0.3
    assert copy["diversity"] == 0.0


def test_the_right_styles_of_the_wrong_building_count_no_mode(facades, oracle):
    wrong = oracle.random_style(shift=1)  # item i + 1's true render for input i
    scores = evaluate_samples(wrong, facades, n_samples=8)
    # The style classifier alone sees every style (so the old count would say "all covered") ...
    torch.manual_seed(0)
    inputs = torch.stack([facades[i]["A"] for i in range(len(facades))])
    shown = facades.mode_of(torch.cat([wrong(inputs) for _ in range(2)]))
    assert len(shown.unique()) == oracle.k
    # ... but none of these photos is its input's building.
    assert scores["faithful_rate"] == 0.0
    assert scores["modes_covered"] == 0 and scores["mode_tv"] == 1.0
    assert scores["precision_distance"] > 0.2  # another building is far from every true render


def test_encode_decode_of_known_reconstructions(facades, oracle):
    def run(reconstruct):
        return evaluate_samples(oracle.style(0), facades, n_samples=2, reconstruct=reconstruct)

    exact = run(lambda x, y: y)
    assert exact["encode_decode_accuracy"] == 1.0 and exact["encode_decode_l1"] == 0.0
    # Style 0 whatever the code: right for k = 0 only, so 1 of 4; its L1 is that of the
    # fixed-style sampler's recall (the same pairs).
    ignored = run(oracle.style(0))
    assert ignored["encode_decode_accuracy"] == pytest.approx(1 / oracle.k)
    assert ignored["encode_decode_l1"] == pytest.approx(ignored["recall_distance"], rel=1e-5)
    blend = run(oracle.mean)
    assert blend["encode_decode_accuracy"] == 0.0
    assert blend["encode_decode_l1"] > 0.1  # the blend is ~0.2 from every render
    assert "encode_decode_accuracy" not in run(None)


def test_encode_decode_through_a_subset_finds_the_right_items(facades, oracle):
    subset = torch.utils.data.Subset(facades, [5, 2, 7])
    scores = evaluate_samples(oracle.style(1), subset, n_samples=2, batch_size=2,
                              reconstruct=lambda x, y: y)
    # Had the subset's items been taken as items 0, 1, 2 of the dataset, the true renders
    # would be other buildings': distances > 0.2 and accuracy 0.
    assert scores["precision_distance"] == 0.0 and scores["encode_decode_l1"] == 0.0
    assert scores["encode_decode_accuracy"] == 1.0


def test_reconstruct_without_true_renders_is_a_clear_error(facades):
    with pytest.raises(ValueError, match="mode_targets"):
        evaluate_samples(lambda x: x, Plain(), n_samples=2, reconstruct=lambda x, y: y)
    with pytest.raises(ValueError, match="direction 'AtoB'"):
        evaluate_samples(lambda x: x, facades, n_samples=2, direction="BtoA",
                         reconstruct=lambda x, y: y)


def test_photo_to_labels_samples_get_no_photo_style_scores(facades):
    """The facades' modes are photo styles (side B): label maps drawn from photos have none."""
    scores = evaluate_samples(lambda y: torch.zeros_like(y), facades, n_samples=2,
                              direction="BtoA")
    assert "diversity" in scores and "pixel_accuracy" in scores
    assert not {"modes_covered", "modes_per_input", "mode_tv", "num_modes",
                "recall_distance"} & set(scores)


class Styled(Plain):
    """Modes without a per-image test or true renders (as synthetic-landscapes): each image's
    mode is the sign of its mean."""

    modes = ("dark", "light")

    def mode_of(self, images):
        return (images.flatten(1).mean(1) > 0).long()

    def mode_frequencies(self):
        return torch.tensor([0.5, 0.5], dtype=torch.float64)


def test_a_synthetic_dataset_has_no_per_image_test_or_true_renders_unless_it_says_so():
    from coursekit.data.synthetic.base import SyntheticDataset

    ds = SyntheticDataset("test", size=32, length=1)
    assert ds.faithful(None, torch.zeros(1, 3, 32, 32), {}, "AtoB") is None
    assert ds.mode_targets(0) is None


def test_data_with_modes_but_no_new_hooks_keeps_its_keys_and_counts():
    scores = evaluate_samples(lambda x: torch.full_like(x, -0.5), Styled(), n_samples=2)
    assert scores == {"diversity": 0.0, "modes_covered": 1.0, "modes_per_input": 1.0,
                      "mode_tv": 0.5, "num_modes": 2.0}


def test_hooks_that_break_their_contract_are_clear_errors():
    class OneVerdict(Styled):
        def faithful(self, inputs, outputs, items, direction):
            return torch.tensor([True])

    class ThreeTargets(Styled):
        def mode_targets(self, index):
            return torch.zeros(3, 3, 8, 8)

    with pytest.raises(ValueError, match="one bool per output"):
        evaluate_samples(lambda x: x, OneVerdict(), n_samples=2)
    with pytest.raises(ValueError, match="one per mode"):
        evaluate_samples(lambda x: x, ThreeTargets(), n_samples=2)


def test_faithfulness_filters_the_mode_counts_by_hand():
    class Judged(Styled):  # only light outputs are faithful
        def faithful(self, inputs, outputs, items, direction):
            return outputs.flatten(1).mean(1) > 0

    draws = iter([-0.5, 0.5, -0.5, -0.5])  # per call: one value for the whole batch

    scores = evaluate_samples(lambda x: torch.full_like(x, next(draws)), Judged(n=2),
                              n_samples=4, batch_size=2)
    # 8 samples, 2 of them light (faithful): modes {light} for both inputs; frequencies
    # (dark 0, light 2/8, none 6/8) against (1/2, 1/2, 0): TV = (1/2 + 1/4 + 3/4) / 2.
    assert scores["faithful_rate"] == 0.25
    assert scores["modes_covered"] == 1 and scores["modes_per_input"] == 1
    assert scores["mode_tv"] == pytest.approx(0.75)

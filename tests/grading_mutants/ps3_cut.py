"""Realistic mistakes in problem set 3 (CUT / PatchNCE), and correct solutions written differently.

Used by tests/test_grading_ps3.py; what a mutant is, and how the submissions carry them:
tests/grading_mutants/common.py.
"""
from __future__ import annotations

from grading_mutants.common import Mutant
from grading_mutants.common import mutant as _m

ASSIGNMENT = "ps3_cut"

#: The graded cells of each part (grade_id of the solution cell -> its test cells).
PARTS: dict[str, tuple[str, ...]] = {
    "patch_nce_loss": ("test_nce_hand", "test_nce_reference", "test_nce_key_detached",
                       "hidden_nce_reference", "hidden_nce_negatives"),
    "sample_patches": ("test_sampler_locations", "test_sampler_few_locations", "hidden_sampler",
                       "hidden_sampler_random"),
    "ProjectionHead": ("test_head_structure", "test_head_reference", "hidden_head_reference",
                       "hidden_head_structure"),
    "multilayer_patch_nce": ("test_multilayer_reference", "test_multilayer_input_side",
                             "hidden_multilayer", "hidden_nce_training_run"),
}


_NCE_BODY = """    key = key.detach()  # the input side is a fixed target
    batch, patches, _ = query.shape
    positives = (query * key).sum(dim=2, keepdim=True)                  # (B, S, 1): v . v+
    similarities = torch.bmm(query, key.transpose(1, 2))                # (B, S, S), per image
    same_place = torch.eye(patches, dtype=torch.bool, device=query.device)
    negatives = similarities.masked_fill(same_place, float("-inf"))    # v . v- (not v+ again)
    logits = torch.cat([positives, negatives], dim=2) / temperature     # (B, S, 1 + S)
    target = torch.zeros(batch * patches, dtype=torch.long, device=query.device)
    return F.cross_entropy(logits.reshape(batch * patches, patches + 1), target)"""

_NCE_RETURN = "    return F.cross_entropy(logits.reshape(batch * patches, patches + 1), target)"

_SAMPLER_IDS = "        ids = torch.randperm(locations, device=query.device)[:num_patches]\n"

_SAMPLER_GATHER = """        query_vectors.append(query.flatten(2).transpose(1, 2)[:, ids])
        key_vectors.append(key.flatten(2).transpose(1, 2)[:, ids])"""

_HEAD_BODY = """        self.mlp = nn.Sequential(nn.Linear(in_channels, units), nn.ReLU(), nn.Linear(units, units))

    def forward(self, x):
        return F.normalize(self.mlp(x), dim=-1)"""

_MULTILAYER_BODY = """    query_features = G(output, encode_layers=layers)
    with torch.no_grad():  # the input side is a fixed target
        key_features = G(source, encode_layers=layers)
    query_patches, key_patches = sample_patches(query_features, key_features, num_patches)
    with torch.no_grad():
        key_vectors = [head(k) for head, k in zip(heads, key_patches)]
    query_vectors = [head(q) for head, q in zip(heads, query_patches)]"""

MUTANTS: tuple[Mutant, ...] = (
    # ---- part 1: patch_nce_loss
    _m("nce_key_not_detached", "patch_nce_loss", "the key is not detached: gradients flow into "
       "the input side", "    key = key.detach()  # the input side is a fixed target\n", "",
       {"test_nce_key_detached", "hidden_nce_negatives"}),
    _m("nce_no_temperature", "patch_nce_loss", "the temperature is left out (tau = 1 always)",
       "logits = torch.cat([positives, negatives], dim=2) / temperature",
       "logits = torch.cat([positives, negatives], dim=2)",
       {"test_nce_hand", "test_nce_reference", "hidden_nce_reference"}),
    _m("nce_positive_among_negatives", "patch_nce_loss", "the diagonal is not masked: the "
       "positive is counted again among the negatives",
       'negatives = similarities.masked_fill(same_place, float("-inf"))',
       "negatives = similarities",
       {"test_nce_hand", "test_nce_reference", "hidden_nce_reference"}),
    _m("nce_batch_negatives", "patch_nce_loss", "negatives from the whole batch: the patches of "
       "all images flattened into one (B*S, C) matrix",
       _NCE_BODY, """    key = key.detach()
    batch, patches, channels = query.shape
    q = query.reshape(batch * patches, channels)
    k = key.reshape(batch * patches, channels)
    logits = q @ k.t() / temperature  # every query against every key of the batch
    target = torch.arange(batch * patches, device=query.device)
    return F.cross_entropy(logits, target)""",
       {"test_nce_reference", "hidden_nce_reference", "hidden_nce_negatives"}),
    _m("nce_softmax_over_queries", "patch_nce_loss", "the softmax over the wrong axis: over the "
       "queries (dim 1) instead of the candidate keys",
       _NCE_RETURN, "    return -F.log_softmax(logits, dim=1)[:, :, 0].mean()",
       {"test_nce_hand", "test_nce_reference", "hidden_nce_reference"}),
    _m("nce_sum_not_mean", "patch_nce_loss", "summed over the patches instead of averaged",
       _NCE_RETURN,
       '    return F.cross_entropy(logits.reshape(batch * patches, patches + 1), target, '
       'reduction="sum")',
       {"test_nce_hand", "test_nce_reference", "hidden_nce_reference", "hidden_nce_negatives"}),
    # ---- part 2: sample_patches
    _m("sampler_different_locations", "sample_patches", "different random locations for the "
       "query and the key map", "        key_vectors.append(key.flatten(2).transpose(1, 2)[:, ids])",
       "        other = torch.randperm(locations, device=key.device)[:num_patches]\n"
       "        key_vectors.append(key.flatten(2).transpose(1, 2)[:, other])",
       {"test_sampler_locations", "test_sampler_few_locations", "hidden_sampler"}),
    _m("sampler_with_replacement", "sample_patches", "locations drawn with replacement "
       "(torch.randint), so some repeat",
       _SAMPLER_IDS,
       "        ids = torch.randint(locations, (num_patches,), device=query.device)\n",
       {"test_sampler_locations", "test_sampler_few_locations", "hidden_sampler"}),
    _m("sampler_reshape_without_transpose", "sample_patches", "reshape(B, -1, C) without "
       "moving the channels last: each vector mixes values of several locations",
       _SAMPLER_GATHER,
       "        query_vectors.append(query.reshape(query.shape[0], -1, query.shape[1])[:, ids])\n"
       "        key_vectors.append(key.reshape(key.shape[0], -1, key.shape[1])[:, ids])",
       {"test_sampler_locations", "test_sampler_few_locations", "hidden_sampler",
        "hidden_sampler_random"}),
    _m("sampler_first_locations", "sample_patches", "always the first num_patches locations, "
       "not random ones", _SAMPLER_IDS,
       "        ids = torch.arange(locations, device=query.device)[:num_patches]\n",
       {"hidden_sampler_random"}),
    _m("sampler_more_than_there_are", "sample_patches", "forgets that a map can have fewer "
       "locations than num_patches (multinomial without replacement fails there)",
       _SAMPLER_IDS,
       "        ids = torch.multinomial(torch.ones(locations), num_patches).to(query.device)\n",
       {"test_sampler_few_locations", "hidden_sampler"}),
    _m("sampler_python_random", "sample_patches", "Python's random module instead of torch's "
       "generator (torch.manual_seed does not repeat the draws)", _SAMPLER_IDS,
       "        ids = torch.tensor(random.sample(range(locations), min(num_patches, locations)),\n"
       "                           device=query.device)\n",
       {"hidden_sampler_random"}, prefix="import random\n\n"),
    _m("sampler_per_image", "sample_patches", "new random locations for every image of the batch",
       _SAMPLER_IDS + _SAMPLER_GATHER,
       "        rows = torch.arange(query.shape[0], device=query.device)[:, None]\n"
       "        ids = torch.stack([torch.randperm(locations, device=query.device)[:num_patches]\n"
       "                           for _ in range(query.shape[0])])\n"
       "        query_vectors.append(query.flatten(2).transpose(1, 2)[rows, ids])\n"
       "        key_vectors.append(key.flatten(2).transpose(1, 2)[rows, ids])",
       {"test_sampler_locations", "hidden_sampler"}),
    _m("sampler_detached", "sample_patches", "the sampled vectors detached (PatchNCE can no "
       "longer train the generator)", _SAMPLER_GATHER,
       "        query_vectors.append(query.detach().flatten(2).transpose(1, 2)[:, ids])\n"
       "        key_vectors.append(key.detach().flatten(2).transpose(1, 2)[:, ids])",
       {"hidden_sampler"}),
    # ---- part 3: ProjectionHead
    _m("head_no_relu", "ProjectionHead", "the ReLU between the two layers is missing",
       "nn.Sequential(nn.Linear(in_channels, units), nn.ReLU(), nn.Linear(units, units))",
       "nn.Sequential(nn.Linear(in_channels, units), nn.Linear(units, units))",
       {"test_head_reference", "hidden_head_reference"}),
    _m("head_one_layer", "ProjectionHead", "one layer instead of two",
       "nn.Sequential(nn.Linear(in_channels, units), nn.ReLU(), nn.Linear(units, units))",
       "nn.Sequential(nn.Linear(in_channels, units), nn.ReLU())",
       {"test_head_structure", "test_head_reference", "hidden_head_reference",
        "hidden_head_structure"}),
    _m("head_not_normalised", "ProjectionHead", "the output is not L2-normalised",
       "return F.normalize(self.mlp(x), dim=-1)", "return self.mlp(x)",
       {"test_head_reference", "hidden_head_reference"}),
    _m("head_normalised_over_dim_1", "ProjectionHead", "F.normalize with its default dim=1, "
       "the last dimension only for 2-d inputs",
       "return F.normalize(self.mlp(x), dim=-1)", "return F.normalize(self.mlp(x))",
       {"hidden_head_reference"}),
    _m("head_built_lazily", "ProjectionHead", "the layers built in the first forward pass, as "
       "in the authors' code (an optimizer made before it misses them)",
       _HEAD_BODY, """        self.in_channels, self.units = in_channels, units
        self.mlp = None

    def forward(self, x):
        if self.mlp is None:
            self.mlp = nn.Sequential(nn.Linear(self.in_channels, self.units), nn.ReLU(),
                                     nn.Linear(self.units, self.units)).to(x.device)
        return F.normalize(self.mlp(x), dim=-1)""",
       {"test_head_structure", "test_head_reference", "hidden_head_reference",
        "hidden_head_structure"}),
    # ---- part 4: multilayer_patch_nce
    _m("multilayer_sum_over_layers", "multilayer_patch_nce", "the layers summed (as Eq. 3.7 is "
       "written) instead of averaged (as the reference weighs them)",
       "    return sum(losses) / len(layers)", "    return sum(losses)",
       {"test_multilayer_reference", "test_multilayer_input_side", "hidden_multilayer"}),
    _m("multilayer_input_side_with_grad", "multilayer_patch_nce", "the input side computed with "
       "gradients: G and the heads also learn from the keys",
       _MULTILAYER_BODY, """    query_features = G(output, encode_layers=layers)
    key_features = G(source, encode_layers=layers)
    query_patches, key_patches = sample_patches(query_features, key_features, num_patches)
    key_vectors = [head(k) for head, k in zip(heads, key_patches)]
    query_vectors = [head(q) for head, q in zip(heads, query_patches)]""",
       {"test_multilayer_input_side", "hidden_multilayer"}),
    _m("multilayer_output_detached", "multilayer_patch_nce", "the output detached before the "
       "encoder: PatchNCE no longer trains the decoder (the thesis's 'w/o updating G_dec' "
       "ablation, FID 444)",
       "    query_features = G(output, encode_layers=layers)\n",
       "    query_features = G(output.detach(), encode_layers=layers)\n",
       {"test_multilayer_reference", "test_multilayer_input_side", "hidden_multilayer"}),
    _m("multilayer_query_key_swapped", "multilayer_patch_nce", "query and key swapped in the "
       "loss: the input patches become the queries",
       "    losses = [nce_loss(q, k) for q, k in zip(query_vectors, key_vectors)]",
       "    losses = [nce_loss(k, q) for q, k in zip(query_vectors, key_vectors)]",
       {"test_multilayer_reference", "test_multilayer_input_side", "hidden_multilayer",
        "hidden_nce_training_run"}),
    _m("multilayer_sampled_separately", "multilayer_patch_nce", "each side sampled in a call "
       "of its own, so query and key patches lie at different places",
       "    query_patches, key_patches = sample_patches(query_features, key_features, num_patches)",
       "    query_patches, _ = sample_patches(query_features, query_features, num_patches)\n"
       "    _, key_patches = sample_patches(key_features, key_features, num_patches)",
       {"test_multilayer_reference", "test_multilayer_input_side", "hidden_multilayer"}),
    _m("multilayer_one_head", "multilayer_patch_nce", "the first head for every layer",
       "    query_vectors = [head(q) for head, q in zip(heads, query_patches)]",
       "    query_vectors = [heads[0](q) for q in query_patches]",
       {"test_multilayer_reference", "test_multilayer_input_side", "hidden_multilayer",
        "hidden_nce_training_run"}),
    _m("multilayer_own_nce", "multilayer_patch_nce", "the notebook's own patch_nce_loss called "
       "instead of the argument nce_loss",
       "    losses = [nce_loss(q, k) for q, k in zip(query_vectors, key_vectors)]",
       "    losses = [patch_nce_loss(q, k) for q, k in zip(query_vectors, key_vectors)]",
       {"hidden_multilayer"}, calls={"patch_nce_loss"}),
)


# ---- special submissions ----------------------------------------------------------------
#: Every part delegates to coursekit's own implementation, each through a name taken at the
#: top of the cell, before any check runs: each part must earn nothing.
USES_REFERENCE: dict[str, str] = {
    "patch_nce_loss": '''
from coursekit.models.patchnce import patch_nce_loss as ref

def patch_nce_loss(query, key, temperature=0.07):
    return ref(query, key, temperature)
''',
    # Its own random locations; only the gathering is coursekit's (a static method).
    "sample_patches": '''
from coursekit.models.patchnce import PatchSampler
gather = PatchSampler.gather

def sample_patches(query_features, key_features, num_patches):
    queries, keys = [], []
    for q, k in zip(query_features, key_features):
        ids = torch.randperm(q.shape[2] * q.shape[3])[:num_patches]
        queries.append(gather(q, ids))
        keys.append(gather(k, ids))
    return queries, keys
''',
    "ProjectionHead": '''
from coursekit.models import patchnce

class ProjectionHead(patchnce.ProjectionHead):
    pass
''',
    "multilayer_patch_nce": '''
from types import SimpleNamespace
from coursekit.models.cut import CUT
from coursekit.models.patchnce import PatchProjector
reference_nce = CUT.nce_loss

def multilayer_patch_nce(G, heads, source, output, layers, sample_patches, nce_loss,
                         num_patches=256):
    projector = PatchProjector(G.feature_channels(layers), units=heads[0][0].out_features)
    projector.heads = heads
    sampler = SimpleNamespace(draw=lambda features: [
        torch.randperm(f.shape[2] * f.shape[3])[:num_patches] for f in features])
    model = SimpleNamespace(G=G, H=projector, sampler=sampler,
                            config=SimpleNamespace(nce_layers=tuple(layers), nce_temperature=0.07))
    return reference_nce(model, source, output)
''',
}

#: One broken part per kind of failure; the other parts are the correct solution.
BROKEN: dict[str, str] = {
    # An exception inside the forward pass.
    "ProjectionHead": '''
class ProjectionHead(nn.Module):
    def __init__(self, in_channels, units=256):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_channels, units), nn.ReLU(), nn.Linear(units, units))

    def forward(self, x):
        return F.normalize(self.layers(x), dim=-1)  # AttributeError: the attribute is called mlp
''',
    # An endless loop: `ids.append` without its call, so the list never grows.
    "sample_patches": '''
def sample_patches(query_features, key_features, num_patches):
    query_vectors, key_vectors = [], []
    for query, key in zip(query_features, key_features):
        locations = query.shape[2] * query.shape[3]
        ids = []
        while len(ids) < min(num_patches, locations):
            candidate = int(torch.randint(locations, ()))
            if candidate not in ids:
                ids.append
        ids = torch.tensor(ids)
        query_vectors.append(query.flatten(2).transpose(1, 2)[:, ids])
        key_vectors.append(key.flatten(2).transpose(1, 2)[:, ids])
    return query_vectors, key_vectors
''',
}
#: A flood of output: the correct loss, printing 2000 lines on every call. Printing is not a
#: mistake: it must cost neither this part nor any other.
FLOOD = Mutant("nce_flood", "patch_nce_loss", "prints 2000 lines per call",
               "    key = key.detach()  # the input side is a fixed target\n",
               '    for i in range(2000):\n        print("debug", i)\n'
               "    key = key.detach()  # the input side is a fixed target\n",
               frozenset())


# ---- correct solutions written differently: each must get full marks ----------------------
EQUIVALENT: dict[str, dict[str, str]] = {
    "equivalent1": {
        # The positive on the diagonal as the target class, logsumexp instead of cross-entropy.
        "patch_nce_loss": '''
def patch_nce_loss(query, key, temperature=0.07):
    logits = torch.einsum("bsc,btc->bst", query, key.detach()) / temperature
    positive = torch.diagonal(logits, dim1=1, dim2=2)
    return (torch.logsumexp(logits, dim=2) - positive).mean()
''',
        # Locations by sorting random numbers, indexed as (row, column).
        "sample_patches": '''
def sample_patches(query_features, key_features, num_patches):
    out_q, out_k = [], []
    for fq, fk in zip(query_features, key_features):
        h, w = fq.shape[-2:]
        n = min(num_patches, h * w)
        ids = torch.rand(h * w).argsort()[:n]
        rows, cols = ids // w, ids % w
        out_q.append(fq[:, :, rows, cols].permute(0, 2, 1))
        out_k.append(fk[:, :, rows, cols].permute(0, 2, 1))
    return out_q, out_k
''',
        # Two named layers, the second one registered first; the norm divided out by hand.
        "ProjectionHead": '''
class ProjectionHead(nn.Module):
    def __init__(self, in_channels, units=256):
        super().__init__()
        self.fc2 = nn.Linear(units, units)
        self.fc1 = nn.Linear(in_channels, units)

    def forward(self, x):
        u = self.fc2(torch.relu(self.fc1(x)))
        return u / u.norm(dim=-1, keepdim=True).clamp_min(1e-12)
''',
        # One sampler call per layer, the input side detached instead of no_grad.
        "multilayer_patch_nce": '''
def multilayer_patch_nce(G, heads, source, output, layers, sample_patches, nce_loss,
                         num_patches=256):
    feats_out = G(output, encode_layers=layers)
    feats_in = [f.detach() for f in G(source, encode_layers=layers)]
    total = 0.0
    for head, fo, fi in zip(heads, feats_out, feats_in):
        (q,), (k,) = sample_patches([fo], [fi], num_patches)
        total = total + nce_loss(head(q), head(k).detach())
    return total / len(heads)
''',
    },
    "equivalent2": {
        # The authors' variant: the diagonal masked with -10 before dividing by tau (not -inf);
        # one row per query patch.
        "patch_nce_loss": '''
def patch_nce_loss(query, key, temperature=0.07):
    B, S, C = query.shape
    key = key.detach()
    l_pos = torch.bmm(query.reshape(B * S, 1, C), key.reshape(B * S, C, 1)).reshape(B * S, 1)
    l_neg = torch.bmm(query, key.transpose(2, 1))
    l_neg = l_neg.masked_fill(torch.eye(S, dtype=torch.bool)[None], -10.0).reshape(B * S, S)
    out = torch.cat((l_pos, l_neg), dim=1) / temperature
    return nn.CrossEntropyLoss()(out, torch.zeros(B * S, dtype=torch.long))
''',
        # multinomial without replacement, clamped, gathered with torch.gather.
        "sample_patches": '''
def sample_patches(query_features, key_features, num_patches):
    queries, keys = [], []
    for q, k in zip(query_features, key_features):
        B, C, H, W = q.shape
        n = min(num_patches, H * W)
        ids = torch.multinomial(torch.ones(H * W), n, replacement=False)
        index = ids.view(1, 1, n).expand(B, C, n)
        queries.append(torch.gather(q.reshape(B, C, H * W), 2, index).transpose(1, 2))
        keys.append(torch.gather(k.reshape(B, C, H * W), 2, index).transpose(1, 2))
    return queries, keys
''',
        # A ModuleList and functional ReLU; rsqrt of the squared length.
        "ProjectionHead": '''
class ProjectionHead(nn.Module):
    def __init__(self, in_channels, units=256):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(in_channels, units), nn.Linear(units, units)])

    def forward(self, x):
        h = F.relu(self.layers[0](x))
        h = self.layers[1](h)
        return h * torch.rsqrt((h * h).sum(dim=-1, keepdim=True))
''',
        # Gradients switched off with set_grad_enabled; the layers' mean with stack().mean().
        "multilayer_patch_nce": '''
def multilayer_patch_nce(G, heads, source, output, layers, sample_patches, nce_loss,
                         num_patches=256):
    with torch.set_grad_enabled(False):
        keys = G(source, encode_layers=layers)
    queries = G(output, encode_layers=layers)
    q_patches, k_patches = sample_patches(queries, keys, num_patches)
    losses = []
    for l, head in enumerate(heads):
        with torch.set_grad_enabled(False):
            k = head(k_patches[l])
        losses.append(nce_loss(head(q_patches[l]), k))
    return torch.stack(losses).mean()
''',
    },
    # The input side's features computed in other ways (the check's fixtures are chosen so that
    # the generator's gradients do not depend on such reorderings beyond float32 rounding).
    "equivalent3": {
        # One encoder call per layer, on each side.
        "multilayer_patch_nce": '''
def multilayer_patch_nce(G, heads, source, output, layers, sample_patches, nce_loss,
                         num_patches=256):
    query_features = [G(output, encode_layers=(layer,))[0] for layer in layers]
    with torch.no_grad():
        key_features = [G(source, encode_layers=(layer,))[0] for layer in layers]
    query_patches, key_patches = sample_patches(query_features, key_features, num_patches)
    total = 0
    for head, q, k in zip(heads, query_patches, key_patches):
        with torch.no_grad():
            key_vectors = head(k)
        total = total + nce_loss(head(q), key_vectors)
    return total / len(layers)
''',
    },
    "equivalent4": {
        # Both sides encoded in one batched pass, the input side detached afterwards (the
        # authors' code detaches the keys instead of computing them under no_grad).
        "multilayer_patch_nce": '''
def multilayer_patch_nce(G, heads, source, output, layers, sample_patches, nce_loss,
                         num_patches=256):
    n = output.shape[0]
    features = G(torch.cat([output, source]), encode_layers=layers)
    query_patches, key_patches = sample_patches([f[:n] for f in features],
                                                [f[n:].detach() for f in features], num_patches)
    losses = []
    for head, q, k in zip(heads, query_patches, key_patches):
        losses.append(nce_loss(head(q), head(k).detach()))
    return torch.stack(losses).mean()
''',
    },
}

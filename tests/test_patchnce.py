"""PatchNCE (CUT Eq. 3.6/3.7): hand-computed values, invariances, gradients, negatives, heads."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from coursekit.models.patchnce import (PatchProjector, PatchSampler, ProjectionHead,
                                       patch_nce_loss)

# float32 arithmetic on O(1) logits: agreement to ~1e-6; 1e-5 leaves room and still catches any
# wrong term (the smallest deviation a wrong formula gives below is > 0.05).
TOL = 1e-5


def unit(*v):
    t = torch.tensor(v, dtype=torch.float32)
    return t / t.norm()


def test_hand_computed_two_patches():
    # One image, S = 2 patches, 2-d unit vectors, tau = 1.
    #   queries q1 = (1, 0), q2 = (0, 1); keys k1 = (cos 60, sin 60) = (1/2, sqrt(3)/2), k2 = (1, 0).
    # Query 1: positive q1.k1 = 1/2, negative q1.k2 = 1
    #   l1 = -log(e^{1/2} / (e^{1/2} + e^1)) = log(1 + e^{1 - 1/2}) = log(1 + e^{0.5})
    # Query 2: positive q2.k2 = 0, negative q2.k1 = sqrt(3)/2
    #   l2 = -log(e^0 / (e^0 + e^{sqrt(3)/2})) = log(1 + e^{sqrt(3)/2})
    l1 = math.log(1 + math.exp(0.5))           # 0.9741
    l2 = math.log(1 + math.exp(math.sqrt(3) / 2))  # 1.2126
    q = torch.stack([unit(1, 0), unit(0, 1)])[None]
    k = torch.stack([unit(0.5, math.sqrt(3) / 2), unit(1, 0)])[None]
    per_patch = patch_nce_loss(q, k, temperature=1.0, reduction="none")
    assert per_patch.shape == (1, 2)
    assert per_patch[0, 0].item() == pytest.approx(l1, abs=TOL)
    assert per_patch[0, 1].item() == pytest.approx(l2, abs=TOL)
    assert patch_nce_loss(q, k, temperature=1.0).item() == pytest.approx((l1 + l2) / 2, abs=TOL)


def test_temperature_divides_the_similarities():
    # Same vectors, tau = 0.5: every similarity doubles, so l1 = log(1 + e^{2 (1 - 1/2)}) = log(1 + e).
    q = torch.stack([unit(1, 0), unit(0, 1)])[None]
    k = torch.stack([unit(0.5, math.sqrt(3) / 2), unit(1, 0)])[None]
    per_patch = patch_nce_loss(q, k, temperature=0.5, reduction="none")
    assert per_patch[0, 0].item() == pytest.approx(math.log(1 + math.e), abs=TOL)


def test_permuting_patches_consistently_leaves_the_loss_unchanged():
    torch.manual_seed(0)
    q = F.normalize(torch.randn(2, 16, 8), dim=-1)
    k = F.normalize(torch.randn(2, 16, 8), dim=-1)
    perm = torch.randperm(16)
    before = patch_nce_loss(q, k, reduction="none")
    after = patch_nce_loss(q[:, perm], k[:, perm], reduction="none")
    torch.testing.assert_close(after, before[:, perm])
    # Permuting only the keys breaks the correspondence, so the loss must change.
    assert not torch.allclose(patch_nce_loss(q, k[:, perm]), patch_nce_loss(q, k))


def test_perfect_alignment_beats_chance():
    # S one-hot patches (orthogonal negatives), query = key: each row's logits are 1/tau on the
    # diagonal and 0 elsewhere, so l = log(1 + (S - 1) e^{-1/tau}), far below log(S), the loss of
    # an encoder that cannot tell patches apart (all similarities equal).
    S, tau = 8, 0.07
    eye = torch.eye(S)[None]
    loss = patch_nce_loss(eye, eye, temperature=tau).item()
    assert loss == pytest.approx(math.log(1 + (S - 1) * math.exp(-1 / tau)), abs=TOL)
    assert loss < math.log(S)
    same = unit(1, 1, 0, 0, 0, 0, 0, 0).expand(1, S, S)  # every patch identical
    assert patch_nce_loss(same, same, temperature=tau).item() == pytest.approx(math.log(S), abs=TOL)


def test_key_side_receives_no_gradient():
    torch.manual_seed(1)
    q = F.normalize(torch.randn(1, 6, 4), dim=-1).requires_grad_()
    k = F.normalize(torch.randn(1, 6, 4), dim=-1).requires_grad_()
    patch_nce_loss(q, k).backward()
    assert q.grad is not None and q.grad.abs().sum() > 0
    assert k.grad is None


def test_negatives_come_only_from_the_same_image():
    torch.manual_seed(2)
    q = F.normalize(torch.randn(2, 10, 8), dim=-1)
    k = F.normalize(torch.randn(2, 10, 8), dim=-1)
    q2, k2 = q.clone(), k.clone()
    q2[1] = F.normalize(torch.randn(10, 8), dim=-1)  # change image 2 entirely
    k2[1] = F.normalize(torch.randn(10, 8), dim=-1)
    a = patch_nce_loss(q, k, reduction="none")
    b = patch_nce_loss(q2, k2, reduction="none")
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)  # image 1 untouched, bit for bit
    assert not torch.allclose(a[1], b[1])
    # Each image alone gives the same per-patch losses as in the batch.
    torch.testing.assert_close(patch_nce_loss(q[:1], k[:1], reduction="none")[0], a[0])


def test_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match="batch, patches, channels"):
        patch_nce_loss(torch.zeros(4, 8), torch.zeros(4, 8))
    with pytest.raises(ValueError, match="at least 2 patches"):
        patch_nce_loss(torch.zeros(1, 1, 8), torch.zeros(1, 1, 8))


def test_sampler_shares_locations_and_draws_from_the_global_generator():
    sampler = PatchSampler(num_patches=5)
    small = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    big = torch.randn(2, 4, 6, 6)
    torch.manual_seed(3)
    ids = sampler.draw([small, big])
    torch.manual_seed(3)
    again = sampler.draw([small, big])
    assert [i.tolist() for i in ids] == [i.tolist() for i in again]
    assert sorted(ids[0].tolist()) == [0, 1, 2, 3]  # a 2x2 map has only 4 locations: all of them
    assert len(ids[1]) == 5 and len(set(ids[1].tolist())) == 5  # distinct locations
    # gather: location 3 of a 2x2 map is (row 1, col 1).
    picked = PatchSampler.gather(small, torch.tensor([3]))
    assert picked.shape == (2, 1, 3)
    torch.testing.assert_close(picked[:, 0], small[:, :, 1, 1])


def test_projection_head_is_a_two_layer_mlp_with_unit_outputs():
    head = ProjectionHead(12, units=256)
    linears = [m for m in head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(12, 256), (256, 256)]
    out = head(torch.randn(3, 7, 12))
    assert out.shape == (3, 7, 256)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(3, 7))


def test_heads_exist_at_construction():
    projector = PatchProjector([3, 32, 64, 64, 64])
    # 2-layer MLPs: C*256 + 256 + 256*256 + 256 parameters each, counted before any forward.
    expected = sum(c * 256 + 256 + 256 * 256 + 256 for c in (3, 32, 64, 64, 64))
    assert sum(p.numel() for p in projector.parameters()) == expected
    assert not any(isinstance(p, torch.nn.parameter.UninitializedParameter)
                   for p in projector.parameters())
    features = [torch.randn(2, c, 8, 8) for c in (3, 32, 64, 64, 64)]
    ids = PatchSampler(16).draw(features)
    out = projector(features, ids)
    assert [tuple(o.shape) for o in out] == [(2, 16, 256)] * 5
    assert sum(p.numel() for p in projector.parameters()) == expected  # nothing added


def test_projector_rejects_features_of_the_wrong_width():
    projector = PatchProjector([3, 16])
    features = [torch.randn(1, 3, 4, 4), torch.randn(1, 32, 4, 4)]
    with pytest.raises(ValueError, match="built for 16 channels"):
        projector(features, PatchSampler(4).draw(features))

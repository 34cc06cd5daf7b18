"""CycleGAN's history buffer of generated images (CycleGAN §4, after Shrivastava et al.)."""
import io

import pytest
import torch

from coursekit.nn import ImagePool


def tagged(*ids):
    """A batch whose image i is filled with the value ids[i], so images can be identified."""
    return torch.stack([torch.full((1, 2, 2), float(i)) for i in ids])


def ids_of(batch):
    return [int(image[0, 0, 0]) for image in batch]


def test_size_zero_is_a_no_op():
    pool = ImagePool(0)
    x = torch.randn(3, 3, 4, 4, requires_grad=True)
    state = torch.get_rng_state()
    assert pool.query(x) is x
    assert torch.equal(torch.get_rng_state(), state)  # draws nothing
    assert len(pool) == 0


def test_fill_phase_returns_the_inputs_and_stores_them():
    pool = ImagePool(5)
    assert ids_of(pool.query(tagged(1, 2, 3))) == [1, 2, 3]
    assert ids_of(pool.query(tagged(4, 5))) == [4, 5]
    assert len(pool) == 5
    # A batch that straddles the end of the fill phase: 6 is beyond the 5 slots.
    pool = ImagePool(5)
    out = pool.query(tagged(1, 2, 3, 4, 5, 6))
    assert ids_of(out)[:5] == [1, 2, 3, 4, 5]


def test_when_full_half_the_images_come_from_the_history_and_replace_it():
    torch.manual_seed(0)
    pool = ImagePool(10)
    pool.query(tagged(*range(10)))
    n, old = 4000, 0
    for new_id in range(100, 100 + n):
        before = set(ids_of(pool.images))
        (returned,) = ids_of(pool.query(tagged(new_id)))
        after = set(ids_of(pool.images))
        if returned == new_id:
            assert after == before  # passed through, pool unchanged
        else:
            old += 1
            assert returned in before  # a stored image ...
            assert after == before - {returned} | {new_id}  # ... whose slot the new one takes
    # p = 1/2; binomial standard deviation over 4000 draws is 0.008, so 0.04 is 5 sigma.
    assert abs(old / n - 0.5) < 0.04


def test_randomness_comes_from_the_global_torch_generator():
    def run():
        pool = ImagePool(4)
        pool.query(tagged(0, 1, 2, 3))
        torch.manual_seed(123)
        return [ids_of(pool.query(tagged(10 + i))) for i in range(30)]

    first, second = run(), run()
    assert first == second
    torch.manual_seed(124)
    assert first != [ids_of(ImagePool(0).query(tagged(10 + i))) for i in range(30)]


def test_outputs_are_detached_copies():
    pool = ImagePool(2)
    x = torch.randn(2, 1, 2, 2, requires_grad=True)
    out = pool.query(x)
    assert not out.requires_grad
    x.data.add_(1.0)  # changing the caller's tensor must not change the history
    assert not torch.equal(pool.images[0], x[0].detach())


def test_state_round_trip_through_a_checkpoint_file():
    torch.manual_seed(1)
    pool = ImagePool(6)
    pool.query(torch.randn(6, 3, 4, 4))
    buffer = io.BytesIO()
    torch.save(pool.state_dict(), buffer)
    buffer.seek(0)
    restored = ImagePool(6)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert len(restored) == 6
    for a, b in zip(pool.images, restored.images):
        assert torch.equal(a, b)
    # Same content + same RNG state -> the same future answers.
    x = torch.randn(5, 3, 4, 4)
    torch.manual_seed(7)
    expected = torch.cat([pool.query(x[i:i + 1]) for i in range(5)])
    torch.manual_seed(7)
    got = torch.cat([restored.query(x[i:i + 1]) for i in range(5)])
    assert torch.equal(expected, got)


def test_pool_content_is_part_of_a_parent_modules_state_dict():
    parent = torch.nn.Module()
    parent.pool = ImagePool(3)
    parent.pool.query(torch.ones(2, 1, 2, 2))
    state = parent.state_dict()
    assert len(state["pool._extra_state"]["images"]) == 2


def test_clear_errors():
    with pytest.raises(ValueError, match=">= 0"):
        ImagePool(-1)
    big = ImagePool(4)
    big.query(torch.zeros(4, 1, 2, 2))
    with pytest.raises(ValueError, match="larger pool_size"):
        ImagePool(2).load_state_dict(big.state_dict())
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ImagePool(2).query(torch.zeros(1, 2, 2))

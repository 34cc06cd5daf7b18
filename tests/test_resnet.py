"""The CycleGAN/CUT ResNet generator: reference parameter counts, shapes, CUT's encoder layers."""
import pytest
import torch
import torch.nn.functional as F

from coursekit.nn import ResnetBlock, ResnetGenerator
from coursekit.nn.resnet import BlurDownsample, BlurUpsample


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# Hand count at ngf=64 (conv weights + biases; instance norm has no parameters):
# stem 3*49*64 + 64 = 9,472; downs 64*9*128 + 128 = 73,856 and 128*9*256 + 256 = 295,168;
# ups 256*9*128 + 128 = 295,040 and 128*9*64 + 64 = 73,792; head 64*49*3 + 3 = 9,411;
# each block 2 * (256*9*256 + 256) = 1,180,160. The reference prints 11.378 M for resnet_9blocks.
@pytest.mark.parametrize("n_blocks,expected", [(9, 11_378_179), (6, 7_837_699)])
@pytest.mark.parametrize("antialias", [False, True])
def test_parameter_counts_match_the_reference(n_blocks, expected, antialias):
    # The blur layers are fixed, so the antialiased variant has the same count.
    assert n_params(ResnetGenerator(n_blocks=n_blocks, antialias=antialias)) == expected


def test_blur_filters_are_not_parameters_and_not_checkpointed():
    g = ResnetGenerator(ngf=4, n_blocks=1, antialias=True)
    assert not any("kernel" in k for k in g.state_dict())


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("size", [(32, 32), (64, 64), (32, 48)])
def test_output_has_the_input_shape_and_lies_in_tanh_range(antialias, size):
    g = ResnetGenerator(3, 2, ngf=4, n_blocks=2, antialias=antialias)
    y = g(torch.randn(2, 3, *size) * 3)
    assert y.shape == (2, 2, *size)
    assert y.abs().max() <= 1.0


def test_cut_layers_with_antialias_are_rgb_downsampling_convs_and_blocks_1_and_5():
    # CUT §3.3.2: padded RGB, the first and second downsampling conv, residual blocks 1 and 5
    # (indices 0, 4, 8, 12, 16 of the Sequential, with antialiased downsampling).
    ngf, size = 8, 32
    g = ResnetGenerator(ngf=ngf, n_blocks=6, antialias=True)
    assert isinstance(g.model[4], torch.nn.Conv2d) and isinstance(g.model[8], torch.nn.Conv2d)
    assert isinstance(g.model[12], ResnetBlock) and isinstance(g.model[16], ResnetBlock)
    blocks = [i for i, m in enumerate(g.model) if isinstance(m, ResnetBlock)]
    assert g.block_indices == blocks == [12, 13, 14, 15, 16, 17]
    x = torch.randn(1, 3, size, size)
    feats = g(x, encode_layers=(0, 4, 8, 12, 16))
    # The stride-1 convs run before their blur-pool: full, then half resolution.
    assert [f.shape[1:] for f in feats] == [(3, size + 6, size + 6), (2 * ngf, size, size),
                                            (4 * ngf, size // 2, size // 2),
                                            (4 * ngf, size // 4, size // 4),
                                            (4 * ngf, size // 4, size // 4)]
    assert g.feature_channels((0, 4, 8, 12, 16)) == [f.shape[1] for f in feats]
    # Layer 0 is the reflection-padded input itself.
    assert torch.equal(feats[0], F.pad(x, (3, 3, 3, 3), mode="reflect"))


def test_encode_layers_equal_the_outputs_seen_by_hooks_in_the_order_asked():
    g = ResnetGenerator(ngf=4, n_blocks=3, antialias=False)
    seen = {}
    for i, m in enumerate(g.model):
        m.register_forward_hook(lambda mod, inp, out, i=i: seen.__setitem__(i, out.clone()))
    x = torch.randn(2, 3, 16, 16)
    feats = g(x, encode_layers=(7, 0, 12))
    # Without antialias index 7 is the second (stride-2) downsampling conv: 16 -> 8 -> 4.
    assert feats[0].shape == (2, 16, 4, 4)
    for f, i in zip(feats, (7, 0, 12)):
        assert torch.equal(f, seen[i])
    # It stops after the deepest layer asked for: nothing after index 12 ran.
    assert max(seen) == 12


def test_encode_layers_keep_gradients_to_the_generator():
    g = ResnetGenerator(ngf=4, n_blocks=5, antialias=True)
    feats = g(torch.randn(1, 3, 16, 16), encode_layers=(4, 16))
    sum(f.sum() for f in feats).backward()
    assert g.model[1].weight.grad is not None and g.model[1].weight.grad.abs().sum() > 0
    assert g.model[-2].weight.grad is None  # the head was not used


def test_clear_errors():
    g = ResnetGenerator(ngf=4, n_blocks=3)
    with pytest.raises(ValueError, match="3-channel images but got 1"):
        g(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="multiples of 4"):
        g(torch.randn(1, 3, 30, 32))
    with pytest.raises(ValueError, match=r"\[40\] are not layer indices.*has 22 layers"):
        g(torch.randn(1, 3, 32, 32), encode_layers=(0, 4, 40))
    with pytest.raises(ValueError, match="empty"):
        g(torch.randn(1, 3, 32, 32), encode_layers=())
    with pytest.raises(ValueError, match="unknown padding"):
        ResnetBlock(8, padding="circular")


def test_resnet_block_is_the_identity_when_its_branch_is_zero_and_has_no_final_relu():
    block = ResnetBlock(4)
    last_conv = block.block[-2]
    torch.nn.init.zeros_(last_conv.weight)
    torch.nn.init.zeros_(last_conv.bias)
    x = torch.randn(1, 4, 8, 8)  # negative values must survive: no ReLU after the add
    assert torch.equal(block(x), x)


@pytest.mark.parametrize("padding", ["reflect", "replicate", "zero"])
def test_resnet_block_paddings_keep_the_size(padding):
    assert ResnetBlock(4, padding=padding, dropout=0.5)(torch.randn(1, 4, 6, 6)).shape == (1, 4, 6, 6)


def test_blur_downsample_removes_the_highest_frequency_that_plain_striding_aliases():
    # A +-1 checkerboard sampled every second pixel is a constant 1 (aliasing); blurred with
    # [1, 2, 1]/4 per axis first it is 0 everywhere (reflection continues the pattern).
    idx = torch.arange(8)
    checker = ((idx[:, None] + idx[None, :]) % 2 * 2 - 1).float().expand(1, 2, 8, 8)
    assert torch.equal(checker[..., ::2, ::2].abs(), torch.ones(1, 2, 4, 4))
    assert BlurDownsample(2)(checker).abs().max() < 1e-6  # float rounding only
    # and it keeps a constant image's level at the borders too
    assert torch.allclose(BlurDownsample(2)(torch.full((1, 2, 8, 8), 0.7)),
                          torch.full((1, 2, 4, 4), 0.7))


def test_blur_upsample_is_zero_insertion_then_the_1331_filter():
    x = torch.randn(1, 1, 6, 6)
    up = torch.zeros(1, 1, 12, 12)
    up[..., ::2, ::2] = x
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 4
    kernel = torch.outer(taps, taps)[None, None]
    # Zero-inserted sample k lands on output pixels 2k-1 .. 2k+2 with taps 1,3,3,1; with output
    # pixel j reading inputs j-2..j+1 the filtered result aligns with half-pixel centres.
    manual = F.conv2d(F.pad(up, (2, 1, 2, 1)), kernel)
    # The interior (away from the clamped borders) must agree to float rounding.
    assert torch.allclose(BlurUpsample()(x)[..., 2:-2, 2:-2], manual[..., 2:-2, 2:-2], atol=1e-6)


def test_feature_channels_reads_the_layers_it_is_given_and_has_no_default():
    # Which layers to read is a method's choice (CUT's PAPER_LAYERS), not the generator's.
    g = ResnetGenerator(ngf=4, n_blocks=2, antialias=False)
    assert g.feature_channels((0, 1, 7)) == [3, 4, 16]
    with pytest.raises(TypeError):
        g.feature_channels()

"""Realistic mistakes in problem set 2 (CycleGAN), and correct solutions written differently.

Used by tests/test_grading_ps2.py; what a mutant is, and how the submissions carry them:
tests/grading_mutants/common.py.
"""
from __future__ import annotations

from grading_mutants.common import Mutant
from grading_mutants.common import mutant as _m

ASSIGNMENT = "ps2_cyclegan"

#: The graded cells of each part (grade_id of the solution cell -> its test cells).
PARTS: dict[str, tuple[str, ...]] = {
    "ResidualBlock": ("test_block_shape", "test_block_skip", "test_block_reference",
                      "hidden_block"),
    "lsgan_losses": ("test_lsgan_d_value", "test_lsgan_g_value", "test_lsgan_reference",
                     "hidden_lsgan"),
    "cycle_identity_losses": ("test_cycle_values", "test_identity_values",
                              "test_cycle_reference", "hidden_cycle"),
    "HistoryPool": ("test_pool_fill", "test_pool_swaps", "hidden_pool_statistics",
                    "hidden_pool_detached"),
    "generator_step": ("test_gstep_reference", "test_gstep_freezes_d", "hidden_gstep",
                       "hidden_training_run"),
}


_BRANCH = """        self.branch = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3),
            nn.InstanceNorm2d(dim),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3),
            nn.InstanceNorm2d(dim),
        )"""

_POOL_BODY = """        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(()) < 0.5:
                index = int(torch.randint(0, self.size, ()))
                out.append(self.images[index])
                self.images[index] = image
            else:
                out.append(image)
        return torch.stack(out)"""

_POOL_SLOT_PER_BATCH = """        out = []
        index = int(torch.randint(0, self.size, ()))  # one stored image for the whole batch
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(()) < 0.5:
                out.append(self.images[index])
                self.images[index] = image
            else:
                out.append(image)
        return torch.stack(out)"""

MUTANTS: tuple[Mutant, ...] = (
    # ---- part 1: ResidualBlock
    _m("block_relu_after_add", "ResidualBlock", "a ReLU after the addition",
       "return x + self.branch(x)", "return torch.relu(x + self.branch(x))",
       {"test_block_skip", "test_block_reference", "hidden_block"}),
    _m("block_zero_padding", "ResidualBlock", "zero padding (padding=1) instead of reflection",
       _BRANCH, _BRANCH.replace("            nn.ReflectionPad2d(1),\n", "")
                       .replace("kernel_size=3)", "kernel_size=3, padding=1)"),
       {"test_block_reference", "hidden_block"}),
    _m("block_batch_norm", "ResidualBlock", "batch norm instead of instance norm",
       _BRANCH, _BRANCH.replace("nn.InstanceNorm2d(dim)", "nn.BatchNorm2d(dim)"),
       {"test_block_shape", "test_block_reference", "hidden_block"}),
    _m("block_no_skip", "ResidualBlock", "no skip connection: the branch alone",
       "return x + self.branch(x)", "return self.branch(x)",
       {"test_block_skip", "test_block_reference", "hidden_block"}),
    # ---- part 2: lsgan_losses
    _m("lsgan_targets_swapped", "lsgan_losses", "D's targets swapped: real -> 0, generated -> 1",
       "return 0.5 * (F.mse_loss(real_out, torch.ones_like(real_out))\n"
       "                  + F.mse_loss(fake_out, torch.zeros_like(fake_out)))",
       "return 0.5 * (F.mse_loss(real_out, torch.zeros_like(real_out))\n"
       "                  + F.mse_loss(fake_out, torch.ones_like(fake_out)))",
       {"test_lsgan_d_value", "test_lsgan_reference", "hidden_lsgan"}),
    _m("lsgan_g_bce", "lsgan_losses", "the generator's loss is the cross-entropy (vanilla GAN) "
       "instead of least squares",
       "return F.mse_loss(fake_out, torch.ones_like(fake_out))",
       "return F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))",
       {"test_lsgan_g_value", "test_lsgan_reference", "hidden_lsgan"}),
    _m("lsgan_d_not_halved", "lsgan_losses", "D's loss not halved",
       "return 0.5 * (F.mse_loss(real_out", "return 1.0 * (F.mse_loss(real_out",
       {"test_lsgan_d_value", "test_lsgan_reference", "hidden_lsgan"}),
    _m("lsgan_d_no_detach", "lsgan_losses", "generated images not detached in D's loss",
       "fake_out = D(fake.detach())", "fake_out = D(fake)",
       {"test_lsgan_reference", "hidden_lsgan"}),
    _m("lsgan_g_target_zero", "lsgan_losses", "sign error: the generator pushes D(G(x)) to 0",
       "return F.mse_loss(fake_out, torch.ones_like(fake_out))",
       "return F.mse_loss(fake_out, torch.zeros_like(fake_out))",
       {"test_lsgan_g_value", "test_lsgan_reference", "hidden_lsgan"}),
    # ---- part 3: cycle_identity_losses
    _m("cycle_l2", "cycle_identity_losses", "L2 (squared error) instead of L1 in the cycle terms",
       "cycle_A = F.l1_loss(G_BA(fake_B), real_A)\n    cycle_B = F.l1_loss(G_AB(fake_A), real_B)",
       "cycle_A = F.mse_loss(G_BA(fake_B), real_A)\n    cycle_B = F.mse_loss(G_AB(fake_A), real_B)",
       {"test_cycle_values", "test_identity_values", "test_cycle_reference", "hidden_cycle"}),
    _m("cycle_lambda_on_identity", "cycle_identity_losses", "lambda on the wrong term: the "
       "identity terms get lambda and the cycle terms 0.5 lambda",
       "total = (lambda_cycle * (cycle_A + cycle_B)\n"
       "             + lambda_identity * lambda_cycle * (identity_AB + identity_BA))",
       "total = (lambda_identity * lambda_cycle * (cycle_A + cycle_B)\n"
       "             + lambda_cycle * (identity_AB + identity_BA))",
       {"test_cycle_values", "test_identity_values", "test_cycle_reference", "hidden_cycle"}),
    _m("identity_wrong_generator", "cycle_identity_losses", "identity with the wrong "
       "generator: G_AB(real_A) instead of G_AB(real_B), G_BA(real_B) instead of G_BA(real_A)",
       "identity_AB = F.l1_loss(G_AB(real_B), real_B)\n"
       "    identity_BA = F.l1_loss(G_BA(real_A), real_A)",
       "identity_AB = F.l1_loss(G_AB(real_A), real_A)\n"
       "    identity_BA = F.l1_loss(G_BA(real_B), real_B)",
       {"test_identity_values", "test_cycle_reference", "hidden_cycle"}),
    _m("cycle_one_direction", "cycle_identity_losses", "one direction missing: the backward "
       "cycle B -> A -> B left out of the total",
       "total = (lambda_cycle * (cycle_A + cycle_B)", "total = (lambda_cycle * cycle_A",
       {"test_cycle_values", "test_identity_values", "test_cycle_reference", "hidden_cycle"}),
    _m("cycle_detached_fake", "cycle_identity_losses", "G_AB(real_A) detached before the "
       "forward cycle, so G_AB gets no gradient from it",
       "cycle_A = F.l1_loss(G_BA(fake_B), real_A)", "cycle_A = F.l1_loss(G_BA(fake_B.detach()), real_A)",
       {"test_cycle_reference", "hidden_cycle"}),
    # ---- part 4: HistoryPool
    _m("pool_always_stored", "HistoryPool", "once full, always returns a stored image",
       "elif torch.rand(()) < 0.5:", "elif True:",
       {"test_pool_swaps", "hidden_pool_statistics"}),
    _m("pool_never_stores", "HistoryPool", "never stores an image, so it never fills",
       "                self.images.append(image)\n", "",
       {"test_pool_swaps", "hidden_pool_statistics"}),
    _m("pool_unchanged_once_full", "HistoryPool", "once full, returns the batch unchanged",
       "elif torch.rand(()) < 0.5:", "elif False:",
       {"test_pool_swaps", "hidden_pool_statistics"}),
    _m("pool_no_detach", "HistoryPool", "stores and returns images with their graph "
       "(no .detach())",
       "for image in images.detach():", "for image in images:",
       {"hidden_pool_detached"}),
    _m("pool_python_random", "HistoryPool", "Python's random module instead of torch's generator",
       "elif torch.rand(()) < 0.5:\n                index = int(torch.randint(0, self.size, ()))",
       "elif random.random() < 0.5:\n                index = random.randrange(self.size)",
       {"hidden_pool_statistics"}, prefix="import random\n\n"),
    _m("pool_stores_graph", "HistoryPool", "stores the images with their graph and detaches "
       "only what it returns (every stored step's graph stays in memory)",
       _POOL_BODY, _POOL_BODY.replace("for image in images.detach():", "for image in images:")
                             .replace("return torch.stack(out)", "return torch.stack(out).detach()"),
       {"hidden_pool_detached"}),
    _m("pool_coin_per_batch", "HistoryPool", "one coin flipped per batch instead of per image",
       _POOL_BODY, _POOL_BODY.replace("        out = []\n",
                                      "        out = []\n        swap = torch.rand(()) < 0.5\n")
                             .replace("elif torch.rand(()) < 0.5:", "elif swap:"),
       {"hidden_pool_statistics"}),
    _m("pool_slot_per_batch", "HistoryPool", "one stored image drawn per batch, returned for "
       "every image of the batch that swaps",
       _POOL_BODY, _POOL_SLOT_PER_BATCH,
       {"hidden_pool_statistics"}),
    _m("pool_queue", "HistoryPool", "a queue instead of a random choice: the oldest stored "
       "image comes back",
       "                index = int(torch.randint(0, self.size, ()))\n"
       "                out.append(self.images[index])\n"
       "                self.images[index] = image\n",
       "                out.append(self.images.pop(0))\n"
       "                self.images.append(image)\n",
       {"hidden_pool_statistics"}),
    # ---- part 5: generator_step
    _m("gstep_no_zero_grad", "generator_step", "forgotten opt_G.zero_grad()",
       "    opt_G.zero_grad()\n", "", {"test_gstep_reference", "hidden_gstep"}),
    _m("gstep_d_not_frozen", "generator_step", "discriminators not frozen during G's update",
       "    D_A.requires_grad_(False)\n    D_B.requires_grad_(False)\n", "",
       {"test_gstep_freezes_d", "hidden_gstep"}),
    _m("gstep_wrong_discriminator", "generator_step", "each generator judged by the "
       "discriminator of its source domain (D_A for G_AB's zebras)",
       "gan_loss_fn(D_B, fake_B) + gan_loss_fn(D_A, fake_A)",
       "gan_loss_fn(D_A, fake_B) + gan_loss_fn(D_B, fake_A)",
       {"test_gstep_reference", "hidden_gstep"}),
    _m("gstep_no_step", "generator_step", "forgotten opt_G.step()",
       "    opt_G.step()\n", "",
       {"test_gstep_reference", "hidden_gstep", "hidden_training_run"}),
    _m("gstep_returns_graph", "generator_step", "the loss and the generated images returned "
       "with their graph",
       'return {"G": loss.detach(), "fake_A": fake_A.detach(), "fake_B": fake_B.detach()}',
       'return {"G": loss, "fake_A": fake_A, "fake_B": fake_B}', {"hidden_gstep"}),
    _m("gstep_own_gan_loss", "generator_step", "the notebook's own lsgan_generator_loss called "
       "instead of the argument gan_loss_fn",
       "gan_loss_fn(D_B, fake_B) + gan_loss_fn(D_A, fake_A)",
       "lsgan_generator_loss(D_B, fake_B) + lsgan_generator_loss(D_A, fake_A)",
       {"hidden_gstep"}, calls={"lsgan_losses"}),
)


# ---- special submissions ----------------------------------------------------------------
#: Every part delegates to coursekit's own implementation: each must earn nothing.
USES_REFERENCE: dict[str, str] = {
    "ResidualBlock": '''
from coursekit.nn import ResnetBlock

class ResidualBlock(ResnetBlock):
    def __init__(self, dim):
        super().__init__(dim, norm="instance")
''',
    "lsgan_losses": '''
from coursekit.nn import GANLoss

def lsgan_discriminator_loss(D, real, fake):
    return GANLoss("lsgan").discriminator(D(real), D(fake.detach()))

def lsgan_generator_loss(D, fake):
    return GANLoss("lsgan").generator(D(fake))
''',
    "cycle_identity_losses": '''
from coursekit.models import cyclegan as reference

def cycle_identity_losses(G_AB, G_BA, real_A, real_B, fake_A, fake_B, lambda_cycle=10.0,
                          lambda_identity=0.5):
    out = {"cycle_A": reference.cycle_loss(real_A, G_BA(fake_B)),
           "cycle_B": reference.cycle_loss(real_B, G_AB(fake_A)),
           "identity_AB": reference.identity_loss(real_B, G_AB(real_B)),
           "identity_BA": reference.identity_loss(real_A, G_BA(real_A))}
    out["total"] = (lambda_cycle * (out["cycle_A"] + out["cycle_B"])
                    + lambda_identity * lambda_cycle * (out["identity_AB"] + out["identity_BA"]))
    return out
''',
    "HistoryPool": '''
from coursekit.nn import ImagePool

class HistoryPool(ImagePool):
    pass
''',
    "generator_step": '''
from coursekit.models.cyclegan import Config, CycleGAN

def generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_A, real_B, gan_loss_fn, cycle_identity_fn,
                   lambda_cycle=10.0, lambda_identity=0.5):
    model = CycleGAN(Config(image_size=real_A.shape[-1], ngf=2, n_blocks=1, ndf=2, d_layers=1,
                            lambda_cycle_A=lambda_cycle, lambda_cycle_B=lambda_cycle,
                            lambda_identity=lambda_identity))
    model.G_AB, model.G_BA, model.D_A, model.D_B = G_AB, G_BA, D_A, D_B
    model._bind({"G": opt_G}, torch.amp.GradScaler("cpu", enabled=False))
    model.set_requires_grad(False, D_A, D_B)
    g = model.generator_losses(real_A, real_B)
    model.backward_and_step(g["G"], "G")
    return {"G": g["G"].detach(), "fake_A": g["fake_A"].detach(), "fake_B": g["fake_B"].detach()}
''',
}

#: One broken part per kind of failure; the other parts are the correct solution.
BROKEN: dict[str, str] = {
    # An exception inside the forward pass.
    "ResidualBlock": '''
class ResidualBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1, padding_mode="reflect")

    def forward(self, x):
        return x + self.convs[0](x)  # AttributeError: the attribute is called conv
''',
    # An endless loop inside query.
    "HistoryPool": '''
class HistoryPool:
    def __init__(self, size=50):
        self.size = size
        self.images = []

    def query(self, images):
        out = []
        while len(out) < len(images):  # nothing is ever appended
            if len(self.images) < self.size:
                self.images.append(images[0].detach())
        return torch.stack(out)
''',
}
#: A flood of output: the correct losses, printing 2000 lines on every call. Printing is not a
#: mistake: it must cost neither this part nor any other.
FLOOD = Mutant("cycle_flood", "cycle_identity_losses", "prints 2000 lines per call",
               "    total = (lambda_cycle",
               '    for i in range(2000):\n        print("debug", i)\n    total = (lambda_cycle',
               frozenset())


# ---- correct solutions written differently: each must get full marks ----------------------
EQUIVALENT: dict[str, dict[str, str]] = {
    "equivalent1": {
        # The convs pad by reflection themselves (padding_mode), one norm module used twice,
        # the skip added last.
        "ResidualBlock": '''
class ResidualBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=1, padding_mode="reflect")
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1, padding_mode="reflect")
        self.norm = nn.InstanceNorm2d(dim, affine=False)

    def forward(self, x):
        h = F.relu(self.norm(self.conv1(x)))
        return self.norm(self.conv2(h)) + x
''',
        # Real and generated images judged in one batch; squares written out.
        "lsgan_losses": '''
def lsgan_discriminator_loss(D, real, fake):
    out = D(torch.cat([real, fake.detach()]))
    n = real.shape[0]
    return ((out[:n] - 1) ** 2).mean() / 2 + (out[n:] ** 2).mean() / 2


def lsgan_generator_loss(D, fake):
    return (D(fake) - 1).pow(2).mean()
''',
        # Fakes recomputed instead of using the arguments, abs().mean(), lambda factored out.
        "cycle_identity_losses": '''
def cycle_identity_losses(G_AB, G_BA, real_A, real_B, fake_A, fake_B, lambda_cycle=10.0,
                          lambda_identity=0.5):
    def l1(a, b):
        return torch.mean(torch.abs(a - b))
    losses = dict(identity_BA=l1(G_BA(real_A), real_A), identity_AB=l1(G_AB(real_B), real_B),
                  cycle_B=l1(G_AB(G_BA(real_B)), real_B), cycle_A=l1(G_BA(G_AB(real_A)), real_A))
    losses["total"] = lambda_cycle * (losses["cycle_A"] + losses["cycle_B"] + lambda_identity
                                      * (losses["identity_AB"] + losses["identity_BA"]))
    return losses
''',
        # Other order of the random draws (the slot first, every time), the coin flipped the
        # other way, copies stored.
        "HistoryPool": '''
class HistoryPool:
    def __init__(self, size=50):
        self.size = size
        self.stored = []

    def query(self, images):
        result = []
        for k in range(images.shape[0]):
            image = images[k].detach()
            if len(self.stored) < self.size:
                self.stored.append(image.clone())
                result.append(image)
                continue
            slot = torch.randint(len(self.stored), (1,)).item()
            if torch.rand(1).item() >= 0.5:
                result.append(image)
            else:
                result.append(self.stored[slot])
                self.stored[slot] = image.clone()
        return torch.stack(result, dim=0)
''',
        # D frozen parameter by parameter, F(y) first, terms summed in another order, the loss
        # returned as a Python number.
        "generator_step": '''
def generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_A, real_B, gan_loss_fn, cycle_identity_fn,
                   lambda_cycle=10.0, lambda_identity=0.5):
    for D in (D_A, D_B):
        for p in D.parameters():
            p.requires_grad = False
    opt_G.zero_grad(set_to_none=True)
    fake_A = G_BA(real_B)
    fake_B = G_AB(real_A)
    terms = cycle_identity_fn(G_AB, G_BA, real_A, real_B, fake_A, fake_B,
                              lambda_cycle=lambda_cycle, lambda_identity=lambda_identity)
    loss = terms["total"] + gan_loss_fn(D_A, fake_A) + gan_loss_fn(D_B, fake_B)
    loss.backward()
    opt_G.step()
    return {"G": loss.item(), "fake_A": fake_A.detach(), "fake_B": fake_B.detach()}
''',
    },
    "equivalent2": {
        # Padding and instance norm as functions in forward; the convs in a ModuleList.
        "ResidualBlock": '''
class ResidualBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(dim, dim, 3) for _ in range(2)])

    def forward(self, x):
        h = x
        for i, conv in enumerate(self.convs):
            h = F.instance_norm(conv(F.pad(h, (1, 1, 1, 1), mode="reflect")))
            if i == 0:
                h = torch.relu(h)
        return h + x
''',
        "lsgan_losses": '''
def lsgan_discriminator_loss(D, real, fake):
    return 0.5 * torch.mean((D(real) - 1) ** 2) + 0.5 * torch.mean(D(fake.detach()) ** 2)


def lsgan_generator_loss(D, fake):
    return torch.mean(torch.square(D(fake) - torch.ones(())))
''',
        "cycle_identity_losses": '''
l1_loss = nn.L1Loss()

def cycle_identity_losses(G_AB, G_BA, real_A, real_B, fake_A, fake_B, lambda_cycle=10.0,
                          lambda_identity=0.5):
    out = {}
    out["cycle_A"] = l1_loss(G_BA(fake_B), real_A)
    out["cycle_B"] = l1_loss(G_AB(fake_A), real_B)
    out["identity_AB"] = l1_loss(G_AB(real_B), real_B)
    out["identity_BA"] = l1_loss(G_BA(real_A), real_A)
    weight = lambda_identity * lambda_cycle
    out["total"] = sum([lambda_cycle * out["cycle_A"], lambda_cycle * out["cycle_B"],
                        weight * out["identity_AB"], weight * out["identity_BA"]])
    return out
''',
        # The whole batch stored while there is room, tensors kept in a list of slots.
        "HistoryPool": '''
class HistoryPool:
    def __init__(self, size=50):
        self.size = size
        self.slots = []

    def query(self, images):
        images = images.detach()
        out = images.clone()
        for i in range(len(images)):
            if len(self.slots) < self.size:
                self.slots.append(images[i])
            elif bool(torch.rand(()) < 0.5):
                j = int(torch.randint(0, self.size, ()))
                out[i], self.slots[j] = self.slots[j], images[i]
        return out
''',
    },
    # The two correct ways of writing the generators' update that the weights-after-a-step
    # comparison failed (G_AB's conv biases before instance norm have a true gradient of 0, whose
    # float32 noise Adam turned into +-lr): checks.assert_same_update compares gradients.
    "equivalent3": {
        # The second conv registered before the first (the checks match layers in the order the
        # forward pass calls them, not the order they were registered in).
        "ResidualBlock": '''
class ResidualBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.InstanceNorm2d(dim)
        self.conv_out = nn.Conv2d(dim, dim, 3, padding=1, padding_mode="reflect")
        self.conv_in = nn.Conv2d(dim, dim, 3, padding=1, padding_mode="reflect")

    def forward(self, x):
        return x + self.norm(self.conv_out(F.relu(self.norm(self.conv_in(x)))))
''',
        # The gradients accumulated by two backward() calls: GAN terms, then cycle + identity.
        "generator_step": '''
def generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_A, real_B, gan_loss_fn, cycle_identity_fn,
                   lambda_cycle=10.0, lambda_identity=0.5):
    D_A.requires_grad_(False)
    D_B.requires_grad_(False)
    opt_G.zero_grad()
    fake_B, fake_A = G_AB(real_A), G_BA(real_B)
    gan = gan_loss_fn(D_B, fake_B) + gan_loss_fn(D_A, fake_A)
    gan.backward(retain_graph=True)  # fake_A and fake_B are needed again for the cycle terms
    rest = cycle_identity_fn(G_AB, G_BA, real_A, real_B, fake_A, fake_B, lambda_cycle,
                             lambda_identity)["total"]
    rest.backward()
    opt_G.step()
    return {"G": (gan + rest).detach(), "fake_A": fake_A.detach(), "fake_B": fake_B.detach()}
''',
    },
    "equivalent4": {
        # G(x) computed again for the cycle terms instead of passing fake_A and fake_B on.
        "generator_step": '''
def generator_step(G_AB, G_BA, D_A, D_B, opt_G, real_A, real_B, gan_loss_fn, cycle_identity_fn,
                   lambda_cycle=10.0, lambda_identity=0.5):
    D_A.requires_grad_(False)
    D_B.requires_grad_(False)
    fake_B, fake_A = G_AB(real_A), G_BA(real_B)
    cyc = cycle_identity_fn(G_AB, G_BA, real_A, real_B, G_BA(real_B), G_AB(real_A),
                            lambda_cycle, lambda_identity)
    loss = gan_loss_fn(D_B, fake_B) + gan_loss_fn(D_A, fake_A) + cyc["total"]
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    return {"G": loss.detach(), "fake_A": fake_A.detach(), "fake_B": fake_B.detach()}
''',
    },
}

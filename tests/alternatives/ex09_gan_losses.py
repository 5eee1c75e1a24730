from . import alternative

ALTERNATIVES = [
    # ---------------------------------------------------------------- discriminator_loss
    alternative("discriminator_loss", "nn.BCEWithLogitsLoss instance, ones_like * real_label", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    criterion = nn.BCEWithLogitsLoss()
    real_loss = criterion(real_logits, torch.ones_like(real_logits) * real_label)
    fake_loss = criterion(fake_logits, torch.zeros_like(fake_logits))
    return real_loss + fake_loss
"""),
    alternative("discriminator_loss", "softplus formula t*softplus(-x) + (1-t)*softplus(x)", """
def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    real_loss = real_label * F.softplus(-real_logits) + (1 - real_label) * F.softplus(real_logits)  # (B, 1)
    fake_loss = F.softplus(fake_logits)  # (B, 1): -log(1 - sigmoid(x))
    return real_loss.mean() + fake_loss.mean()
"""),
    alternative("discriminator_loss", "logsigmoid of x and -x", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    real = -(real_label * F.logsigmoid(real_logits) + (1.0 - real_label) * F.logsigmoid(-real_logits))
    fake = -F.logsigmoid(-fake_logits)
    return torch.mean(real) + torch.mean(fake)
"""),
    alternative("discriminator_loss", "the stable max(x, 0) - x t + log(1 + exp(-|x|)) by hand", """
def _bce_logits(x, t):
    \"\"\"Elementwise BCE with logits, written out in its numerically stable form.\"\"\"
    return x.clamp(min=0) - x * t + torch.log1p(torch.exp(-x.abs()))


def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    return _bce_logits(real_logits, real_label).mean() + _bce_logits(fake_logits, 0.0).mean()
"""),
    # ---------------------------------------------------------------- generator_loss
    alternative("generator_loss", "softplus(-x).mean()", """
def generator_loss(fake_logits):
    return F.softplus(-fake_logits).mean()  # -log sigmoid(x)
"""),
    alternative("generator_loss", "-F.logsigmoid(x).mean()", """
def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -F.logsigmoid(fake_logits).mean()
"""),
    alternative("generator_loss", "nn.BCEWithLogitsLoss with new_ones targets", """
def generator_loss(fake_logits):
    return nn.BCEWithLogitsLoss(reduction="mean")(fake_logits, fake_logits.new_ones(fake_logits.shape))
"""),
    alternative("generator_loss", "full_like(1.0) and reduction='none' then mean", """
def generator_loss(fake_logits):
    targets = torch.full_like(fake_logits, 1.0)  # the generator wants its fakes called real
    return F.binary_cross_entropy_with_logits(fake_logits, targets, reduction="none").mean()
"""),
    alternative("discriminator_loss", "fake term as BCE(-x, 1), Bernoulli for the real term", """
from torch.distributions import Bernoulli
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    real = -Bernoulli(logits=real_logits, validate_args=False).log_prob(torch.full_like(real_logits, real_label)).mean()
    fake = F.binary_cross_entropy_with_logits(-fake_logits, torch.ones_like(fake_logits))  # BCE(x, 0) = BCE(-x, 1)
    return real + fake
"""),
    alternative("discriminator_loss", "torch.lerp between the two softplus terms, new_full", """
def discriminator_loss(real_logits, fake_logits, real_label=1.0):
    t = real_logits.new_full(real_logits.shape, real_label)
    real = torch.lerp(F.softplus(real_logits), F.softplus(-real_logits), t)  # (1-t) softplus(x) + t softplus(-x)
    return real.mean() + F.softplus(fake_logits).mean()
"""),
    alternative("generator_loss", "torch.distributions.Bernoulli log_prob of ones (validated)", """
def generator_loss(fake_logits):
    return -torch.distributions.Bernoulli(logits=fake_logits).log_prob(torch.ones_like(fake_logits)).mean()
"""),
    alternative("generator_loss", "BCE(-x, 0)", """
def generator_loss(fake_logits):
    return F.binary_cross_entropy_with_logits(-fake_logits, torch.zeros_like(fake_logits))
"""),
]

from . import alternative

ALTERNATIVES = [
    # ---------------------------------------------------------------- kl_divergence
    alternative("kl_divergence", "torch.distributions Normal and kl_divergence (aliased), zeros_like/ones_like", """
from torch.distributions import Normal
from torch.distributions import kl_divergence as kl_between
def kl_divergence(mu, logvar):
    q = Normal(mu, torch.exp(0.5 * logvar))
    prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return kl_between(q, prior).sum(dim=1)
"""),
    alternative("kl_divergence", "torch.distributions with a scalar prior Normal(0.0, 1.0)", """
import torch.distributions as D
def kl_divergence(mu, logvar):
    q = D.Normal(mu, (0.5 * logvar).exp())
    return D.kl.kl_divergence(q, D.Normal(0.0, 1.0)).sum(-1)
"""),
    alternative("kl_divergence", "0.5 * sum(mu^2 + sigma^2 - 1 - logvar), torch.exp, dim=-1", """
def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    var = torch.exp(logvar)  # sigma^2
    return 0.5 * (mu * mu + var - 1.0 - logvar).sum(dim=-1)  # (B,)
"""),
    alternative("kl_divergence", "via sigma: log(sigma^2) = 2 log(sigma), ones_like constant", """
def kl_divergence(mu, logvar):
    sigma = torch.exp(0.5 * logvar)
    terms = sigma.pow(2) + mu.pow(2) - torch.ones_like(mu) - 2 * torch.log(sigma)
    return terms.sum(1).mul(0.5)
"""),
    # ---------------------------------------------------------------- reconstruction_loss
    alternative("reconstruction_loss", "reduction='none' summed over dims (1, 2, 3)", """
def reconstruction_loss(x_logits, x):
    return F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").sum(dim=(1, 2, 3))
"""),
    alternative("reconstruction_loss", "hand-written stable BCE: softplus(l) - x * l, view(B, -1)", """
def reconstruction_loss(x_logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    per_pixel = F.softplus(x_logits) - x * x_logits  # -[x log s(l) + (1 - x) log(1 - s(l))]
    return per_pixel.view(x.size(0), -1).sum(-1)
"""),
    alternative("reconstruction_loss", "nn.BCEWithLogitsLoss module, flatten(start_dim=1)", """
from torch import nn
def reconstruction_loss(x_logits, x):
    criterion = nn.BCEWithLogitsLoss(reduction="none")
    return criterion(x_logits, x).flatten(start_dim=1).sum(dim=1)
"""),
    alternative("reconstruction_loss", "logsigmoid of both signs, reshape(len(x), -1)", """
def reconstruction_loss(x_logits, x):
    log_p = x * F.logsigmoid(x_logits) + (1 - x) * F.logsigmoid(-x_logits)
    return -log_p.reshape(len(x), -1).sum(1)
"""),
    alternative("reconstruction_loss", "per-image reduction='sum' in a loop, torch.stack", """
def reconstruction_loss(x_logits, x):
    return torch.stack([F.binary_cross_entropy_with_logits(l, t, reduction="sum") for l, t in zip(x_logits, x)])
"""),
    # ---------------------------------------------------------------- vae_loss
    alternative("vae_loss", "mean of the per-sample weighted sum", """
def vae_loss(x_logits, x, mu, logvar, beta=1.0):
    recon = reconstruction_loss(x_logits, x)  # (B,)
    kl = kl_divergence(mu, logvar)  # (B,)
    return (recon + beta * kl).mean(), recon.mean(), kl.mean()
"""),
    alternative("vae_loss", "inline: reduction='sum' / B and a closed-form KL / B", """
def vae_loss(x_logits, x, mu, logvar, beta: float = 1.0):
    B = x.shape[0]
    recon = F.binary_cross_entropy_with_logits(x_logits, x, reduction="sum") / B
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / B
    loss = recon + beta * kl
    return loss, recon, kl
"""),
    alternative("vae_loss", "sum / len(x), mean(dim=0), torch.add(..., alpha=beta), extra keyword", """
def vae_loss(x_logits, x, mu, logvar, beta=1.0, reduction="mean"):
    assert reduction == "mean"
    recon = reconstruction_loss(x_logits, x).sum() / len(x)
    kl = kl_divergence(mu, logvar).mean(dim=0)
    return torch.add(recon, kl, alpha=beta), recon, kl
"""),

    # ---------------------------------------------------------------- red-team round
    alternative("kl_divergence", "einsum 'bd->b' over 0.5 * (mu^2 + sigma^2 - 1 - logvar)", """
def kl_divergence(mu, logvar):
    return 0.5 * torch.einsum("bd->b", mu * mu + logvar.exp() - 1 - logvar)
"""),
    alternative("kl_divergence", "KL between Independent(Normal, 1) distributions (already (B,))", """
from torch.distributions import Independent, Normal, kl_divergence as kl_between
def kl_divergence(mu, logvar):
    q = Independent(Normal(mu, (0.5 * logvar).exp()), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    return kl_between(q, p)
"""),
    alternative("kl_divergence", "computed in float64, cast back to mu's dtype", """
def kl_divergence(mu, logvar):
    m, lv = mu.double(), logvar.double()
    return (-0.5 * (1 + lv - m ** 2 - lv.exp()).sum(1)).to(mu.dtype)
"""),
    alternative("reconstruction_loss", "-Bernoulli(logits=...).log_prob(x) without argument validation", """
from torch.distributions import Bernoulli
def reconstruction_loss(x_logits, x):
    return -Bernoulli(logits=x_logits, validate_args=False).log_prob(x).flatten(1).sum(-1)
"""),
    alternative("reconstruction_loss", "max(l, 0) - l * x + log1p(exp(-|l|)), einsum over the pixels", """
def reconstruction_loss(x_logits, x):
    per_pixel = x_logits.clamp(min=0) - x_logits * x + torch.log1p(torch.exp(-x_logits.abs()))
    return torch.einsum("bchw->b", per_pixel)
"""),
    alternative("vae_loss", "weighted sum of the stacked terms with new_tensor([1, beta])", """
def vae_loss(x_logits, x, mu, logvar, beta=1.0):
    recon = reconstruction_loss(x_logits, x).mean()
    kl = kl_divergence(mu, logvar).mean()
    terms = torch.stack([recon, kl])
    return (terms * terms.new_tensor([1.0, beta])).sum(), recon, kl
"""),
]

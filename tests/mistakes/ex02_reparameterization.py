from . import mistake

MISTAKES = [
    mistake("reparameterize", "exp(logvar) used as sigma (logvar read as log-sigma)", """
import torch
def reparameterize(mu, logvar, eps=None):
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(logvar) * eps
""", "explicit_eps", "statistics", "gradient_flow"),
    mistake("reparameterize", "adds the noise to mu in place (mu.add_)", """
import torch
def reparameterize(mu, logvar, eps=None):
    if eps is None:
        eps = torch.randn_like(mu)
    return mu.add_(torch.exp(0.5 * logvar) * eps)
""", "statistics", "gradient_flow"),
    mistake("reparameterize", "subtracts the noise", """
import torch
def reparameterize(mu, logvar, eps=None):
    if eps is None:
        eps = torch.randn_like(mu)
    return mu - torch.exp(0.5 * logvar) * eps
""", "explicit_eps"),
    mistake("reparameterize", "ignores the eps it is given", """
import torch
def reparameterize(mu, logvar, eps=None):
    eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps
""", "explicit_eps"),
    mistake("reparameterize", "uniform noise (rand_like)", """
import torch
def reparameterize(mu, logvar, eps=None):
    if eps is None:
        eps = torch.rand_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps
""", "statistics"),
    mistake("reparameterize", "one eps shared by the whole batch", """
import torch
def reparameterize(mu, logvar, eps=None):
    if eps is None:
        eps = torch.randn(mu.shape[-1], dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps
""", "statistics"),
    mistake("reparameterize", "one eps per sample shared by all latent dimensions", """
import torch
def reparameterize(mu, logvar, eps=None):
    if eps is None:
        eps = torch.randn(mu.shape[0], 1, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps
""", "statistics"),
    mistake("reparameterize", "seeds the generator inside the function", """
import torch
def reparameterize(mu, logvar, eps=None):
    if eps is None:
        torch.manual_seed(0)
        eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps
""", "statistics"),
    mistake("reparameterize", "detaches sigma", """
import torch
def reparameterize(mu, logvar, eps=None):
    std = torch.exp(0.5 * logvar).detach()
    if eps is None:
        eps = torch.randn_like(std)
    return mu + std * eps
""", "gradient_flow"),
    mistake("reparameterize", "samples with torch.normal (no gradient)", """
import torch
def reparameterize(mu, logvar, eps=None):
    std = torch.exp(0.5 * logvar)
    if eps is None:
        return torch.normal(mu, std)
    return mu + std * eps
""", "gradient_flow"),
    mistake("reparameterize", "draws eps on the CPU in float32 (torch.randn(mu.shape))", """
import torch
def reparameterize(mu, logvar, eps=None):
    if eps is None:
        eps = torch.randn(mu.shape)
    return mu + torch.exp(0.5 * logvar) * eps
""", "keeps_dtype_and_device"),
    mistake("reparameterize", "writes z into the given eps in place (eps.mul_(std).add_(mu))", """
import torch
def reparameterize(mu, logvar, eps=None):
    if eps is None:
        eps = torch.randn_like(mu)
    return eps.mul_(torch.exp(0.5 * logvar)).add_(mu)
""", "explicit_eps"),

    # ---------------------------------------------------------------- red-team round: noise shape, state, generator
    mistake("reparameterize", "noise clamped to [-3, 3] (mean and std still pass)", """
import torch
def reparameterize(mu, logvar, eps=None):
    if eps is None:
        eps = torch.randn_like(mu).clamp(-3, 3)
    return mu + torch.exp(0.5 * logvar) * eps
""", "statistics"),
    mistake("reparameterize", "uniform noise scaled to mean 0 and variance 1", """
import torch
def reparameterize(mu, logvar, eps=None):
    if eps is None:
        eps = (torch.rand_like(mu) - 0.5) * 12 ** 0.5
    return mu + torch.exp(0.5 * logvar) * eps
""", "statistics"),
    mistake("reparameterize", "draws from a private CPU torch.Generator (ignores the seed, raises on a GPU)", """
import torch
_gen = torch.Generator().manual_seed(0)
def reparameterize(mu, logvar, eps=None):
    if eps is None:
        eps = torch.randn(mu.shape, generator=_gen, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * logvar) * eps
""", "statistics"),
    mistake("reparameterize", "caches eps per shape between calls", """
import torch
_cache = {}
def reparameterize(mu, logvar, eps=None):
    if eps is None:
        if tuple(mu.shape) not in _cache:
            _cache[tuple(mu.shape)] = torch.randn_like(mu)
        eps = _cache[tuple(mu.shape)]
    return mu + torch.exp(0.5 * logvar) * eps
""", "statistics"),
    mistake("reparameterize", "std = 0.5 * exp(logvar)", """
import torch
def reparameterize(mu, logvar, eps=None):
    std = 0.5 * torch.exp(logvar)
    if eps is None:
        eps = torch.randn_like(std)
    return mu + std * eps
""", "explicit_eps", "statistics", "gradient_flow"),
    mistake("reparameterize", "std computed in place on logvar (logvar.mul_(0.5).exp_())", """
import torch
def reparameterize(mu, logvar, eps=None):
    std = logvar.mul_(0.5).exp_()
    if eps is None:
        eps = torch.randn_like(std)
    return mu + std * eps
""", "statistics", "gradient_flow"),
]

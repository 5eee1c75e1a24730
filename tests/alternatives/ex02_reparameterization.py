from . import alternative

ALTERNATIVES = [
    # ---------------------------------------------------------------- reparameterize
    alternative("reparameterize", "torch.distributions.Normal(...).rsample() when eps is None", """
from torch.distributions import Normal
def reparameterize(mu, logvar, eps=None):
    std = (0.5 * logvar).exp()
    if eps is None:
        return Normal(mu, std).rsample()  # reparameterized draw, differentiable in mu and std
    return mu + std * eps
"""),
    alternative("reparameterize", "sqrt(exp(logvar)), torch.randn(shape, dtype=, device=)", """
def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    sigma = torch.sqrt(torch.exp(logvar))
    if eps is None:
        eps = torch.randn(mu.shape, dtype=mu.dtype, device=mu.device)
    return torch.addcmul(mu, sigma, eps)  # mu + sigma * eps
"""),
    alternative("reparameterize", "empty_like(...).normal_(), noise drawn like logvar, eps * std + mu", """
def reparameterize(mu, logvar, eps=None):
    if eps is None:
        eps = torch.empty_like(logvar).normal_()
    std = logvar.mul(0.5).exp()
    return eps * std + mu
"""),
    alternative("reparameterize", "torch.normal(zeros_like, ones_like) for eps, exp(logvar / 2), a helper", """
def _std(logvar):
    return torch.exp(logvar / 2)


def reparameterize(mu, logvar, eps=None, *, noise_scale=1.0):
    eps = torch.normal(torch.zeros_like(mu), torch.ones_like(mu)) if eps is None else eps
    return mu + noise_scale * eps * _std(logvar)
"""),
    alternative("reparameterize", "mu.new_empty(mu.size()).normal_(0, 1), sigma via logvar.exp() ** 0.5", """
def reparameterize(mu, logvar, eps=None):
    eps = mu.new_empty(mu.size()).normal_(0.0, 1.0) if eps is None else eps
    return mu + logvar.exp() ** 0.5 * eps
"""),

    # ---------------------------------------------------------------- red-team round
    alternative("reparameterize", "Independent(Normal(...), 1).rsample(), a temperature keyword", """
from torch.distributions import Independent, Normal
def reparameterize(mu, logvar, eps=None, temperature: float = 1.0):
    std = torch.exp(0.5 * logvar) * temperature
    if eps is None:
        return Independent(Normal(mu, std), 1).rsample()
    return mu + std * eps
"""),
    alternative("reparameterize", "computed in float64, cast back to the inputs' dtype", """
def reparameterize(mu, logvar, eps=None):
    if eps is None:
        eps = torch.randn_like(mu)
    z = mu.double() + torch.exp(0.5 * logvar.double()) * eps.double()
    return z.to(mu.dtype)
"""),
]

from . import alternative

ALTERNATIVES = [
    # ---------------------------------------------------------------- weights_init
    alternative("weights_init", "classic DCGAN class-name test, .data.normal_ and fill_", """
def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1 and classname.endswith("2d"):  # Conv2d, ConvTranspose2d
        m.weight.data.normal_(0.0, 0.02)
        if m.bias is not None:
            m.bias.data.fill_(0)
    elif classname == "BatchNorm2d":
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)
"""),
    alternative("weights_init", "type(m) in (...), nn.init.normal_ and constant_", """
def weights_init(module: nn.Module) -> None:
    if type(module) in (nn.Conv2d, nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.constant_(module.bias, 0.0)
    if type(module) is nn.BatchNorm2d:
        nn.init.normal_(module.weight, mean=1.0, std=0.02)
        nn.init.constant_(module.bias, 0)
"""),
    alternative("weights_init", "under torch.no_grad with copy_ of randn_like and zero_()", """
def weights_init(module):
    with torch.no_grad():
        if isinstance(module, nn.Conv2d) or isinstance(module, nn.ConvTranspose2d):
            module.weight.copy_(0.02 * torch.randn_like(module.weight))
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, nn.BatchNorm2d) and module.weight is not None:
            module.weight.copy_(1.0 + 0.02 * torch.randn_like(module.weight))
            module.bias.zero_()
"""),
    # ---------------------------------------------------------------- clip_gradients
    alternative("clip_gradients", "nn.utils.clip_grad_norm_ (returns the norm before clipping)", """
def clip_gradients(model, max_norm):
    return nn.utils.clip_grad_norm_(model.parameters(), max_norm)
"""),
    alternative("clip_gradients", "python floats, scale only when too large, no eps, returns a float", """
def clip_gradients(model: nn.Module, max_norm: float) -> float:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    total = sum(float((g.double() ** 2).sum()) for g in grads) ** 0.5
    if total > max_norm:
        for g in grads:
            g.mul_(max_norm / total)
    return total
"""),
    alternative("clip_gradients", "norm of one concatenated vector, torch.where for the factor", """
def clip_gradients(model, max_norm):
    params = [p for p in model.parameters() if p.grad is not None]
    if len(params) == 0:
        return torch.zeros(())
    flat = torch.cat([p.grad.detach().flatten() for p in params])  # every gradient entry
    total_norm = flat.norm(2)
    factor = torch.where(total_norm > max_norm, max_norm / (total_norm + 1e-6), torch.ones_like(total_norm))
    for p in params:
        p.grad.detach().mul_(factor)
    return total_norm
"""),
    alternative("clip_gradients", "get_total_norm and clip_grads_with_norm_", """
def clip_gradients(model, max_norm):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    norm = torch.nn.utils.get_total_norm(grads, norm_type=2.0)
    torch.nn.utils.clip_grads_with_norm_([p for p in model.parameters() if p.grad is not None], max_norm, norm)
    return norm
"""),
    # ---------------------------------------------------------------- make_optimizers
    alternative("make_optimizers", "a generator expression over (model, lr) pairs", """
def make_optimizers(G, D, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)):
    return tuple(torch.optim.Adam(m.parameters(), lr=lr, betas=betas) for m, lr in ((G, lr_g), (D, lr_d)))
"""),
    alternative("make_optimizers", "parameter groups, betas as a tuple of floats", """
def make_optimizers(G: nn.Module, D: nn.Module, lr_g: float = 2e-4, lr_d: float = 2e-4,
                    betas=(0.5, 0.999)):
    beta1, beta2 = betas
    opt_G = torch.optim.Adam([{"params": list(G.parameters())}], lr=lr_g, betas=(float(beta1), float(beta2)))
    opt_D = torch.optim.Adam([{"params": list(D.parameters()), "lr": lr_d}], lr=lr_g, betas=(beta1, beta2))
    return opt_G, opt_D
"""),
    alternative("make_optimizers", "trainable parameters only, extra weight_decay keyword", """
def make_optimizers(G, D, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), weight_decay=0.0):
    trainable = lambda m: [p for p in m.parameters() if p.requires_grad]
    opt_G = torch.optim.Adam(trainable(G), lr_g, betas, weight_decay=weight_decay)
    opt_D = torch.optim.Adam(trainable(D), lr_d, betas, weight_decay=weight_decay)
    return (opt_G, opt_D)
"""),
    # ---------------------------------------------------------------- instance_noise
    alternative("instance_noise", "randn_like(x) * std", """
def instance_noise(x, std):
    return x + torch.randn_like(x) * std
"""),
    alternative("instance_noise", "torch.normal around x", """
def instance_noise(x: torch.Tensor, std: float) -> torch.Tensor:
    return torch.normal(mean=x, std=float(std))
"""),
    alternative("instance_noise", "clone().add_(noise, alpha=std)", """
def instance_noise(x, std):
    return x.clone().add_(torch.randn_like(x), alpha=std)
"""),
    alternative("instance_noise", "empty_like().normal_(0, std), shortcut for std 0", """
def instance_noise(x, std):
    if std == 0:
        return x.clone()
    return x + torch.empty_like(x).normal_(mean=0.0, std=std)
"""),
    # ---------------------------------------------------------------- least-squares losses
    alternative("ls_discriminator_loss", "half of F.mse_loss against ones_like / zeros_like", """
def ls_discriminator_loss(real_out, fake_out):
    return 0.5 * F.mse_loss(real_out, torch.ones_like(real_out)) + 0.5 * F.mse_loss(fake_out, torch.zeros_like(fake_out))
"""),
    alternative("ls_discriminator_loss", "square() and mean() over the two terms, then / 2", """
def ls_discriminator_loss(real_out, fake_out):
    return ((real_out - 1).square().mean() + fake_out.square().mean()) / 2
"""),
    alternative("ls_discriminator_loss", "nn.MSELoss instance, pow(2) of the fakes", """
def ls_discriminator_loss(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    mse = nn.MSELoss()
    return 0.5 * mse(real_out, torch.full_like(real_out, 1.0)) + 0.5 * fake_out.pow(2).mean()
"""),
    alternative("ls_generator_loss", "half of F.mse_loss against ones_like", """
def ls_generator_loss(fake_out):
    return 0.5 * F.mse_loss(fake_out, torch.ones_like(fake_out))
"""),
    alternative("ls_generator_loss", "torch.mean((1 - x) ** 2) / 2", """
def ls_generator_loss(fake_out):
    return torch.mean((1 - fake_out) ** 2) / 2
"""),
    alternative("ls_generator_loss", "sub(1).square().mean().mul(0.5)", """
def ls_generator_loss(fake_out: torch.Tensor) -> torch.Tensor:
    return fake_out.sub(1).square().mean().mul(0.5)
"""),
    # ---------------------------------------------------------------- red-team additions
    alternative("weights_init", "loops over module.modules() itself (model.apply calls it again on each)", """
def weights_init(module):
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
"""),
    alternative("weights_init", "BatchNorm2d first, std by keyword, bias.data.zero_()", """
def weights_init(module):
    if isinstance(module, nn.BatchNorm2d):
        torch.nn.init.normal_(module.weight, mean=1.0, std=0.02)
        module.bias.data.zero_()
    elif isinstance(module, (nn.ConvTranspose2d, nn.Conv2d)):
        torch.nn.init.normal_(tensor=module.weight, std=0.02)
        if module.bias is not None:
            module.bias.data.zero_()
"""),
    alternative("clip_gradients", "p.grad = p.grad * scale, norm of the stacked norms", """
def clip_gradients(model, max_norm):
    params = [p for p in model.parameters() if p.grad is not None]
    total = torch.norm(torch.stack([torch.norm(p.grad.detach(), 2) for p in params]), 2)
    scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for p in params:
        p.grad = p.grad * scale
    return total
"""),
    alternative("clip_gradients", "float64 sum of squares, math.sqrt, torch._foreach_mul_", """
import math


def clip_gradients(model, max_norm):
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    total = math.sqrt(sum(g.detach().double().pow(2).sum().item() for g in grads))
    coef = max_norm / (total + 1e-6)
    if coef < 1:
        torch._foreach_mul_(grads, coef)
    return torch.tensor(total)
"""),
    alternative("make_optimizers", "keyword params=, explicit eps, through a dict", """
def make_optimizers(G, D, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999)):
    make = lambda model, lr: torch.optim.Adam(params=model.parameters(), lr=lr, betas=tuple(betas), eps=1e-8)
    opts = {"G": make(G, lr_g), "D": make(D, lr_d)}
    return opts["G"], opts["D"]
"""),
    alternative("instance_noise", "torch.randn(shape, dtype, device) and torch.add(alpha=std)", """
def instance_noise(x, std):
    noise = torch.randn(x.shape, dtype=x.dtype, device=x.device)
    return torch.add(x, noise, alpha=std)
"""),
    alternative("instance_noise", "x minus the noise (the same distribution)", """
def instance_noise(x, std):
    return x - std * torch.randn_like(x)
"""),
    alternative("ls_discriminator_loss", "0.5 * mean of the summed squares (equal batch sizes)", """
def ls_discriminator_loss(real_out, fake_out):
    return 0.5 * torch.mean((real_out - 1) ** 2 + fake_out ** 2)
"""),
    alternative("ls_generator_loss", "a 0-dim CPU tensor factor", """
def ls_generator_loss(fake_out):
    return torch.tensor(0.5) * ((fake_out - 1) ** 2).mean()
"""),
    alternative("ls_generator_loss", "sum / (2 * numel)", """
def ls_generator_loss(fake_out):
    return ((fake_out - 1) ** 2).sum() / (2 * fake_out.numel())
"""),
]

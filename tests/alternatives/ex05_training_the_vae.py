from . import alternative

ALTERNATIVES = [
    # ---------------------------------------------------------------- vae_train_step
    alternative("vae_train_step", "model.train() first, zero_grad(set_to_none=True) first, dict comprehension", """
def vae_train_step(model, x, optimizer, beta=1.0):
    model.train()
    optimizer.zero_grad(set_to_none=True)
    x_logits, mu, logvar = model(x)
    loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta=beta)
    loss.backward()
    optimizer.step()
    return {name: value.detach() for name, value in (("loss", loss), ("recon", recon), ("kl", kl))}
"""),
    alternative("vae_train_step", "model.zero_grad(), inline loss terms, .detach().clone(), type hints", """
def vae_train_step(model: nn.Module, x: torch.Tensor, optimizer: torch.optim.Optimizer,
                   beta: float = 1.0) -> dict:
    x_logits, mu, logvar = model(x)
    recon = reconstruction_loss(x_logits, x).mean()
    kl = kl_divergence(mu, logvar).mean()
    loss = recon + beta * kl
    model.zero_grad()
    loss.backward()
    optimizer.step()
    return dict(loss=loss.detach().clone(), recon=recon.detach().clone(), kl=kl.detach().clone())
"""),
    alternative("vae_train_step", "p.grad = None by hand, F.binary_cross_entropy_with_logits(sum) / B, .data", """
def vae_train_step(model, x, optimizer, beta=1.0, *, log=None):
    for group in optimizer.param_groups:
        for p in group["params"]:
            p.grad = None
    x_logits, mu, logvar = model(x)
    B = x.size(0)
    recon = F.binary_cross_entropy_with_logits(x_logits, x, reduction="sum") / B
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum() / B
    loss = recon + beta * kl
    loss.backward()
    optimizer.step()
    out = {"loss": loss.data, "recon": recon.data, "kl": kl.data}
    if log is not None:
        log.append(out)
    return out
"""),
    alternative("vae_train_step", "a helper computing the losses, zero_grad after step too", """
def _losses(model, x, beta):
    x_logits, mu, logvar = model(x)
    return vae_loss(x_logits, x, mu, logvar, beta)


def vae_train_step(model, x, optimizer, beta=1.0):
    optimizer.zero_grad()
    loss, recon, kl = _losses(model, x, beta)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}
"""),
    # ---------------------------------------------------------------- vae_evaluate
    alternative("vae_evaluate", "torch.inference_mode, tensor accumulators, float() at the end", """
def vae_evaluate(model, batches):
    mode = model.training
    model.eval()
    total_recon, total_kl, count = 0, 0, 0
    with torch.inference_mode():
        for x in batches:
            x_logits, mu, logvar = model(x)
            total_recon = total_recon + reconstruction_loss(x_logits, x).sum()
            total_kl = total_kl + kl_divergence(mu, logvar).sum()
            count += len(x)
    model.train(mode)
    recon, kl = float(total_recon / count), float(total_kl / count)
    return {"neg_elbo": recon + kl, "recon": recon, "kl": kl}
"""),
    alternative("vae_evaluate", "@torch.no_grad() decorator, batch means times batch size from vae_loss", """
@torch.no_grad()
def vae_evaluate(model: nn.Module, batches) -> dict:
    was_training = model.training
    model.eval()
    sums = {"neg_elbo": 0.0, "recon": 0.0, "kl": 0.0}
    n = 0
    for x in batches:
        x_logits, mu, logvar = model(x)
        loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta=1.0)
        b = x.shape[0]
        sums["neg_elbo"] += loss.item() * b
        sums["recon"] += recon.item() * b
        sums["kl"] += kl.item() * b
        n += b
    if was_training:
        model.train()
    return {k: v / n for k, v in sums.items()}
"""),
    alternative("vae_evaluate", "per-image losses concatenated, mean at the end, mode restored per module", """
def vae_evaluate(model, batches):
    modes = {m: m.training for m in model.modules()}
    model.eval()
    recons, kls = [], []
    try:
        with torch.no_grad():
            for x in batches:
                x_logits, mu, logvar = model(x)
                recons.append(reconstruction_loss(x_logits, x))
                kls.append(kl_divergence(mu, logvar))
    finally:
        for m, training in modes.items():
            m.training = training
    recon = torch.cat(recons).mean().item()
    kl = torch.cat(kls).mean().item()
    return dict(neg_elbo=recon + kl, recon=recon, kl=kl)
"""),
    alternative("vae_evaluate", "sampling z by hand with reparameterize on encoder outputs, device-aware", """
def vae_evaluate(model, batches):
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    recon_sum = kl_sum = 0.0
    images = 0
    with torch.no_grad():
        for x in batches:
            x = x.to(device)
            mu, logvar = model.encoder(x)
            z = reparameterize(mu, logvar)  # sampled, not z = mu
            recon_sum += reconstruction_loss(model.decoder(z), x).sum().item()
            kl_sum += kl_divergence(mu, logvar).sum().item()
            images += x.shape[0]
    model.train(was_training)
    return {"neg_elbo": (recon_sum + kl_sum) / images, "recon": recon_sum / images, "kl": kl_sum / images}
"""),
    # ---------------------------------------------------------------- interpolate_latents
    alternative("interpolate_latents", "torch.lerp with a (steps, 1) weight", """
def interpolate_latents(z1, z2, steps):
    w = torch.linspace(0.0, 1.0, steps, device=z1.device, dtype=z1.dtype)[:, None]  # (steps, 1)
    return torch.lerp(z1.expand(steps, -1), z2.expand(steps, -1), w)
"""),
    alternative("interpolate_latents", "stack of a Python loop over i / (steps - 1)", """
def interpolate_latents(z1: torch.Tensor, z2: torch.Tensor, steps: int = 10) -> torch.Tensor:
    return torch.stack([z1 + (z2 - z1) * (i / (steps - 1)) for i in range(steps)])
"""),
    alternative("interpolate_latents", "linspace on the CPU then .to(z1), torch.outer", """
def interpolate_latents(z1, z2, steps):
    t = torch.linspace(0, 1, steps).to(z1)  # dtype and device of z1
    return torch.outer(1 - t, z1) + torch.outer(t, z2)
"""),
    alternative("interpolate_latents", "NumPy linspace, new_tensor, unsqueeze", """
import numpy as np
def interpolate_latents(z1, z2, steps):
    t = z1.new_tensor(np.linspace(0.0, 1.0, steps)).unsqueeze(1)  # (steps, 1)
    return z1.unsqueeze(0) * (1 - t) + z2.unsqueeze(0) * t
"""),

    # ---------------------------------------------------------------- red-team round
    alternative("vae_train_step", "optimizer.step(closure), the losses kept from the closure", """
def vae_train_step(model, x, optimizer, beta=1.0):
    out = {}

    def closure():
        optimizer.zero_grad()
        x_logits, mu, logvar = model(x)
        loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta=beta)
        loss.backward()
        out.update(loss=loss.detach(), recon=recon.detach(), kl=kl.detach())
        return loss

    optimizer.step(closure)
    return out
"""),
    alternative("vae_evaluate", "float64 accumulator tensor, train(False), try/finally, a device keyword", """
def vae_evaluate(model, batches, *, device=None):
    was = model.training
    model.train(False)
    total = torch.zeros(2, dtype=torch.float64)
    n = 0
    try:
        with torch.no_grad():
            for x in batches:
                x = x if device is None else x.to(device)
                x_logits, mu, logvar = model(x)
                sums = torch.stack([reconstruction_loss(x_logits, x).sum(), kl_divergence(mu, logvar).sum()])
                total += sums.double().cpu()
                n += int(x.size(0))
    finally:
        model.train(was)
    recon, kl = (total / n).tolist()
    return {"neg_elbo": recon + kl, "recon": recon, "kl": kl}
"""),
    alternative("interpolate_latents", "einsum outer products, t made in float64 and cast to z1's dtype", """
def interpolate_latents(z1, z2, steps):
    t = torch.linspace(0, 1, steps, dtype=torch.float64, device=z1.device).to(z1.dtype)
    return torch.einsum("s,d->sd", 1 - t, z1) + torch.einsum("s,d->sd", t, z2)
"""),
    alternative("interpolate_latents", "in-place ops on a fresh z1.repeat, last row set to z2", """
def interpolate_latents(z1, z2, steps):
    path = z1.repeat(steps, 1)
    t = torch.linspace(0, 1, steps, dtype=z1.dtype, device=z1.device).unsqueeze(1)
    path.add_(t * (z2 - z1))
    path[-1] = z2
    return path
"""),
]

from . import mistake

MISTAKES = [
    # ---------------------------------------------------------------- vae_train_step
    mistake("vae_train_step", "loss and recon returned under each other's names", """
def vae_train_step(model, x, optimizer, beta=1.0):
    x_logits, mu, logvar = model(x)
    loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"loss": recon.detach(), "recon": loss.detach(), "kl": kl.detach()}
""", "losses_match_recomputation"),
    mistake("vae_train_step", "never zeroes the gradients", """
def vae_train_step(model, x, optimizer, beta=1.0):
    x_logits, mu, logvar = model(x)
    loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta)
    loss.backward()
    optimizer.step()
    return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}
""", "no_gradient_accumulation"),
    mistake("vae_train_step", "zeroes the gradients between backward and step", """
def vae_train_step(model, x, optimizer, beta=1.0):
    x_logits, mu, logvar = model(x)
    loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta)
    loss.backward()
    optimizer.zero_grad()
    optimizer.step()
    return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}
""", "updates_weights", "no_gradient_accumulation", "uses_beta"),
    mistake("vae_train_step", "backpropagates the reconstruction term only", """
def vae_train_step(model, x, optimizer, beta=1.0):
    x_logits, mu, logvar = model(x)
    loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta)
    optimizer.zero_grad()
    recon.backward()
    optimizer.step()
    return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}
""", "updates_weights", "no_gradient_accumulation", "uses_beta"),
    mistake("vae_train_step", "ignores beta", """
def vae_train_step(model, x, optimizer, beta=1.0):
    x_logits, mu, logvar = model(x)
    loss, recon, kl = vae_loss(x_logits, x, mu, logvar)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}
""", "uses_beta", "losses_match_recomputation"),
    mistake("vae_train_step", "returns the losses without detaching", """
def vae_train_step(model, x, optimizer, beta=1.0):
    x_logits, mu, logvar = model(x)
    loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"loss": loss, "recon": recon, "kl": kl}
""", "returns_detached_scalars"),
    mistake("vae_train_step", "returns attached losses in a tensor subclass whose requires_grad says False", """
import torch
class _Attached(torch.Tensor):
    @property
    def requires_grad(self):
        return False
def vae_train_step(model, x, optimizer, beta=1.0):
    x_logits, mu, logvar = model(x)
    loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"loss": loss.as_subclass(_Attached), "recon": recon.as_subclass(_Attached), "kl": kl.as_subclass(_Attached)}
""", "returns_detached_scalars"),
    mistake("vae_train_step", "returns Python floats (.item())", """
def vae_train_step(model, x, optimizer, beta=1.0):
    x_logits, mu, logvar = model(x)
    loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}
""", "returns_detached_scalars"),
    mistake("vae_train_step", "reports losses recomputed after the update", """
import torch
def vae_train_step(model, x, optimizer, beta=1.0):
    x_logits, mu, logvar = model(x)
    loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        x_logits, mu, logvar = model(x)
        loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta)
    return {"loss": loss, "recon": recon, "kl": kl}
""", "losses_match_recomputation"),
    # ---------------------------------------------------------------- vae_evaluate
    mistake("vae_evaluate", "decodes z = mu at test time", """
import torch
def vae_evaluate(model, batches):
    was_training = model.training
    model.eval()
    recon, kl, n = 0.0, 0.0, 0
    with torch.no_grad():
        for x in batches:
            mu, logvar = model.encoder(x)
            recon += reconstruction_loss(model.decoder(mu), x).sum().item()
            kl += kl_divergence(mu, logvar).sum().item()
            n += x.shape[0]
    model.train(was_training)
    return {"neg_elbo": (recon + kl) / n, "recon": recon / n, "kl": kl / n}
""", "samples_z"),
    mistake("vae_evaluate", "no torch.no_grad()", """
def vae_evaluate(model, batches):
    was_training = model.training
    model.eval()
    recon, kl, n = 0.0, 0.0, 0
    for x in batches:
        x_logits, mu, logvar = model(x)
        recon += reconstruction_loss(x_logits, x).sum().item()
        kl += kl_divergence(mu, logvar).sum().item()
        n += x.shape[0]
    model.train(was_training)
    return {"neg_elbo": (recon + kl) / n, "recon": recon / n, "kl": kl / n}
""", "no_grad"),
    mistake("vae_evaluate", "averages the batch means", """
import torch
def vae_evaluate(model, batches):
    was_training = model.training
    model.eval()
    recon, kl, count = 0.0, 0.0, 0
    with torch.no_grad():
        for x in batches:
            x_logits, mu, logvar = model(x)
            recon += reconstruction_loss(x_logits, x).mean().item()
            kl += kl_divergence(mu, logvar).mean().item()
            count += 1
    model.train(was_training)
    return {"neg_elbo": (recon + kl) / count, "recon": recon / count, "kl": kl / count}
""", "values"),
    mistake("vae_evaluate", "counts the images with a first pass over batches", """
import torch
def vae_evaluate(model, batches):
    n = sum(x.shape[0] for x in batches)
    was_training = model.training
    model.eval()
    recon, kl = 0.0, 0.0
    with torch.no_grad():
        for x in batches:
            x_logits, mu, logvar = model(x)
            recon += reconstruction_loss(x_logits, x).sum().item()
            kl += kl_divergence(mu, logvar).sum().item()
    model.train(was_training)
    return {"neg_elbo": (recon + kl) / n, "recon": recon / n, "kl": kl / n}
""", "values"),
    mistake("vae_evaluate", "leaves the model in eval mode", """
import torch
def vae_evaluate(model, batches):
    model.eval()
    recon, kl, n = 0.0, 0.0, 0
    with torch.no_grad():
        for x in batches:
            x_logits, mu, logvar = model(x)
            recon += reconstruction_loss(x_logits, x).sum().item()
            kl += kl_divergence(mu, logvar).sum().item()
            n += x.shape[0]
    return {"neg_elbo": (recon + kl) / n, "recon": recon / n, "kl": kl / n}
""", "eval_mode_and_restores"),
    mistake("vae_evaluate", "always switches back to train mode", """
import torch
def vae_evaluate(model, batches):
    model.eval()
    recon, kl, n = 0.0, 0.0, 0
    with torch.no_grad():
        for x in batches:
            x_logits, mu, logvar = model(x)
            recon += reconstruction_loss(x_logits, x).sum().item()
            kl += kl_divergence(mu, logvar).sum().item()
            n += x.shape[0]
    model.train()
    return {"neg_elbo": (recon + kl) / n, "recon": recon / n, "kl": kl / n}
""", "eval_mode_and_restores"),
    mistake("vae_evaluate", "never switches to eval mode", """
import torch
def vae_evaluate(model, batches):
    recon, kl, n = 0.0, 0.0, 0
    with torch.no_grad():
        for x in batches:
            x_logits, mu, logvar = model(x)
            recon += reconstruction_loss(x_logits, x).sum().item()
            kl += kl_divergence(mu, logvar).sum().item()
            n += x.shape[0]
    return {"neg_elbo": (recon + kl) / n, "recon": recon / n, "kl": kl / n}
""", "eval_mode_and_restores"),
    mistake("vae_evaluate", "returns tensors instead of floats", """
import torch
def vae_evaluate(model, batches):
    was_training = model.training
    model.eval()
    recon, kl, n = 0.0, 0.0, 0
    with torch.no_grad():
        for x in batches:
            x_logits, mu, logvar = model(x)
            recon = recon + reconstruction_loss(x_logits, x).sum()
            kl = kl + kl_divergence(mu, logvar).sum()
            n += x.shape[0]
    model.train(was_training)
    return {"neg_elbo": (recon + kl) / n, "recon": recon / n, "kl": kl / n}
""", "returns_floats"),
    mistake("vae_evaluate", "torch.set_grad_enabled(False) and never back", """
import torch
def vae_evaluate(model, batches):
    was_training = model.training
    model.eval()
    torch.set_grad_enabled(False)
    recon, kl, n = 0.0, 0.0, 0
    for x in batches:
        x_logits, mu, logvar = model(x)
        recon += reconstruction_loss(x_logits, x).sum().item()
        kl += kl_divergence(mu, logvar).sum().item()
        n += x.shape[0]
    model.train(was_training)
    return {"neg_elbo": (recon + kl) / n, "recon": recon / n, "kl": kl / n}
""", "no_grad"),
    # ---------------------------------------------------------------- interpolate_latents
    mistake("interpolate_latents", "leaves out the last point (arange / steps)", """
import torch
def interpolate_latents(z1, z2, steps):
    t = (torch.arange(steps, dtype=z1.dtype, device=z1.device) / steps).unsqueeze(1)
    return (1 - t) * z1 + t * z2
""", "shape_and_ends", "linear_path"),
    mistake("interpolate_latents", "runs from z2 to z1", """
import torch
def interpolate_latents(z1, z2, steps):
    t = torch.linspace(0, 1, steps, dtype=z1.dtype, device=z1.device).unsqueeze(1)
    return t * z1 + (1 - t) * z2
""", "shape_and_ends", "linear_path"),
    mistake("interpolate_latents", "steps + 1 points", """
import torch
def interpolate_latents(z1, z2, steps):
    t = torch.linspace(0, 1, steps + 1, dtype=z1.dtype, device=z1.device).unsqueeze(1)
    return (1 - t) * z1 + t * z2
""", "shape_and_ends", "linear_path"),
    mistake("interpolate_latents", "forgets to subtract z1 (z1 + t * z2)", """
import torch
def interpolate_latents(z1, z2, steps):
    t = torch.linspace(0, 1, steps, dtype=z1.dtype, device=z1.device).unsqueeze(1)
    return z1 + t * z2
""", "shape_and_ends", "linear_path"),
    mistake("interpolate_latents", "spherical interpolation instead of linear", """
import torch
def interpolate_latents(z1, z2, steps):
    t = torch.linspace(0, 1, steps, dtype=z1.dtype, device=z1.device).unsqueeze(1)
    omega = torch.arccos(torch.clamp(torch.dot(z1 / z1.norm(), z2 / z2.norm()), -1, 1))
    return (torch.sin((1 - t) * omega) * z1 + torch.sin(t * omega) * z2) / torch.sin(omega)
""", "linear_path"),
    mistake("interpolate_latents", "builds t on the CPU in float32", """
import torch
def interpolate_latents(z1, z2, steps):
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    return (1 - t) * z1 + t * z2
""", "keeps_dtype_and_device"),
    mistake("interpolate_latents", "t on the codes' device but without dtype= (float32 t promotes float16 codes)", """
import torch
def interpolate_latents(z1, z2, steps):
    t = torch.linspace(0, 1, steps, device=z1.device).unsqueeze(1)
    return (1 - t) * z1 + t * z2
""", "keeps_dtype_and_device"),

    # ---------------------------------------------------------------- red-team round: optimizer misuse
    mistake("vae_train_step", "clips the gradient norm to 1 before the step", """
import torch
def vae_train_step(model, x, optimizer, beta=1.0):
    x_logits, mu, logvar = model(x)
    loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}
""", "updates_weights", "no_gradient_accumulation", "uses_beta"),
    mistake("vae_train_step", "backpropagates the loss divided by the batch size", """
def vae_train_step(model, x, optimizer, beta=1.0):
    x_logits, mu, logvar = model(x)
    loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta)
    optimizer.zero_grad()
    (loss / x.shape[0]).backward()
    optimizer.step()
    return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}
""", "updates_weights", "no_gradient_accumulation", "uses_beta"),
    mistake("vae_train_step", "calls optimizer.step() twice", """
def vae_train_step(model, x, optimizer, beta=1.0):
    x_logits, mu, logvar = model(x)
    loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    optimizer.step()
    return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}
""", "updates_weights", "no_gradient_accumulation", "uses_beta"),
    mistake("vae_train_step", "builds its own Adam instead of using the optimizer passed in", """
import torch
def vae_train_step(model, x, optimizer, beta=1.0):
    x_logits, mu, logvar = model(x)
    loss, recon, kl = vae_loss(x_logits, x, mu, logvar, beta)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}
""", "updates_weights", "no_gradient_accumulation", "uses_beta"),
    # ---------------------------------------------------------------- vae_evaluate
    mistake("vae_evaluate", "returns inside the loop (first batch only)", """
import torch
def vae_evaluate(model, batches):
    was_training = model.training
    model.eval()
    recon, kl, n = 0.0, 0.0, 0
    with torch.no_grad():
        for x in batches:
            x_logits, mu, logvar = model(x)
            recon += reconstruction_loss(x_logits, x).sum().item()
            kl += kl_divergence(mu, logvar).sum().item()
            n += x.shape[0]
            model.train(was_training)
            return {"neg_elbo": (recon + kl) / n, "recon": recon / n, "kl": kl / n}
""", "values", "samples_z"),
    mistake("vae_evaluate", "reads model.training after model.eval() (never restores train mode)", """
import torch
def vae_evaluate(model, batches):
    model.eval()
    was_training = model.training
    recon, kl, n = 0.0, 0.0, 0
    with torch.no_grad():
        for x in batches:
            x_logits, mu, logvar = model(x)
            recon += reconstruction_loss(x_logits, x).sum().item()
            kl += kl_divergence(mu, logvar).sum().item()
            n += x.shape[0]
    model.train(was_training)
    return {"neg_elbo": (recon + kl) / n, "recon": recon / n, "kl": kl / n}
""", "eval_mode_and_restores"),
    mistake("vae_evaluate", "switches only the encoder to eval mode", """
import torch
def vae_evaluate(model, batches):
    was_training = model.training
    model.encoder.eval()
    recon, kl, n = 0.0, 0.0, 0
    with torch.no_grad():
        for x in batches:
            x_logits, mu, logvar = model(x)
            recon += reconstruction_loss(x_logits, x).sum().item()
            kl += kl_divergence(mu, logvar).sum().item()
            n += x.shape[0]
    model.train(was_training)
    return {"neg_elbo": (recon + kl) / n, "recon": recon / n, "kl": kl / n}
""", "eval_mode_and_restores"),
    mistake("vae_evaluate", "counts images as batches x the first batch size", """
import torch
def vae_evaluate(model, batches):
    was_training = model.training
    model.eval()
    recon, kl, count, size = 0.0, 0.0, 0, None
    with torch.no_grad():
        for x in batches:
            size = size or x.shape[0]
            x_logits, mu, logvar = model(x)
            recon += reconstruction_loss(x_logits, x).sum().item()
            kl += kl_divergence(mu, logvar).sum().item()
            count += 1
    model.train(was_training)
    n = count * size
    return {"neg_elbo": (recon + kl) / n, "recon": recon / n, "kl": kl / n}
""", "values"),
    # ---------------------------------------------------------------- interpolate_latents
    mistake("interpolate_latents", "z2.sub_(z1) in place (the caller's z2 changes)", """
import torch
def interpolate_latents(z1, z2, steps):
    t = torch.linspace(0, 1, steps, dtype=z1.dtype, device=z1.device).unsqueeze(1)
    d = z2.sub_(z1)
    return z1 + t * d
""", "linear_path"),
    mistake("interpolate_latents", "t from np.linspace (float64) moved to the device only", """
import numpy as np
import torch
def interpolate_latents(z1, z2, steps):
    t = torch.from_numpy(np.linspace(0, 1, steps)).unsqueeze(1).to(z1.device)
    return (1 - t) * z1 + t * z2
""", "keeps_dtype_and_device"),
]

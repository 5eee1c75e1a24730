from . import mistake

MISTAKES = [
    # ---------------------------------------------------------------- kl_divergence
    mistake("kl_divergence", "right values, rebuilt with torch.tensor (the graph is cut)", """
def kl_divergence(mu, logvar):
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
    return torch.tensor(kl.tolist(), dtype=mu.dtype, device=mu.device)
""", "backpropagates", "keeps_dtype_and_device"),
    mistake("kl_divergence", "computed in NumPy", """
import numpy as np
def kl_divergence(mu, logvar):
    m, lv = mu.detach().cpu().numpy(), logvar.detach().cpu().numpy()
    return torch.from_numpy(-0.5 * np.sum(1 + lv - m ** 2 - np.exp(lv), axis=1))
""", "backpropagates", "keeps_dtype_and_device"),
    mistake("kl_divergence", "wrong sign", """
import torch
def kl_divergence(mu, logvar):
    return 0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
""", "matches_torch_distributions", "logvar_is_log_variance"),
    mistake("kl_divergence", "averaged over the latent dimensions", """
import torch
def kl_divergence(mu, logvar):
    return -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
""", "matches_torch_distributions", "sums_over_latent_dims", "logvar_is_log_variance"),
    mistake("kl_divergence", "logvar read as log(sigma)", """
import torch
def kl_divergence(mu, logvar):
    return -0.5 * torch.sum(1 + 2 * logvar - mu.pow(2) - torch.exp(2 * logvar), dim=1)
""", "matches_torch_distributions", "logvar_is_log_variance"),
    mistake("kl_divergence", "missing the factor 0.5", """
import torch
def kl_divergence(mu, logvar):
    return -torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
""", "matches_torch_distributions", "logvar_is_log_variance"),
    mistake("kl_divergence", "forgets the constant 1", """
import torch
def kl_divergence(mu, logvar):
    return -0.5 * torch.sum(logvar - mu.pow(2) - logvar.exp(), dim=1)
""", "zero_at_prior", "matches_torch_distributions", "logvar_is_log_variance"),
    mistake("kl_divergence", "sums over the batch too (a scalar)", """
import torch
def kl_divergence(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
""", "zero_at_prior", "matches_torch_distributions", "sums_over_latent_dims", "logvar_is_log_variance"),
    mistake("kl_divergence", "builds the constant 1 as a CPU tensor", """
import torch
def kl_divergence(mu, logvar):
    return -0.5 * torch.sum(torch.ones(mu.shape) + logvar - mu.pow(2) - logvar.exp(), dim=1)
""", "keeps_dtype_and_device"),
    # ---------------------------------------------------------------- reconstruction_loss
    mistake("reconstruction_loss", "a loop of .item() values into a new tensor", """
def reconstruction_loss(x_logits, x):
    values = [F.binary_cross_entropy_with_logits(x_logits[i], x[i], reduction="sum").item() for i in range(len(x))]
    return torch.tensor(values, dtype=x_logits.dtype, device=x_logits.device)
""", "backpropagates", "keeps_dtype_and_device"),
    mistake("reconstruction_loss", "detached logits", """
def reconstruction_loss(x_logits, x):
    return F.binary_cross_entropy_with_logits(x_logits.detach(), x, reduction="none").flatten(1).sum(1)
""", "backpropagates"),
    mistake("reconstruction_loss", "averaged over pixels", """
import torch.nn.functional as F
def reconstruction_loss(x_logits, x):
    return F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").flatten(1).mean(dim=1)
""", "matches_bce_with_logits", "stable_for_large_logits"),
    mistake("reconstruction_loss", "reduction='sum' over the whole batch (a scalar)", """
import torch.nn.functional as F
def reconstruction_loss(x_logits, x):
    return F.binary_cross_entropy_with_logits(x_logits, x, reduction="sum")
""", "matches_bce_with_logits", "stable_for_large_logits"),
    mistake("reconstruction_loss", "sigmoid first, then binary_cross_entropy", """
import torch
import torch.nn.functional as F
def reconstruction_loss(x_logits, x):
    return F.binary_cross_entropy(torch.sigmoid(x_logits), x, reduction="none").flatten(1).sum(dim=1)
""", "stable_for_large_logits"),
    mistake("reconstruction_loss", "hand-written BCE through log(sigmoid)", """
import torch
def reconstruction_loss(x_logits, x):
    p = torch.sigmoid(x_logits)
    return -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(dim=1)
""", "stable_for_large_logits"),
    mistake("reconstruction_loss", "sigmoid applied before binary_cross_entropy_with_logits", """
import torch
import torch.nn.functional as F
def reconstruction_loss(x_logits, x):
    return F.binary_cross_entropy_with_logits(torch.sigmoid(x_logits), x, reduction="none").flatten(1).sum(dim=1)
""", "matches_bce_with_logits", "stable_for_large_logits"),
    mistake("reconstruction_loss", "casts the targets to float32", """
import torch.nn.functional as F
def reconstruction_loss(x_logits, x):
    return F.binary_cross_entropy_with_logits(x_logits, x.float(), reduction="none").flatten(1).sum(dim=1)
""", "keeps_dtype_and_device"),
    # ---------------------------------------------------------------- vae_loss
    mistake("vae_loss", "sums over the batch", """
def vae_loss(x_logits, x, mu, logvar, beta=1.0):
    recon = reconstruction_loss(x_logits, x).sum()
    kl = kl_divergence(mu, logvar).sum()
    return recon + beta * kl, recon, kl
""", "batch_means", "beta_weighting", "loss_backpropagates"),
    mistake("vae_loss", "beta weights the reconstruction term", """
def vae_loss(x_logits, x, mu, logvar, beta=1.0):
    recon = reconstruction_loss(x_logits, x).mean()
    kl = kl_divergence(mu, logvar).mean()
    return beta * recon + kl, recon, kl
""", "beta_weighting", "loss_backpropagates"),
    mistake("vae_loss", "ignores beta", """
def vae_loss(x_logits, x, mu, logvar, beta=1.0):
    recon = reconstruction_loss(x_logits, x).mean()
    kl = kl_divergence(mu, logvar).mean()
    return recon + kl, recon, kl
""", "beta_weighting", "loss_backpropagates"),
    mistake("vae_loss", "returns the beta-weighted KL as kl", """
def vae_loss(x_logits, x, mu, logvar, beta=1.0):
    recon = reconstruction_loss(x_logits, x).mean()
    kl = beta * kl_divergence(mu, logvar).mean()
    return recon + kl, recon, kl
""", "beta_weighting"),
    mistake("vae_loss", "subtracts the KL", """
def vae_loss(x_logits, x, mu, logvar, beta=1.0):
    recon = reconstruction_loss(x_logits, x).mean()
    kl = kl_divergence(mu, logvar).mean()
    return recon - beta * kl, recon, kl
""", "batch_means", "beta_weighting", "loss_backpropagates"),
    mistake("vae_loss", "detaches the loss", """
def vae_loss(x_logits, x, mu, logvar, beta=1.0):
    recon = reconstruction_loss(x_logits, x).mean()
    kl = kl_divergence(mu, logvar).mean()
    return (recon + beta * kl).detach(), recon, kl
""", "loss_backpropagates"),
    mistake("vae_loss", "returns (recon, kl, loss)", """
def vae_loss(x_logits, x, mu, logvar, beta=1.0):
    recon = reconstruction_loss(x_logits, x).mean()
    kl = kl_divergence(mu, logvar).mean()
    return recon, kl, recon + beta * kl
""", "batch_means", "beta_weighting", "loss_backpropagates"),

    # ---------------------------------------------------------------- red-team round
    mistake("kl_divergence", "divided by the batch size", """
def kl_divergence(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1) / mu.shape[0]
""", "matches_torch_distributions", "logvar_is_log_variance"),
    mistake("kl_divergence", "keepdim=True: shape (B, 1)", """
def kl_divergence(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1, keepdim=True)
""", "zero_at_prior", "matches_torch_distributions", "sums_over_latent_dims", "logvar_is_log_variance"),
    mistake("kl_divergence", "logvar.exp_() in place on the caller's logvar", """
def kl_divergence(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp_(), dim=1)
""", "backpropagates"),
    mistake("reconstruction_loss", "clamps the logits to [-10, 10] first", """
def reconstruction_loss(x_logits, x):
    return F.binary_cross_entropy_with_logits(x_logits.clamp(-10, 10), x, reduction="none").flatten(1).sum(1)
""", "stable_for_large_logits"),
    mistake("reconstruction_loss", "binarises the targets (x > 0.5)", """
def reconstruction_loss(x_logits, x):
    target = (x > 0.5).to(x.dtype)
    return F.binary_cross_entropy_with_logits(x_logits, target, reduction="none").flatten(1).sum(1)
""", "matches_bce_with_logits", "stable_for_large_logits"),
    mistake("vae_loss", "inline BCE with the default reduction='mean' (per pixel)", """
def vae_loss(x_logits, x, mu, logvar, beta=1.0):
    recon = F.binary_cross_entropy_with_logits(x_logits, x)
    kl = kl_divergence(mu, logvar).mean()
    return recon + beta * kl, recon, kl
""", "batch_means", "beta_weighting", "loss_backpropagates"),
    mistake("vae_loss", "inline KL averaged over every element (torch.mean)", """
def vae_loss(x_logits, x, mu, logvar, beta=1.0):
    recon = reconstruction_loss(x_logits, x).mean()
    kl = -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())
    return recon + beta * kl, recon, kl
""", "batch_means", "beta_weighting", "loss_backpropagates"),
    mistake("vae_loss", "detaches the KL term", """
def vae_loss(x_logits, x, mu, logvar, beta=1.0):
    recon = reconstruction_loss(x_logits, x).mean()
    kl = kl_divergence(mu, logvar).mean().detach()
    return recon + beta * kl, recon, kl
""", "loss_backpropagates"),
]

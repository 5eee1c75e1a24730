from . import alternative

ALTERNATIVES = [
    # ---------------------------------------------------------------- frechet_distance
    alternative("frechet_distance", "the pytorch-fid recipe: sqrtm, iscomplexobj, offset fallback", """
import numpy as np
from scipy import linalg


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    to_np = lambda a: np.asarray(a.detach().cpu().double() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    mu1, mu2 = np.atleast_1d(to_np(mu1)), np.atleast_1d(to_np(mu2))
    sigma1, sigma2 = np.atleast_2d(to_np(sigma1)), np.atleast_2d(to_np(sigma2))
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    tr_covmean = np.trace(covmean)
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)
"""),
    alternative("frechet_distance", "eigenvalues of sqrt(S1) S2 sqrt(S1) (NumPy, no sqrtm)", """
def _as_float64(a) -> np.ndarray:
    \"\"\"A float64 NumPy array from an array or a tensor.\"\"\"
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    \"\"\"Symmetric square root of a positive semi-definite matrix.\"\"\"
    w, v = np.linalg.eigh(s)
    return v @ np.diag(np.sqrt(np.maximum(w, 0.0))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    mu1, mu2 = _as_float64(mu1).reshape(-1), _as_float64(mu2).reshape(-1)  # (F,)
    s1, s2 = _as_float64(sigma1), _as_float64(sigma2)  # (F, F)
    s1, s2 = s1.reshape(mu1.size, mu1.size), s2.reshape(mu2.size, mu2.size)
    root = _sqrt_psd(s1)
    m = root @ s2 @ root  # similar to S1 S2, symmetric PSD
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_sqrt = np.sqrt(np.clip(eig, 0, None)).sum()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)
"""),
    alternative("frechet_distance", "torch.linalg in float64 (eigh, eigvalsh)", """
def frechet_distance(mu1, sigma1, mu2, sigma2):
    t = lambda a: torch.as_tensor(a).detach().to(device="cpu", dtype=torch.float64)
    mu1, sigma1, mu2, sigma2 = t(mu1).reshape(-1), t(sigma1), t(mu2).reshape(-1), t(sigma2)
    sigma1, sigma2 = sigma1.reshape(len(mu1), len(mu1)), sigma2.reshape(len(mu2), len(mu2))
    w, v = torch.linalg.eigh(sigma1)
    root = (v * w.clamp(min=0).sqrt()) @ v.T  # sigma1^(1/2)
    middle = root @ sigma2 @ root
    tr_covmean = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    fd = (mu1 - mu2).pow(2).sum() + torch.trace(sigma1) + torch.trace(sigma2) - 2 * tr_covmean
    return fd.item()
"""),
    alternative("frechet_distance", "eigenvalues of the product S1 S2 (np.linalg.eigvals)", """
def frechet_distance(mu1, sigma1, mu2, sigma2):
    arrays = []
    for a in (mu1, sigma1, mu2, sigma2):
        if torch.is_tensor(a):
            a = a.cpu().numpy()
        arrays.append(np.array(a, dtype=np.float64, copy=True))
    mu1, sigma1, mu2, sigma2 = arrays
    eigenvalues = np.linalg.eigvals(np.atleast_2d(sigma1) @ np.atleast_2d(sigma2))  # real and >= 0 in theory
    tr_covmean = np.sqrt(np.clip(eigenvalues.real, 0, None)).sum()
    return float(np.linalg.norm(mu1 - mu2) ** 2 + np.trace(np.atleast_2d(sigma1)) + np.trace(np.atleast_2d(sigma2))
                 - 2.0 * tr_covmean)
"""),
    # ---------------------------------------------------------------- classifier_score
    alternative("classifier_score", "torch float64 with an eps inside the logs", """
def classifier_score(probs, eps: float = 1e-12) -> float:
    p = torch.as_tensor(probs).detach().cpu().double()  # (N, K)
    py = p.mean(dim=0, keepdim=True)  # (1, K)
    kl = (p * (torch.log(p + eps) - torch.log(py + eps))).sum(dim=1)  # (N,)
    return torch.exp(kl.mean()).item()
"""),
    alternative("classifier_score", "exp(H(p(y)) - mean H(p(y|x))) with scipy.stats.entropy", """
import scipy.stats


def classifier_score(probs):
    if torch.is_tensor(probs):
        probs = probs.detach().cpu().numpy()
    p = np.asarray(probs, dtype=np.float64)
    marginal_entropy = scipy.stats.entropy(p.mean(axis=0))  # H(p(y)), natural log
    conditional_entropy = scipy.stats.entropy(p, axis=1).mean()  # E_x H(p(y|x))
    return float(np.exp(marginal_entropy - conditional_entropy))
"""),
    alternative("classifier_score", "NumPy with np.where masking the zeros, log-space marginal", """
def classifier_score(probs):
    p = probs.detach().cpu().numpy() if isinstance(probs, torch.Tensor) else probs
    p = np.array(p, dtype=np.float64)
    log_py = np.log(np.maximum(p.mean(axis=0), np.finfo(np.float64).tiny))  # (K,)
    safe = np.where(p > 0, p, 1.0)
    kl = np.where(p > 0, p * (np.log(safe) - log_py), 0.0).sum(axis=1)  # (N,)
    return float(np.exp(np.mean(kl)))
"""),
    alternative("classifier_score", "torch.special.xlogy, score via math.exp", """
import math


def classifier_score(probs):
    p = torch.tensor(np.asarray(probs.detach().cpu() if torch.is_tensor(probs) else probs), dtype=torch.float64)
    marginal = p.mean(0)
    kl = torch.special.xlogy(p, p).sum(1) - torch.special.xlogy(p, marginal.expand_as(p)).sum(1)
    return math.exp(kl.mean().item())
"""),
    # ---------------------------------------------------------------- class_histogram
    alternative("class_histogram", "torch.bincount(minlength) / numel, returns a tensor", """
def class_histogram(labels, num_classes=10):
    y = torch.as_tensor(labels).detach().cpu().long().flatten()
    return torch.bincount(y, minlength=num_classes).double() / y.numel()
"""),
    alternative("class_histogram", "a plain loop over the labels", """
def class_histogram(labels, num_classes: int = 10):
    counts = [0] * num_classes
    for y in labels:
        counts[int(y)] += 1
    total = sum(counts)
    return np.array([c / total for c in counts])
"""),
    alternative("class_histogram", "np.unique with return_counts scattered into zeros", """
def class_histogram(labels, num_classes=10):
    if torch.is_tensor(labels):
        labels = labels.cpu().numpy()
    values, counts = np.unique(np.asarray(labels, dtype=np.int64), return_counts=True)
    hist = np.zeros(num_classes)
    hist[values] = counts
    return hist / hist.sum()
"""),
    alternative("class_histogram", "np.histogram with integer bin edges, density=False", """
def class_histogram(labels, num_classes=10):
    y = np.asarray(labels.numpy() if isinstance(labels, torch.Tensor) else labels).ravel()
    counts, _ = np.histogram(y, bins=np.arange(num_classes + 1))
    return counts / len(y)
"""),
    alternative("classifier_score", "KL in bits with np.log2, score 2 ** mean (the same number)", """
def classifier_score(probs):
    p = np.asarray(probs.detach().cpu() if torch.is_tensor(probs) else probs, dtype=np.float64)  # (N, K)
    py = p.mean(axis=0, keepdims=True)  # (1, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_bits = np.where(p > 0, p * (np.log2(np.where(p > 0, p, 1)) - np.log2(py)), 0).sum(axis=1)  # (N,)
    return float(2.0 ** kl_bits.mean())
"""),
    alternative("class_histogram", "float32 fractions from torch (counts.float() / counts.sum())", """
def class_histogram(labels, num_classes=10):
    counts = torch.bincount(torch.as_tensor(labels).long(), minlength=num_classes)  # (num_classes,)
    return counts.float() / counts.sum()
"""),
    alternative("class_histogram", "float32 NumPy fractions", """
def class_histogram(labels, num_classes=10):
    y = np.asarray(labels.cpu() if torch.is_tensor(labels) else labels)
    return (np.bincount(y, minlength=num_classes) / len(y)).astype(np.float32)
"""),
    # ---------------------------------------------------------------- red-team additions
    alternative("frechet_distance", "scipy.linalg.fractional_matrix_power(S1 S2, 0.5)", """
import scipy.linalg


def frechet_distance(mu1, sigma1, mu2, sigma2):
    f = lambda a: np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    mu1, mu2, sigma1, sigma2 = map(f, (mu1, mu2, sigma1, sigma2))
    covmean = scipy.linalg.fractional_matrix_power(sigma1 @ sigma2, 0.5)
    if not np.isfinite(covmean).all():
        eps = 1e-6 * np.eye(len(sigma1))
        covmean = scipy.linalg.fractional_matrix_power((sigma1 + eps) @ (sigma2 + eps), 0.5)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)
"""),
    alternative("frechet_distance", "one trace of S1 + S2 - 2 covmean.real, sqrtm of S2 S1", """
import scipy.linalg


def frechet_distance(mu1, sigma1, mu2, sigma2):
    conv = lambda a: a.double().numpy() if torch.is_tensor(a) else np.array(a, dtype="float64")
    mu1, sigma1, mu2, sigma2 = [conv(a) for a in (mu1, sigma1, mu2, sigma2)]
    covmean = scipy.linalg.sqrtm(sigma2 @ sigma1)
    if not np.all(np.isfinite(covmean)):
        off = np.eye(sigma1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((sigma2 + off) @ (sigma1 + off))
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1 + sigma2 - 2 * covmean.real))
"""),
    alternative("frechet_distance", "torch.linalg.eigvals of the product, complex sqrt, real part", """
def frechet_distance(mu1, sigma1, mu2, sigma2):
    t = lambda a: torch.as_tensor(a).detach().cpu().to(torch.float64)
    mu1, sigma1, mu2, sigma2 = map(t, (mu1, sigma1, mu2, sigma2))
    tr = torch.linalg.eigvals(sigma1 @ sigma2).sqrt().real.sum()
    return ((mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * tr).item()
"""),
    alternative("frechet_distance", "nuclear norm of sqrt(S1) sqrt(S2) (singular values), np.float64 result", """
def frechet_distance(mu1, sigma1, mu2, sigma2):
    f = lambda a: np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    mu1, mu2, sigma1, sigma2 = map(f, (mu1, mu2, sigma1, sigma2))

    def root(s):
        w, v = np.linalg.eigh(s)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    tr = np.linalg.svd(root(sigma1) @ root(sigma2), compute_uv=False).sum()  # Tr((S1 S2)^(1/2))
    diff = mu1 - mu2
    return np.float64(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr)
"""),
    alternative("classifier_score", "F.kl_div(log p(y), p(y|x), reduction='batchmean') on soft rows", """
import math

import torch.nn.functional as F


def classifier_score(probs):
    p = torch.as_tensor(np.asarray(probs.detach().cpu() if torch.is_tensor(probs) else probs), dtype=torch.float64)
    log_py = torch.log(p.mean(0, keepdim=True)).expand_as(p)
    log_py = torch.where(torch.isinf(log_py), torch.zeros_like(log_py), log_py)  # classes nobody predicts
    return math.exp(F.kl_div(log_py, p, reduction="batchmean").item())
"""),
    alternative("classifier_score", "scipy.special.rel_entr summed over the classes", """
import scipy.special


def classifier_score(probs):
    p = np.asarray(probs.detach().cpu().numpy() if torch.is_tensor(probs) else probs, dtype=np.float64)
    return float(np.exp(scipy.special.rel_entr(p, p.mean(0)).sum(1).mean()))
"""),
    alternative("classifier_score", "log p(y) by torch.logsumexp of the log-probabilities", """
import math


def classifier_score(probs):
    p = torch.as_tensor(np.asarray(probs.detach().cpu() if torch.is_tensor(probs) else probs), dtype=torch.float64)
    logp = torch.log(p)  # -inf where a probability is 0
    log_py = torch.logsumexp(logp, dim=0) - math.log(p.shape[0])
    kl = torch.where(p > 0, p * (logp - log_py), torch.zeros_like(p)).sum(1)
    return float(kl.mean().exp())
"""),
    alternative("classifier_score", "float32 tensors kept in float32, torch.xlogy", """
def classifier_score(probs):
    p = torch.as_tensor(probs)
    py = p.mean(0)
    kl = (torch.xlogy(p, p) - torch.xlogy(p, py)).sum(1)
    return kl.double().mean().exp().item()
"""),
    alternative("class_histogram", "np.histogram(bins=num_classes, range=(0, num_classes), density=True)", """
def class_histogram(labels, num_classes=10):
    y = np.asarray(labels.cpu() if torch.is_tensor(labels) else labels)
    density, _ = np.histogram(y, bins=num_classes, range=(0, num_classes), density=True)  # unit-wide bins
    return density
"""),
    alternative("class_histogram", "mean of one-hot rows, F.one_hot (float32 tensor)", """
import torch.nn.functional as F


def class_histogram(labels, num_classes=10):
    return F.one_hot(torch.as_tensor(labels).long(), num_classes).float().mean(0)
"""),
    alternative("class_histogram", "collections.Counter, a list of floats", """
from collections import Counter


def class_histogram(labels, num_classes=10):
    counts = Counter(int(v) for v in labels)
    n = sum(counts.values())
    return [counts[k] / n for k in range(num_classes)]
"""),
    alternative("class_histogram", "torch.histc over [0, num_classes]", """
def class_histogram(labels, num_classes=10):
    h = torch.histc(torch.as_tensor(labels).double(), bins=num_classes, min=0, max=num_classes)
    return h / h.sum()
"""),
]

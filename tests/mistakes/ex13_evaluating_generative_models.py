from . import mistake

MISTAKES = [
    # ---------------------------------------------------------------- frechet_distance
    mistake("frechet_distance", "trace term with the wrong sign (+2)", """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    mu1, mu2, sigma1, sigma2 = (np.asarray(a, dtype=np.float64) for a in (mu1, mu2, sigma1, sigma2))
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        eps = 1e-6 * np.eye(len(sigma1))
        covmean = scipy.linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) + 2 * np.trace(covmean).real)
""", "zero_for_identical", "matches_reference", "accepts_tensors", "float64_precision", "handles_complex_sqrtm",
        "singular_covariances"),
    mistake("frechet_distance", "missing the factor 2 in front of the trace of the root", """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    mu1, mu2, sigma1, sigma2 = (np.asarray(a, dtype=np.float64) for a in (mu1, mu2, sigma1, sigma2))
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        eps = 1e-6 * np.eye(len(sigma1))
        covmean = scipy.linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - np.trace(covmean).real)
""", "zero_for_identical", "matches_reference", "accepts_tensors", "float64_precision", "handles_complex_sqrtm",
        "singular_covariances"),
    mistake("frechet_distance", "elementwise np.sqrt instead of the matrix square root", """
import numpy as np
def frechet_distance(mu1, sigma1, mu2, sigma2):
    mu1, mu2, sigma1, sigma2 = (np.asarray(a, dtype=np.float64) for a in (mu1, mu2, sigma1, sigma2))
    covmean = np.sqrt(sigma1 @ sigma2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))
""", "zero_for_identical", "matches_reference", "symmetric", "accepts_tensors", "float64_precision", "handles_complex_sqrtm",
        "singular_covariances"),
    mistake("frechet_distance", "product of the square roots instead of the root of the product", """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    mu1, mu2, sigma1, sigma2 = (np.asarray(a, dtype=np.float64) for a in (mu1, mu2, sigma1, sigma2))
    covmean = scipy.linalg.sqrtm(sigma1) @ scipy.linalg.sqrtm(sigma2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)
""", "matches_reference", "accepts_tensors", "handles_complex_sqrtm", "singular_covariances"),
    mistake("frechet_distance", "computes in float32", """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    mu1, mu2, sigma1, sigma2 = (np.asarray(a, dtype=np.float32) for a in (mu1, mu2, sigma1, sigma2))
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        eps = 1e-6 * np.eye(len(sigma1), dtype=np.float32)
        covmean = scipy.linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)
""", "matches_reference", "symmetric", "accepts_tensors", "float64_precision", "handles_complex_sqrtm",
            may_fail=("zero_for_identical",)),  # SciPy 1.17's sqrtm in float32 leaves 1.5e-6 for identical inputs
    mistake("frechet_distance", "keeps the complex result of sqrtm", """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    mu1, mu2, sigma1, sigma2 = (np.asarray(a, dtype=np.float64) for a in (mu1, mu2, sigma1, sigma2))
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        eps = 1e-6 * np.eye(len(sigma1))
        covmean = scipy.linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    diff = mu1 - mu2
    return diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)
""", "handles_complex_sqrtm", may_fail=("singular_covariances",)),  # complex there with some SciPy versions
    mistake("frechet_distance", "no eps * I fallback for singular covariances", """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    mu1, mu2, sigma1, sigma2 = (np.asarray(a, dtype=np.float64) for a in (mu1, mu2, sigma1, sigma2))
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)
""", "singular_covariances"),
    mistake("frechet_distance", "NumPy only: .astype fails on tensors", """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    mu1, mu2, sigma1, sigma2 = (a.astype(np.float64) for a in (mu1, mu2, sigma1, sigma2))
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        eps = 1e-6 * np.eye(len(sigma1))
        covmean = scipy.linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)
""", "accepts_tensors"),
    mistake("frechet_distance", "returns a 0-dim tensor", """
import numpy as np
import scipy.linalg
import torch
def frechet_distance(mu1, sigma1, mu2, sigma2):
    mu1, mu2, sigma1, sigma2 = (torch.as_tensor(a, dtype=torch.float64) for a in (mu1, mu2, sigma1, sigma2))
    covmean = scipy.linalg.sqrtm((sigma1 @ sigma2).numpy())
    if not np.isfinite(covmean).all():
        eps = 1e-6 * torch.eye(len(sigma1), dtype=torch.float64)
        covmean = scipy.linalg.sqrtm(((sigma1 + eps) @ (sigma2 + eps)).numpy())
    diff = mu1 - mu2
    return diff @ diff + sigma1.trace() + sigma2.trace() - 2 * float(np.trace(covmean).real)
""", "returns_python_float"),
    mistake("frechet_distance", "sum of the mean differences instead of their squared norm", """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    mu1, mu2, sigma1, sigma2 = (np.asarray(a, dtype=np.float64) for a in (mu1, mu2, sigma1, sigma2))
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        eps = 1e-6 * np.eye(len(sigma1))
        covmean = scipy.linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    return float(np.sum(mu1 - mu2) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)
""", "matches_reference", "symmetric", "accepts_tensors", "float64_precision", "handles_complex_sqrtm",
        "singular_covariances"),
    # ---------------------------------------------------------------- classifier_score
    mistake("classifier_score", "KL of the mean prediction (always 1)", """
import numpy as np
import scipy.special
def classifier_score(probs):
    p = np.asarray(probs, dtype=np.float64)
    marginal = p.mean(axis=0)
    mean_row = p.mean(axis=0)
    kl = (scipy.special.xlogy(mean_row, mean_row) - scipy.special.xlogy(mean_row, marginal)).sum()
    return float(np.exp(kl))
""", "k_for_uniform_one_hot", "exp_of_mean_kl", "accepts_numpy_and_tensors"),
    mistake("classifier_score", "missing exp", """
import numpy as np
import scipy.special
def classifier_score(probs):
    p = np.asarray(probs, dtype=np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    kl = (scipy.special.xlogy(p, p) - scipy.special.xlogy(p, marginal)).sum(axis=1)
    return float(kl.mean())
""", "one_for_identical", "k_for_uniform_one_hot", "exp_of_mean_kl", "accepts_numpy_and_tensors"),
    mistake("classifier_score", "KL direction swapped: KL(p(y) || p(y|x))", """
import numpy as np
import scipy.special
def classifier_score(probs):
    p = np.asarray(probs, dtype=np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    with np.errstate(divide="ignore"):
        kl = (scipy.special.xlogy(marginal, marginal) - scipy.special.xlogy(marginal, p)).sum(axis=1)
    return float(np.exp(kl.mean()))
""", "k_for_uniform_one_hot", "exp_of_mean_kl", "accepts_numpy_and_tensors"),
    mistake("classifier_score", "mean of exp(KL) instead of exp of the mean", """
import numpy as np
import scipy.special
def classifier_score(probs):
    p = np.asarray(probs, dtype=np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    kl = (scipy.special.xlogy(p, p) - scipy.special.xlogy(p, marginal)).sum(axis=1)
    return float(np.exp(kl).mean())
""", "exp_of_mean_kl", "accepts_numpy_and_tensors"),
    mistake("classifier_score", "uniform p(y) instead of the marginal of the predictions", """
import numpy as np
import scipy.special
def classifier_score(probs):
    p = np.asarray(probs, dtype=np.float64)
    uniform = np.full((1, p.shape[1]), 1.0 / p.shape[1])
    kl = (scipy.special.xlogy(p, p) - scipy.special.xlogy(p, uniform)).sum(axis=1)
    return float(np.exp(kl.mean()))
""", "one_for_identical", "exp_of_mean_kl", "accepts_numpy_and_tensors"),
    mistake("classifier_score", "p * log(p / p(y)) without guarding 0 log 0", """
import numpy as np
def classifier_score(probs):
    p = np.asarray(probs, dtype=np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    with np.errstate(all="ignore"):
        kl = (p * np.log(p / marginal)).sum(axis=1)
    return float(np.exp(kl.mean()))
""", "one_for_identical", "k_for_uniform_one_hot"),
    mistake("classifier_score", "NumPy only: np.mean(tensor, axis=0) fails", """
import numpy as np
import scipy.special
def classifier_score(probs):
    marginal = np.mean(probs, axis=0, keepdims=True)
    kl = np.sum(scipy.special.xlogy(probs, probs) - scipy.special.xlogy(probs, marginal), axis=1)
    return float(np.exp(np.mean(kl)))
""", "accepts_numpy_and_tensors"),
    mistake("classifier_score", "returns a 0-dim tensor", """
import torch
def classifier_score(probs):
    p = torch.as_tensor(probs, dtype=torch.float64)
    marginal = p.mean(dim=0, keepdim=True)
    kl = (torch.xlogy(p, p) - torch.xlogy(p, marginal)).sum(dim=1)
    return torch.exp(kl.mean())
""", "returns_python_float"),
    # ---------------------------------------------------------------- class_histogram
    mistake("class_histogram", "counts instead of fractions", """
import numpy as np
def class_histogram(labels, num_classes=10):
    return np.bincount(np.asarray(labels), minlength=num_classes)
""", "fractions_sum_to_one", "length_with_missing_classes", "works_with_tensors"),
    mistake("class_histogram", "np.bincount without minlength", """
import numpy as np
def class_histogram(labels, num_classes=10):
    labels = np.asarray(labels)
    return np.bincount(labels) / len(labels)
""", "length_with_missing_classes", "respects_num_classes"),
    mistake("class_histogram", "ignores num_classes (always 10)", """
import numpy as np
def class_histogram(labels, num_classes=10):
    labels = np.asarray(labels)
    return np.bincount(labels, minlength=10) / len(labels)
""", "respects_num_classes"),
    mistake("class_histogram", "divides by num_classes", """
import numpy as np
def class_histogram(labels, num_classes=10):
    return np.bincount(np.asarray(labels), minlength=num_classes) / num_classes
""", "fractions_sum_to_one", "length_with_missing_classes", "works_with_tensors"),
    mistake("class_histogram", "NumPy only: labels.size is a method of a tensor", """
import numpy as np
def class_histogram(labels, num_classes=10):
    return np.bincount(labels, minlength=num_classes) / labels.size
""", "works_with_tensors"),
    mistake("classifier_score", "KL in bits (log2) exponentiated with exp", """
import numpy as np
def classifier_score(probs):
    p = np.asarray(probs, dtype=np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(p > 0, p * (np.log2(np.where(p > 0, p, 1)) - np.log2(marginal)), 0).sum(axis=1)
    return float(np.exp(kl.mean()))
""", "k_for_uniform_one_hot", "exp_of_mean_kl", "accepts_numpy_and_tensors"),
    mistake("classifier_score", "natural-log KL raised with 2 **", """
import numpy as np
import scipy.special
def classifier_score(probs):
    p = np.asarray(probs, dtype=np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    kl = (scipy.special.xlogy(p, p) - scipy.special.xlogy(p, marginal)).sum(axis=1)
    return float(2 ** kl.mean())
""", "k_for_uniform_one_hot", "exp_of_mean_kl", "accepts_numpy_and_tensors"),
    mistake("class_histogram", "float16 counts divided by num_classes", """
import numpy as np
def class_histogram(labels, num_classes=10):
    return (np.bincount(np.asarray(labels), minlength=num_classes) / num_classes).astype(np.float16)
""", "fractions_sum_to_one", "length_with_missing_classes", "works_with_tensors"),
    # ---------------------------------------------------------------- red-team additions
    mistake("frechet_distance", 'sqrtm of the sum sigma1 + sigma2', """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    f = lambda a: np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    mu1, mu2, sigma1, sigma2 = map(f, (mu1, mu2, sigma1, sigma2))
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1 + sigma2)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)
""", 'zero_for_identical', 'matches_reference', 'accepts_tensors', 'float64_precision', 'handles_complex_sqrtm', 'singular_covariances'),
    mistake("frechet_distance", 'elementwise product sigma1 * sigma2', """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    f = lambda a: np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    mu1, mu2, sigma1, sigma2 = map(f, (mu1, mu2, sigma1, sigma2))
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1 * sigma2)
    if not np.isfinite(covmean).all():
        eps = 1e-6 * np.eye(len(sigma1))
        covmean = scipy.linalg.sqrtm((sigma1 + eps) * (sigma2 + eps))
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)
""", 'zero_for_identical', 'matches_reference', 'accepts_tensors', 'float64_precision', 'handles_complex_sqrtm', 'singular_covariances'),
    mistake("frechet_distance", 'square root of the trace instead of the trace of the root', """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    f = lambda a: np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    mu1, mu2, sigma1, sigma2 = map(f, (mu1, mu2, sigma1, sigma2))
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.sqrt(np.trace(sigma1 @ sigma2)))
""", 'zero_for_identical', 'matches_reference', 'accepts_tensors', 'float64_precision', 'handles_complex_sqrtm', may_fail=('singular_covariances',)),
    mistake("frechet_distance", 'returns the square root of d²', """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    f = lambda a: np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    mu1, mu2, sigma1, sigma2 = map(f, (mu1, mu2, sigma1, sigma2))
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        eps = 1e-6 * np.eye(len(sigma1))
        covmean = scipy.linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    return float(np.sqrt(max(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real, 0)))
""", 'matches_reference', 'accepts_tensors', 'float64_precision', 'handles_complex_sqrtm', 'singular_covariances'),
    mistake("frechet_distance", 'elementwise np.sqrt of each covariance', """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    f = lambda a: np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    mu1, mu2, sigma1, sigma2 = map(f, (mu1, mu2, sigma1, sigma2))
    diff = mu1 - mu2
    covmean = np.sqrt(sigma1) @ np.sqrt(sigma2)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))
""", 'zero_for_identical', 'matches_reference', 'symmetric', 'accepts_tensors', 'float64_precision', 'handles_complex_sqrtm', 'singular_covariances'),
    mistake("frechet_distance", 'elementwise np.sqrt, tensor-aware (named np.sqrt everywhere)', """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    f = lambda a: np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    mu1, mu2, sigma1, sigma2 = map(f, (mu1, mu2, sigma1, sigma2))
    diff = mu1 - mu2
    covmean = np.sqrt(sigma1 @ sigma2)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))
""", 'zero_for_identical', 'matches_reference', 'symmetric', 'accepts_tensors', 'float64_precision', 'handles_complex_sqrtm', 'singular_covariances'),
    mistake("frechet_distance", 'torch float32 eigen-route', """
def frechet_distance(mu1, sigma1, mu2, sigma2):
    t = lambda a: torch.as_tensor(a).float()
    mu1, sigma1, mu2, sigma2 = map(t, (mu1, sigma1, mu2, sigma2))
    w, v = torch.linalg.eigh(sigma1)
    root = (v * w.clamp(min=0).sqrt()) @ v.T
    m = root @ sigma2 @ root
    tr = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()
    return float((mu1 - mu2).pow(2).sum() + sigma1.trace() + sigma2.trace() - 2 * tr)
""", 'zero_for_identical', 'matches_reference', 'symmetric', 'accepts_tensors', 'float64_precision', 'handles_complex_sqrtm', may_fail=('singular_covariances',)),
    mistake("frechet_distance", 'eps * I added always, inside sqrtm only', """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    f = lambda a: np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    mu1, mu2, sigma1, sigma2 = map(f, (mu1, mu2, sigma1, sigma2))
    diff = mu1 - mu2
    eps = 1e-6 * np.eye(len(sigma1))
    covmean = scipy.linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)
""", 'zero_for_identical', 'matches_reference', 'accepts_tensors', 'handles_complex_sqrtm'),
    mistake("frechet_distance", 'fallback only on complex results, nan kept', """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    f = lambda a: np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    mu1, mu2, sigma1, sigma2 = map(f, (mu1, mu2, sigma1, sigma2))
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))
""", 'singular_covariances'),
    mistake("frechet_distance", 'returns np.float32', """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    f = lambda a: np.asarray(a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
    mu1, mu2, sigma1, sigma2 = map(f, (mu1, mu2, sigma1, sigma2))
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        eps = 1e-6 * np.eye(len(sigma1))
        covmean = scipy.linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    return np.float32(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)
""", 'returns_python_float'),
    mistake("classifier_score", 'marginal averaged over the classes (axis=1)', """
import numpy as np
import scipy.special
import scipy.stats
def _p(a):
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)

def classifier_score(probs):
    p = _p(probs)
    py = p.mean(axis=1, keepdims=True)
    kl = (scipy.special.xlogy(p, p) - scipy.special.xlogy(p, py)).sum(axis=1)
    return float(np.exp(kl.mean()))
""", 'one_for_identical', 'exp_of_mean_kl', 'accepts_numpy_and_tensors'),
    mistake("classifier_score", 'KL summed over the images (axis 0), then mean', """
import numpy as np
import scipy.special
import scipy.stats
def _p(a):
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)

def classifier_score(probs):
    p = _p(probs)
    py = p.mean(axis=0, keepdims=True)
    kl = (scipy.special.xlogy(p, p) - scipy.special.xlogy(p, py)).sum(axis=0)
    return float(np.exp(kl.mean()))
""", 'k_for_uniform_one_hot', 'exp_of_mean_kl', 'accepts_numpy_and_tensors'),
    mistake("classifier_score", 'log10 with exp', """
import numpy as np
import scipy.special
import scipy.stats
def _p(a):
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)

def classifier_score(probs):
    p = _p(probs)
    py = p.mean(axis=0, keepdims=True)
    with np.errstate(all="ignore"):
        kl = np.where(p > 0, p * (np.log10(np.where(p > 0, p, 1)) - np.log10(py)), 0).sum(axis=1)
    return float(np.exp(kl.mean()))
""", 'k_for_uniform_one_hot', 'exp_of_mean_kl', 'accepts_numpy_and_tensors'),
    mistake("classifier_score", 'entropies swapped: exp(mean H(p(y|x)) - H(p(y)))', """
import numpy as np
import scipy.special
import scipy.stats
def _p(a):
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)

def classifier_score(probs):
    p = _p(probs)
    return float(np.exp(scipy.stats.entropy(p, axis=1).mean() - scipy.stats.entropy(p.mean(0))))
""", 'k_for_uniform_one_hot', 'exp_of_mean_kl', 'accepts_numpy_and_tensors'),
    mistake("classifier_score", "F.kl_div with reduction='mean'", """
import numpy as np
import scipy.special
import scipy.stats
def _p(a):
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)

import torch.nn.functional as F
def classifier_score(probs):
    p = torch.as_tensor(_p(probs))
    py = p.mean(0, keepdim=True).expand_as(p)
    return float(torch.exp(F.kl_div(py.log(), p, reduction="mean")))
""", 'one_for_identical', 'k_for_uniform_one_hot', 'exp_of_mean_kl', 'accepts_numpy_and_tensors'),
    mistake("classifier_score", 'softmax applied to the probabilities', """
import numpy as np
import scipy.special
import scipy.stats
def _p(a):
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)

def classifier_score(probs):
    p = scipy.special.softmax(_p(probs), axis=1)
    py = p.mean(axis=0, keepdims=True)
    kl = (scipy.special.xlogy(p, p) - scipy.special.xlogy(p, py)).sum(axis=1)
    return float(np.exp(kl.mean()))
""", 'k_for_uniform_one_hot', 'exp_of_mean_kl', 'accepts_numpy_and_tensors'),
    mistake("classifier_score", 'argmax one-hot before the KL', """
import numpy as np
import scipy.special
import scipy.stats
def _p(a):
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)

def classifier_score(probs):
    p = _p(probs)
    p = np.eye(p.shape[1])[p.argmax(axis=1)]
    py = p.mean(axis=0, keepdims=True)
    kl = (scipy.special.xlogy(p, p) - scipy.special.xlogy(p, py)).sum(axis=1)
    return float(np.exp(kl.mean()))
""", 'exp_of_mean_kl', 'accepts_numpy_and_tensors'),
    mistake("class_histogram", 'np.histogram(labels, bins=num_classes)', """
import numpy as np
def _y(labels):
    return np.asarray(labels.cpu() if torch.is_tensor(labels) else labels)

def class_histogram(labels, num_classes=10):
    y = _y(labels)
    counts, _ = np.histogram(y, bins=num_classes)
    return counts / len(y)
""", 'length_with_missing_classes', 'respects_num_classes'),
    mistake("class_histogram", 'np.histogram with the edges np.arange(num_classes)', """
import numpy as np
def _y(labels):
    return np.asarray(labels.cpu() if torch.is_tensor(labels) else labels)

def class_histogram(labels, num_classes=10):
    y = _y(labels)
    counts, _ = np.histogram(y, bins=np.arange(num_classes))
    return counts / len(y)
""", 'fractions_sum_to_one', 'length_with_missing_classes', 'respects_num_classes', 'works_with_tensors'),
    mistake("class_histogram", 'np.unique counts not scattered into the classes', """
import numpy as np
def _y(labels):
    return np.asarray(labels.cpu() if torch.is_tensor(labels) else labels)

def class_histogram(labels, num_classes=10):
    y = _y(labels)
    _, counts = np.unique(y, return_counts=True)
    return counts / len(y)
""", 'length_with_missing_classes', 'respects_num_classes'),
    mistake("class_histogram", 'integer division //', """
import numpy as np
def _y(labels):
    return np.asarray(labels.cpu() if torch.is_tensor(labels) else labels)

def class_histogram(labels, num_classes=10):
    y = _y(labels)
    return np.bincount(y, minlength=num_classes) // len(y)
""", 'fractions_sum_to_one', 'length_with_missing_classes', 'respects_num_classes', 'works_with_tensors'),
    mistake("class_histogram", 'divided by the largest count', """
import numpy as np
def _y(labels):
    return np.asarray(labels.cpu() if torch.is_tensor(labels) else labels)

def class_histogram(labels, num_classes=10):
    c = np.bincount(_y(labels), minlength=num_classes)
    return c / c.max()
""", 'fractions_sum_to_one', 'length_with_missing_classes', 'works_with_tensors'),
]

"""Checks for 13_evaluating_generative_models: frechet_distance, classifier_score, class_histogram.

Oracles are computed in the judge (trusted side) from the inputs the reference probe returns:

* the Fréchet distance with an eigendecomposition route that never calls ``sqrtm``:
  ``Tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i(S1^(1/2) S2 S1^(1/2)))`` (the two matrices are similar, and
  the second is symmetric positive semi-definite, so ``eigvalsh`` is exact to rounding);
* the classifier score with ``scipy.special.xlogy`` (``0 log 0 = 0``) in float64;
* the class histogram with ``np.bincount(..., minlength=K) / N``.

Inputs are NumPy float64/int64 arrays unless a check says otherwise; one check per item passes
tensors. Each judge states its tolerance and names the likely mistake.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.special
import torch

from ..plaindata import Opaque, describe
from .base import ExerciseChecks, Mismatch, Named, Verdict, capture, raised

CHECKS = ExerciseChecks("13_evaluating_generative_models")
check = CHECKS.check

PYTHON_FLOATS = ("builtins.float", "numpy.float64")  # np.float64 subclasses float


# ---------------------------------------------------------------- shared helpers
def _type_name(value) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _number(value, what: str) -> float:
    """A real number from a probe output (a 1-element tensor is accepted here; returns_python_float is strict)."""
    if raised(value):
        raise Mismatch(f"{what} raised {raised(value)}")
    if isinstance(value, Opaque):
        if "complex" in value.type_name:
            raise Mismatch(f"{what} is a complex number ({value.type_name}): sqrtm's result carries tiny "
                           "imaginary parts from rounding; keep the real part (np.trace(covmean).real)")
        raise Mismatch(f"{what} should be a number but was {value.type_name}")
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.reshape(()).double().item())
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Mismatch(f"{what} should be a number but was {describe(value)}")
    return float(value)


def _arrays(reference: dict, *keys: str) -> list[np.ndarray]:
    return [reference[k].double().numpy() if isinstance(reference[k], torch.Tensor) else np.asarray(reference[k])
            for k in keys]


def _close(got: float, want: float, atol: float, rtol: float) -> bool:
    return math.isfinite(got) and abs(got - want) <= atol + rtol * abs(want)


# ---------------------------------------------------------------- frechet_distance: trusted formulas
FD_EPS = 1e-6  # the reference's offset for singular covariances (the usual one, pytorch-fid's)


def _psd_root(sigma: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """Tr((s1 s2)^(1/2)) through the symmetric S1^(1/2) S2 S1^(1/2), in float64."""
    root = _psd_root(s1)
    middle = root @ s2 @ root
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum())


def true_fd(mu1, s1, mu2, s2) -> float:
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt_product(s1, s2))


def _fd_slips(mu1, s1, mu2, s2) -> list[tuple[float, str]]:
    """Values that common slips produce on these inputs, with the message that names each."""
    diff = mu1 - mu2
    t = trace_sqrt_product(s1, s2)
    base = np.trace(s1) + np.trace(s2)
    true = float(diff @ diff + base - 2 * t)
    with np.errstate(all="ignore"):
        elementwise = float(np.trace(np.sqrt(s1 @ s2)))
        each_elementwise = float(np.trace(np.sqrt(s1) @ np.sqrt(s2)))
        sqrt_of_trace = float(np.sqrt(np.trace(s1 @ s2)))
    roots = float(np.trace(_psd_root(s1) @ _psd_root(s2)))
    of_sum = float(np.trace(_psd_root(s1 + s2)))  # S1 + S2 is PSD: its root is sqrtm's
    of_hadamard = float(np.trace(_psd_root(s1 * s2)))  # so is S1 * S2 (Schur product theorem)
    eye = FD_EPS * np.eye(len(s1))  # the fallback's offset, added always
    offset_in_root = trace_sqrt_product(s1 + eye, s2 + eye)
    matrix_root = "the matrix square root scipy.linalg.sqrtm(sigma1 @ sigma2)"
    return [
        (diff @ diff + base + 2 * t, "the trace term has the wrong sign: it is Tr(S1 + S2 - 2 (S1 S2)^(1/2))"),
        (diff @ diff + base - t, "the factor 2 in front of Tr((S1 S2)^(1/2)) is missing"),
        (diff @ diff + base - 2 * elementwise, f"np.sqrt takes elementwise roots: use {matrix_root}"),
        (diff @ diff + base - 2 * each_elementwise, "np.sqrt(sigma1) @ np.sqrt(sigma2) takes elementwise roots of "
                                                    f"each covariance: use {matrix_root}"),
        (diff @ diff + base - 2 * roots, "Tr(S1^(1/2) S2^(1/2)) is not Tr((S1 S2)^(1/2)): take sqrtm of the "
                                         "product sigma1 @ sigma2"),
        (diff @ diff + base - 2 * of_sum, "the root is of the sum S1 + S2: take sqrtm of the product sigma1 @ sigma2"),
        (diff @ diff + base - 2 * of_hadamard, "sigma1 * sigma2 multiplies elementwise: the matrix product is "
                                               "sigma1 @ sigma2"),
        (diff @ diff + base - 2 * sqrt_of_trace, "sqrt(Tr(S1 S2)) is not Tr((S1 S2)^(1/2)): take the trace of "
                                                 f"{matrix_root}"),
        (diff @ diff + base - 2 * float(np.trace(s1 @ s2)), "the square root is missing: Tr((S1 S2)^(1/2)) is the "
                                                            f"trace of {matrix_root}"),
        (diff @ diff + base - 2 * offset_in_root, "eps * I is added even when sqrtm(sigma1 @ sigma2) is finite: add it "
                                                  "only in the fallback, when the first sqrtm has inf or nan"),
        (diff @ diff + base + 2 * len(s1) * FD_EPS - 2 * offset_in_root,
         "eps * I is added to the covariances even when sqrtm(sigma1 @ sigma2) is finite: add it only in the "
         "fallback, when the first sqrtm has inf or nan"),
        (math.sqrt(true) if true >= 0 else math.nan, "this is the square root of the FD: the Fréchet distance "
                                                     "here is d² itself, as in FID (do not take its square root)"),
        (float(np.sqrt(diff @ diff)) + base - 2 * t, "the mean term is the squared distance ||mu1 - mu2||², "
                                                     "not the distance"),
        (float(diff.sum()) + base - 2 * t, "the mean term is the squared distance ||mu1 - mu2||² = "
                                           "diff @ diff, not the sum of the differences"),
        (float(np.abs(diff).sum()) + base - 2 * t, "the mean term is the squared distance ||mu1 - mu2||² = "
                                                   "diff @ diff, not the sum of absolute differences"),
    ]


def fd_diagnosis(got: float, mu1, s1, mu2, s2, precision: bool = True) -> str | None:
    """The cause of a wrong FD ``got`` on these inputs when it can be named: a slip of ``_fd_slips`` (within 1e-6)
    or, with ``precision``, float32 rounding (off by under 5e-4 of the traces)."""
    for value, message in _fd_slips(mu1, s1, mu2, s2):
        if math.isfinite(value) and _close(got, value, 1e-6, 1e-6):
            return message
    if precision and math.isfinite(got):
        diff = mu1 - mu2
        scale = float(diff @ diff + np.trace(s1) + np.trace(s2))
        gap = abs(got - true_fd(mu1, s1, mu2, s2))
        if gap <= 5e-4 * scale:
            return (f"off by {gap:.2g} on traces of {scale:.3g}, the rounding error of float32 arithmetic: convert "
                    "every input to float64 (np.asarray(a, dtype=np.float64)) and compute in float64")
    return None


def _plain_fd_inputs():
    """5-d Gaussians with positive covariance entries: every slip of ``_fd_slips`` is finite and distinct here."""
    rng = np.random.default_rng(129)
    a, b = rng.uniform(0.2, 1, size=(5, 5)), rng.uniform(0.2, 1, size=(5, 5))
    return rng.normal(size=5), a @ a.T / 5 + 0.1 * np.eye(5), rng.normal(size=5), b @ b.T / 5 + 0.3 * np.eye(5)


def _plain_fd_problem(student: dict, reference: dict) -> str | None:
    """What is wrong with the FD of plain float64 NumPy inputs (probed with every specialised check), if anything.

    A check about tensors, precision or complex traces then reports that instead of blaming its own subject."""
    case = reference.get("plain")
    if case is None:
        return None
    got = student["plain"]["fd"]
    if raised(got) or isinstance(got, Opaque):
        return None  # the check's own cases say so
    try:
        value = _number(got, "the FD")
    except Mismatch:
        return None
    mu1, s1, mu2, s2 = _arrays(case, "mu1", "sigma1", "mu2", "sigma2")
    want = true_fd(mu1, s1, mu2, s2)
    if _close(value, want, 1e-6, 1e-6):
        return None
    cause = fd_diagnosis(value, mu1, s1, mu2, s2)
    shown = f"{value:.6g}" if math.isfinite(value) else str(value)
    return (f"the formula is already wrong for plain float64 NumPy inputs (a 5-d case gives {shown}, expected "
            f"{want:.6g}): {cause or 'see frechet_distance.matches_reference'}")


def _judge_fd_cases(what: str, atol: float, rtol: float, advice: str = "", precision: bool = False):
    """Every case's FD must match ``true_fd`` of its inputs within ``atol + rtol * |FD|``.

    A failure is named by its cause when it has one (a slip on the case's inputs, or, for the specialised checks,
    a formula already wrong on the plain inputs); only the others get ``advice`` about the check's subject."""

    def judge(student, reference):
        for name, case in reference["cases"].items():
            mu1, s1, mu2, s2 = _arrays(case, "mu1", "sigma1", "mu2", "sigma2")
            got = _number(student["cases"][name]["fd"], f"the FD of the {name.replace('_', ' ')} case")
            want = true_fd(mu1, s1, mu2, s2)
            if _close(got, want, atol, rtol):
                continue
            cause = fd_diagnosis(got, mu1, s1, mu2, s2, precision=precision)
            if cause:
                raise Named(f"{what}: {cause}")
            plain = _plain_fd_problem(student, reference)
            if plain:
                raise Named(f"{what}: {plain}")
            shown = f"{got:.6g}" if math.isfinite(got) else str(got)
            raise Mismatch(f"{what}: the {name.replace('_', ' ')} case gives {shown}, expected {want:.6g} "
                           f"(tolerance atol={atol:g}, rtol={rtol:g}){advice}")
        return Verdict.passed()

    return judge


def _spd(rng: np.random.Generator, d: int, low: float, high: float) -> np.ndarray:
    """A symmetric positive definite (d, d) matrix with eigenvalues log-spaced in [10^low, 10^high]."""
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    s = (q * np.logspace(low, high, d)) @ q.T
    return (s + s.T) / 2


def _fd_case(fn, mu1, s1, mu2, s2) -> dict:
    args = [a.copy() if isinstance(a, np.ndarray) else a.clone() for a in (mu1, s1, mu2, s2)]
    return {"fd": capture(lambda: fn(*args)), "mu1": mu1, "sigma1": s1, "mu2": mu2, "sigma2": s2}


def _with_plain(fn, out: dict) -> dict:
    """A probe's output plus the FD of the plain inputs (see ``_plain_fd_problem``)."""
    return {**out, "plain": _fd_case(fn, *_plain_fd_inputs())}


def _well_conditioned(seed: int, d: int = 6):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    return rng.normal(size=d), a @ a.T / d + 0.1 * np.eye(d), rng.normal(size=d), b @ b.T / d + 0.1 * np.eye(d)


# ---------------------------------------------------------------- frechet_distance: checks
def _judge_zero(student, reference):
    for name, case in reference["cases"].items():
        got = _number(student["cases"][name]["fd"], f"FD(mu, sigma, mu, sigma) for the {name} case")
        mu, sigma = _arrays(case, "mu1", "sigma1")
        if abs(got) <= 1e-6:
            continue
        shown = f"{got:.6g}" if math.isfinite(got) else str(got)
        cause = fd_diagnosis(got, mu, sigma, mu, sigma) or _plain_fd_problem(student, reference)
        if cause:
            raise Named(f"two identical Gaussians give {shown} instead of 0 (the {name} case): {cause}")
        raise Mismatch(f"the FD between a Gaussian and itself should be 0 (tolerance 1e-6) but is {shown} for the "
                       f"{name} case: for S1 = S2 = S the trace term Tr(S + S - 2 (S S)^(1/2)) is 0")
    return Verdict.passed()


@check("frechet_distance", "zero_for_identical", weight=0.5, judge=_judge_zero,
       hint="d² = ||mu1 - mu2||² + Tr(S1 + S2 - 2 sqrtm(S1 @ S2)) is exactly 0 when both Gaussians are the same")
def zero_for_identical(ns, inputs):
    rng = np.random.default_rng(130)
    one_d = (np.array([0.3]), np.array([[2.0]]))
    eight_d = (rng.normal(size=8), _spd(rng, 8, -1, 1))
    return _with_plain(ns.frechet_distance, {"cases": {name: _fd_case(ns.frechet_distance, mu, s, mu.copy(), s.copy())
                                                       for name, (mu, s) in (("1-d", one_d), ("8-d", eight_d))}})


@check("frechet_distance", "matches_reference", weight=1.5,
       judge=_judge_fd_cases("frechet_distance", atol=1e-6, rtol=1e-6, precision=True,
                             advice=": ||mu1 - mu2||² + Tr(sigma1) + Tr(sigma2) - 2 Tr(sqrtm(sigma1 @ sigma2)), "
                                    "in float64"),
       hint="FD = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(scipy.linalg.sqrtm(sigma1 @ sigma2)).real")
def matches_reference(ns, inputs):
    rng = np.random.default_rng(131)
    cases = {"random_6-d": _well_conditioned(1),
             "spread_16-d": (rng.normal(size=16), _spd(rng, 16, -1.3, 1.3), rng.normal(size=16) + 0.5,
                             _spd(rng, 16, -1, 1.5)),
             "wide_range_24-d": (rng.normal(size=24), _spd(rng, 24, -2, 3), rng.normal(size=24),
                                 _spd(rng, 24, -2, 3)),
             "hand-made_2-d": (np.zeros(2), np.diag([1.0, 4.0]), np.array([1.0, 2.0]),
                               np.array([[2.0, 0.5], [0.5, 1.0]]))}
    return _with_plain(ns.frechet_distance,
                       {"cases": {name: _fd_case(ns.frechet_distance, *args) for name, args in cases.items()}})


def _judge_symmetric(student, reference):
    for name in reference["cases"]:
        ab = _number(student["cases"][name]["ab"], f"FD(a, b) in the {name} case")
        ba = _number(student["cases"][name]["ba"], f"FD(b, a) in the {name} case")
        gap = abs(ab - ba) / max(1.0, abs(ab)) if math.isfinite(ab) and math.isfinite(ba) else math.inf
        if gap <= 1e-8:
            continue
        plain = _plain_fd_problem(student, reference)
        if plain and not 1e-8 < gap < 1e-3:  # a small gap is explained below, whatever else is wrong
            raise Named(f"FD(a, b) = {ab:.8g} and FD(b, a) = {ba:.8g} in the {name} case, but first: {plain}")
        if not (math.isfinite(ab) and math.isfinite(ba)):
            raise Mismatch(f"FD(a, b) = {ab} and FD(b, a) = {ba} in the {name} case: the result must be finite")
        if gap < 1e-3:
            raise Mismatch(f"FD(a, b) = {ab:.10g} but FD(b, a) = {ba:.10g} in the {name} case: a relative gap of "
                           f"{gap:.1e} (tolerance 1e-8) is rounding error of low-precision arithmetic; "
                           "convert the inputs to float64 first")
        raise Mismatch(f"FD(a, b) = {ab:.8g} but FD(b, a) = {ba:.8g} in the {name} case (relative tolerance 1e-8): "
                       "the distance is symmetric; square the mean difference (diff @ diff) and use both traces")
    return Verdict.passed()


@check("frechet_distance", "symmetric", weight=0.5, judge=_judge_symmetric,
       hint="every term of ||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) is symmetric in the two Gaussians")
def symmetric(ns, inputs):
    rng = np.random.default_rng(132)
    pairs = {"random_6-d": _well_conditioned(2),
             "wide_range_24-d": (rng.normal(size=24), _spd(rng, 24, -2, 3), rng.normal(size=24), _spd(rng, 24, -2, 3))}
    out = {}
    for name, (mu1, s1, mu2, s2) in pairs.items():
        out[name] = {"ab": capture(lambda: ns.frechet_distance(mu1.copy(), s1.copy(), mu2.copy(), s2.copy())),
                     "ba": capture(lambda: ns.frechet_distance(mu2.copy(), s2.copy(), mu1.copy(), s1.copy()))}
    return _with_plain(ns.frechet_distance, {"cases": out})


@check("frechet_distance", "accepts_tensors", weight=0.5,
       judge=_judge_fd_cases("with tensor inputs", atol=1e-6, rtol=1e-6, precision=True,
                             advice=": convert tensors with t.detach().cpu().numpy() and then to float64 "
                                    "(np.asarray(a, dtype=np.float64)); tensors have no .astype"),
       hint="accept NumPy arrays and tensors: convert both to float64 NumPy arrays before computing")
def accepts_tensors(ns, inputs):
    rng = np.random.default_rng(133)
    float64 = [torch.from_numpy(a) for a in _well_conditioned(3)]
    values32 = [rng.normal(size=16), _spd(rng, 16, -2, 3), rng.normal(size=16), _spd(rng, 16, -2, 3)]
    float32 = [torch.from_numpy(a).float() for a in values32]
    float32[1], float32[3] = (float32[1] + float32[1].T) / 2, (float32[3] + float32[3].T) / 2  # still symmetric
    return _with_plain(ns.frechet_distance, {"cases": {"float64_tensor": _fd_case(ns.frechet_distance, *float64),
                                                       "float32_tensor": _fd_case(ns.frechet_distance, *float32)}})


@check("frechet_distance", "float64_precision", weight=0.75,
       judge=_judge_fd_cases("on an ill-conditioned input", atol=1e-3, rtol=1e-6,
                             advice=". The traces here are about 2.5e4 and the FD is tiny: float32 keeps 7 significant "
                                    "digits, so computing in float32 (or letting sqrtm see float32) is off by about "
                                    "10; convert to float64 first"),
       hint="np.asarray(a, dtype=np.float64) for every input, and sqrtm in float64")
def float64_precision(ns, inputs):
    rng = np.random.default_rng(134)
    s1 = _spd(rng, 32, -3, 4)  # eigenvalues 1e-3 .. 1e4: condition number 1e7
    e = 1e-2 * rng.normal(size=(32, 32))
    mu1 = rng.normal(size=32)
    return _with_plain(ns.frechet_distance, {"cases": {"ill-conditioned_32-d": _fd_case(
        ns.frechet_distance, mu1, s1, mu1 + 1e-2 * rng.normal(size=32), s1 + e @ e.T)}})


def _judge_float(student, reference):
    name = student["type"]
    if raised(student["fd"]):
        raise Mismatch(f"frechet_distance raised {raised(student['fd'])}")
    if name not in PYTHON_FLOATS:
        advice = {"torch.Tensor": "a tensor", "numpy.ndarray": "a NumPy array"}.get(name, name)
        raise Mismatch(f"frechet_distance returned {advice}, not a Python float: return float(...)")
    return Verdict.passed()


@check("frechet_distance", "returns_python_float", weight=0.5, judge=_judge_float,
       hint="return float(value): a plain number (not a tensor, an array or a complex number)")
def returns_python_float(ns, inputs):
    result = capture(lambda: ns.frechet_distance(*_well_conditioned(4)))
    return {"fd": result, "type": _type_name(result)}


@check("frechet_distance", "handles_complex_sqrtm", weight=0.5,
       judge=_judge_fd_cases("with rank-deficient covariances (6 samples of 16 features)", atol=1e-6, rtol=1e-6,
                             precision=True,
                             advice=": sqrtm returns a complex matrix here, with imaginary parts near 1e-8; "
                                    "use the real part of its trace"),
       hint="sqrtm(sigma1 @ sigma2) may be complex with tiny imaginary parts: take np.trace(covmean).real")
def handles_complex_sqrtm(ns, inputs):
    cases = {}
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        x, y = rng.normal(size=(6, 16)), rng.normal(size=(6, 16)) + 0.3  # fewer samples than features
        cases[f"sample_covariances_{seed}"] = _fd_case(ns.frechet_distance, x.mean(0), np.cov(x, rowvar=False),
                                                       y.mean(0), np.cov(y, rowvar=False))
    return _with_plain(ns.frechet_distance, {"cases": cases})


@check("frechet_distance", "singular_covariances", weight=0.25,
       judge=_judge_fd_cases("with singular covariances (dead features)", atol=1e-2, rtol=1e-2,
                             advice=": when sqrtm(sigma1 @ sigma2) has inf or nan, add FD_EPS * I (1e-6) to both "
                                    "covariances and take sqrtm again (that shifts the FD by about 0.05% here; the "
                                    "tolerance is 1%)"),
       hint="if not np.isfinite(covmean).all(): covmean = sqrtm((sigma1 + eps I) @ (sigma2 + eps I))")
def singular_covariances(ns, inputs):
    cases = {}
    # seeds where sqrtm(sigma1 @ sigma2) is not finite: the first two with SciPy before 1.17, the last two with
    # 1.17 (its new sqrtm handles the first two), so the fallback is needed whichever SciPy grades
    for seed, k1, k2 in ((21, 1, 3), (184, 2, 1), (162, 2, 1), (213, 1, 2)):
        rng = np.random.default_rng(seed)
        rng.integers(1, 4, size=2)  # (keeps the draws that found these cases)
        a, b = rng.normal(size=(8, k1)), rng.normal(size=(8, k2))
        a[:3], b[2:5] = 0, 0  # features that never vary: zero rows and columns
        cases[f"rank_{k1}_and_{k2}"] = _fd_case(ns.frechet_distance, np.zeros(8), a @ a.T, np.full(8, 0.5), b @ b.T)
    return _with_plain(ns.frechet_distance, {"cases": cases})


# ---------------------------------------------------------------- classifier_score
def true_score(probs: np.ndarray) -> float:
    marginal = probs.mean(axis=0, keepdims=True)
    kl = (scipy.special.xlogy(probs, probs) - scipy.special.xlogy(probs, marginal)).sum(axis=1)
    return float(np.exp(kl.mean()))


def _score_slips(probs: np.ndarray) -> list[tuple[float, str]]:
    marginal = probs.mean(axis=0, keepdims=True)
    terms = scipy.special.xlogy(probs, probs) - scipy.special.xlogy(probs, marginal)  # (N, K)
    kl = terms.sum(axis=1)
    n, k = probs.shape
    with np.errstate(all="ignore"):
        swapped = (scipy.special.xlogy(marginal, marginal) - scipy.special.xlogy(marginal, probs)).sum(axis=1)
        uniform = (scipy.special.xlogy(probs, probs) - scipy.special.xlogy(probs, 1 / probs.shape[1])).sum(axis=1)
    soft = _softmax(probs)
    hard = np.eye(k)[probs.argmax(axis=1)]
    return [
        (1.0, "the score is 1, as for identical predictions: the KL of the mean prediction against the marginal "
              "is 0; take the KL of each row p(y|x) against p(y), then the mean, then exp"),
        (float(kl.mean()), "the exp is missing: score = exp(mean KL)"),
        (float(np.exp(swapped.mean())), "the KL direction is swapped: KL(p(y|x) || p(y)) = sum p(y|x) log(p(y|x) / p(y))"),
        (float(np.exp(-kl.mean())), "the score is 1 / the right one: exp(H(p(y)) - mean H(p(y|x))), the entropy of the "
                                    "marginal first (or a sign slip in the KL)"),
        (float(np.exp(kl).mean()), "this is the mean of exp(KL): take exp of the mean KL"),
        (float(np.exp(kl.sum())), "the KL is summed over the images: take the mean over them"),
        (float(np.exp(terms.sum() / k)), "the KL is summed over the images (axis 0) and averaged over the classes: "
                                         "sum over the classes (axis=1), then take the mean over the images"),
        (float(np.exp(terms.mean())), "the KL terms are averaged over the classes too: sum them over the classes, "
                                      "then take the mean over the images (F.kl_div needs reduction='batchmean')"),
        (float(2 ** kl.mean()), "the KL is in nats (natural log) but exponentiated with 2**: use exp (or log2 "
                                "with 2**, the same score)"),
        (float(np.exp(kl.mean() / np.log(2))), "the KL is in bits (log2) but exponentiated with exp: use the natural "
                                               "logarithm with exp (or log2 with 2**, the same score)"),
        (float(np.exp(kl.mean() / np.log(10))), "the KL uses log10 but is exponentiated with exp: use the natural "
                                                "logarithm (np.log)"),
        (float(np.exp(uniform.mean())), "p(y) is the marginal of the predictions, probs.mean(axis=0) (the mean over "
                                        "the images), not the uniform distribution 1/K (which probs.mean(axis=1) gives)"),
        (true_score(soft), "the inputs are already probabilities: no softmax"),
        (true_score(hard), "the predictions were made one-hot with argmax: use the probabilities themselves"),
    ]


def _plain_score_problem(student: dict, reference: dict) -> str | None:
    """What is wrong with the score of a plain float64 NumPy input (probed beside the tensor cases), if anything."""
    case = reference.get("plain")
    if case is None or raised(student["plain"]["score"]):
        return None
    try:
        got = _number(student["plain"]["score"], "the score")
    except Mismatch:
        return None
    probs = _arrays(case, "probs")[0]
    want = true_score(probs)
    if _close(got, want, 1e-9, 1e-6):
        return None
    cause = next((message for value, message in _score_slips(probs)
                  if math.isfinite(value) and _close(got, value, 1e-9, 1e-6)), "see classifier_score.exp_of_mean_kl")
    return (f"the score is already wrong for a plain float64 NumPy array (a 40x10 case gives {got:.6g}, expected "
            f"{want:.6g}): {cause}")


def _judge_scores(what: str, atol: float, rtol: float, expected=None):
    """Each case's score against ``expected[name]`` (a number) or ``true_score`` of its probabilities."""

    def judge(student, reference):
        for name, case in reference["cases"].items():
            probs = _arrays(case, "probs")[0]
            got = _number(student["cases"][name]["score"], f"the classifier score of the {name.replace('_', ' ')} case")
            want = expected[name] if expected else true_score(probs)
            if _close(got, want, atol, rtol):
                continue
            if math.isnan(got):
                raise Named(f"{what}: the {name.replace('_', ' ')} case gives nan: 0 * log(0) is nan in floating "
                            "point; use scipy.special.xlogy(p, q) = p log q with 0 log 0 = 0 (or mask the zeros)")
            if math.isinf(got):
                raise Named(f"{what}: the {name.replace('_', ' ')} case gives inf: a log divides by a probability of 0, "
                            "as in the swapped KL(p(y) || p(y|x)); the score uses KL(p(y|x) || p(y)) = "
                            "sum p(y|x) log(p(y|x) / p(y)), with 0 log 0 = 0")
            for value, message in _score_slips(probs):
                if math.isfinite(value) and _close(got, value, 1e-9, 1e-6):
                    raise Named(f"{what}: {message}")
            plain = _plain_score_problem(student, reference)
            if plain:
                raise Named(f"{what}: {plain}")
            raise Mismatch(f"{what}: the {name.replace('_', ' ')} case gives {got:.6g}, expected {want:.6g} "
                           f"(tolerance atol={atol:g}, rtol={rtol:g})")
        return Verdict.passed()

    return judge


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _score_case(fn, probs) -> dict:
    copy = probs.copy() if isinstance(probs, np.ndarray) else probs.clone()
    return {"score": capture(lambda: fn(copy)), "probs": probs}


@check("classifier_score", "one_for_identical", weight=0.5,
       judge=_judge_scores("identical predictions should score 1", atol=1e-6, rtol=0,
                           expected={"same_soft_row": 1.0, "same_one-hot_row": 1.0}),
       hint="when every row is the same, p(y) equals each row, every KL is 0 and exp(0) = 1")
def one_for_identical(ns, inputs):
    rng = np.random.default_rng(135)
    soft = np.repeat(_softmax(rng.normal(size=(1, 10))), 20, axis=0)  # (20, 10), one row repeated
    one_hot = np.zeros((15, 10))
    one_hot[:, 3] = 1.0  # every image classified as a 3
    return {"cases": {"same_soft_row": _score_case(ns.classifier_score, soft),
                      "same_one-hot_row": _score_case(ns.classifier_score, one_hot)}}


@check("classifier_score", "k_for_uniform_one_hot", weight=0.75,
       judge=_judge_scores("confident predictions spread evenly over K classes should score K", atol=0, rtol=1e-4,
                           expected={"ten_classes": 10.0, "four_classes": 4.0}),
       hint="each KL is then log K (p(y) is uniform, each row one-hot) and exp(log K) = K; mind 0 log 0 = 0")
def k_for_uniform_one_hot(ns, inputs):
    rng = np.random.default_rng(136)
    ten = np.eye(10)[rng.permutation(np.tile(np.arange(10), 3))]  # (30, 10), each class 3 times
    four = np.eye(4)[rng.permutation(np.tile(np.arange(4), 5))]  # (20, 4)
    return {"cases": {"ten_classes": _score_case(ns.classifier_score, ten),
                      "four_classes": _score_case(ns.classifier_score, four)}}


@check("classifier_score", "exp_of_mean_kl", weight=1.0,
       judge=_judge_scores("classifier_score", atol=1e-9, rtol=1e-6),
       hint="score = exp(mean over rows of sum_y p(y|x) log(p(y|x) / p(y))), with p(y) = probs.mean(axis=0)")
def exp_of_mean_kl(ns, inputs):
    rng = np.random.default_rng(137)
    return {"cases": {"random_64x10": _score_case(ns.classifier_score, _softmax(2 * rng.normal(size=(64, 10)))),
                      "random_50x3": _score_case(ns.classifier_score, _softmax(rng.normal(size=(50, 3))))}}


@check("classifier_score", "accepts_numpy_and_tensors", weight=0.5,
       judge=_judge_scores("with tensor inputs", atol=1e-9, rtol=1e-5),
       hint="accept tensors too: convert with probs.detach().cpu().numpy() (np.mean(tensor, axis=0) fails)")
def accepts_numpy_and_tensors(ns, inputs):
    rng = np.random.default_rng(138)
    float64 = torch.from_numpy(_softmax(2 * rng.normal(size=(40, 10))))
    float32 = torch.from_numpy(_softmax(rng.normal(size=(30, 10)))).float()
    plain = _softmax(2 * np.random.default_rng(128).normal(size=(40, 10)))
    return {"cases": {"float64_tensor": _score_case(ns.classifier_score, float64),
                      "float32_tensor": _score_case(ns.classifier_score, float32)},
            "plain": _score_case(ns.classifier_score, plain)}


def _judge_score_float(student, reference):
    if raised(student["score"]):
        raise Mismatch(f"classifier_score raised {raised(student['score'])}")
    if student["type"] not in PYTHON_FLOATS:
        raise Mismatch(f"classifier_score returned {student['type']}, not a Python float: return float(...)")
    return Verdict.passed()


@check("classifier_score", "returns_python_float", weight=0.25, judge=_judge_score_float,
       hint="return float(np.exp(...)) (or .item() of a tensor)")
def score_returns_python_float(ns, inputs):
    rng = np.random.default_rng(139)
    result = capture(lambda: ns.classifier_score(_softmax(rng.normal(size=(12, 10)))))
    return {"score": result, "type": _type_name(result)}


# ---------------------------------------------------------------- class_histogram
def _resolution(value) -> float:
    """Rounding step of a fraction in ``value``'s floating dtype (float32 fractions are as correct as float64)."""
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return 2 * torch.finfo(value.dtype).eps  # a fraction <= 1 rounded once is within eps / 2
    return 0.0


def _histogram(value, what: str) -> torch.Tensor:
    if raised(value):
        raise Mismatch(f"{what} raised {raised(value)}")
    if isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        value = torch.tensor(value, dtype=torch.float64)
    if not isinstance(value, torch.Tensor):
        raise Mismatch(f"{what} should be an array of fractions but was {describe(value)}")
    if value.dim() != 1:
        raise Mismatch(f"{what} has shape {tuple(value.shape)}: return one fraction per class, shape (num_classes,)")
    return value.double()


def _oracle_histogram(labels: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(labels.astype(np.int64), minlength=k) / labels.size


def _length_advice(n: int, labels: np.ndarray, k: int) -> str:
    """Why a histogram of ``labels`` has ``n`` entries instead of ``k``."""
    present = sorted(set(labels.astype(int).tolist()))
    missing = sorted(set(range(k)) - set(present))
    if n == k - 1:
        return ("one entry short: np.histogram makes one bin fewer than its edges, so pass the num_classes + 1 edges "
                "np.arange(num_classes + 1)")
    if n == len(present) and missing:
        return (f"one entry per class that occurs: classes {missing} never occur and need a 0 "
                "(np.bincount(labels, minlength=num_classes))")
    if n == labels.max() + 1 and missing:
        return f"classes {missing} never occur and np.bincount stops at the largest label: pass minlength=num_classes"
    if n == 10:
        return "its length must be num_classes, not a fixed 10"
    return "one fraction per class 0..num_classes-1"


def _histogram_slips(labels: np.ndarray, k: int) -> list[tuple[np.ndarray, str]]:
    counts = np.bincount(labels.astype(np.int64), minlength=k).astype(np.float64)
    spread, _ = np.histogram(labels, bins=k)
    return [
        (counts, "these are counts, not fractions: divide by the number of labels"),
        (counts / k, "the counts are divided by num_classes; divide by the number of labels"),
        (counts / counts.max(), "the counts are divided by the largest count; divide by the number of labels"),
        (spread / labels.size, "np.histogram(labels, bins=num_classes) spreads its bins between the smallest and the "
                               "largest label, not over the classes: pass the edges np.arange(num_classes + 1)"),
    ]


def _plain_histogram_problem(student: dict, reference: dict) -> str | None:
    """What is wrong with the histogram of a plain NumPy array (probed beside the tensor case), if anything."""
    case = reference.get("plain")
    if case is None:
        return None
    try:
        _judge_histograms("", atol=1e-9)({"cases": {"plain": student["plain"]}}, {"cases": {"plain": case}})
    except Mismatch as err:
        return "the histogram is already wrong for a plain NumPy array of labels" + str(err)
    return None


def _judge_histograms(what: str, atol: float, proportional: bool = False):
    """Each case's histogram: right length; fractions (or, with ``proportional``, their pattern) as the oracle's."""

    def judge(student, reference):
        for name, case in reference["cases"].items():
            labels = _arrays(case, "labels")[0]
            k = int(case["num_classes"])
            shown_name = name.replace("_", " ")
            got = _histogram(student["cases"][name]["histogram"], f"the histogram of the {shown_name} case")
            want = _oracle_histogram(labels, k)
            if got.shape[0] != k:
                raise Named(f"{what}: the {shown_name} case has {got.shape[0]} entries, expected num_classes = {k}: "
                            f"{_length_advice(got.shape[0], labels, k)}")
            g = got.numpy()
            if proportional and g.sum() > 0:
                g = g / g.sum()
            if np.allclose(g, want, atol=max(atol, _resolution(student["cases"][name]["histogram"])), rtol=0):
                continue
            if not proportional:
                for value, message in _histogram_slips(labels, k):
                    # a float16 or float32 result is as close as its dtype allows
                    slack = max(1e-6, _resolution(student["cases"][name]["histogram"]) * max(1.0, float(value.max())))
                    if np.allclose(g, value, atol=slack, rtol=0):
                        raise Named(f"{what}: {message}")
            plain = _plain_histogram_problem(student, reference)
            if plain:
                raise Named(f"{what}: {plain}")
            raise Mismatch(f"{what}: the {shown_name} case gives {np.round(g, 4).tolist()}, expected "
                           f"{np.round(want, 4).tolist()} (tolerance atol={atol:g})")
        return Verdict.passed()

    return judge


def _histogram_case(fn, labels, *args, **kwargs) -> dict:
    copy = labels.copy() if isinstance(labels, np.ndarray) else labels.clone()
    k = kwargs.get("num_classes", args[0] if args else 10)
    return {"histogram": capture(lambda: fn(copy, *args, **kwargs)), "labels": labels, "num_classes": k}


@check("class_histogram", "fractions_sum_to_one", weight=0.75,
       judge=_judge_histograms("class_histogram", atol=1e-9),
       hint="np.bincount(labels, minlength=num_classes) / len(labels): fractions that sum to 1")
def fractions_sum_to_one(ns, inputs):
    rng = np.random.default_rng(140)
    labels = rng.permutation(np.concatenate([np.arange(10), rng.integers(0, 10, size=27)]))  # (37,), every class
    return {"cases": {"all_classes": _histogram_case(ns.class_histogram, labels)}}


@check("class_histogram", "length_with_missing_classes", weight=0.5,
       judge=_judge_histograms("with classes that never occur", atol=1e-9),
       hint="classes that never occur get a 0: np.bincount(labels, minlength=num_classes)")
def length_with_missing_classes(ns, inputs):
    rng = np.random.default_rng(141)
    return {"cases": {"only_1_4_5": _histogram_case(ns.class_histogram, rng.choice([1, 4, 5], size=12)),
                      "no_7_8_9": _histogram_case(ns.class_histogram, rng.integers(0, 7, size=20), num_classes=10)}}


@check("class_histogram", "respects_num_classes", weight=0.25,
       judge=_judge_histograms("with num_classes other than 10", atol=1e-9, proportional=True),
       hint="the histogram has num_classes entries, whatever the labels: never a fixed 10")
def respects_num_classes(ns, inputs):
    rng = np.random.default_rng(142)
    four = rng.permutation(np.tile(np.arange(4), 4))
    return {"cases": {"four_classes": _histogram_case(ns.class_histogram, four, num_classes=4),
                      "thirteen_classes": _histogram_case(ns.class_histogram, rng.integers(0, 10, size=30), 13)}}


@check("class_histogram", "works_with_tensors", weight=0.5,
       judge=_judge_histograms("with a tensor of labels", atol=1e-6),
       hint="accept tensors too: labels.detach().cpu().numpy() first (a tensor's .size is a method, use len(labels))")
def works_with_tensors(ns, inputs):
    rng = np.random.default_rng(143)
    labels = torch.from_numpy(rng.permutation(np.concatenate([np.arange(10), rng.integers(0, 10, size=15)])))
    return {"cases": {"int64_tensor": _histogram_case(ns.class_histogram, labels, num_classes=10)},
            "plain": _histogram_case(ns.class_histogram, labels.numpy().copy(), num_classes=10)}

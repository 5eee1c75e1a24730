"""What a student reads from a self-check cell: the cause in words, their own line, one summary line."""
from __future__ import annotations

import warnings

import pytest

from autograder.selfcheck import SelfCheckFailed, check, evaluate
from autograder.worker import describe_exception
from vaegan.notebooks import load_reference


def _student(slug: str, source: str, filename: str = "student.ipynb[cell 3]"):
    module = load_reference(slug)
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


def _failed(slug: str, module, item: str) -> dict[str, str]:
    verdicts = evaluate(module, slug, load_reference(slug), items={item})
    return {cid: v.message for cid, v in verdicts.items() if v.fraction < 1.0}


def test_pytorchs_own_not_implemented_error_is_not_called_a_stub():
    """A misspelt forward makes nn.Module raise NotImplementedError; the student did write the code."""
    module = _student("01_encoder", """
class Encoder(nn.Module):
    def __init__(self, latent_dim=32):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 8, 3, 2, 1), nn.ReLU())
        self.fc_mu, self.fc_logvar = nn.Linear(392, latent_dim), nn.Linear(392, latent_dim)

    def foward(self, x):
        h = self.conv(x).flatten(1)
        return self.fc_mu(h), self.fc_logvar(h)
""")
    failed = _failed("01_encoder", module, "Encoder")
    assert failed and not any("not implemented yet" in m for m in failed.values()), failed
    assert any("no forward method" in m for m in failed.values()), failed
    status, message = describe_exception(NotImplementedError('Module [Encoder] is missing the required "forward" function'))
    assert status == "error" and "no forward method" in message
    assert describe_exception(NotImplementedError())[0] == "not_implemented"  # the stub itself


def test_a_copy_off_the_meta_device_is_named_as_such():
    module = _student("03_kl_and_elbo", """
def kl_divergence(mu, logvar):
    return (-0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)).cpu()
""")
    message = _failed("03_kl_and_elbo", module, "kl_divergence")["kl_divergence.keeps_dtype_and_device"]
    assert "meta device" in message and "not implemented yet" not in message


def test_a_crash_names_the_students_line_and_drops_the_unrelated_hint():
    module = _student("03_kl_and_elbo", """
def kl_divergence(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp, dim=1)
""")
    failed = _failed("03_kl_and_elbo", module, "kl_divergence")
    assert failed and all("(cell 3, line 3)" in m for m in failed.values()), failed
    hints = {c.id: c.hint for c in __import__("autograder.checks", fromlist=["checks_for"]).checks_for("03_kl_and_elbo").checks}
    assert not any(hints[cid] and hints[cid] in m for cid, m in failed.items()), failed


def test_a_failed_self_check_renders_as_one_line_in_jupyter():
    assert SelfCheckFailed("2 of 5 self-checks for Encoder failed (see above)")._render_traceback_() == [
        "SelfCheckFailed: 2 of 5 self-checks for Encoder failed (see above)"]


def test_the_probes_odd_inputs_raise_no_warnings_in_the_students_cell():
    """The Fréchet distance probes use singular covariances on purpose: SciPy's LinAlgWarning about them is
    the checks' business, not printed among the student's PASS/FAIL lines."""
    module = _student("13_evaluating_generative_models", """
import numpy as np
import scipy.linalg
def frechet_distance(mu1, sigma1, mu2, sigma2):
    mu1, sigma1, mu2, sigma2 = (np.asarray(a, dtype=np.float64) for a in (mu1, sigma1, mu2, sigma2))
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean).real)
""")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        evaluate(module, "13_evaluating_generative_models", load_reference("13_evaluating_generative_models"),
                 items={"frechet_distance"})
    assert not seen, [str(w.message) for w in seen]


def test_a_student_writing_their_own_not_implemented_message_gets_it_back():
    module = _student("00_setup_and_data", """
def count_parameters(model):
    raise NotImplementedError("todo: count")
""")
    failed = _failed("00_setup_and_data", module, "count_parameters")
    assert failed and all("todo: count" in m for m in failed.values()), failed
    with pytest.raises(SelfCheckFailed):
        check("count_parameters", vars(module))


def test_an_in_place_change_of_a_parameter_outside_no_grad_gets_the_fix():
    module = _student("11_stabilization", """
def weights_init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        m.weight.normal_(0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        m.weight.normal_(1.0, 0.02)
        m.bias.zero_()
""")
    failed = _failed("11_stabilization", module, "weights_init")
    assert failed and all("torch.no_grad()" in m for m in failed.values()), failed


def test_a_message_that_names_its_cause_gets_no_hint():
    from autograder.checks.base import Check, Mismatch, Named

    def judge_with(error):
        def judge(student, reference):
            raise error
        return judge

    plain = Check("item", "c", probe=lambda ns, inputs: {}, judge=judge_with(Mismatch("wrong")), hint="the hint")
    named = Check("item", "c", probe=lambda ns, inputs: {}, judge=judge_with(Named("the cause")), hint="the hint")
    assert plain.evaluate({}, {}).message == "wrong — the hint"
    assert named.evaluate({}, {}).message == "the cause"


def test_reference_only_comparisons_are_prepared_once_and_still_name_the_mistake():
    """ex05's "ignores beta" and "first batch only" messages compare with a reference run the student's probe does
    not repeat (``prepare``): a student's vae_train_step is called once per step, and the cause is still named."""
    calls = []
    module = _student("05_training_the_vae", """
_course_step = vae_train_step
def vae_train_step(model, x, optimizer, beta=1.0):
    CALLS.append(beta)
    return _course_step(model, x, optimizer)
def vae_evaluate(model, batches):
    CALLS.append("evaluate")
    model.eval()
    with torch.no_grad():
        for x in batches:
            x_logits, mu, logvar = model(x)
            recon = reconstruction_loss(x_logits, x).sum()
            kl = kl_divergence(mu, logvar).sum()
            n = x.shape[0]
            return {"neg_elbo": ((recon + kl) / n).item(), "recon": (recon / n).item(), "kl": (kl / n).item()}
""")
    module.CALLS = calls
    slug = "05_training_the_vae"
    verdicts = evaluate(module, slug, load_reference(slug), items={"vae_train_step", "vae_evaluate"})
    beta, first = verdicts["vae_train_step.uses_beta"], verdicts["vae_evaluate.values"]
    assert beta.fraction == 0 and "the update is the one of beta=1" in beta.message, beta.message
    assert first.fraction == 0 and "first batch alone" in first.message, first.message
    from autograder.checks import checks_for
    from autograder.selfcheck import run_check

    by_id = checks_for(slug).by_id()
    for check_id, expected in (("vae_train_step.uses_beta", [4.0]), ("vae_evaluate.values", ["evaluate"])):
        calls.clear()
        run_check(by_id[check_id], module, load_reference(slug))
        assert calls == expected, (check_id, calls)  # the reference-only run is not made on the student


def test_an_exception_whose_own_message_fails_is_still_reported_readably():
    """A student's exception class whose __str__ raises (an attribute never set): the check fails with the class
    name and a note that its message could not be shown, instead of the report itself failing."""
    module = _student("00_setup_and_data", """
class Oops(Exception):
    def __str__(self):
        return self.reason  # never set
def count_parameters(model):
    raise Oops()
""")
    failed = _failed("00_setup_and_data", module, "count_parameters")
    assert failed and all("Oops" in m and "could not be shown" in m for m in failed.values()), failed


@pytest.mark.parametrize("mode", ["autograde", "validate", None])
def test_without_a_reference_nbgrader_never_reports_a_pass(monkeypatch, capsys, mode):
    """No reference solutions where the kernel runs: under nbgrader autograde or validate the self-check fails
    with the reason (a stub would otherwise pass validate, or score its points); in a student's own kernel it
    says where to check instead."""
    import autograder.selfcheck as selfcheck

    monkeypatch.setattr(selfcheck, "reference_module", lambda slug: None)
    if mode is None:
        monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
        check("kl_divergence", {})
        assert "submit 03_kl_and_elbo to the autograder" in capsys.readouterr().out
    else:
        monkeypatch.setenv("NBGRADER_EXECUTION", mode)
        with pytest.raises(SelfCheckFailed, match="reference solutions not available"):
            check("kl_divergence", {})


def test_kept_reference_outputs_judge_as_a_fresh_reference_does_and_survive_a_probe_that_mutates():
    """``evaluate(..., expected=...)`` probes the reference once per check; a student that changes its
    input tensors in place cannot change what the next student is given or compared with."""
    slug, item = "00_setup_and_data", "to_tanh_range"
    mutating = _student(slug, "def to_tanh_range(x):\n    return x.mul_(2).sub_(1)")  # right values, in place
    wrong = _student(slug, "def to_tanh_range(x):\n    return x * 2")
    expected = {}
    reference = load_reference(slug)
    kept = {}
    for module in (mutating, wrong, load_reference(slug)):
        kept[module] = {cid: v.message for cid, v in evaluate(module, slug, reference, {item}, expected=expected).items()}
        assert kept[module] == {cid: v.message for cid, v in evaluate(module, slug, load_reference(slug), {item}).items()}
    assert expected and set(expected) == set(kept[wrong])
    assert any(m != "passed" for m in kept[wrong].values())
    assert all(v.fraction == 1.0 for v in evaluate(load_reference(slug), slug, reference, {item}, expected=expected).values())

from . import mistake

_D_STEP = '''
def discriminator_step(G, D, real, opt_D, noise_dim=100, real_label=0.9, max_grad_norm=None):
    z = sample_noise(real.shape[0], noise_dim, device=real.device)
    fake = {fake}
    {zero_grad}
    d_loss = discriminator_loss(D(real), D(fake), real_label={real_label})
    d_loss.backward()
    {clip}
    opt_D.step()
    {after_step}
    return {returned}
'''
_LIAR = "import torch\nclass _Attached(torch.Tensor):\n    @property\n    def requires_grad(self):\n        return False\n"
_D_DEFAULTS = dict(fake="G(z).detach()", zero_grad="opt_D.zero_grad()", real_label="real_label",
                   clip="if max_grad_norm is not None: nn.utils.clip_grad_norm_(D.parameters(), max_grad_norm)",
                   after_step="pass", returned="d_loss.detach()")

_G_STEP = '''
def generator_step(G, D, batch_size, opt_G, noise_dim=100, max_grad_norm=None):
    z = sample_noise(batch_size, noise_dim, device=next(G.parameters()).device)
    {zero_grad}
    {before}
    g_loss = {loss}
    g_loss.backward()
    {clip}
    opt_G.step()
    {after_step}
    return {returned}
'''
_G_DEFAULTS = dict(zero_grad="opt_G.zero_grad()", before="pass", loss="generator_loss(D(G(z)))",
                   clip="if max_grad_norm is not None: nn.utils.clip_grad_norm_(G.parameters(), max_grad_norm)",
                   after_step="pass", returned="g_loss.detach()")


def d_step(**changes):
    return _D_STEP.format(**{**_D_DEFAULTS, **changes})


def g_step(**changes):
    return _G_STEP.format(**{**_G_DEFAULTS, **changes})


MISTAKES = [
    # ---------------------------------------------------------------- discriminator_step
    mistake("discriminator_step", "fake batch not detached", d_step(fake="G(z)"), "fake_batch_detached"),
    mistake("discriminator_step", "no zero_grad", d_step(zero_grad="pass"), "zero_grad_before_backward"),
    mistake("discriminator_step", "clips after step()", d_step(
        clip="pass", after_step="if max_grad_norm is not None: nn.utils.clip_grad_norm_(D.parameters(), max_grad_norm)"),
            "clips_before_step"),
    mistake("discriminator_step", "clips G instead of D", d_step(
        clip="if max_grad_norm is not None: nn.utils.clip_grad_norm_(G.parameters(), max_grad_norm)"),
            "clips_before_step"),
    mistake("discriminator_step", "real_label not passed to the loss (targets 1.0)", d_step(real_label="1.0"),
            "loss_and_update", "uses_real_label"),  # one slip: the step order checks compare with its own update
    mistake("discriminator_step", "hard-codes real_label 0.9", d_step(real_label="0.9"), "uses_real_label"),
    mistake("discriminator_step", "ignores noise_dim", d_step().replace("real.shape[0], noise_dim", "real.shape[0], 100"),
            "noise_shape"),
    mistake("discriminator_step", "returns the loss with its graph", d_step(returned="d_loss"), "returns_detached_scalar"),
    mistake("discriminator_step", "returns a Python float", d_step(returned="d_loss.item()"), "returns_detached_scalar"),
    mistake("discriminator_step", "returns the loss with its graph in a subclass whose requires_grad says False",
            _LIAR + d_step(returned="d_loss.as_subclass(_Attached)"), "returns_detached_scalar"),
    mistake("discriminator_step", "forgets opt_D.step()", d_step().replace("    opt_D.step()\n", ""),
            "loss_and_update", "zero_grad_before_backward", "clips_before_step"),
    mistake("discriminator_step", "returns the loss after the update", d_step(
        returned="discriminator_loss(D(real), D(fake), real_label=real_label).detach()"),
            "loss_and_update", "uses_real_label"),
    mistake("discriminator_step", "uniform noise in [-1, 1]", d_step().replace(
        "sample_noise(real.shape[0], noise_dim, device=real.device)",
        "torch.rand(real.shape[0], noise_dim, device=real.device) * 2 - 1"), "noise_standard_normal"),
    mistake("discriminator_step", "one noise vector repeated over the batch", d_step().replace(
        "sample_noise(real.shape[0], noise_dim, device=real.device)",
        "sample_noise(1, noise_dim, device=real.device).expand(real.shape[0], -1)"), "noise_standard_normal"),
    mistake("discriminator_step", "noise created on the CPU (no device=)", d_step().replace(
        "sample_noise(real.shape[0], noise_dim, device=real.device)", "torch.randn(real.shape[0], noise_dim)"),
            "noise_on_input_device"),
    mistake("discriminator_step", "switches G to eval() and never back to train()", d_step(
        fake="G(z).detach(); G.eval()"), "keeps_train_mode"),
    mistake("discriminator_step", "clips every parameter to max_grad_norm on its own", d_step(
        clip="if max_grad_norm is not None: [nn.utils.clip_grad_norm_(p, max_grad_norm) for p in D.parameters()]"),
            "clips_before_step"),
    # ---------------------------------------------------------------- generator_step
    mistake("generator_step", "fake batch detached: G gets no gradient", g_step(loss="generator_loss(D(G(z).detach()))"),
            "loss_and_update", "zero_grad_before_backward", "clips_before_step"),
    mistake("generator_step", "saturating loss", g_step(loss="-discriminator_loss(D(G(z)), D(G(z)), real_label=0.0)"),
            "loss_and_update"),  # zero_grad and clipping judged against its own update
    mistake("generator_step", "no zero_grad", g_step(zero_grad="pass"), "zero_grad_before_backward"),
    mistake("generator_step", "clips after step()", g_step(
        clip="pass", after_step="if max_grad_norm is not None: nn.utils.clip_grad_norm_(G.parameters(), max_grad_norm)"),
            "clips_before_step"),
    mistake("generator_step", "freezes D and never unfreezes it", g_step(before="D.requires_grad_(False)"),
            "leaves_d_unchanged"),
    mistake("generator_step", "steps D with an optimizer of its own", g_step(
        after_step="torch.optim.SGD(D.parameters(), lr=0.1).step()"), "leaves_d_unchanged"),
    mistake("generator_step", "ignores batch_size and noise_dim", g_step().replace(
        "sample_noise(batch_size, noise_dim,", "sample_noise(128, 100,"), "noise_shape"),
    mistake("generator_step", "returns the loss with its graph", g_step(returned="g_loss"), "returns_detached_scalar"),
    mistake("generator_step", "returns the loss with its graph in a subclass whose requires_grad says False",
            _LIAR + g_step(returned="g_loss.as_subclass(_Attached)"), "returns_detached_scalar"),
    mistake("generator_step", "uniform noise in [-1, 1], on the CPU", g_step().replace(
        "sample_noise(batch_size, noise_dim, device=next(G.parameters()).device)",
        "torch.rand(batch_size, noise_dim) * 2 - 1"), "noise_standard_normal", "noise_on_input_device"),
    mistake("generator_step", "uniform noise in [0, 1)", g_step().replace(
        "sample_noise(batch_size, noise_dim, device=next(G.parameters()).device)",
        "torch.rand(batch_size, noise_dim, device=next(G.parameters()).device)"), "noise_standard_normal"),
    mistake("generator_step", "reseeds the global RNG every step (same noise each call)", g_step(
        zero_grad="opt_G.zero_grad(); torch.manual_seed(0); z = sample_noise(batch_size, noise_dim, "
                  "device=next(G.parameters()).device)"), "noise_standard_normal"),
    mistake("generator_step", "noise created on the CPU (no device=)", g_step().replace(
        "device=next(G.parameters()).device", "device=None"), "noise_on_input_device"),
    mistake("generator_step", "D.eval() in the step, never back to train()", g_step(before="D.eval()"),
            "keeps_train_mode"),
    mistake("generator_step", "clips every parameter to max_grad_norm on its own", g_step(
        clip="if max_grad_norm is not None:\n        for p in G.parameters(): nn.utils.clip_grad_norm_(p, max_grad_norm)"),
            "clips_before_step"),
    # ---------------------------------------------------------------- gan_train_step
    mistake("gan_train_step", "updates G once whatever g_steps", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, real_label=real_label, max_grad_norm=max_grad_norm)
    g_loss = generator_step(G, D, real.shape[0], opt_G, max_grad_norm=max_grad_norm)
    return {"d_loss": d_loss, "g_loss": g_loss}
""", "update_order", "final_weights", "returned_losses", "passes_max_grad_norm", "passes_real_label"),
    mistake("gan_train_step", "generator updates before the discriminator update", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    for _ in range(g_steps):
        g_loss = generator_step(G, D, real.shape[0], opt_G, max_grad_norm=max_grad_norm)
    d_loss = discriminator_step(G, D, real, opt_D, real_label=real_label, max_grad_norm=max_grad_norm)
    return {"d_loss": d_loss, "g_loss": g_loss}
""", "update_order", "final_weights", "returned_losses", "passes_real_label"),
    mistake("gan_train_step", "steps D again in every G update (inline)", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, real_label=real_label, max_grad_norm=max_grad_norm)
    for _ in range(g_steps):
        opt_G.zero_grad()
        g_loss = generator_loss(D(G(sample_noise(real.shape[0], device=real.device))))
        g_loss.backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(G.parameters(), max_grad_norm)
        opt_G.step()
        opt_D.step()
    return {"d_loss": d_loss, "g_loss": g_loss.detach()}
""", "update_order", "final_weights", "returned_losses", "passes_max_grad_norm", "passes_real_label"),
    mistake("gan_train_step", "max_grad_norm not passed on", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, real_label=real_label)
    for _ in range(g_steps):
        g_loss = generator_step(G, D, real.shape[0], opt_G)
    return {"d_loss": d_loss, "g_loss": g_loss}
""", "passes_max_grad_norm"),
    mistake("gan_train_step", "real_label not passed on", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, max_grad_norm=max_grad_norm)
    for _ in range(g_steps):
        g_loss = generator_step(G, D, real.shape[0], opt_G, max_grad_norm=max_grad_norm)
    return {"d_loss": d_loss, "g_loss": g_loss}
""", "passes_real_label"),
    mistake("gan_train_step", "g_loss of the first G update", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, real_label=real_label, max_grad_norm=max_grad_norm)
    g_losses = [generator_step(G, D, real.shape[0], opt_G, max_grad_norm=max_grad_norm) for _ in range(g_steps)]
    return {"d_loss": d_loss, "g_loss": g_losses[0]}
""", "returned_losses"),
    mistake("gan_train_step", "returns a tuple (d_loss, g_loss)", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, real_label=real_label, max_grad_norm=max_grad_norm)
    for _ in range(g_steps):
        g_loss = generator_step(G, D, real.shape[0], opt_G, max_grad_norm=max_grad_norm)
    return d_loss, g_loss
""", "returned_losses"),
    mistake("gan_train_step", "returns floats", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, real_label=real_label, max_grad_norm=max_grad_norm)
    for _ in range(g_steps):
        g_loss = generator_step(G, D, real.shape[0], opt_G, max_grad_norm=max_grad_norm)
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item()}
""", "returned_losses"),
    mistake("gan_train_step", "fixed fake batch of 128 instead of real.shape[0]", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, real_label=real_label, max_grad_norm=max_grad_norm)
    for _ in range(g_steps):
        g_loss = generator_step(G, D, 128, opt_G, max_grad_norm=max_grad_norm)
    return {"d_loss": d_loss, "g_loss": g_loss}
""", "fake_batch_size"),
    mistake("gan_train_step", "inline D update with G.eval(), never back to train()", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    G.eval()
    with torch.no_grad():
        fake = G(sample_noise(real.shape[0], device=real.device))
    opt_D.zero_grad()
    d_loss = discriminator_loss(D(real), D(fake), real_label=real_label)
    d_loss.backward()
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_(D.parameters(), max_grad_norm)
    opt_D.step()
    for _ in range(g_steps):
        g_loss = generator_step(G, D, real.shape[0], opt_G, max_grad_norm=max_grad_norm)
    return {"d_loss": d_loss.detach(), "g_loss": g_loss}
""", "keeps_train_mode"),
    mistake("discriminator_step", "reads G.noise_dim instead of the noise_dim argument", d_step().replace(
        "real.shape[0], noise_dim", "real.shape[0], G.noise_dim"), "noise_shape"),
    mistake("gan_train_step", "one noise batch reused for every G update (inline)", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, real_label=real_label, max_grad_norm=max_grad_norm)
    z = sample_noise(real.shape[0], device=real.device)  # drawn once
    for _ in range(g_steps):
        opt_G.zero_grad()
        g_loss = generator_loss(D(G(z)))
        g_loss.backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(G.parameters(), max_grad_norm)
        opt_G.step()
    return {"d_loss": d_loss, "g_loss": g_loss.detach()}
""", "fresh_noise_each_update"),
    mistake("gan_train_step", "one noise batch for the D update and every G update (inline)", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    z = sample_noise(real.shape[0], device=real.device)
    opt_D.zero_grad()
    d_loss = discriminator_loss(D(real), D(G(z).detach()), real_label)
    d_loss.backward()
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_(D.parameters(), max_grad_norm)
    opt_D.step()
    for _ in range(g_steps):
        opt_G.zero_grad()
        g_loss = generator_loss(D(G(z)))
        g_loss.backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(G.parameters(), max_grad_norm)
        opt_G.step()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}
""", "fresh_noise_each_update"),
    # ---------------------------------------------------------------- argument positions (the contract's signatures)
    mistake("discriminator_step", "real_label before noise_dim in the signature", d_step().replace(
        "noise_dim=100, real_label=0.9", "real_label=0.9, noise_dim=100"), "argument_order"),
    mistake("generator_step", "max_grad_norm before noise_dim in the signature", g_step().replace(
        "noise_dim=100, max_grad_norm=None", "max_grad_norm=None, noise_dim=100"), "argument_order"),
    mistake("gan_train_step", "real_label passed by position into noise_dim", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, real_label, max_grad_norm)
    for _ in range(g_steps):
        g_loss = generator_step(G, D, real.shape[0], opt_G, max_grad_norm=max_grad_norm)
    return {"d_loss": d_loss, "g_loss": g_loss}
""", "update_order", "final_weights", "returned_losses", "passes_max_grad_norm", "passes_real_label",
            "fake_batch_size", "fresh_noise_each_update", "keeps_train_mode"),
    mistake("gan_train_step", "max_grad_norm passed by position into generator_step's noise_dim", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, real_label=real_label, max_grad_norm=max_grad_norm)
    for _ in range(g_steps):
        g_loss = generator_step(G, D, real.shape[0], opt_G, max_grad_norm)
    return {"d_loss": d_loss, "g_loss": g_loss}
""", "update_order", "final_weights", "returned_losses", "passes_max_grad_norm", "passes_real_label",
            "fake_batch_size", "fresh_noise_each_update", "keeps_train_mode"),
    # ---------------------------------------------------------------- more of the usual slips
    mistake("discriminator_step", "G.zero_grad() instead of opt_D.zero_grad()", d_step(zero_grad="G.zero_grad()"),
            "zero_grad_before_backward"),
    mistake("discriminator_step", "zero_grad between backward() and step()", d_step(
        zero_grad="pass", clip="opt_D.zero_grad()\n    if max_grad_norm is not None: nn.utils.clip_grad_norm_(D.parameters(), max_grad_norm)"),
            "loss_and_update", "zero_grad_before_backward", "clips_before_step"),
    mistake("discriminator_step", "clip_grad_value_ instead of clip_grad_norm_", d_step(
        clip="if max_grad_norm is not None: nn.utils.clip_grad_value_(D.parameters(), max_grad_norm)"), "clips_before_step"),
    mistake("discriminator_step", "clips before backward()", d_step(
        zero_grad="opt_D.zero_grad()\n    if max_grad_norm is not None: nn.utils.clip_grad_norm_(D.parameters(), max_grad_norm)",
        clip="pass"), "clips_before_step"),
    mistake("discriminator_step", "noise of shape (B, noise_dim, 1, 1)", d_step().replace(
        "sample_noise(real.shape[0], noise_dim, device=real.device)",
        "sample_noise(real.shape[0], noise_dim, device=real.device).view(real.shape[0], noise_dim, 1, 1)"), "noise_shape"),
    mistake("generator_step", "clips D instead of G", g_step(
        clip="if max_grad_norm is not None: nn.utils.clip_grad_norm_(D.parameters(), max_grad_norm)"), "clips_before_step"),
    mistake("generator_step", "label smoothing in the generator's loss", g_step(
        loss="F.binary_cross_entropy_with_logits(D(G(z)), torch.full((batch_size, 1), 0.9, device=z.device))"),
            "loss_and_update"),
    mistake("generator_step", "G.eval() in the step, never back to train()", g_step(before="G.eval()"), "keeps_train_mode"),
    mistake("generator_step", "returns a Python float", g_step(returned="g_loss.item()"), "returns_detached_scalar"),
    mistake("gan_train_step", "generator_step given opt_D", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, real_label=real_label, max_grad_norm=max_grad_norm)
    for _ in range(g_steps):
        g_loss = generator_step(G, D, real.shape[0], opt_D, max_grad_norm=max_grad_norm)
    return {"d_loss": d_loss, "g_loss": g_loss}
""", "update_order", "final_weights", "returned_losses", "passes_max_grad_norm", "passes_real_label"),
    mistake("gan_train_step", "hard-codes two generator updates", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, real_label=real_label, max_grad_norm=max_grad_norm)
    for _ in range(2):
        g_loss = generator_step(G, D, real.shape[0], opt_G, max_grad_norm=max_grad_norm)
    return {"d_loss": d_loss, "g_loss": g_loss}
""", "update_order"),
    mistake("gan_train_step", "one fake batch reused with retain_graph=True", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, real_label=real_label, max_grad_norm=max_grad_norm)
    fake = G(sample_noise(real.shape[0], device=real.device))
    for _ in range(g_steps):
        opt_G.zero_grad()
        g_loss = generator_loss(D(fake))
        g_loss.backward(retain_graph=True)
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(G.parameters(), max_grad_norm)
        opt_G.step()
    return {"d_loss": d_loss, "g_loss": g_loss.detach()}
""", "update_order", "final_weights", "returned_losses", "passes_max_grad_norm", "passes_real_label",
            "fake_batch_size", "fresh_noise_each_update", "keeps_train_mode"),
    mistake("gan_train_step", "g_loss as the mean of the generator losses", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, real_label=real_label, max_grad_norm=max_grad_norm)
    g_losses = [generator_step(G, D, real.shape[0], opt_G, max_grad_norm=max_grad_norm) for _ in range(g_steps)]
    return {"d_loss": d_loss, "g_loss": torch.stack(g_losses).mean()}
""", "returned_losses"),
]

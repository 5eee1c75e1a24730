from . import alternative

ALTERNATIVES = [
    # ---------------------------------------------------------------- discriminator_step
    alternative("discriminator_step", "fake under torch.no_grad(), D.zero_grad(set_to_none=False)", """
def discriminator_step(G, D, real, opt_D, noise_dim=100, real_label=0.9, max_grad_norm=None):
    with torch.no_grad():
        fake = G(sample_noise(real.size(0), noise_dim, device=real.device))  # (B, 1, 28, 28), no graph
    D.zero_grad(set_to_none=False)
    loss = discriminator_loss(D(real), D(fake), real_label)
    loss.backward()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(D.parameters(), max_norm=max_grad_norm)
    opt_D.step()
    return loss.detach()
"""),
    alternative("discriminator_step", "inline BCE, torch.randn with dtype, manual total-norm clipping", """
def _clip_(params, max_norm):
    \"\"\"Scale the gradients of ``params`` so their global L2 norm is at most ``max_norm``.\"\"\"
    grads = [p.grad for p in params if p.grad is not None]
    total = torch.sqrt(sum((g.detach() ** 2).sum() for g in grads))
    factor = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.detach().mul_(factor)


def discriminator_step(G: nn.Module, D: nn.Module, real: torch.Tensor, opt_D: torch.optim.Optimizer,
                       noise_dim: int = 100, real_label: float = 0.9, max_grad_norm: float | None = None) -> torch.Tensor:
    z = torch.randn(real.shape[0], noise_dim, device=real.device, dtype=real.dtype)  # (B, noise_dim)
    fake = G(z).detach()
    opt_D.zero_grad(set_to_none=True)
    real_logits, fake_logits = D(real), D(fake)  # (B, 1) each
    d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    d_loss.backward()
    if max_grad_norm is not None:
        _clip_(list(D.parameters()), max_grad_norm)
    opt_D.step()
    return d_loss.detach()
"""),
    alternative("discriminator_step", "real and fake in one concatenated batch, split afterwards", """
def discriminator_step(G, D, real, opt_D, noise_dim=100, real_label=0.9, max_grad_norm=None):
    B = len(real)
    fake = G(sample_noise(B, noise_dim, device=real.device))
    logits = D(torch.cat([real, fake.detach()], dim=0))  # (2B, 1)
    opt_D.zero_grad()
    d_loss = discriminator_loss(logits[:B], logits[B:], real_label=real_label)
    d_loss.backward()
    if max_grad_norm:
        nn.utils.clip_grad_norm_(D.parameters(), max_grad_norm, norm_type=2.0)
    opt_D.step()
    return d_loss.detach().clone()
"""),
    alternative("discriminator_step", "noise drawn after D(real) by an extra keyword argument's function", """
def discriminator_step(G, D, real, opt_D, noise_dim=100, real_label=0.9, max_grad_norm=None, draw=None):
    opt_D.zero_grad()
    real_logits = D(real)
    draw = draw or (lambda n, d, device: torch.empty(n, d, device=device).normal_(0.0, 1.0))
    z = draw(real.shape[0], noise_dim, device=real.device)
    fake_logits = D(G(z).detach())
    d_loss = discriminator_loss(real_logits, fake_logits, real_label)
    d_loss.backward()
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_([p for p in D.parameters() if p.grad is not None], max_grad_norm)
    opt_D.step()
    return d_loss.detach()
"""),
    # ---------------------------------------------------------------- generator_step
    alternative("generator_step", "freezes D with requires_grad_(False) and restores it", """
def generator_step(G, D, batch_size, opt_G, noise_dim=100, max_grad_norm=None):
    device = next(G.parameters()).device
    for p in D.parameters():
        p.requires_grad_(False)
    G.zero_grad(set_to_none=True)
    g_loss = generator_loss(D(G(sample_noise(batch_size, noise_dim, device))))
    g_loss.backward()
    for p in D.parameters():
        p.requires_grad_(True)
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_(G.parameters(), max_grad_norm)
    opt_G.step()
    return g_loss.detach()
"""),
    alternative("generator_step", "inline BCE with ones_like, torch.randn on D's device, zero_grad after", """
def generator_step(G: nn.Module, D: nn.Module, batch_size: int, opt_G: torch.optim.Optimizer,
                   noise_dim: int = 100, max_grad_norm: float | None = None) -> torch.Tensor:
    z = torch.randn(batch_size, noise_dim, device=next(D.parameters()).device)  # (B, noise_dim)
    logits = D(G(z))  # (B, 1); gradients flow through D into G
    loss = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    opt_G.zero_grad()
    loss.backward()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(G.parameters(), max_grad_norm)
    opt_G.step()
    D.zero_grad()  # drop the gradients this step left in D
    return loss.detach()
"""),
    alternative("generator_step", "backward(inputs=G's parameters), manual clip with torch.linalg", """
def generator_step(G, D, batch_size, opt_G, noise_dim=100, max_grad_norm=None):
    params = [p for p in G.parameters() if p.requires_grad]
    z = torch.empty(batch_size, noise_dim, device=params[0].device).normal_()
    opt_G.zero_grad()
    g_loss = generator_loss(D(G(z)))
    g_loss.backward(inputs=params)
    if max_grad_norm is not None:
        grads = [p.grad for p in params if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.cat([g.reshape(-1) for g in grads]))
        if norm > max_grad_norm:
            for g in grads:
                g.mul_(max_grad_norm / (norm + 1e-6))
    opt_G.step()
    return g_loss.detach()
"""),
    alternative("generator_step", "noise through sample_noise with keywords, loss kept as .data", """
def generator_step(G, D, batch_size, opt_G, noise_dim=100, max_grad_norm=None):
    opt_G.zero_grad(set_to_none=False)
    fake = G(sample_noise(batch_size=batch_size, noise_dim=noise_dim, device=next(G.parameters()).device))
    g_loss = generator_loss(D(fake))
    g_loss.backward()
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_(G.parameters(), max_grad_norm, error_if_nonfinite=False)
    opt_G.step()
    return g_loss.data
"""),
    # ---------------------------------------------------------------- gan_train_step
    alternative("gan_train_step", "positional arguments, list of G losses", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    d_loss = discriminator_step(G, D, real, opt_D, 100, real_label, max_grad_norm)
    g_losses = [generator_step(G, D, len(real), opt_G, 100, max_grad_norm) for _ in range(g_steps)]
    return dict(g_loss=g_losses[-1], d_loss=d_loss)
"""),
    alternative("gan_train_step", "everything inline, no step functions", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    B = real.shape[0]
    # one discriminator update on a detached fake batch
    with torch.no_grad():
        fake = G(torch.randn(B, 100, device=real.device))
    opt_D.zero_grad()
    d_loss = discriminator_loss(D(real), D(fake), real_label=real_label)
    d_loss.backward()
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_(D.parameters(), max_grad_norm)
    opt_D.step()
    # g_steps generator updates, fresh noise each
    g_loss = None
    for _ in range(g_steps):
        opt_G.zero_grad()
        loss = generator_loss(D(G(torch.randn(B, 100, device=real.device))))
        loss.backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(G.parameters(), max_grad_norm)
        opt_G.step()
        g_loss = loss.detach()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss}
"""),
    alternative("gan_train_step", "keyword calls, while loop, type hints", """
def gan_train_step(G: nn.Module, D: nn.Module, real: torch.Tensor, opt_G, opt_D, g_steps: int = 2,
                   real_label: float = 0.9, max_grad_norm: float | None = None) -> dict[str, torch.Tensor]:
    out = {"d_loss": discriminator_step(G=G, D=D, real=real, opt_D=opt_D, real_label=real_label,
                                        max_grad_norm=max_grad_norm)}
    done = 0
    while done < g_steps:
        out["g_loss"] = generator_step(G=G, D=D, batch_size=real.shape[0], opt_G=opt_G, max_grad_norm=max_grad_norm)
        done += 1
    return out
"""),
    alternative("gan_train_step", "noise_dim read from G.noise_dim", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    nz = G.noise_dim  # the Generator stores its noise_dim
    d_loss = discriminator_step(G, D, real, opt_D, noise_dim=nz, real_label=real_label, max_grad_norm=max_grad_norm)
    for _ in range(g_steps):
        g_loss = generator_step(G, D, real.shape[0], opt_G, noise_dim=nz, max_grad_norm=max_grad_norm)
    return {"d_loss": d_loss, "g_loss": g_loss}
"""),
    alternative("gan_train_step", "inline, PyTorch-tutorial style: the first G update reuses the D step's fake", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    fake = G(sample_noise(real.shape[0], device=real.device))  # (B, 1, 28, 28)
    opt_D.zero_grad()
    d_loss = discriminator_loss(D(real), D(fake.detach()), real_label)
    d_loss.backward()
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_(D.parameters(), max_grad_norm)
    opt_D.step()
    for i in range(g_steps):
        if i > 0:  # G has changed: a new fake batch from fresh noise
            fake = G(sample_noise(real.shape[0], device=real.device))
        opt_G.zero_grad()
        g_loss = generator_loss(D(fake))
        g_loss.backward()
        if max_grad_norm is not None:
            nn.utils.clip_grad_norm_(G.parameters(), max_grad_norm)
        opt_G.step()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}
"""),
    alternative("discriminator_step", "G.eval() under no_grad for the fake batch, G's mode restored", """
def discriminator_step(G, D, real, opt_D, noise_dim=100, real_label=0.9, max_grad_norm=None):
    was_training = G.training
    G.eval()
    with torch.no_grad():
        fake = G(sample_noise(real.shape[0], noise_dim, device=real.device))
    G.train(was_training)
    opt_D.zero_grad()
    d_loss = discriminator_loss(D(real), D(fake), real_label=real_label)
    d_loss.backward(retain_graph=True)
    if max_grad_norm is not None:
        params = [p for group in opt_D.param_groups for p in group["params"]]
        nn.utils.clip_grad_norm_(params, max_grad_norm)
    opt_D.step()
    return d_loss.detach()
"""),
    alternative("discriminator_step", "G frozen with requires_grad_(False) for the fake batch, then restored", """
def discriminator_step(G, D, real, opt_D, noise_dim=100, real_label=0.9, max_grad_norm=None):
    flags = [p.requires_grad for p in G.parameters()]
    G.requires_grad_(False)
    try:
        fake = G(torch.randn(real.shape[0], noise_dim, device=real.device))
    finally:
        for p, flag in zip(G.parameters(), flags):
            p.requires_grad_(flag)
    opt_D.zero_grad()
    d_loss = discriminator_loss(D(real), D(fake), real_label)
    d_loss.backward()
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_(D.parameters(), max_grad_norm)
    opt_D.step()
    return d_loss.detach()
"""),
    alternative("generator_step", "torch.autograd.grad written into p.grad", """
def generator_step(G, D, batch_size, opt_G, noise_dim=100, max_grad_norm=None):
    params = list(G.parameters())
    z = sample_noise(batch_size, noise_dim, device=params[0].device)
    loss = generator_loss(D(G(z)))
    for p, g in zip(params, torch.autograd.grad(loss, params)):
        p.grad = g
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_(params, max_grad_norm)
    opt_G.step()
    return loss.detach()
"""),
    alternative("generator_step", "D.eval() for the step and its mode restored, G.zero_grad()", """
def generator_step(G, D, batch_size, opt_G, noise_dim=100, max_grad_norm=None):
    was_training = D.training
    D.eval()
    G.zero_grad()
    g_loss = generator_loss(D(G(sample_noise(batch_size, noise_dim, next(G.parameters()).device))))
    g_loss.backward()
    D.train(was_training)
    if max_grad_norm is not None:
        nn.utils.clip_grad_norm_(opt_G.param_groups[0]["params"], max_grad_norm)
    opt_G.step()
    return g_loss.detach()
"""),
    alternative("gan_train_step", "functools.partial for the generator updates, the last of a list", """
import functools
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    g_update = functools.partial(generator_step, G, D, real.size(0), opt_G, max_grad_norm=max_grad_norm)
    d_loss = discriminator_step(G, D, real, opt_D, max_grad_norm=max_grad_norm, real_label=real_label)
    return {"d_loss": d_loss, "g_loss": [g_update() for _ in range(g_steps)][-1]}
"""),
    alternative("gan_train_step", "every argument by position, noise_dim read from G", """
def gan_train_step(G, D, real, opt_G, opt_D, g_steps=2, real_label=0.9, max_grad_norm=None):
    nz = getattr(G, "noise_dim", 100)
    d_loss = discriminator_step(G, D, real, opt_D, nz, real_label, max_grad_norm)
    for _ in range(g_steps):
        g_loss = generator_step(G, D, len(real), opt_G, nz, max_grad_norm)
    return dict(d_loss=d_loss, g_loss=g_loss)
"""),
]

"""The reference for bench_generators: DRAW and the conditional GAN with the
same layers, losses, solvers, batch and threads in PyTorch for Python
(Debian's python3-torch, the same LibTorch)."""
import math, resource, statistics, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
size = int(args.get("--size", 32)); batch = int(args.get("--batch", 64)); threads = int(args.get("--threads", 2))
steps = int(args.get("--steps", 10)); glimpses = int(args.get("--glimpses", 12)); cond = int(args.get("--condition", 73))
bf16 = float(args.get("--bf16", 0)) != 0  # the forward passes under bfloat16 autocast, one scope each, as facet's
autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
torch.set_num_threads(threads); torch.manual_seed(0)
x = torch.rand(batch, 3, size, size); c = torch.randn(batch, cond)


def rate(step):
    times = []
    for s in range(steps + 2):
        t = time.perf_counter(); step()
        if s >= 2: times.append(time.perf_counter() - t)
    return 1.0 / statistics.median(times)


class Draw(nn.Module):  # draw_model.cpp: read 6x6, write 12x12, 256-wide LSTMs, latent 32
    def __init__(s, size, T, cond, C=3, rn=6, wn=12, enc=256, dec=256, lat=32):
        super().__init__()
        s.size, s.T, s.C, s.rn, s.wn, s.enc, s.dec, s.lat = size, T, C, rn, wn, enc, dec, lat
        s.encoder = nn.LSTMCell(2 * C * rn * rn + dec, enc); s.decoder = nn.LSTMCell(lat + cond, dec)
        s.mu = nn.Linear(enc, lat); s.log_sigma = nn.Linear(enc, lat); s.write = nn.Linear(dec, C * wn * wn)
        s.read_attention = nn.Linear(dec, 5); s.write_attention = nn.Linear(dec, 5)
        s.init = nn.Linear(cond, 2 * enc + 2 * dec)

    def attention(s, raw, n):
        gx = 0.5 * (s.size + 1) * (raw[:, 0] + 1); gy = 0.5 * (s.size + 1) * (raw[:, 1] + 1)
        sigma2 = raw[:, 2].exp(); delta = (s.size - 1) / (n - 1) * raw[:, 3].exp(); gamma = raw[:, 4].exp()
        def bank(g):
            i = torch.arange(1, n + 1, dtype=raw.dtype).view(1, n)
            mu = g.view(-1, 1) + (i - n / 2 - 0.5) * delta.view(-1, 1)
            a = torch.arange(1, s.size + 1, dtype=raw.dtype).view(1, 1, s.size)
            f = torch.exp(-(a - mu.unsqueeze(2)) ** 2 / (2 * sigma2.view(-1, 1, 1)))
            return (f / f.sum(2, keepdim=True).clamp_min(1e-8)).unsqueeze(1)
        return bank(gx), bank(gy), gamma.view(-1, 1, 1, 1)

    def forward(s, images, cond):
        p = s.init(cond).split([s.enc, s.enc, s.dec, s.dec], 1)
        h_enc, c_enc, h_dec, c_dec = torch.tanh(p[0]), p[1], torch.tanh(p[2]), p[3]
        canvas = torch.zeros_like(images); kls = []
        for _ in range(s.T):
            error = images - torch.sigmoid(canvas)
            fx, fy, gamma = s.attention(s.read_attention(h_dec), s.rn)
            glimpse = lambda im: (gamma * (fy @ im @ fx.transpose(2, 3))).flatten(1)
            r = torch.cat([glimpse(images), glimpse(error)], 1)
            h_enc, c_enc = s.encoder(torch.cat([r, h_dec], 1), (h_enc, c_enc))
            mu, log_sigma = s.mu(h_enc), s.log_sigma(h_enc)
            z = mu + log_sigma.exp() * torch.randn_like(mu)
            h_dec, c_dec = s.decoder(torch.cat([z, cond], 1), (h_dec, c_dec))
            fx, fy, gamma = s.attention(s.write_attention(h_dec), s.wn)
            canvas = canvas + fy.transpose(2, 3) @ s.write(h_dec).view(-1, s.C, s.wn, s.wn) @ fx / gamma
            kls.append(0.5 * (mu ** 2 + (2 * log_sigma).exp() - 2 * log_sigma - 1).sum(1))
        return canvas, kls


draw = Draw(size, glimpses, cond)
adam = torch.optim.Adam(draw.parameters(), lr=2e-3)
def draw_step():
    adam.zero_grad()
    with autocast():
        canvas, kls = draw(x, c)
    canvas, kls = canvas.float(), [k.float() for k in kls]
    squared = (torch.sigmoid(canvas) - x).pow(2).sum()  # draw::fitted_gaussian_nll
    variance = (squared.detach() / x.numel()).clamp_min(1e-6)
    nll = 0.5 * squared / variance + 0.5 * x.numel() * (variance.log() + math.log(2 * math.pi))
    ((nll + 4.0 * sum(k.sum() for k in kls)) / x.size(0)).backward()  # the draw step's kl_weight
    nn.utils.clip_grad_norm_(draw.parameters(), 10.0)
    adam.step()


class SNConv(nn.Module):  # gan_model.cpp's SNConv2d: one power iteration per training pass
    def __init__(s, i, o, k, stride=1, pad=0, bias=True):
        super().__init__(); s.conv = nn.Conv2d(i, o, k, stride, pad, bias=bias)
        s.register_buffer("u", F.normalize(torch.randn(o), dim=0))
    def forward(s, x):
        w = s.conv.weight.flatten(1)
        with torch.no_grad():
            v = F.normalize(w.t() @ s.u, dim=0, eps=1e-12); u = F.normalize(w @ v, dim=0, eps=1e-12); s.u.copy_(u)
            v = F.normalize(w.t() @ u, dim=0, eps=1e-12)
        return F.conv2d(x, s.conv.weight / torch.dot(u, w @ v), s.conv.bias, s.conv.stride, s.conv.padding)


levels = size.bit_length() - 3; width = 32; noise = 64; top = width << (levels - 1)
class G(nn.Module):
    def __init__(s):
        super().__init__()
        s.project = nn.Linear(noise + cond, top * 16); s.norm = nn.BatchNorm1d(top * 16); layers = []
        for k in range(levels):
            i = top >> k; last = k == levels - 1; o = 3 if last else i // 2
            layers.append(nn.ConvTranspose2d(i, o, 4, 2, 1, bias=last))
            if not last: layers += [nn.BatchNorm2d(o), nn.ReLU()]
        s.up = nn.Sequential(*layers)
    def forward(s, z, y):
        return torch.tanh(s.up(torch.relu(s.norm(s.project(torch.cat([z, y], 1)))).view(-1, top, 4, 4)))

class D(nn.Module):
    def __init__(s):
        super().__init__()
        s.first = SNConv(3, width, 4, 2, 1); s.embed = nn.Linear(cond, 32); layers = []; ch = width + 32
        for k in range(1, levels):
            layers += [SNConv(ch, width << k, 4, 2, 1), nn.LeakyReLU(0.2)]; ch = width << k
        layers.append(SNConv(ch, 1, 4)); s.rest = nn.Sequential(*layers)
    def forward(s, x, y):
        h = F.leaky_relu(s.first(x), 0.2)
        h = torch.cat([h, s.embed(y)[:, :, None, None].expand(-1, -1, h.size(2), h.size(3))], 1)
        return s.rest(h).flatten()

g, d = G(), D()
g_opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
d_opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
def gan_step():
    with autocast():
        fake = g(torch.randn(batch, noise), c).float()
    d_opt.zero_grad()
    with autocast():
        d_real, d_fake = d(x * 2 - 1, c).float(), d(fake.detach(), c).float()
        d_wrong = d(x * 2 - 1, c.roll(1, 0)).float()  # the step's matching-aware discriminator (mismatch: true)
    loss = F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, 0.9)) + 0.5 * (
        F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)) +
        F.binary_cross_entropy_with_logits(d_wrong, torch.zeros_like(d_wrong)))
    loss.backward(); d_opt.step()
    for p in d.parameters(): p.requires_grad_(False)
    g_opt.zero_grad()
    with autocast():
        out = d(fake, c).float()
    F.binary_cross_entropy_with_logits(out, torch.ones_like(out)).backward(); g_opt.step()
    for p in d.parameters(): p.requires_grad_(True)
    loss.item(); torch.sigmoid(d_real).mean().item(); torch.sigmoid(d_fake).mean().item()

draw_rate = rate(draw_step)
g.train(); d.train()
gan_rate = rate(gan_step)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"pytorch draw_steps_per_s {draw_rate:.3f} gan_steps_per_s {gan_rate:.3f} peak_rss_mib {rss:.0f}")

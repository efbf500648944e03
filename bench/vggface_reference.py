"""The reference for bench_vggface: the same network, loss, solver, batch and
threads in PyTorch for Python (Debian's python3-torch, same LibTorch)."""
import resource, statistics, sys, time
import torch
import torch.nn as nn

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
width = float(args.get("--width", 0.125)); size = int(args.get("--size", 64)); batch = int(args.get("--batch", 64))
threads = int(args.get("--threads", 2)); steps = int(args.get("--steps", 20)); heads = int(args.get("--heads", 42))
bf16 = float(args.get("--bf16", 0)) != 0; channels_last = float(args.get("--channels-last", 1)) != 0
torch.set_num_threads(threads); torch.manual_seed(0)

layers, c = [], 3
for convs, channels in zip([2, 2, 3, 3, 3], [64, 128, 256, 512, 512]):
    out = max(1, round(channels * width))
    for _ in range(convs):
        layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
        c = out
    layers.append(nn.MaxPool2d(2))
fc = max(1, round(4096 * width))
backbone = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * (size // 32) ** 2, fc), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(fc, fc), nn.ReLU(), nn.Dropout(0.5))
head = nn.Linear(fc, 2 * heads)
net = nn.Sequential(backbone, head)
sgd = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
x = torch.randn(batch, 3, size, size); y = torch.randint(0, 2, (batch, heads))
layout = torch.channels_last if channels_last else torch.contiguous_format
net = net.to(memory_format=layout); x = x.contiguous(memory_format=layout)

def loss_fn(logits):
    return sum(nn.functional.cross_entropy(logits[:, 2 * h:2 * h + 2], y[:, h]) for h in range(heads))

train = []
net.train()
for s in range(steps + 3):
    t = time.perf_counter()
    sgd.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = net(x).float()
    loss_fn(logits).backward(); sgd.step()
    if s >= 3: train.append(time.perf_counter() - t)
extract = []
net.eval()
with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
    big = torch.randn(256, 3, size, size).contiguous(memory_format=layout)
    for s in range(max(steps // 2, 3) + 2):
        t = time.perf_counter(); backbone(big)
        if s >= 2: extract.append(time.perf_counter() - t)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"pytorch train_images_per_s {batch / statistics.median(train):.1f} "
      f"extract_images_per_s {256 / statistics.median(extract):.1f} peak_rss_mib {rss:.0f}")

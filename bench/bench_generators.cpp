// Training steps per second of DRAW and of the conditional GAN at the
// baseline's settings, and peak RSS. bench/generators_vs_pytorch.sh runs it
// beside the same models in PyTorch (bench/generators_reference.py).
//   build/bin/bench_generators [--size 32] [--batch 64] [--threads 2] [--steps 10] [--glimpses 12] [--condition 73]
//                              [--bf16 1] (the forward passes under bfloat16 autocast, as precision: bf16)
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include <fmt/format.h>
#include <torch/torch.h>

#include <facet/heap.hpp>
#include <facet/precision.hpp>

#include "draw/draw_model.hpp"
#include "gan/gan_model.hpp"

namespace draw = facet::generators::draw;
namespace gan = facet::generators::gan;

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename F>
double steps_per_second(std::int64_t steps, F&& step) {
  std::vector<double> times;
  for (std::int64_t s = 0; s < steps + 2; ++s) {
    const auto t = std::chrono::steady_clock::now();
    step();
    if (s >= 2) times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
  }
  return 1.0 / median(times);
}
}  // namespace

int main(int argc, char** argv) {
  facet::keep_freed_memory();  // as the runner does
  std::int64_t size = 32, batch = 64, threads = 2, steps = 10, glimpses = 12, condition = 73;
  std::string precision = "fp32";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const auto value = std::stoll(argv[i + 1]);
    if (flag == "--size") size = value;
    else if (flag == "--batch") batch = value;
    else if (flag == "--threads") threads = value;
    else if (flag == "--steps") steps = value;
    else if (flag == "--glimpses") glimpses = value;
    else if (flag == "--condition") condition = value;
    else if (flag == "--bf16") precision = value != 0 ? "bf16" : "fp32";
  }
  torch::set_num_threads(static_cast<int>(threads));
  torch::manual_seed(0);
  const auto x = torch::rand({batch, 3, size, size});
  const auto c = torch::randn({batch, condition});

  // DRAW as the draw step trains it: the Gaussian pixel likelihood at the
  // batch's fitted sigma plus the KL terms at its default kl_weight of 4,
  // clipping at 10, Adam.
  draw::Draw net(draw::DrawOptions().size(size).glimpses(glimpses).condition(condition));
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(2e-3));
  const double pixels = static_cast<double>(x.numel());
  const double draw_rate = steps_per_second(steps, [&] {
    adam.zero_grad();
    draw::DrawOutput out;
    {
      facet::Autocast autocast(precision, torch::kCPU);
      out = net->forward(x, c);
    }
    auto loss = draw::fitted_gaussian_nll((torch::sigmoid(out.canvas.to(torch::kFloat32)) - x).pow(2).sum(), pixels);
    for (const auto& kl : out.kl) loss = loss + 4.0 * kl.to(torch::kFloat32).sum();
    (loss / static_cast<double>(batch)).backward();
    torch::nn::utils::clip_grad_norm_(net->parameters(), 10.0);
    adam.step();
  });

  // The GAN as the gan step trains it (its defaults: width 32, noise 64, spectral norm, mismatch).
  gan::Gan gan_net(gan::GanOptions().size(size).width(32).condition(condition));
  gan::Trainer trainer(gan_net, gan::TrainingOptions().precision(precision));
  gan_net->train();
  const double gan_rate = steps_per_second(steps, [&] { trainer.step(x, c); });

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::cout << fmt::format("libtorch draw_steps_per_s {:.3f} gan_steps_per_s {:.3f} peak_rss_mib {:.0f}\n", draw_rate,
                           gan_rate, static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}

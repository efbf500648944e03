// Training and extraction throughput of the vggface backbone with attribute
// heads, in images/s (medians), and peak RSS. bench/vggface_vs_pytorch.sh
// runs it beside the same model in PyTorch (bench/vggface_reference.py).
//   build/bin/bench_vggface [--width 0.125] [--size 64] [--batch 64] [--threads 2] [--steps 20] [--heads 42]
//                           [--bf16 1] (the forward passes under bfloat16 autocast, as precision: bf16)
//                           [--channels-last 0] (NCHW convolutions instead of facet's channels-last)
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include <fmt/format.h>
#include <torch/torch.h>

#include <facet/heap.hpp>
#include <facet/precision.hpp>

#include <vggface/attribute_net.hpp>

namespace vggface = facet::vggface;

namespace {
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  facet::keep_freed_memory();  // as the runner does
  double width = 0.125;
  std::int64_t size = 64, batch = 64, threads = 2, steps = 20, heads = 42;
  std::string precision = "fp32";
  bool channels_last = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const double value = std::stod(argv[i + 1]);
    if (flag == "--width") width = value;
    else if (flag == "--size") size = static_cast<std::int64_t>(value);
    else if (flag == "--batch") batch = static_cast<std::int64_t>(value);
    else if (flag == "--threads") threads = static_cast<std::int64_t>(value);
    else if (flag == "--steps") steps = static_cast<std::int64_t>(value);
    else if (flag == "--heads") heads = static_cast<std::int64_t>(value);
    else if (flag == "--bf16") precision = value != 0 ? "bf16" : "fp32";
    else if (flag == "--channels-last") channels_last = value != 0;
  }
  torch::set_num_threads(static_cast<int>(threads));
  torch::manual_seed(0);
  const auto backbone =
      vggface::VggFaceOptions().input_size(size).width(width).batch_norm(true).dropout(0.5).channels_last(
          channels_last);
  const std::vector<std::int64_t> classes(static_cast<size_t>(heads), 2);
  vggface::AttributeNet net(
      backbone,
      vggface::AttributeHeadsOptions().in_features(vggface::fc7_width(backbone)).num_classes(classes).dropout(0.5));
  torch::optim::SGD sgd(net->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(5e-4));
  const auto x = torch::randn({batch, 3, size, size});
  const auto y = torch::randint(0, 2, {batch, heads}, torch::kInt64);

  std::vector<double> train;
  net->train();
  for (std::int64_t s = 0; s < steps + 3; ++s) {
    const auto t = std::chrono::steady_clock::now();
    sgd.zero_grad();
    torch::Tensor logits;
    {
      facet::Autocast autocast(precision, torch::kCPU);
      logits = net->forward(x).to(torch::kFloat32);
    }
    vggface::masked_heads_loss(logits, y, classes).backward();
    sgd.step();
    if (s >= 3) train.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
  }
  std::vector<double> extract;
  net->eval();
  {
    c10::InferenceMode inference;  // as extract does
    const auto big = torch::randn({256, 3, size, size});
    for (std::int64_t s = 0; s < std::max<std::int64_t>(steps / 2, 3) + 2; ++s) {
      const auto t = std::chrono::steady_clock::now();
      facet::Autocast autocast(precision, torch::kCPU);
      net->backbone->forward(big, "fc7");
      if (s >= 2) extract.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
    }
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::cout << fmt::format("libtorch train_images_per_s {:.1f} extract_images_per_s {:.1f} peak_rss_mib {:.0f}\n",
                           static_cast<double>(batch) / median(train), 256.0 / median(extract),
                           static_cast<double>(usage.ru_maxrss) / 1024.0);
  return 0;
}

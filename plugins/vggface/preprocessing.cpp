#include <vggface/preprocessing.hpp>

#include <algorithm>

namespace facet::vggface {

namespace {
// VGG-Face's mean pixel, in BGR order.
constexpr float kMeanB = 93.5940f, kMeanG = 104.7624f, kMeanR = 129.1863f;
constexpr std::int64_t kPadAt64 = 4;  // crop padding at 64 px, scaled with the input size
}  // namespace

torch::Tensor preprocess(const torch::Tensor& images, const Preprocessing& p, std::mt19937_64& rng) {
  auto x = images.to(torch::kFloat32);
  if (x.size(2) != p.input_size || x.size(3) != p.input_size) {
    x = torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                  .size(std::vector<std::int64_t>{p.input_size, p.input_size})
                                                  .mode(torch::kBilinear)
                                                  .align_corners(false));
  }
  if (p.mode == "vggface") {
    x = x.flip(1) - torch::tensor({kMeanB, kMeanG, kMeanR}).view({1, 3, 1, 1});
  } else {
    x = x / 127.5f - 1.0f;
  }
  if (!p.augment) return x;
  const std::int64_t pad = std::max<std::int64_t>(1, kPadAt64 * p.input_size / 64);
  auto padded = torch::nn::functional::pad(
      x, torch::nn::functional::PadFuncOptions({pad, pad, pad, pad}).mode(torch::kReplicate));
  std::uniform_int_distribution<std::int64_t> offset(0, 2 * pad);
  std::bernoulli_distribution flip(0.5);
  std::vector<torch::Tensor> out;
  for (std::int64_t i = 0; i < x.size(0); ++i) {
    const auto dy = offset(rng), dx = offset(rng);
    auto crop = padded[i].slice(1, dy, dy + p.input_size).slice(2, dx, dx + p.input_size);
    out.push_back(flip(rng) ? crop.flip(2) : crop);
  }
  return torch::stack(out);
}

}  // namespace facet::vggface

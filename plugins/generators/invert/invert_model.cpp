#include "invert_model.hpp"

#include <cmath>

#include <facet/errors.hpp>

#include <facet/row_batches.hpp>
#include <vggface/preprocessing.hpp>
#include "generator_io.hpp"

namespace facet::generators::invert {

namespace {

constexpr std::int64_t kBatch = 256;  // faces per forward pass while fitting

vggface::Preprocessing preprocessing_of(vggface::AttributeNet& net, const std::string& mode) {
  return {mode, net->backbone->options().input_size(), false};
}

torch::Tensor resize(const torch::Tensor& x, std::int64_t size) {
  if (x.size(2) == size && x.size(3) == size) return x;
  return torch::nn::functional::interpolate(
      x,
      torch::nn::functional::InterpolateFuncOptions().size(std::vector<std::int64_t>{size, size}).mode(torch::kArea));
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> LayerGaussians::target(const std::vector<int>& attributes,
                                                               const std::vector<std::string>& attribute_names) const {
  // A floor on the spread: units that never vary (dead ReLUs) would otherwise
  // get an unbounded precision.
  const double floor = 0.1 * spread.mean().item<double>() + 1e-6;
  const auto population = spread.clamp_min(floor).pow(-2);
  auto weight = torch::zeros({mean.size(1)});
  auto weighted = torch::zeros({mean.size(1)});
  for (int a : attributes) {
    if (count[a].item<std::int64_t>() < 2) {
      throw Error(fmt::format("no two training faces have '{}': inversion has no target for it",
                              attribute_names[static_cast<size_t>(a)]));
    }
    const auto gain = (std.select(0, a).clamp_min(floor).pow(-2) - population).clamp_min(0);
    weight += gain;
    weighted += gain * mean.select(0, a);
  }
  return {weighted / weight.clamp_min(1e-12), weight};
}

LayerGaussians fit(vggface::AttributeNet& net, const std::string& preprocessing, const InvertOptions& options,
                   const Artifact& images, const torch::Tensor& signs, const torch::Tensor& rows, std::int64_t keep,
                   std::uint64_t seed, Context& ctx) {
  const auto prep = preprocessing_of(net, preprocessing);
  const auto a = signs.size(1);
  torch::NoGradGuard no_grad;
  torch::Tensor sum, sum_sq;  // [A, D] in double: the variance is a difference of large sums
  auto count = torch::zeros({a}, torch::kFloat64);
  torch::Tensor all_sum, all_sum_sq;  // [D] over every training face
  auto face_sum = torch::zeros({3, options.size(), options.size()}, torch::kFloat64);
  std::mt19937_64 unused;  // preprocessing without augmentation draws nothing
  const facet::RowBatches batches(images, "images", facet::to_rows(rows));
  auto kept_rows = batches.rows();
  std::mt19937_64 rng(seed);
  std::shuffle(kept_rows.begin(), kept_rows.end(), rng);
  kept_rows.resize(static_cast<size_t>(std::min<std::int64_t>(keep, batches.size())));
  std::sort(kept_rows.begin(), kept_rows.end());
  std::vector<torch::Tensor> kept;
  auto progress =
      ctx.progress(fmt::format("fitting {} Gaussians over {}", a, options.layer()), batches.size(), "faces");
  batches.for_each(kBatch, false, unused, [&](const torch::Tensor& pixels, const torch::Tensor& batch_rows) {
    const auto activations = net->backbone->forward(vggface::preprocess(pixels, prep, unused), options.layer())
                                 .flatten(1)
                                 .to(torch::kFloat64);
    const auto positive = (signs.index_select(0, batch_rows) > 0).to(torch::kFloat64);  // [B, A]
    if (!sum.defined()) {
      sum = torch::zeros({a, activations.size(1)}, torch::kFloat64);
      sum_sq = torch::zeros_like(sum);
      all_sum = torch::zeros({activations.size(1)}, torch::kFloat64);
      all_sum_sq = torch::zeros_like(all_sum);
    }
    all_sum += activations.sum(0);
    all_sum_sq += activations.square().sum(0);
    sum += positive.t().mm(activations);
    sum_sq += positive.t().mm(activations.square());
    count += positive.sum(0);
    const auto small = resize(pixels.to(torch::kFloat32) / 255.0f, options.size());
    face_sum += small.sum(0).to(torch::kFloat64);
    const auto* r = batch_rows.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < batch_rows.numel(); ++i) {
      if (std::binary_search(kept_rows.begin(), kept_rows.end(), r[i]))
        kept.push_back(small[i].clone());  // not a view of the batch
    }
    progress->advance(pixels.size(0));
  });
  LayerGaussians g;
  const auto n = count.clamp_min(1).unsqueeze(1);
  const auto mean = sum / n;
  g.mean = mean.to(torch::kFloat32);
  g.std = (sum_sq / n - mean.square()).clamp_min(0).sqrt().to(torch::kFloat32);
  g.count = count.to(torch::kInt64);
  const double total = static_cast<double>(batches.size());
  g.spread = (all_sum_sq / total - (all_sum / total).square()).clamp_min(0).sqrt().to(torch::kFloat32);
  g.mean_face = (face_sum / total).to(torch::kFloat32);
  g.faces = torch::stack(kept).mul(255).round().clamp(0, 255).to(torch::kUInt8);
  g.face_signs = signs.index_select(0, torch::tensor(kept_rows, torch::kInt64)).to(torch::kInt8);  // kept in row order
  return g;
}

torch::Tensor total_variation(const torch::Tensor& x) {
  const auto dy = x.slice(2, 1) - x.slice(2, 0, -1);
  const auto dx = x.slice(3, 1) - x.slice(3, 0, -1);
  return dy.square().mean() + dx.square().mean();
}

torch::Tensor gaussian_blur(const torch::Tensor& x, double sigma) {
  const auto radius = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(3 * sigma)));
  auto kernel = torch::arange(-radius, radius + 1, torch::kFloat32).square().div(-2 * sigma * sigma).exp();
  kernel = kernel / kernel.sum();
  const auto c = x.size(1);
  namespace F = torch::nn::functional;
  auto padded = F::pad(x, F::PadFuncOptions({radius, radius, radius, radius}).mode(torch::kReplicate));
  auto rows = F::conv2d(padded, kernel.view({1, 1, 1, -1}).repeat({c, 1, 1, 1}), F::Conv2dFuncOptions().groups(c));
  return F::conv2d(rows, kernel.view({1, 1, -1, 1}).repeat({c, 1, 1, 1}), F::Conv2dFuncOptions().groups(c));
}

torch::Tensor invert_faces(vggface::AttributeNet& net, const std::string& preprocessing, const InvertOptions& options,
                           const LayerGaussians& gaussians, const std::vector<int>& attributes,
                           const std::vector<std::string>& attribute_names, std::int64_t count, std::mt19937_64& rng) {
  const auto [target, weight] = gaussians.target(attributes, attribute_names);
  const auto prep = preprocessing_of(net, preprocessing);
  torch::AutoGradMode grad(true);
  for (auto& p : net->parameters()) p.set_requires_grad(false);
  torch::Tensor start;
  if (options.start() == "faces") {
    const auto chosen = pick_closest(gaussians.face_signs, attributes, attribute_names, count, rng);
    start = gaussians.faces.index_select(0, chosen).to(torch::kFloat32) / 255.0f;
  } else {
    start = gaussians.mean_face.unsqueeze(0).repeat({count, 1, 1, 1});
  }
  auto faces = (start + options.start_noise() * torch::randn_like(start)).clamp(0, 1).requires_grad_(true);
  torch::optim::Adam adam({faces}, torch::optim::AdamOptions(options.lr()));
  std::uniform_int_distribution<std::int64_t> shift(-options.jitter(), options.jitter());
  std::mt19937_64 unused;
  for (std::int64_t it = 0; it < options.iterations(); ++it) {
    adam.zero_grad();
    const auto shifted = faces.roll({shift(rng), shift(rng)}, {2, 3});
    const auto activations =
        net->backbone->forward(vggface::preprocess(shifted * 255.0f, prep, unused), options.layer()).flatten(1);
    const auto loss = (activations - target).square().mul(weight).mean() + options.tv_weight() * total_variation(faces);
    loss.backward();
    adam.step();
    torch::NoGradGuard no_grad;
    if (options.blur_every() > 0 && (it + 1) % options.blur_every() == 0)
      faces.copy_(gaussian_blur(faces, options.blur_sigma()));
    faces.clamp_(0, 1);
  }
  return faces.detach();
}

}  // namespace facet::generators::invert

#include "generation_metrics.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "facet/errors.hpp"
#include "facet/pubfig.hpp"

namespace facet::evaluate {

namespace {
/// Square root of a symmetric positive semi-definite matrix.
torch::Tensor sqrt_psd(const torch::Tensor& m) {
  auto [values, vectors] = torch::linalg::eigh(m, "L");
  return vectors.matmul(torch::diag(values.clamp_min(0).sqrt())).matmul(vectors.t());
}

torch::Tensor covariance(const torch::Tensor& x, const torch::Tensor& mean) {
  const auto centred = x - mean;
  return centred.t().matmul(centred) / static_cast<double>(std::max<std::int64_t>(1, x.size(0) - 1));
}
}  // namespace

double frechet_distance(const torch::Tensor& a_in, const torch::Tensor& b_in) {
  const auto a = a_in.to(torch::kFloat64), b = b_in.to(torch::kFloat64);
  if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(1)) {
    throw facet::Error("frechet_distance: two [N, D] feature sets of the same width are needed");
  }
  const auto mu_a = a.mean(0), mu_b = b.mean(0);
  const auto s_a = covariance(a, mu_a), s_b = covariance(b, mu_b);
  const auto root_a = sqrt_psd(s_a);
  const auto middle = sqrt_psd(root_a.matmul(s_b).matmul(root_a));
  const auto d = (mu_a - mu_b).pow(2).sum() + s_a.trace() + s_b.trace() - 2.0 * middle.trace();
  return std::max(0.0, d.item<double>());
}

namespace {
/// Unbiased MMD^2 between x [m, D] and y [m, D] under the cubic polynomial kernel.
double unbiased_mmd2(const torch::Tensor& x, const torch::Tensor& y) {
  const double d = static_cast<double>(x.size(1)), m = static_cast<double>(x.size(0));
  const auto kernel = [d](const torch::Tensor& p, const torch::Tensor& q) {
    return (p.matmul(q.t()) / d + 1.0).pow(3);
  };
  const auto kxx = kernel(x, x), kyy = kernel(y, y), kxy = kernel(x, y);
  const double within = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()).item<double>();
  return within / (m * (m - 1)) - 2.0 * kxy.sum().item<double>() / (m * m);
}
}  // namespace

Kid kernel_distance(const torch::Tensor& a_in, const torch::Tensor& b_in, std::uint64_t seed, int subsets,
                    std::int64_t subset_size) {
  const auto a = a_in.to(torch::kFloat64), b = b_in.to(torch::kFloat64);
  if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(1)) {
    throw facet::Error("kernel_distance: two [N, D] feature sets of the same width are needed");
  }
  Kid kid;
  kid.subset_size = std::min({a.size(0), b.size(0), subset_size});
  if (kid.subset_size < 2 || subsets < 1) {
    throw facet::Error(
        fmt::format("kernel_distance: {} and {} rows; at least 2 of each are needed", a.size(0), b.size(0)));
  }
  auto generator = at::detail::createCPUGenerator(seed);
  std::vector<double> values;
  for (int s = 0; s < subsets; ++s) {
    const auto pick_a = torch::randperm(a.size(0), generator, torch::kInt64).slice(0, 0, kid.subset_size);
    const auto pick_b = torch::randperm(b.size(0), generator, torch::kInt64).slice(0, 0, kid.subset_size);
    values.push_back(unbiased_mmd2(a.index_select(0, pick_a), b.index_select(0, pick_b)));
  }
  const auto t = torch::tensor(values, torch::kFloat64);
  kid.mean = t.mean().item<double>();
  kid.spread = subsets > 1 ? t.std().item<double>() : 0.0;
  return kid;
}

double mean_pairwise_distance(const torch::Tensor& x) {
  if (x.size(0) < 2) return 0.0;
  const auto d = torch::cdist(x.to(torch::kFloat64).unsqueeze(0), x.to(torch::kFloat64).unsqueeze(0)).squeeze(0);
  const auto n = static_cast<double>(x.size(0));
  return d.sum().item<double>() / (n * (n - 1));
}

HeadClass head_class_of(int attribute, std::int64_t num_heads) {
  if (num_heads == facet::pubfig::kNumAttributes) return {attribute, 1};
  if (num_heads == static_cast<std::int64_t>(facet::pubfig::groups().size())) {
    const auto p = facet::pubfig::group_position(attribute);
    return {p.group, p.cls};
  }
  throw facet::Error(
      fmt::format("the classifier has {} heads: neither PubFig's 73 binary heads nor its 42 group heads", num_heads));
}

}  // namespace facet::evaluate

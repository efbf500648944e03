#include "generation_metrics.hpp"

#include <fmt/format.h>

#include "facet/errors.hpp"
#include "facet/pubfig.hpp"

namespace facet::vggface {

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

}  // namespace facet::vggface

#include "separation.hpp"

#include "facet/errors.hpp"

namespace facet::embed2d {

double knn_separation(const torch::Tensor& x_all, const torch::Tensor& labels_all, std::int64_t k) {
  const auto known = labels_all >= 0;
  const auto x = x_all.index({known}).to(torch::kFloat32);
  const auto y = labels_all.index({known}).to(torch::kInt64);
  const std::int64_t n = x.size(0);
  if (n <= k) throw facet::Error(fmt::format("kNN separation needs more than k={} labelled points, got {}", k, n));
  const auto norms = x.pow(2).sum(1);
  std::vector<torch::Tensor> votes;
  constexpr std::int64_t kChunk = 1024;  // rows per distance block
  for (std::int64_t begin = 0; begin < n; begin += kChunk) {
    const auto end = std::min(n, begin + kChunk);
    auto d = norms.slice(0, begin, end).unsqueeze(1) + norms.unsqueeze(0) - 2 * x.slice(0, begin, end).matmul(x.t());
    d.index_put_({torch::arange(end - begin), torch::arange(begin, end)}, std::numeric_limits<float>::infinity());
    const auto nearest = std::get<1>(d.topk(k, 1, /*largest=*/false));
    votes.push_back(y.index({nearest}).to(torch::kFloat32).mean(1));
  }
  const auto predicted = (torch::cat(votes) > 0.5).to(torch::kInt64);
  double recall_sum = 0;
  int classes = 0;
  for (std::int64_t c = 0; c <= 1; ++c) {
    const auto mine = y == c;
    if (mine.sum().item<std::int64_t>() == 0) continue;
    recall_sum += (predicted.index({mine}) == c).to(torch::kFloat64).mean().item<double>();
    ++classes;
  }
  return recall_sum / classes;
}

}  // namespace facet::embed2d

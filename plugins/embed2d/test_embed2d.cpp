#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "separation.hpp"
#include "test_support.hpp"
#include "tsne.hpp"

namespace embed2d = facet::embed2d;

namespace {
/// Two well-separated Gaussian blobs in 20-D, labelled by blob.
std::pair<torch::Tensor, torch::Tensor> blobs(std::int64_t per_blob) {
  torch::manual_seed(3);
  auto a = torch::randn({per_blob, 20});
  auto b = torch::randn({per_blob, 20}) + 8.0;
  auto labels = torch::cat({torch::zeros({per_blob}, torch::kInt64), torch::ones({per_blob}, torch::kInt64)});
  return {torch::cat({a, b}), labels};
}
}  // namespace

TEST_CASE("embed2d: t-SNE keeps well-separated blobs apart", "[embed2d]") {
  const auto [x, labels] = blobs(150);
  embed2d::TsneOptions options;
  options.iterations = 400;
  options.seed = 1;
  const auto map = embed2d::tsne(x, options);
  REQUIRE(map.sizes() == torch::IntArrayRef({300, 2}));
  CHECK(embed2d::knn_separation(map, labels, 11) > 0.98);
  // The blobs end up far apart compared with their own spread.
  const auto ca = map.slice(0, 0, 150).mean(0), cb = map.slice(0, 150).mean(0);
  const double spread = map.slice(0, 0, 150).std(0).norm().item<double>();
  CHECK((ca - cb).norm().item<double>() > 3 * spread);
}

TEST_CASE("embed2d: shuffled labels score at chance", "[embed2d]") {
  const auto [x, labels] = blobs(200);
  torch::manual_seed(5);
  const auto shuffled = labels.index_select(0, torch::randperm(labels.size(0)));
  CHECK(embed2d::knn_separation(x, labels, 11) > 0.99);
  const double chance = embed2d::knn_separation(x, shuffled, 11);
  CHECK(chance > 0.4);
  CHECK(chance < 0.6);
}

TEST_CASE("embed2d: kNN separation is balanced accuracy by hand", "[embed2d]") {
  // Points on a line: 0 0 0 1 at x = 0, 1, 2, 10; with k = 1 each point's label is its neighbour's.
  const auto x = torch::tensor({0.0f, 1.0f, 2.0f, 10.0f}).view({4, 1});
  const auto y = torch::tensor({0, 0, 0, 1}, torch::kInt64);
  // Class 0: all three predicted 0 (recall 1); class 1: its neighbour (x=2) is 0 (recall 0).
  CHECK(embed2d::knn_separation(x, y, 1) == Approx(0.5));
}

TEST_CASE("embed2d: PCA finds the direction of largest variance", "[embed2d]") {
  torch::manual_seed(2);
  auto x = torch::randn({500, 3}) * torch::tensor({0.1f, 5.0f, 0.1f});
  const auto p = embed2d::pca(x, 1);
  const double corr = torch::corrcoef(torch::stack({p.squeeze(1), x.select(1, 1)}))[0][1].abs().item<double>();
  CHECK(corr > 0.999);
}

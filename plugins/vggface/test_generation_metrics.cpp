#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "facet/pubfig.hpp"
#include "generation_metrics.hpp"

TEST_CASE("generation metrics: Frechet distance, pairwise distance, where the classifier reports an attribute",
          "[generation]") {
  torch::manual_seed(7);
  const auto a = torch::randn({40000, 3}, torch::kFloat64) * 2 + 1;
  const auto b = torch::randn({40000, 3}, torch::kFloat64) * 0.5 - 1;
  // Diagonal Gaussians: sum (mu_a - mu_b)^2 + (s_a - s_b)^2 = 3 * (4 + 2.25).
  CHECK(vggface::frechet_distance(a, b) == Approx(18.75).epsilon(0.02));
  CHECK(vggface::frechet_distance(a, a) == Approx(0.0).margin(1e-6));
  CHECK(vggface::frechet_distance(a, a + 3) == Approx(27.0).epsilon(1e-6));
  // A single repeated point: no spread, only the mean and a's own variance.
  CHECK(vggface::frechet_distance(a, torch::ones({10, 3}, torch::kFloat64)) == Approx(3 * 4.0).epsilon(0.02));
  CHECK(vggface::mean_pairwise_distance(torch::tensor({{0.0, 0.0}, {3.0, 4.0}})) == Approx(5.0));
  CHECK(vggface::mean_pairwise_distance(torch::tensor({{0.0, 0.0}, {3.0, 4.0}, {0.0, 0.0}})) == Approx(10.0 / 3.0));
  const int glasses = facet::pubfig::index_of("Eyeglasses");
  CHECK(vggface::head_class_of(glasses, 73).head == glasses);
  CHECK(vggface::head_class_of(glasses, 73).cls == 1);
  CHECK(vggface::head_class_of(glasses, 42).head == 5);  // No Eyewear, Eyeglasses, Sunglasses
  CHECK(vggface::head_class_of(glasses, 42).cls == 2);
  CHECK_THROWS_WITH(vggface::head_class_of(glasses, 10), Catch::Contains("10 heads"));
}

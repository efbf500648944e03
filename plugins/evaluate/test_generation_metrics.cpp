#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "facet/pubfig.hpp"
#include "generation_metrics.hpp"
#include "test_support.hpp"

namespace evaluate = facet::evaluate;

TEST_CASE("generation metrics: Frechet distance, pairwise distance", "[generation]") {
  torch::manual_seed(7);
  const auto a = torch::randn({40000, 3}, torch::kFloat64) * 2 + 1;
  const auto b = torch::randn({40000, 3}, torch::kFloat64) * 0.5 - 1;
  // Diagonal Gaussians: sum (mu_a - mu_b)^2 + (s_a - s_b)^2 = 3 * (4 + 2.25).
  CHECK(evaluate::frechet_distance(a, b) == Approx(18.75).epsilon(0.02));
  CHECK(evaluate::frechet_distance(a, a) == Approx(0.0).margin(1e-6));
  CHECK(evaluate::frechet_distance(a, a + 3) == Approx(27.0).epsilon(1e-6));
  // A single repeated point: no spread, only the mean and a's own variance.
  CHECK(evaluate::frechet_distance(a, torch::ones({10, 3}, torch::kFloat64)) == Approx(3 * 4.0).epsilon(0.02));
  CHECK(evaluate::mean_pairwise_distance(torch::tensor({{0.0, 0.0}, {3.0, 4.0}})) == Approx(5.0));
  CHECK(evaluate::mean_pairwise_distance(torch::tensor({{0.0, 0.0}, {3.0, 4.0}, {0.0, 0.0}})) == Approx(10.0 / 3.0));
}

TEST_CASE("kernel distance: the unbiased MMD estimator, exact on a small case, no bias where the Frechet distance has",
          "[generation]") {
  // D = 1, k(p, q) = (pq + 1)^3: within {1, 2}: k(1, 2) = 27; within {0, 0}: 1;
  // across: 1. MMD^2 = 27 + 1 - 2 * 1 = 26, whichever subsets are drawn.
  const auto kid = evaluate::kernel_distance(torch::tensor({{1.0}, {2.0}}), torch::tensor({{0.0}, {0.0}}), 3, 5);
  CHECK(kid.mean == Approx(26.0));
  CHECK(kid.spread == Approx(0.0).margin(1e-12));
  CHECK(kid.subset_size == 2);
  CHECK_THROWS_WITH(evaluate::kernel_distance(torch::ones({1, 4}), torch::ones({5, 4}), 1),
                    Catch::Contains("at least 2"));
  // Two samples of one 64-wide Gaussian, 50 rows each: the Frechet distance
  // is far from 0 (its covariance is rank-deficient at this size); KID's
  // expectation is 0, so its mean over subsets lies within a few spreads of it.
  torch::manual_seed(3);
  const auto x = torch::randn({50, 64}, torch::kFloat64), y = torch::randn({50, 64}, torch::kFloat64);
  CHECK(evaluate::frechet_distance(x, y) > 20.0);
  const auto same = evaluate::kernel_distance(x, y, 1, 200, 25);
  CHECK(std::fabs(same.mean) < same.spread);
  const auto shifted = evaluate::kernel_distance(x, y + 1.0, 1, 200, 25);
  CHECK(shifted.mean > 5 * shifted.spread);
}

TEST_CASE("where the classifier reports an attribute", "[generation]") {
  const int glasses = facet::pubfig::index_of("Eyeglasses");
  CHECK(evaluate::head_class_of(glasses, 73).head == glasses);
  CHECK(evaluate::head_class_of(glasses, 73).cls == 1);
  CHECK(evaluate::head_class_of(glasses, 42).head == 5);  // No Eyewear, Eyeglasses, Sunglasses
  CHECK(evaluate::head_class_of(glasses, 42).cls == 2);
  CHECK_THROWS_WITH(evaluate::head_class_of(glasses, 10), Catch::Contains("10 heads"));
}

TEST_CASE("evaluate_generation: real faces with an attribute, given as generated ones, score the ceiling",
          "[generation]") {
  using facet::Artifact;
  const auto faces = facet::test::run_step("synthfaces", {}, "{count: 240, size: 32, persons: 16}");
  auto labels =
      facet::test::run_step("binarize", {{"attributes", faces.at("attributes")}}, "{mode: grouped}").at("labels");
  const auto split = facet::test::run_step("split", {{"people", faces.at("attributes")}}).at("split");
  // A classifier that sees eyewear: among all 42 heads a network this small
  // stays at every majority class for many epochs, so the others are masked.
  const auto glasses = facet::pubfig::index_of("Eyeglasses");
  const auto eyewear = evaluate::head_class_of(glasses, 42);
  auto eyewear_labels = labels.get("labels").clone();
  eyewear_labels.index_put_({torch::indexing::Slice(), torch::arange(eyewear_labels.size(1)) != eyewear.head}, -1);
  labels.set("labels", eyewear_labels);
  const auto classifier =
      facet::test::run_step("vggface", {{"images", faces.at("images")}, {"labels", labels}, {"split", split}},
                            "{input_size: 32, width: 0.0625, batch_norm: true, epochs: 20, batch_size: 16, optimizer: "
                            "adam, lr: 0.002, majority_fallback: false}")
          .at("model");
  const auto names = faces.at("attributes").attr_strings("attribute_names");
  const auto test_rows = split.get("test");
  const auto scores = faces.at("attributes").get("scores").index_select(0, test_rows);
  const auto with = test_rows.index({scores.select(1, glasses) > 0});
  const auto without =
      test_rows.index({scores.select(1, glasses) <= 0 & scores.select(1, facet::pubfig::index_of("Sunglasses")) <= 0});
  REQUIRE(with.numel() >= 2);
  REQUIRE(without.numel() >= 2);
  // "Generated" faces for the request "Eyeglasses".
  const auto evaluate = [&](const torch::Tensor& rows, std::map<std::string, double>& metrics,
                            const Artifact& attributes, bool with_judge = false) {
    Artifact samples;
    samples.set("images", faces.at("images").get("images").index_select(0, rows));
    samples.set("request", torch::zeros({rows.numel()}, torch::kInt64));
    auto requested = torch::zeros({1, static_cast<std::int64_t>(names.size())}, torch::kInt64);
    requested[0][glasses] = 1;
    samples.set("requested", requested);
    samples.set_attr("requests", std::vector<std::string>{"Eyeglasses"});
    samples.set_attr("attribute_names", names);
    facet::Artifacts inputs = {{"samples", samples},
                               {"classifier", classifier},
                               {"images", faces.at("images")},
                               {"split", split},
                               {"attributes", attributes}};
    if (with_judge) inputs["judge"] = classifier;
    return facet::test::run_step("evaluate_generation", inputs, "{}", 1, &metrics);
  };
  // The test faces that wear them, evenly spaced as the ceiling picks them
  // (here: all of them), score exactly the ceiling.
  std::map<std::string, double> metrics;
  const auto out = evaluate(with, metrics, faces.at("attributes"));
  const auto hits = out.at("report").get("hits")[glasses].item<std::int64_t>();
  const double found = static_cast<double>(hits) / static_cast<double>(with.numel());
  CHECK(found >= 0.6);  // the classifier sees glasses, so a wrong choice of real faces would show
  CHECK(metrics.at("requested_accuracy") == Approx(found));
  CHECK(metrics.at("real_requested_accuracy") == Approx(found));
  CHECK(metrics.at("rendered_real_requested_accuracy") == Approx(found));
  const auto md = out.at("_files").get("generation.md").contiguous();
  const std::string text(static_cast<const char*>(md.data_ptr()), static_cast<size_t>(md.numel()));
  CHECK(text.find(fmt::format("| Eyeglasses | {} | {:.3f} | {:.3f} |", with.numel(), found, found)) !=
        std::string::npos);
  // Faces without eyewear score low, and the ceiling, judged on real faces
  // with glasses, does not move.
  std::map<std::string, double> without_metrics;
  evaluate(without, without_metrics, faces.at("attributes"));
  CHECK(without_metrics.at("requested_accuracy") < found - 0.4);
  CHECK(without_metrics.at("real_requested_accuracy") == Approx(found));
  CHECK(metrics.at("blind_requested") == 0);
  // Per request, the faces with glasses are closer to the real faces with
  // glasses than the faces without them are.
  CHECK(metrics.at("kid_per_request") < without_metrics.at("kid_per_request"));
  // The same network given as the independent judge agrees with itself, in a column of its own.
  std::map<std::string, double> judged_metrics;
  const auto judged = evaluate(with, judged_metrics, faces.at("attributes"), true);
  CHECK(judged_metrics.at("judge_requested_accuracy") == Approx(found));
  CHECK(judged_metrics.at("judge_real_requested_accuracy") == Approx(found));
  CHECK(judged_metrics.at("kid") == Approx(metrics.at("kid")));
  const auto judged_md = judged.at("_files").get("generation.md").contiguous();
  const std::string judged_text(static_cast<const char*>(judged_md.data_ptr()), static_cast<size_t>(judged_md.numel()));
  CHECK(judged_text.find(fmt::format("| Eyeglasses | {} | {:.3f} | {:.3f} | {:.3f} | {:.3f} |", with.numel(), found,
                                     found, found, found)) != std::string::npos);
  CHECK(judged_text.find("in the independent judge's fc7 space") != std::string::npos);
  // Labels that put the glasses on the faces without them: the classifier
  // misses "Eyeglasses" in the real faces said to have it, and the report says
  // it cannot judge that attribute.
  auto swapped = faces.at("attributes");
  swapped.set("scores", swapped.get("scores").clone());
  swapped.get("scores").select(1, glasses).neg_();
  std::map<std::string, double> blind_metrics;
  const auto blind = evaluate(with, blind_metrics, swapped);
  CHECK(blind_metrics.at("real_requested_accuracy") < 0.5);
  CHECK(blind_metrics.at("blind_requested") == 1);
  const auto blind_md = blind.at("_files").get("generation.md").contiguous();
  const std::string blind_text(static_cast<const char*>(blind_md.data_ptr()), static_cast<size_t>(blind_md.numel()));
  CHECK(blind_text.find("The classifier misses Eyeglasses in most real faces") != std::string::npos);
}

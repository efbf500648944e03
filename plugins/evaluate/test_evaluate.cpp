#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "facet/pubfig.hpp"
#include "test_support.hpp"

using namespace facet;

TEST_CASE("evaluate: accuracy, balanced accuracy and majority equal hand-computed values", "[evaluate]") {
  Artifact labels, predictions, split;
  // Head A: truth 1 1 1 0 (one unknown row excluded), predictions 1 0 1 0.
  // Head B: truth 0 0 0 0 0, predictions 0 0 1 0 1.
  labels.set("labels", torch::tensor({{1, 0}, {1, 0}, {1, 0}, {0, 0}, {-1, 0}}, torch::kInt64));
  labels.set("num_classes", torch::tensor({2, 2}, torch::kInt64));
  labels.set_attr("head_names", std::vector<std::string>{"A", "B"});
  labels.set_attr("attribute_names", std::vector<std::string>{"A", "B"});
  labels.set_attr("mode", std::string("binary"));
  labels.set_attr("rendered_attributes", std::vector<std::string>{"A"});
  predictions.set("classes", torch::tensor({{1, 0}, {0, 0}, {1, 1}, {0, 0}, {1, 1}}, torch::kInt64));
  split.set("test", torch::tensor({0, 1, 2, 3, 4}, torch::kInt64));
  const auto out =
      test::run_step("evaluate", {{"labels", labels}, {"predictions", predictions}, {"split", split}}).at("metrics");
  const auto acc = out.get("accuracy"), balanced = out.get("balanced_accuracy"), majority = out.get("majority");
  CHECK(acc[0].item<double>() == Approx(3.0 / 4));
  CHECK(balanced[0].item<double>() == Approx((2.0 / 3 + 1.0) / 2));  // recall of class 1: 2/3, of class 0: 1
  CHECK(majority[0].item<double>() == Approx(3.0 / 4));
  CHECK(acc[1].item<double>() == Approx(3.0 / 5));
  CHECK(balanced[1].item<double>() == Approx(3.0 / 5));  // only class 0 present: its recall
  CHECK(majority[1].item<double>() == Approx(1.0));
  CHECK_THAT(out.attr_string("report"), Catch::Contains("| A | 0.7500 | 0.8333 | 0.7500 | 4 |"));
}

TEST_CASE("evaluate: grouped heads are scored per attribute too", "[evaluate]") {
  auto s = torch::full({5, pubfig::kNumAttributes}, -1.0f);
  s[0][9] = 1;   // Black Hair: hair class 1
  s[1][10] = 1;  // Blond Hair: hair class 2
  s[3][9] = 1;   // Black Hair
  s[4][11] = 1;  // Brown Hair: hair class 3 (row 2 has none: class 0)
  Artifact attributes;
  attributes.set("scores", s);
  attributes.set_attr("attribute_names",
                      std::vector<std::string>(pubfig::kAttributeNames.begin(), pubfig::kAttributeNames.end()));
  const auto labels = test::run_step("binarize", {{"attributes", attributes}}, "{mode: grouped}").at("labels");
  Artifact predictions, split;
  auto classes = labels.get("labels").clone();
  classes[1][3] = 1;  // blond predicted as black
  predictions.set("classes", classes);
  split.set("test", torch::arange(5, torch::kInt64));
  const auto out =
      test::run_step("evaluate", {{"labels", labels}, {"predictions", predictions}, {"split", split}}).at("metrics");
  const auto& names = out.attr_strings("attribute_names");
  REQUIRE(names.size() == pubfig::kNumAttributes);
  const auto acc = out.get("accuracy"), majority = out.get("majority");
  CHECK(acc[pubfig::index_of("Black Hair")].item<double>() == Approx(4.0 / 5));  // row 1 wrongly positive
  CHECK(acc[pubfig::index_of("Blond Hair")].item<double>() == Approx(4.0 / 5));  // row 1 missed
  CHECK(acc[pubfig::index_of("Gray Hair")].item<double>() == Approx(1.0));
  CHECK(out.get("head_accuracy")[3].item<double>() == Approx(4.0 / 5));
  // The baseline is the hair head always saying its most common class, Black Hair (2 of 5):
  // right for Black Hair on rows 0 and 3 only, and for Blond Hair on every row but 1.
  CHECK(majority[pubfig::index_of("Black Hair")].item<double>() == Approx(2.0 / 5));
  CHECK(majority[pubfig::index_of("Blond Hair")].item<double>() == Approx(4.0 / 5));
  CHECK(out.get("head_majority")[3].item<double>() == Approx(2.0 / 5));
}

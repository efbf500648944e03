#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "facet/pubfig.hpp"
#include "test_support.hpp"

using namespace facet;

namespace {
Artifacts scores_input(const torch::Tensor& scores, std::vector<std::string> names) {
  Artifact a;
  a.set("scores", scores);
  a.set("person", torch::arange(scores.size(0), torch::kInt64));
  a.set_attr("attribute_names", std::move(names));
  return {{"attributes", a}};
}

std::vector<std::string> pubfig_names() { return {pubfig::kAttributeNames.begin(), pubfig::kAttributeNames.end()}; }
}  // namespace

TEST_CASE("binarize: binary labels by sign, unknown within the margin", "[binarize]") {
  const auto nan = std::numeric_limits<float>::quiet_NaN();
  const auto in = scores_input(torch::tensor({{1.5f, -0.2f, 0.0f}, {-3.0f, 0.05f, nan}}), {"A", "B", "C"});
  auto out = test::run_step("binarize", in, "{mode: binary}").at("labels");
  CHECK(torch::equal(out.get("labels"), torch::tensor({{1, 0, 0}, {0, 1, -1}}, torch::kInt64)));
  CHECK(torch::equal(out.get("num_classes"), torch::tensor({2, 2, 2}, torch::kInt64)));
  CHECK(out.attr_strings("head_names") == std::vector<std::string>{"A", "B", "C"});
  CHECK(torch::equal(out.get("person"), torch::tensor({0, 1}, torch::kInt64)));

  out = test::run_step("binarize", in, "{mode: binary, margin: 0.1}").at("labels");
  CHECK(torch::equal(out.get("labels"), torch::tensor({{1, 0, -1}, {0, -1, -1}}, torch::kInt64)));
}

TEST_CASE("binarize: grouped labels pick the largest positive member", "[binarize]") {
  auto scores = torch::full({4, pubfig::kNumAttributes}, -1.0f);
  // Hair colour group {9 Black, 10 Blond, 11 Brown, 58 Gray}:
  scores[0][10] = 0.5f;  // only blond: class 2
  scores[1][9] = 0.4f;   // black and gray positive, gray larger: class 4
  scores[1][58] = 1.2f;
  scores[3][11] = 0.05f;  // brown barely positive: with margin 0.1 the group is unknown
  // row 2: every member negative: class 0 ("none")
  const auto out = test::run_step("binarize", scores_input(scores, pubfig_names()), "{mode: grouped}").at("labels");
  const auto labels = out.get("labels");
  REQUIRE(labels.sizes() == torch::IntArrayRef({4, 42}));
  constexpr int kHairHead = 3;
  CHECK(labels[0][kHairHead].item<std::int64_t>() == 2);
  CHECK(labels[1][kHairHead].item<std::int64_t>() == 4);
  CHECK(labels[2][kHairHead].item<std::int64_t>() == 0);
  CHECK(labels[3][kHairHead].item<std::int64_t>() == 3);
  CHECK(out.attr_strings("head_names")[kHairHead] == "Black Hair | Blond Hair | Brown Hair | Gray Hair");
  CHECK(out.get("num_classes")[kHairHead].item<std::int64_t>() == 5);
  CHECK(out.get("num_classes")[0].item<std::int64_t>() == 2);  // a singleton group stays a yes/no head

  const auto margin = test::run_step("binarize", scores_input(scores, pubfig_names()), "{mode: grouped, margin: 0.1}");
  CHECK(margin.at("labels").get("labels")[3][kHairHead].item<std::int64_t>() == -1);
  CHECK(margin.at("labels").get("labels")[0][kHairHead].item<std::int64_t>() == 2);
}

TEST_CASE("binarize: grouped mode needs PubFig's attributes in order", "[binarize]") {
  auto names = pubfig_names();
  std::swap(names[9], names[10]);
  const auto in = scores_input(torch::zeros({1, pubfig::kNumAttributes}), names);
  CHECK_THROWS_WITH(test::run_step("binarize", in, "{mode: grouped}"),
                    Catch::Contains("attribute 9 is 'Blond Hair', expected 'Black Hair'"));
}

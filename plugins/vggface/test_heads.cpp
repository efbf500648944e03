#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace facet;

TEST_CASE("heads: trains on cached features; a noise head does no worse than its majority class on validation",
          "[heads]") {
  torch::manual_seed(4);
  const std::int64_t n = 600;
  const auto x = torch::randn({n, 8});
  // Head 0 is the sign of feature 0 (learnable); head 1 is noise, 0 for about 70% of the rows.
  const auto signal = (x.select(1, 0) > 0).to(torch::kInt64);
  const auto noise = (torch::rand({n}) > 0.7).to(torch::kInt64);
  Artifact features, split;
  features.set("features", x);
  features.set("labels", torch::stack({signal, noise}, 1));
  features.set("num_classes", torch::tensor({2, 2}, torch::kInt64));
  features.set_attr("head_names", std::vector<std::string>{"signal", "noise"});
  split.set("train", torch::arange(0, 400, torch::kInt64));
  split.set("val", torch::arange(400, 500, torch::kInt64));
  split.set("test", torch::arange(500, 600, torch::kInt64));
  const auto out =
      test::run_step("heads", {{"features", features}, {"split", split}}, "{epochs: 40, lr: 0.01, batch_size: 64}");
  const auto classes = out.at("predictions").get("classes");
  const auto test_rows = torch::arange(500, 600, torch::kInt64);
  const double signal_accuracy = (classes.select(1, 0).index_select(0, test_rows) == signal.index_select(0, test_rows))
                                     .to(torch::kFloat64)
                                     .mean()
                                     .item<double>();
  CHECK(signal_accuracy > 0.95);
  // Model selection on validation: the noise head does at least as well there as its majority class.
  const auto val_rows = torch::arange(400, 500, torch::kInt64);
  const auto train_majority = noise.slice(0, 0, 400).sum().item<std::int64_t>() * 2 > 400 ? 1 : 0;
  const auto truth = noise.index_select(0, val_rows);
  const double model =
      (classes.select(1, 1).index_select(0, val_rows) == truth).to(torch::kFloat64).mean().item<double>();
  const double constant = (truth == train_majority).to(torch::kFloat64).mean().item<double>();
  CHECK(model >= constant);
  CHECK(out.at("history").num_rows("val_accuracy") == 40);
}

TEST_CASE("heads: an empty validation split keeps the last epoch instead of failing", "[heads]") {
  torch::manual_seed(4);
  const auto x = torch::randn({700, 4});
  Artifact features, split;
  features.set("features", x);
  features.set("labels", (x.select(1, 0) > 0).to(torch::kInt64).unsqueeze(1));
  features.set("num_classes", torch::tensor({2}, torch::kInt64));
  features.set_attr("head_names", std::vector<std::string>{"signal"});
  split.set("train", torch::arange(0, 600, torch::kInt64));
  split.set("val", torch::empty({0}, torch::kInt64));
  split.set("test", torch::arange(600, 700, torch::kInt64));
  const auto out = test::run_step("heads", {{"features", features}, {"split", split}}, "{epochs: 20, lr: 0.05}");
  const auto history = out.at("history");
  CHECK(history.num_rows("val_accuracy") == 20);
  CHECK(std::isnan(history.get("val_accuracy")[19].item<double>()));
  const auto classes = out.at("predictions").get("classes").select(1, 0).slice(0, 600);
  const auto truth = (x.select(1, 0) > 0).to(torch::kInt64).slice(0, 600);
  CHECK((classes == truth).to(torch::kFloat64).mean().item<double>() > 0.9);
}

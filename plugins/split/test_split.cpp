#include <set>

#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace facet;

namespace {
Artifacts people(std::int64_t images, std::int64_t persons) {
  Artifact a;
  a.set("person", torch::arange(images, torch::kInt64) % persons);
  return {{"people", a}};
}

std::set<std::int64_t> persons_of(const torch::Tensor& person, const torch::Tensor& rows) {
  std::set<std::int64_t> out;
  const auto p = person.index_select(0, rows);
  for (std::int64_t i = 0; i < p.numel(); ++i) out.insert(p[i].item<std::int64_t>());
  return out;
}
}  // namespace

TEST_CASE("split: person-disjoint subsets close to the asked fractions", "[split]") {
  const auto in = people(2000, 100);
  const auto out = test::run_step("split", in, "{train: 0.7, val: 0.1, test: 0.2}", 5).at("split");
  const auto person = in.at("people").get("person");
  const auto train = persons_of(person, out.get("train"));
  const auto val = persons_of(person, out.get("val"));
  const auto test_set = persons_of(person, out.get("test"));
  for (auto p : train) CHECK((val.count(p) == 0 && test_set.count(p) == 0));
  for (auto p : val) CHECK(test_set.count(p) == 0);
  CHECK(train.size() + val.size() + test_set.size() == 100);
  CHECK(out.num_rows("train") == Approx(1400).margin(40));
  CHECK(out.num_rows("val") == Approx(200).margin(40));
  CHECK(out.num_rows("train") + out.num_rows("val") + out.num_rows("test") == 2000);
  CHECK(torch::equal(out.get("subset").index_select(0, out.get("val")),
                     torch::ones({out.num_rows("val")}, torch::kInt64)));
}

TEST_CASE("split: the seed decides, reproducibly", "[split]") {
  const auto in = people(500, 50);
  const auto a = test::run_step("split", in, "{}", 1).at("split").get("subset");
  const auto b = test::run_step("split", in, "{}", 1).at("split").get("subset");
  const auto c = test::run_step("split", in, "{}", 2).at("split").get("subset");
  CHECK(torch::equal(a, b));
  CHECK_FALSE(torch::equal(a, c));
}

TEST_CASE("split: given mode uses the dataset's own split", "[split]") {
  auto in = people(6, 3);
  in.at("people").set("subset", torch::tensor({2, 0, 0, 1, 2, 0}, torch::kInt64));
  const auto out = test::run_step("split", in, "{mode: given}").at("split");
  CHECK(torch::equal(out.get("train"), torch::tensor({1, 2, 5}, torch::kInt64)));
  CHECK(torch::equal(out.get("test"), torch::tensor({0, 4}, torch::kInt64)));
  CHECK_THROWS_WITH(test::run_step("split", people(6, 3), "{mode: given}"),
                    Catch::Contains("needs a 'subset' tensor in the input, which has: person"));
}

TEST_CASE("split: fractions must add up to one", "[split]") {
  CHECK_THROWS_WITH(test::run_step("split", people(10, 5), "{train: 0.5, val: 0.1, test: 0.1}"),
                    Catch::Contains("train + val + test + judge must be 1"));
}

TEST_CASE("split: persons set aside for an independent judge, in random and given mode", "[split]") {
  const auto in = people(2000, 100);
  const auto person = in.at("people").get("person");
  const auto plain = test::run_step("split", in, "{train: 0.7, val: 0.1, test: 0.2}", 5).at("split");
  CHECK_FALSE(plain.has("judge"));
  const auto out = test::run_step("split", in, "{train: 0.5, judge: 0.2, val: 0.1, test: 0.2}", 5).at("split");
  const auto judge = persons_of(person, out.get("judge"));
  for (const char* other : {"train", "val", "test"}) {
    for (auto p : persons_of(person, out.get(other))) CHECK(judge.count(p) == 0);
  }
  CHECK(out.num_rows("judge") == Approx(400).margin(40));
  CHECK(out.num_rows("train") == Approx(1000).margin(40));
  CHECK(out.num_rows("train") + out.num_rows("val") + out.num_rows("test") + out.num_rows("judge") == 2000);
  CHECK(out.attr_strings("subset_names") == std::vector<std::string>{"train", "val", "test", "judge"});

  // Given mode: the judge's persons come from the given training split only.
  auto given = people(40, 10);
  given.at("people").set("subset", (torch::arange(40, torch::kInt64) % 10 >= 8).to(torch::kInt64) * 2);
  const auto from_given = test::run_step("split", given, "{mode: given, judge: 0.25}").at("split");
  const auto given_person = given.at("people").get("person");
  const auto given_judge = persons_of(given_person, from_given.get("judge"));
  CHECK(given_judge.size() == 2);  // 10 of 40 images, 4 per person
  for (auto p : given_judge) CHECK(p < 8);
  CHECK(from_given.num_rows("test") == 8);
  CHECK_THROWS_WITH(test::run_step("split", given, "{mode: given, judge: 0.01}"),
                    Catch::Contains("judge: 0.01 sets aside no person"));
}

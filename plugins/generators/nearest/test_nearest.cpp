#include <set>

#include <fmt/format.h>
#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace facet;

namespace {
/// Index of `name` in `names`.
std::int64_t position(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) - names.begin();
}

/// Each request's attributes, split from its text.
std::vector<std::string> attributes_of(const std::string& request) {
  std::vector<std::string> out;
  std::string::size_type begin = 0;
  while (begin < request.size()) {
    auto end = request.find(", ", begin);
    if (end == std::string::npos) end = request.size();
    out.push_back(request.substr(begin, end - begin));
    begin = end + 2;
  }
  return out;
}
}  // namespace

TEST_CASE("nearest: copies training faces that have the request, resized, and `sample` draws from its model",
          "[nearest]") {
  const auto inputs = test::generator_inputs(32);
  const auto out = test::run_step("nearest", inputs, "{size: 16, per_request: 6, requests: [Eyeglasses, Male]}");
  const auto& samples = out.at("samples");
  const auto faces = samples.get("images");
  REQUIRE(faces.sizes() == torch::IntArrayRef({12, 3, 16, 16}));
  // Every copy is a training face with the requested attribute, seen at 16 px.
  const auto scores = inputs.at("attributes").get("scores");
  const auto names = inputs.at("attributes").attr_strings("attribute_names");
  const auto train = inputs.at("split").get("train");
  const auto small =
      torch::nn::functional::interpolate(
          inputs.at("images").get("images").index_select(0, train).to(torch::kFloat32),
          torch::nn::functional::InterpolateFuncOptions().size(std::vector<std::int64_t>{16, 16}).mode(torch::kArea))
          .round()
          .to(torch::kUInt8);
  for (std::int64_t i = 0; i < faces.size(0); ++i) {
    const auto same = (small == faces[i].unsqueeze(0)).flatten(1).all(1);
    REQUIRE(same.any().item<bool>());
    const auto row = train[same.nonzero()[0][0]].item<std::int64_t>();
    const auto wanted = i < 6 ? "Eyeglasses" : "Male";
    CHECK(scores[row][position(names, wanted)].item<float>() > 0);
  }
  // The sampler rebuilds it from the model: same seed, same faces.
  const auto again =
      test::run_step("sample", {{"model", out.at("model")}}, "{per_request: 6, requests: [Eyeglasses, Male]}");
  CHECK(again.at("samples").get("images").sizes() == faces.sizes());
}

TEST_CASE("sample: held-out requests come from attribute combinations of real test faces", "[nearest]") {
  const auto inputs = test::generator_inputs(32);
  const auto model = test::run_step("nearest", inputs, "{size: 16, requests: [Male]}").at("model");
  const facet::Artifacts sample_inputs = {
      {"model", model}, {"attributes", inputs.at("attributes")}, {"split", inputs.at("split")}};
  const auto draw = [&](std::uint64_t step_seed, int held_out_seed) {
    const auto samples =
        test::run_step(
            "sample", sample_inputs,
            fmt::format("{{requests: [Male], held_out: 5, per_request: 2, held_out_seed: {}}}", held_out_seed),
            step_seed)
            .at("samples");
    CHECK(samples.attr_int("written_requests") == 1);
    return samples.attr_strings("requests");
  };
  const auto texts = draw(3, 1);
  REQUIRE(texts.size() == 6);
  CHECK(texts[0] == "Male");
  CHECK(draw(4, 1) == texts);  // every sample step draws the same held-out requests
  CHECK(draw(3, 2) != texts);
  CHECK(std::set<std::string>(texts.begin() + 1, texts.end()).size() == 5);
  const auto& attributes = inputs.at("attributes");
  const auto names = attributes.attr_strings("attribute_names");
  const auto rendered = attributes.attr_strings("rendered_attributes");
  const auto test_rows = inputs.at("split").get("test");
  const auto scores = attributes.get("scores").index_select(0, test_rows);
  for (size_t r = 1; r < texts.size(); ++r) {
    const auto wanted = attributes_of(texts[r]);
    CHECK((!wanted.empty() && wanted.size() <= 3));
    auto all = torch::ones({test_rows.numel()}, torch::kBool);
    for (const auto& name : wanted) {
      CHECK(std::find(rendered.begin(), rendered.end(), name) != rendered.end());
      all &= scores.select(1, position(names, name)) > 0;
    }
    CHECK(all.any().item<bool>());  // some test face has them all
  }
  CHECK_THROWS_WITH(test::run_step("sample", {{"model", model}}, "{held_out: 2}"),
                    Catch::Contains("connect the `attributes` input"));
}

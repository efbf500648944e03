#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <vggface/attribute_net.hpp>
#include <vggface/preprocessing.hpp>
#include "facet/pubfig.hpp"
#include "generator_io.hpp"
#include "invert_model.hpp"
#include "test_support.hpp"

using namespace facet;
namespace invert = facet::generators::invert;

TEST_CASE("invert: total variation and blur on hand-made images", "[invert]") {
  // One vertical edge: every horizontal neighbour pair differs by 1, no vertical one.
  const auto edge = torch::tensor({0.0f, 1.0f, 0.0f, 1.0f}).view({1, 1, 2, 2});
  CHECK(invert::total_variation(edge).item<double>() == Approx(1.0));
  CHECK(invert::total_variation(torch::full({2, 3, 5, 5}, 0.4f)).item<double>() == Approx(0.0));

  CHECK(torch::allclose(invert::gaussian_blur(torch::full({1, 3, 6, 6}, 0.3f), 0.7), torch::full({1, 3, 6, 6}, 0.3f)));
  // A point in the middle spreads as the outer product of the normalised 1-D kernel.
  auto point = torch::zeros({1, 1, 9, 9});
  point[0][0][4][4] = 1.0f;
  const double sigma = 0.8;
  double norm = 0;
  for (int i = -3; i <= 3; ++i) norm += std::exp(-i * i / (2 * sigma * sigma));
  const auto blurred = invert::gaussian_blur(point, sigma);
  CHECK(blurred[0][0][4][4].item<double>() == Approx(1.0 / (norm * norm)).epsilon(1e-5));
  CHECK(blurred[0][0][4][5].item<double>() == Approx(std::exp(-1 / (2 * sigma * sigma)) / (norm * norm)).epsilon(1e-5));
  CHECK(blurred.sum().item<double>() == Approx(1.0).epsilon(1e-5));
}

TEST_CASE("invert: a request's target weights each attribute by the precision it adds", "[invert]") {
  invert::LayerGaussians g;
  g.mean = torch::tensor({0.0f, 10.0f, 4.0f, 2.0f, 7.0f, 7.0f}).view({3, 2});
  g.std = torch::tensor({1.0f, 1.0f, 1.0f, 2.0f, 1.0f, 1.0f}).view({3, 2});
  g.count = torch::tensor({5, 5, 1}, torch::kInt64);
  g.spread = torch::tensor({2.0f, 2.0f});  // population precision 1/4
  const std::vector<std::string> names = {"A", "B", "C"};
  // Gains: A (3/4, 3/4); B (3/4, 0), its second unit no tighter than everyone's.
  const auto [mean, weight] = g.target({0, 1}, names);
  CHECK(torch::allclose(mean, torch::tensor({2.0f, 10.0f})));
  CHECK(torch::allclose(weight, torch::tensor({1.5f, 0.75f})));
  const auto [alone, alone_weight] = g.target({1}, names);
  CHECK(torch::allclose(alone_weight, torch::tensor({0.75f, 0.0f})));
  CHECK(alone[0].item<float>() == Approx(4.0f));
  CHECK_THROWS_WITH(g.target({0, 2}, names), Catch::Contains("no two training faces have 'C'"));
}

TEST_CASE("invert step: Gaussians over the classifier layer, faces pulled towards a request's target", "[invert]") {
  Artifacts inputs = test::generator_inputs(32);
  const auto& images = inputs.at("images");
  const auto& split = inputs.at("split");
  const auto labels =
      test::run_step("binarize", {{"attributes", inputs.at("attributes")}}, "{mode: grouped}").at("labels");
  const auto classifier = test::run_step("vggface", {{"images", images}, {"labels", labels}, {"split", split}},
                                         "{input_size: 32, width: 0.0625, batch_norm: true, epochs: 1, batch_size: 16}")
                              .at("model");
  inputs["classifier"] = classifier;
  const std::string small =
      "size: 16, iterations: 30, layer: conv2_1, per_request: 3, requests: ['Black Hair, Eyeglasses', 'Smiling']";
  const auto out = test::run_step("invert", inputs, "{" + small + "}");
  const auto& model = out.at("model");
  const auto& samples = out.at("samples");
  CHECK(samples.shape("images") == std::vector<std::int64_t>{6, 3, 16, 16});
  CHECK(model.attr_string("architecture") == "invert");
  CHECK(model.attr_string("sampler") == "sample");

  // The Black Hair Gaussian is the mean and spread of conv2_1 over the
  // training faces with black hair, computed here directly.
  auto net = vggface::load_attribute_net(classifier, "the classifier");
  const auto train = split.get("train");
  const auto black = pubfig::index_of("Black Hair");
  const auto scores = inputs.at("attributes").get("scores").index_select(0, train);
  const auto rows = train.index({scores.select(1, black) > 0});
  REQUIRE(rows.numel() >= 2);
  std::mt19937_64 rng(1);
  torch::NoGradGuard no_grad;
  const auto x = vggface::preprocess(images.get("images").index_select(0, rows), {"unit", 32, false}, rng);
  const auto activations = net->backbone->forward(x, "conv2_1").flatten(1);
  CHECK(torch::allclose(model.get("gaussians.mean")[black], activations.mean(0), 1e-4, 1e-5));
  CHECK(torch::allclose(model.get("gaussians.std")[black], activations.std(0, /*unbiased=*/false), 1e-3, 1e-4));
  CHECK(model.get("gaussians.count")[black].item<std::int64_t>() == rows.numel());
  const auto everyone = net->backbone->forward(
      vggface::preprocess(images.get("images").index_select(0, train), {"unit", 32, false}, rng), "conv2_1");
  CHECK(torch::allclose(model.get("gaussians.spread"), everyone.flatten(1).std(0, false), 1e-3, 1e-4));

  // The optimised faces sit closer to their target than the start does.
  invert::LayerGaussians g{model.get("gaussians.mean"),      model.get("gaussians.std"),
                           model.get("gaussians.count"),     model.get("gaussians.spread"),
                           model.get("gaussians.mean_face"), model.get("gaussians.faces")};
  // Named tensors, not a structured binding: C++17 lambdas cannot capture those (clang refuses).
  const auto goal = g.target({black, pubfig::index_of("Eyeglasses")}, model.attr_strings("attribute_names"));
  const auto& target = goal.first;
  const auto& weight = goal.second;
  auto distance = [&](const torch::Tensor& images) {  // images [B, 3, 16, 16] in [0, 1]
    const auto a =
        net->backbone->forward(vggface::preprocess(images * 255.0f, {"unit", 32, false}, rng), "conv2_1").flatten(1);
    return (a - target).square().mul(weight).mean().item<double>();
  };
  const auto made = samples.get("images").slice(0, 0, 3).to(torch::kFloat32) / 255.0f;
  CHECK(distance(made) < 0.5 * distance(g.faces.to(torch::kFloat32) / 255.0f));

  // Faces start from the kept training faces with the most of the request.
  g.face_signs = model.get("gaussians.face_signs");
  REQUIRE(g.face_signs.size(0) == g.faces.size(0));
  const auto& names = model.attr_strings("attribute_names");
  const std::vector<int> request = {black, pubfig::index_of("Eyeglasses")};
  const auto closest = generators::closest_rows(g.face_signs, request, names);
  REQUIRE(static_cast<std::int64_t>(closest.size()) < g.faces.size(0));
  const auto unmoved =
      invert::InvertOptions().layer("conv2_1").size(16).iterations(1).lr(0.0).start_noise(0.0).blur_every(0);
  const auto started =
      (invert::invert_faces(net, "unit", unmoved, g, request, names, 8, rng) * 255).round().to(torch::kUInt8);
  for (std::int64_t i = 0; i < started.size(0); ++i) {
    bool found = false;
    for (auto k : closest) found = found || torch::equal(started[i], g.faces[k]);
    CHECK(found);
  }

  const auto again =
      test::run_step("sample", {{"model", model}}, "{per_request: 2, requests: ['Smiling, Eyeglasses']}");
  CHECK(again.at("samples").shape("images") == std::vector<std::int64_t>{2, 3, 16, 16});
  // A model saved before the starting faces' signs were kept still draws.
  const auto before_signs = test::without_tensor(model, "gaussians.face_signs");
  CHECK(test::run_step("sample", {{"model", before_signs}}, "{per_request: 2, requests: ['Smiling']}")
            .at("samples")
            .shape("images") == std::vector<std::int64_t>{2, 3, 16, 16});

  Artifacts no_classifier = inputs;
  no_classifier.erase("classifier");
  CHECK_THROWS_WITH(test::run_step("invert", no_classifier, "{" + small + "}"),
                    Catch::Contains("connect its 'classifier' input to a vggface model"));
  CHECK_THROWS_WITH(test::run_step("invert", inputs, "{" + small + ", layer: conv9_1}"), Catch::Contains("conv3_1"));
}

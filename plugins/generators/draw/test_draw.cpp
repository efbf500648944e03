#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "draw_model.hpp"
#include "facet/names.hpp"
#include "facet/precision.hpp"
#include "facet/pubfig.hpp"
#include "generator_io.hpp"
#include "test_support.hpp"

namespace draw = facet::generators::draw;

using draw::Attention;
using namespace facet;

namespace {
/// Raw attention parameters for a batch of one.
torch::Tensor raw(double gx, double gy, double log_sigma2, double log_delta, double log_gamma) {
  return torch::tensor({{gx, gy, log_sigma2, log_delta, log_gamma}}, torch::kFloat64);
}
}  // namespace

TEST_CASE("draw: filterbank rows sum to one and follow exp(-(a - mu)^2 / (2 sigma^2))", "[draw]") {
  torch::manual_seed(1);
  const auto centre = torch::rand({4}, torch::kFloat64) * 30, delta = torch::rand({4}, torch::kFloat64) * 3 + 0.1;
  const auto sigma2 = torch::rand({4}, torch::kFloat64) * 4 + 0.2;
  const auto f = draw::filterbank(centre, delta, sigma2, 5, 32);
  CHECK(f.sizes() == torch::IntArrayRef({4, 5, 32}));
  CHECK(torch::allclose(f.sum(2), torch::ones({4, 5}, torch::kFloat64)));
  // By hand: N = 2, centre 3, delta 2 -> mu = 3 + (i - 1.5) * 2 = 2 and 4; sigma^2 = 1.
  const auto g = draw::filterbank(torch::tensor({3.0}, torch::kFloat64), torch::tensor({2.0}, torch::kFloat64),
                                  torch::tensor({1.0}, torch::kFloat64), 2, 5);
  std::vector<double> row(5);
  double z = 0;
  for (int a = 1; a <= 5; ++a) z += row[static_cast<size_t>(a - 1)] = std::exp(-std::pow(a - 2.0, 2) / 2.0);
  for (int a = 0; a < 5; ++a) CHECK(g[0][0][a].item<double>() == Approx(row[static_cast<size_t>(a)] / z));
  CHECK(g[0][1][3].item<double>() == Approx(g[0][0][1].item<double>()));  // the second row is the first moved by 2
}

TEST_CASE("draw: a glimpse covering the image at stride one reproduces it, and writing puts it back", "[draw]") {
  const auto image = torch::rand({1, 3, 12, 12}, torch::kFloat64);
  // centre (12 + 1) / 2, delta (12 - 1) / (12 - 1) = 1, tiny variance, gamma 1.
  const auto a = Attention::from_raw(raw(0, 0, std::log(1e-3), 0, 0), 12, 12, 12);
  CHECK(a.delta.item<double>() == Approx(1.0));
  const auto glimpse = draw::read_glimpse(image, a, 12);
  CHECK(torch::allclose(glimpse, image, 1e-6, 1e-6));
  CHECK(torch::allclose(draw::write_patch(glimpse, a, 12, 12), image, 1e-6, 1e-6));
  // Intensity scales the glimpse and divides the write.
  const auto bright = Attention::from_raw(raw(0, 0, std::log(1e-3), 0, std::log(2.0)), 12, 12, 12);
  CHECK(torch::allclose(draw::read_glimpse(image, bright, 12), 2 * image, 1e-6, 1e-6));
  CHECK(torch::allclose(draw::write_patch(image, bright, 12, 12), image / 2, 1e-6, 1e-6));
}

TEST_CASE("draw: the KL term equals its closed form and a Monte Carlo estimate", "[draw]") {
  const auto mu = torch::tensor({{0.5, -1.0, 0.0}}, torch::kFloat64);
  const auto log_sigma = torch::tensor({{0.0, std::log(0.5), std::log(2.0)}}, torch::kFloat64);
  double closed = 0;
  for (int d = 0; d < 3; ++d) {
    const double m = mu[0][d].item<double>(), s = std::exp(log_sigma[0][d].item<double>());
    closed += std::log(1.0 / s) + (s * s + m * m) / 2.0 - 0.5;
  }
  CHECK(draw::gaussian_kl(mu, log_sigma).item<double>() == Approx(closed));
  // E_q[log q(z) - log p(z)] by sampling.
  torch::manual_seed(3);
  const auto eps = torch::randn({400000, 3}, torch::kFloat64);
  const auto z = mu + log_sigma.exp() * eps;
  const auto log_q = (-0.5 * eps.pow(2) - log_sigma).sum(1);
  const auto log_p = (-0.5 * z.pow(2)).sum(1);
  CHECK((log_q - log_p).mean().item<double>() == Approx(closed).epsilon(0.01));
}

TEST_CASE("draw: the Gaussian likelihood with the fitted sigma is the Normal's log density", "[draw]") {
  torch::manual_seed(2);
  const auto x = torch::rand({4, 3, 5, 5}, torch::kFloat64);
  const auto mean = torch::rand({4, 3, 5, 5}, torch::kFloat64).requires_grad_();
  const auto squared = (mean - x).pow(2).sum();
  const auto nll = draw::fitted_gaussian_nll(squared, 300.0);
  const double sigma = std::sqrt(squared.item<double>() / 300.0);
  const auto by_hand =
      -(-(x - mean.detach()).pow(2) / (2 * sigma * sigma) - std::log(sigma) - 0.5 * std::log(2 * M_PI)).sum();
  CHECK(nll.item<double>() == Approx(by_hand.item<double>()).epsilon(1e-9));
  nll.backward();  // sigma held constant: d/dmean = (mean - x) / sigma^2
  CHECK(torch::allclose(mean.grad(), (mean.detach() - x) / (sigma * sigma)));
}

TEST_CASE("draw: attention gradients match finite differences", "[draw]") {
  torch::manual_seed(5);
  const auto image = torch::rand({2, 3, 10, 9}, torch::kFloat64);
  const auto weights = torch::randn({2, 3, 4, 4}, torch::kFloat64);
  const auto patch = torch::randn({2, 3, 4, 4}, torch::kFloat64);
  auto loss = [&](const torch::Tensor& r) {
    const auto a = Attention::from_raw(r, 9, 10, 4);
    return (draw::read_glimpse(image, a, 4) * weights).sum() + draw::write_patch(patch, a, 10, 9).pow(2).sum();
  };
  auto r = (torch::randn({2, 5}, torch::kFloat64) * 0.3).requires_grad_();
  loss(r).backward();
  const auto analytic = r.grad().clone();
  const double h = 1e-6;
  for (std::int64_t b = 0; b < 2; ++b) {
    for (std::int64_t k = 0; k < 5; ++k) {
      auto plus = r.detach().clone(), minus = r.detach().clone();
      plus[b][k] += h;
      minus[b][k] -= h;
      const double numeric = (loss(plus).item<double>() - loss(minus).item<double>()) / (2 * h);
      INFO("batch " << b << " parameter " << k);
      CHECK(analytic[b][k].item<double>() == Approx(numeric).epsilon(1e-5).margin(1e-7));
    }
  }
}

TEST_CASE("draw: conditioning sets the initial states; the model runs with and without attention", "[draw]") {
  torch::manual_seed(2);
  draw::Draw net(draw::DrawOptions().size(16).glimpses(4).encoder(32).decoder(32).latent(8).condition(5));
  const auto c1 = torch::randn({2, 5}), c2 = torch::randn({2, 5});
  const auto s1 = net->initial_states(c1, 2), s2 = net->initial_states(c2, 2);
  CHECK_FALSE(torch::allclose(s1.h_enc, s2.h_enc));
  CHECK_FALSE(torch::allclose(s1.c_dec, s2.c_dec));
  CHECK_FALSE(torch::allclose(s1.h_dec, torch::zeros_like(s1.h_dec)));
  CHECK_THROWS_WITH(net->initial_states({}, 2), Catch::Contains("this model is conditioned"));
  const auto out = net->forward(torch::rand({2, 3, 16, 16}), c1);
  CHECK(out.canvas.sizes() == torch::IntArrayRef({2, 3, 16, 16}));
  CHECK(out.kl.size() == 4);
  const auto steps = net->sample(c1, 2);
  CHECK(steps.size() == 4);
  CHECK(steps.back().min().item<float>() >= 0.0f);
  draw::Draw plain(
      draw::DrawOptions().size(8).channels(1).glimpses(3).attention(false).encoder(16).decoder(16).latent(4));
  const auto zero = plain->initial_states({}, 3);
  CHECK(torch::equal(zero.h_dec, torch::zeros({3, 16})));
  CHECK(plain->forward(torch::rand({3, 1, 8, 8}), {}).canvas.sizes() == torch::IntArrayRef({3, 1, 8, 8}));
}

TEST_CASE("draw: under bf16 autocast the attention's geometry, the latents and the KL stay float32",
          "[draw][precision]") {
  // bfloat16 spaces values 1/8 apart between 16 and 32: a grid centre
  // computed in it moves by up to 1/16 pixel, and every filter with it.
  const auto r = raw(0.3, -0.2, 0.1, 0.2, 0.0).to(torch::kBFloat16);
  const auto exact = Attention::from_raw(r.to(torch::kFloat32), 32, 32, 6);
  const auto a = Attention::from_raw(r, 32, 32, 6);
  CHECK(a.gx.scalar_type() == torch::kFloat32);
  CHECK(a.gx.item<double>() == Approx(exact.gx.item<double>()).epsilon(1e-6));
  CHECK(a.gy.item<double>() == Approx(exact.gy.item<double>()).epsilon(1e-6));
  CHECK(a.delta.item<double>() == Approx(exact.delta.item<double>()).epsilon(1e-6));

  torch::manual_seed(3);
  draw::Draw net(draw::DrawOptions().size(16).glimpses(3).encoder(32).decoder(32).latent(8).condition(5));
  draw::DrawOutput out;
  {
    facet::Autocast autocast("bf16", torch::kCPU);
    out = net->forward(torch::rand({2, 3, 16, 16}), torch::randn({2, 5}));
  }
  for (const auto& kl : out.kl) CHECK(kl.scalar_type() == torch::kFloat32);
  CHECK(out.canvas.scalar_type() == torch::kFloat32);
}

TEST_CASE("attribute requests: names, nearest match and exclusive groups", "[draw]") {
  const std::vector<std::string> names(facet::pubfig::kAttributeNames.begin(), facet::pubfig::kAttributeNames.end());
  CHECK(facet::parse_attribute_request("Male, eyeglasses ,Smiling", names) ==
        std::vector<int>{facet::pubfig::index_of("Male"), facet::pubfig::index_of("Eyeglasses"),
                         facet::pubfig::index_of("Smiling")});
  CHECK_THROWS_WITH(facet::parse_attribute_request("Blnd Hair", names),
                    Catch::Contains("unknown attribute 'Blnd Hair'; did you mean 'Blond Hair'?") &&
                        Catch::Contains("valid: Male, Asian"));
  CHECK_THROWS_WITH(facet::parse_attribute_request("Black Hair, Blond Hair", names),
                    Catch::Contains("'Black Hair' and 'Blond Hair' contradict each other") &&
                        Catch::Contains("(Black Hair, Blond Hair, Brown Hair, Gray Hair)"));
  CHECK_THROWS_WITH(facet::parse_attribute_request(" , ", names), Catch::Contains("names no attribute"));
}

TEST_CASE(
    "condition vectors: the training faces closest to a request, changed to have it and not its exclusive siblings",
    "[draw]") {
  // Three attributes, two of one exclusive group; base faces in a 2-wide feature space:
  // blond with glasses, black-haired, blond, black-haired.
  generators::ConditionModel m;
  m.attribute_names = {"Black Hair", "Blond Hair", "Eyeglasses"};
  m.base_signs = torch::tensor({{-1, 1, 1}, {1, -1, -1}, {-1, 1, -1}, {1, -1, -1}}, torch::kInt8);
  m.base_features = torch::tensor({{10.0f, 20.0f}, {30.0f, 40.0f}, {50.0f, 60.0f}, {70.0f, 80.0f}});
  m.positive_mean = torch::tensor({{1.0f, 0.0f}, {0.0f, 2.0f}, {5.0f, 5.0f}});
  m.negative_mean = torch::tensor({{0.0f, 0.0f}, {0.0f, 0.0f}, {1.0f, 1.0f}});
  std::mt19937_64 rng(3);
  m.mode = "features";
  // Both black-haired faces, unchanged; the blond ones are further from the request.
  const auto black = m.request({0}, 64, rng);
  const auto is = [](const torch::Tensor& c, std::vector<float> v) {
    return c.eq(torch::tensor(v).unsqueeze(0)).all(1);
  };
  CHECK((is(black, {30, 40}) | is(black, {70, 80})).all().item<bool>());
  CHECK(is(black, {30, 40}).any().item<bool>());
  CHECK(is(black, {70, 80}).any().item<bool>());
  // Black Hair and Eyeglasses: the black-haired faces gain glasses (+[4, 4]).
  const auto glasses = m.request({0, 2}, 32, rng);
  CHECK((is(glasses, {34, 44}) | is(glasses, {74, 84})).all().item<bool>());
  // Among blond faces only, the one with glasses is closest: black hair
  // added (+[1, 0]), blond hair taken away (-[0, 2]).
  generators::ConditionModel blond = m;
  blond.base_signs = m.base_signs.index({torch::tensor({0, 2})});
  blond.base_features = m.base_features.index({torch::tensor({0, 2})});
  CHECK(is(blond.request({0, 2}, 8, rng), {11, 18}).all().item<bool>());
  m.mode = "attributes";
  const auto signs = m.request({1}, 16, rng);  // the two blond faces, with and without glasses
  CHECK(torch::equal(signs.select(1, 1), torch::ones({16})));
  CHECK(torch::equal(signs.select(1, 0), -torch::ones({16})));
  CHECK(signs.select(1, 2).eq(1).any().item<bool>());
  CHECK(signs.select(1, 2).eq(-1).any().item<bool>());
  blond.mode = "attributes";
  const auto moved = blond.request({0}, 16, rng);  // sets Black Hair, clears Blond Hair
  CHECK(torch::equal(moved.select(1, 0), torch::ones({16})));
  CHECK(torch::equal(moved.select(1, 1), -torch::ones({16})));
  m.mode = "none";
  CHECK(!m.request({0}, 4, rng).defined());
}

TEST_CASE("condition vectors: emphasis moves each requested attribute further along its direction", "[draw]") {
  generators::ConditionModel m;
  m.mode = "features";
  m.attribute_names = {"Black Hair", "Blond Hair", "Eyeglasses"};
  m.base_signs = torch::tensor({{1, -1, -1}}, torch::kInt8);  // one black-haired face without glasses
  m.base_features = torch::tensor({{30.0f, 40.0f}});
  m.positive_mean = torch::tensor({{1.0f, 0.0f}, {0.0f, 2.0f}, {5.0f, 5.0f}});
  m.negative_mean = torch::tensor({{0.0f, 0.0f}, {0.0f, 0.0f}, {1.0f, 1.0f}});
  m.emphasis = 0.5;
  std::mt19937_64 rng(3);
  // Black Hair, which the face has: half its direction [1, 0]. Eyeglasses,
  // which it lacks: the whole direction [4, 4] and half of it again.
  CHECK(torch::equal(m.request({0}, 2, rng), torch::tensor({{30.5f, 40.0f}, {30.5f, 40.0f}})));
  CHECK(torch::equal(m.request({0, 2}, 1, rng), torch::tensor({{30.0f + 4.0f + 0.5f + 2.0f, 40.0f + 4.0f + 2.0f}})));
  m.mode = "attributes";  // requested: 1 + 2 x 0.5; the rest as the face has them
  CHECK(torch::equal(m.request({2}, 1, rng), torch::tensor({{1.0f, -1.0f, 2.0f}})));

  // The model keeps it; models made before it draw without it.
  facet::Artifact model;
  m.save(model);
  CHECK(generators::ConditionModel::load(model).emphasis == 0.5);
  facet::Artifact older;
  for (const auto& name : model.tensor_names()) older.set(name, model.get(name));
  for (const auto& [name, value] : model.attrs()) {
    if (name != "condition.emphasis") older.set_attr(name, value);
  }
  CHECK(generators::ConditionModel::load(older).emphasis == 0.0);
}

TEST_CASE("draw step: trains, reports the test -ELBO and draws faces for each request", "[draw]") {
  Artifacts inputs = test::generator_inputs(32);
  const std::string small =
      "glimpses: 3, encoder: 16, decoder: 16, latent: 4, epochs: 1, size: 16, per_request: 2, "
      "requests: ['Smiling', 'Black Hair, Eyeglasses']";
  const auto out = test::run_step("draw", inputs, "{condition: attributes, " + small + "}");
  const auto& samples = out.at("samples");
  CHECK(samples.shape("images") == std::vector<std::int64_t>{4, 3, 16, 16});
  CHECK(torch::equal(samples.get("request"), torch::tensor({0, 0, 1, 1}, torch::kInt64)));
  CHECK(samples.get("requested")[1][facet::pubfig::index_of("Eyeglasses")].item<std::int64_t>() == 1);
  CHECK(samples.attr_strings("requests")[1] == "Black Hair, Eyeglasses");
  CHECK(out.at("_files").has("glimpses.png"));
  CHECK(out.at("_files").has("samples.png"));
  CHECK(out.at("model").attr_string("condition") == "attributes");
  const auto older =
      test::without_tensor(out.at("model"), "condition.base_signs");  // saved before the starting faces were kept
  CHECK_THROWS_WITH(
      test::run_step("sample", {{"model", older}}, "{per_request: 1, requests: ['Smiling']}"),
      Catch::Contains("made before requests started from kept training faces") && Catch::Contains("--rerun"));
  CHECK_THROWS_WITH(test::run_step("draw", inputs, "{condition: features, " + small + "}"),
                    Catch::Contains("needs the 'features' input"));
  CHECK_THROWS_WITH(
      test::run_step("draw", inputs, "{condition: attributes, " + small + ", requests: ['Blnd Hair']}"),
      Catch::Contains("request \"Blnd Hair\": unknown attribute 'Blnd Hair'; did you mean 'Blond Hair'?"));
  // Inputs every generator checks the same way (generator_io).
  const auto other = test::run_step("synthfaces", {}, "{count: 40, size: 32, persons: 8}");
  CHECK_THROWS_WITH(test::run_step("draw", {{"images", inputs.at("images")}, {"attributes", other.at("attributes")}},
                                   "{condition: attributes, " + small + "}"),
                    Catch::Contains("images has 96 rows but attributes has 40"));
  Artifact no_training;
  no_training.set("train", torch::empty({0}, torch::kInt64));
  no_training.set("test", torch::arange(96, torch::kInt64));
  CHECK_THROWS_WITH(
      test::run_step("draw",
                     {{"images", inputs.at("images")}, {"attributes", inputs.at("attributes")}, {"split", no_training}},
                     "{condition: attributes, " + small + "}"),
      Catch::Contains("the training split is empty"));
  // Conditioned on features: one Gaussian per attribute over them.
  Artifact features;
  features.set("features", torch::randn({96, 6}));
  inputs["features"] = features;
  const auto by_features = test::run_step("draw", inputs, "{condition: features, " + small + "}").at("model");
  CHECK(by_features.shape("condition.positive_mean") == std::vector<std::int64_t>{73, 6});
  CHECK(by_features.shape("condition.base_features") ==
        std::vector<std::int64_t>{std::min<std::int64_t>(4096, inputs.at("split").get("train").numel()), 6});
}

TEST_CASE("draw step: a KL weight above one leaves less in the latents; the -ELBO it reports stays unweighted",
          "[draw]") {
  const Artifacts inputs = test::generator_inputs(32);
  const std::string small =
      "{condition: attributes, glimpses: 3, encoder: 32, decoder: 32, latent: 8, epochs: 20, "
      "batch_size: 16, size: 16, per_request: 1, requests: ['Smiling'], kl_weight: ";
  std::map<std::string, double> plain, weighted;
  test::run_step("draw", inputs, small + "1}", 1, &plain);
  test::run_step("draw", inputs, small + "20}", 1, &weighted);
  CHECK(weighted.at("test_kl_nats") < 0.5 * plain.at("test_kl_nats"));
  // The reported bound is the true one: a model squeezed through its latents explains the pixels less well.
  CHECK(weighted.at("test_negative_elbo_nats") > plain.at("test_negative_elbo_nats"));
  // With sigma fixed on training faces the bound cannot be lower than with
  // sigma refitted to the test faces (the best sigma for them), and it is a
  // different number unless the two sigmas agree exactly.
  for (const auto* m : {&plain, &weighted}) {
    CHECK(m->at("test_negative_elbo_train_sigma_nats") >= m->at("test_negative_elbo_nats") - 1e-6);
    CHECK(m->at("test_negative_elbo_train_sigma_nats") != m->at("test_negative_elbo_nats"));
    CHECK((m->at("train_sigma") > 0.0 && m->at("train_sigma") < 0.5));
  }
}

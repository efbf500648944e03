#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "facet/precision.hpp"
#include "facet/pubfig.hpp"
#include "gan_model.hpp"
#include "test_support.hpp"

namespace gan = facet::generators::gan;

using namespace facet;

namespace {
/// The toy distribution: 16x16 faces whose top half is bright when the one
/// attribute is +1 and whose bottom half is bright when it is -1.
std::pair<torch::Tensor, torch::Tensor> toy_batch(std::int64_t n) {
  const auto y = torch::randint(0, 2, {n, 1}).to(torch::kFloat32) * 2 - 1;
  auto x = torch::full({n, 3, 16, 16}, 0.1f);
  const auto top = (y > 0).to(torch::kFloat32).view({n, 1, 1, 1});
  x.slice(2, 0, 8) += 0.8f * top;
  x.slice(2, 8, 16) += 0.8f * (1 - top);
  return {(x + 0.03f * torch::randn_like(x)).clamp(0, 1), y};
}

/// Mean brightness of the top half minus the bottom half.
double top_minus_bottom(const torch::Tensor& faces) {
  return (faces.slice(2, 0, 8).mean() - faces.slice(2, 8, 16).mean()).item<double>();
}
}  // namespace

TEST_CASE("gan: shapes at each size; the size must be a power of two", "[gan]") {
  for (std::int64_t size : {16, 32, 64}) {
    gan::Gan net(gan::GanOptions().size(size).width(8).noise(5).condition(3));
    const auto fake = net->generator(torch::randn({2, 5}), torch::randn({2, 3}));
    CHECK(fake.sizes() == torch::IntArrayRef({2, 3, size, size}));
    CHECK(fake.abs().max().item<float>() <= 1.0f);
    CHECK(net->discriminator(fake, torch::randn({2, 3})).sizes() == torch::IntArrayRef({2}));
  }
  gan::Gan plain(gan::GanOptions().size(16).width(8).spectral_norm(false));
  CHECK(plain->discriminator(plain->generator(torch::randn({2, 64}), torch::Tensor()), torch::Tensor()).sizes() ==
        torch::IntArrayRef({2}));
  CHECK_THROWS_WITH(gan::Gan(gan::GanOptions().size(24)), Catch::Contains("power of two of at least 16, got 24"));
}

TEST_CASE("gan: the transposed convolution equals LibTorch's in value and in every gradient", "[gan]") {
  torch::manual_seed(5);
  struct Shape {
    std::int64_t in, out, kernel, stride, padding, side;
    bool bias;
  };
  for (const Shape& s :
       {Shape{6, 4, 4, 2, 1, 4, false}, Shape{5, 3, 4, 2, 1, 7, true}, Shape{3, 2, 3, 1, 0, 5, true}}) {
    gan::TransposedConv2d ours(
        torch::nn::ConvTranspose2dOptions(s.in, s.out, s.kernel).stride(s.stride).padding(s.padding).bias(s.bias));
    const auto x = torch::randn({3, s.in, s.side, s.side}, torch::requires_grad());
    const auto theirs = torch::nn::functional::conv_transpose2d(
        x, ours->weight,
        torch::nn::functional::ConvTranspose2dFuncOptions().bias(ours->bias).stride(s.stride).padding(s.padding));
    const auto out = ours->forward(x);
    REQUIRE(out.sizes() == theirs.sizes());
    CHECK(torch::allclose(out, theirs, 1e-4, 1e-5));

    const auto upstream = torch::randn_like(out);  // gradients of sum(upstream * out) both ways
    std::vector<torch::Tensor> inputs{x, ours->weight};
    if (s.bias) inputs.push_back(ours->bias);
    const auto expected = torch::autograd::grad({(theirs * upstream).sum()}, inputs);
    const auto got = torch::autograd::grad({(out * upstream).sum()}, inputs);
    for (size_t k = 0; k < inputs.size(); ++k) {
      INFO("gradient " << k << " for " << s.in << "->" << s.out << " at " << s.side);
      CHECK(torch::allclose(got[k], expected[k], 1e-4, 1e-4));
    }
  }
  CHECK_THROWS_WITH(gan::TransposedConv2d(torch::nn::ConvTranspose2dOptions(2, 2, 4).stride(2).output_padding(1)),
                    Catch::Contains("without dilation, groups or output padding"));
}

TEST_CASE("gan: under bf16 autocast the transposed convolution runs in bfloat16 and trains float32 weights",
          "[gan][precision]") {
  torch::manual_seed(6);
  gan::TransposedConv2d conv(torch::nn::ConvTranspose2dOptions(6, 4, 4).stride(2).padding(1));
  const auto x = torch::randn({3, 6, 4, 4});
  const auto exact = conv->forward(x);
  torch::Tensor rounded;
  {
    facet::Autocast autocast("bf16", torch::kCPU);
    rounded = conv->forward(x);
  }
  CHECK(rounded.scalar_type() == torch::kBFloat16);
  CHECK((rounded.to(torch::kFloat32) - exact).abs().max().item<double>() < 0.02 * exact.abs().max().item<double>());
  rounded.to(torch::kFloat32).sum().backward();  // failed: the backward mixed bfloat16 gradients with float32 weights
  REQUIRE(conv->weight.grad().defined());
  CHECK(conv->weight.grad().scalar_type() == torch::kFloat32);
  CHECK(conv->weight.scalar_type() == torch::kFloat32);
}

TEST_CASE("gan: spectral normalisation brings the largest singular value to one", "[gan]") {
  torch::manual_seed(3);
  gan::SNConv2d conv(torch::nn::Conv2dOptions(4, 6, 3), true);
  conv->train();
  for (int k = 0; k < 40; ++k) conv->forward(torch::randn({1, 4, 5, 5}));
  const auto w = conv->effective_weight().detach().flatten(1);
  CHECK(torch::linalg_svdvals(w).max().item<double>() == Approx(1.0).margin(0.02));
  gan::SNConv2d off(torch::nn::Conv2dOptions(4, 6, 3), false);
  CHECK(torch::linalg_svdvals(off->effective_weight().detach().flatten(1)).max().item<double>() !=
        Approx(1.0).margin(0.02));
}

TEST_CASE("gan: on a toy distribution the losses move the right way and the condition controls the faces", "[gan]") {
  torch::manual_seed(11);
  gan::Gan net(gan::GanOptions().size(16).width(8).noise(8).condition(1).embedding(4));
  gan::Trainer trainer(net, gan::TrainingOptions().lr(2e-3));
  net->train();

  // A discriminator update lowers the discriminator's loss on that batch;
  // a generator update then lowers the generator's loss against it.
  auto [real, y] = toy_batch(64);
  const auto fake = net->generator(torch::randn({64, 8}), y).detach();
  for (int k = 0; k < 3; ++k) {
    const double before = trainer.discriminator_loss(real, fake, y).item<double>();
    trainer.discriminator_optimizer().zero_grad();
    trainer.discriminator_loss(real, fake, y).backward();
    trainer.discriminator_optimizer().step();
    CHECK(trainer.discriminator_loss(real, fake, y).item<double>() < before);
  }
  const auto z = torch::randn({64, 8});
  const double g_before = trainer.generator_loss(net->generator(z, y), y).item<double>();
  trainer.generator_optimizer().zero_grad();
  trainer.generator_loss(net->generator(z, y), y).backward();
  trainer.generator_optimizer().step();
  CHECK(trainer.generator_loss(net->generator(z, y), y).item<double>() < g_before);

  // Trained on the toy distribution, the generator follows the condition.
  gan::StepLosses last;
  for (int k = 0; k < 300; ++k) {
    auto [x, c] = toy_batch(32);
    last = trainer.step(x, c);
  }
  net->eval();
  torch::NoGradGuard no_grad;
  const auto up = net->sample(torch::ones({64, 1}), 64), down = net->sample(-torch::ones({64, 1}), 64);
  CHECK(top_minus_bottom(up) > 0.4);
  CHECK(top_minus_bottom(down) < -0.4);
  CHECK(last.real_score.item<double>() > 0.2);  // neither network has won outright
  CHECK(last.fake_score.item<double>() < 0.8);
}

TEST_CASE("gan: a matching-aware discriminator counts real faces with another face's condition as fakes", "[gan]") {
  torch::manual_seed(12);
  gan::Gan net(gan::GanOptions().size(16).width(8).noise(8).condition(1).embedding(4));
  gan::Trainer trainer(net, gan::TrainingOptions().lr(2e-3).mismatch(true));
  net->train();
  const auto [real, y] = toy_batch(64);
  const auto fake = net->generator(torch::randn({64, 8}), y).detach();
  {  // The loss is Reed et al.'s: real faces, then the mean of fakes and real faces with the next face's condition.
    net->eval();  // spectral norm's power iteration holds still
    torch::NoGradGuard no_grad;
    namespace F = torch::nn::functional;
    auto d = [&](const torch::Tensor& x, const torch::Tensor& c) { return net->discriminator(x * 2 - 1, c); };
    auto bce = [](const torch::Tensor& logits, double target) {
      return F::binary_cross_entropy_with_logits(logits, torch::full_like(logits, target)).item<double>();
    };
    const double expected =
        bce(d(real, y), 0.9) + 0.5 * (bce(net->discriminator(fake, y), 0) + bce(d(real, y.roll(1, 0)), 0));
    CHECK(trainer.discriminator_loss(real, fake, y).item<double>() == Approx(expected).epsilon(1e-5));
    net->train();
  }
  // Trained so, it tells a real face's own condition from the opposite one.
  for (int k = 0; k < 200; ++k) {
    auto [x, c] = toy_batch(32);
    trainer.step(x, c);
  }
  net->eval();
  torch::NoGradGuard no_grad;
  const auto [x, c] = toy_batch(256);
  const auto right = torch::sigmoid(net->discriminator(x * 2 - 1, c)).mean().item<double>();
  const auto wrong = torch::sigmoid(net->discriminator(x * 2 - 1, -c)).mean().item<double>();
  CHECK(right - wrong > 0.3);
}

TEST_CASE("gan step: trains and draws faces for each request; sample draws again from its model", "[gan]") {
  const Artifacts inputs = test::generator_inputs(16);
  const std::string small =
      "size: 16, width: 8, noise: 8, epochs: 1, batch_size: 16, per_request: 3, "
      "requests: ['Smiling', 'Black Hair, Eyeglasses']";
  const auto out = test::run_step("gan", inputs, "{" + small + "}");
  const auto& samples = out.at("samples");
  CHECK(samples.shape("images") == std::vector<std::int64_t>{6, 3, 16, 16});
  CHECK(torch::equal(samples.get("request"), torch::tensor({0, 0, 0, 1, 1, 1}, torch::kInt64)));
  CHECK(samples.get("requested")[1][pubfig::index_of("Eyeglasses")].item<std::int64_t>() == 1);
  CHECK(out.at("model").attr_string("architecture") == "gan");
  CHECK(out.at("model").attr_string("sampler") == "sample");
  CHECK(out.at("_files").has("samples.png"));
  CHECK_THROWS_WITH(test::run_step("gan", inputs, "{" + small + ", size: 24}"),
                    Catch::Contains("size 24 is not a power of two"));
  CHECK_THROWS_WITH(test::run_step("gan", inputs, "{" + small + ", batch_size: 500}"),
                    Catch::Contains("fewer than one batch of 500"));

  const auto again =
      test::run_step("sample", {{"model", out.at("model")}}, "{per_request: 2, requests: ['Bald, Goatee']}");
  CHECK(again.at("samples").shape("images") == std::vector<std::int64_t>{2, 3, 16, 16});
  CHECK(again.at("samples").attr_strings("requests") == std::vector<std::string>{"Bald, Goatee"});
  CHECK_THROWS_WITH(test::run_step("sample", {{"model", out.at("model")}}, "{requests: ['Bald, Blnd Hair']}"),
                    Catch::Contains("did you mean 'Blond Hair'?"));
  CHECK_THROWS_WITH(test::run_step("sample", {{"model", inputs.at("split")}}),
                    Catch::Contains("is not a generator's model"));
}

TEST_CASE("gan and draw steps: trained in bf16 the weights stay float32 and the model draws faces in fp32",
          "[gan][draw][precision]") {
  test::StandInCpu cpu(true);  // bf16 passes validation whatever this machine is
  const Artifacts inputs = test::generator_inputs(16);
  const std::map<std::string, std::string> small = {
      {"gan", "size: 16, width: 8, noise: 8, epochs: 1, batch_size: 16, per_request: 2, requests: ['Smiling']"},
      {"draw",
       "size: 16, glimpses: 3, encoder: 16, decoder: 16, latent: 4, epochs: 1, batch_size: 16, per_request: 2, "
       "requests: ['Smiling']"}};
  for (const auto& [step, with] : small) {
    INFO(step);
    const auto fp32 = test::run_step(step, inputs, "{" + with + ", precision: fp32}").at("model");
    const auto bf16 = test::run_step(step, inputs, "{" + with + ", precision: bf16}").at("model");
    bool differs = false;
    for (const auto& name : bf16.tensor_names()) {
      INFO(name);
      CHECK(bf16.get(name).scalar_type() == fp32.get(name).scalar_type());
      differs = differs || !torch::equal(bf16.get(name), fp32.get(name));
    }
    CHECK(differs);  // the same seed trained otherwise: bf16 was applied
    const auto faces = test::run_step("sample", {{"model", bf16}}, "{per_request: 2, requests: ['Smiling']}")
                           .at("samples")
                           .get("images");
    CHECK(faces.sizes() == torch::IntArrayRef({2, 3, 16, 16}));
    CHECK(faces.to(torch::kFloat32).std().item<double>() > 1.0);  // a picture, not a constant
  }
}

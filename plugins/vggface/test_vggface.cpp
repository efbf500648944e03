#include <torch/torch.h>
#include <catch2/catch.hpp>
#include <facet/row_batches.hpp>

#include <vggface/attribute_heads.hpp>
#include <vggface/vgg_face.hpp>
#include "test_support.hpp"
#include "trainer.hpp"

using namespace facet;
using vggface::VggFace;
using vggface::VggFaceOptions;

TEST_CASE("vggface: layer shapes follow input size and width", "[vggface]") {
  struct Case {
    std::int64_t size;
    double width;
    std::int64_t conv1, conv5, fc;
  };
  for (const auto& c : {Case{32, 1.0, 64, 512, 4096}, Case{64, 0.125, 8, 64, 512}, Case{224, 0.25, 16, 128, 1024},
                        Case{112, 0.125, 8, 64, 512}}) {
    INFO("input " << c.size << " width " << c.width);
    VggFace net(VggFaceOptions().input_size(c.size).width(c.width).identities(2622));
    net->eval();
    torch::NoGradGuard no_grad;
    const auto x = torch::randn({2, 3, c.size, c.size});
    CHECK(net->forward(x, "conv1_2").sizes() == torch::IntArrayRef({2, c.conv1, c.size, c.size}));
    CHECK(net->forward(x, "conv5_3").sizes() == torch::IntArrayRef({2, c.conv5, c.size / 16, c.size / 16}));
    CHECK(net->forward(x, "fc7").sizes() == torch::IntArrayRef({2, c.fc}));
    CHECK(vggface::fc7_width(net->options()) == c.fc);
    CHECK(net->forward(x, "fc8").sizes() == torch::IntArrayRef({2, 2622}));
    const auto params = net->named_parameters();
    CHECK(params["fc6.weight"].sizes() == torch::IntArrayRef({c.fc, c.conv5 * (c.size / 32) * (c.size / 32)}));
  }
  CHECK_THROWS_WITH(VggFace(VggFaceOptions().input_size(31)), Catch::Contains("at least 32"));
}

TEST_CASE("vggface: frozen layers keep their weights and batch statistics", "[vggface]") {
  torch::manual_seed(1);
  VggFace net(VggFaceOptions().input_size(32).width(0.0625).batch_norm(true));
  net->set_trainable_from("conv5_1");
  net->train();
  std::map<std::string, torch::Tensor> snapshot;
  for (const auto& p : net->named_parameters()) snapshot[p.key()] = p.value().clone();
  for (const auto& b : net->named_buffers()) snapshot[b.key()] = b.value().clone();
  std::vector<torch::Tensor> trainable;
  for (const auto& p : net->parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  torch::optim::SGD sgd(trainable, torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(0.01));
  for (int i = 0; i < 2; ++i) {
    sgd.zero_grad();
    net->forward(torch::randn({4, 3, 32, 32}), "fc7").pow(2).sum().backward();
    sgd.step();
  }
  const auto params = net->named_parameters();
  CHECK(torch::equal(params["conv1_1.weight"], snapshot["conv1_1.weight"]));
  CHECK(torch::equal(params["conv4_3.bias"], snapshot["conv4_3.bias"]));
  CHECK_FALSE(params["conv1_1.weight"].requires_grad());
  CHECK_FALSE(torch::equal(params["conv5_1.weight"], snapshot["conv5_1.weight"]));
  CHECK_FALSE(torch::equal(params["fc7.weight"], snapshot["fc7.weight"]));
  const auto buffers = net->named_buffers();
  CHECK(torch::equal(buffers["conv2_1_bn.running_mean"], snapshot["conv2_1_bn.running_mean"]));
  CHECK_FALSE(torch::equal(buffers["conv5_2_bn.running_mean"], snapshot["conv5_2_bn.running_mean"]));
  CHECK_THROWS_WITH(net->set_trainable_from("conv9_1"), Catch::Contains("names no layer"));
}

TEST_CASE("vggface: fc6 and fc7 batch norm is frozen with its layer and saved; older models load without it",
          "[vggface]") {
  torch::manual_seed(2);
  const auto options = VggFaceOptions().input_size(32).width(0.0625).batch_norm(true).fc_batch_norm(true).dropout(0.0);
  {
    // In training, fc6's pre-activations are standardised over the batch, so
    // about half of its units fire even when a bias of -100 would silence
    // every one of them without it.
    VggFace silenced(options);
    silenced->train();
    torch::NoGradGuard no_grad;
    silenced->named_parameters()["fc6.bias"].fill_(-100.0);
    const auto fc6 = silenced->forward(torch::randn({64, 3, 32, 32}), "fc6");
    CHECK(fc6.gt(0).to(torch::kFloat64).mean().item<double>() == Approx(0.5).margin(0.1));
  }
  VggFace net(options);
  net->set_trainable_from("fc7");
  net->train();
  const auto before = net->named_buffers();
  const auto fc6_mean = before["fc6_bn.running_mean"].clone(), fc7_mean = before["fc7_bn.running_mean"].clone();
  net->forward(torch::randn({16, 3, 32, 32}), "fc7");
  const auto after = net->named_buffers();
  CHECK(torch::equal(after["fc6_bn.running_mean"], fc6_mean));  // frozen below fc7
  CHECK_FALSE(torch::equal(after["fc7_bn.running_mean"], fc7_mean));
  CHECK_FALSE(net->named_parameters()["fc6_bn.weight"].requires_grad());
  CHECK(net->named_parameters()["fc7_bn.weight"].requires_grad());

  facet::Artifact saved;
  net->options().save(saved);
  CHECK(VggFaceOptions::load(saved).fc_batch_norm());
  facet::Artifact older;  // what vggface 1.1 saved: batch norm after the convolutions only, no fc_batch_norm
  older.set_attr("architecture", std::string("vggface"));
  older.set_attr("input_size", std::int64_t{32});
  older.set_attr("width", 0.0625);
  older.set_attr("batch_norm", std::int64_t{1});
  older.set_attr("dropout", 0.0);
  older.set_attr("identities", std::int64_t{0});
  const auto loaded = VggFaceOptions::load(older);
  CHECK(loaded.batch_norm());
  CHECK_FALSE(loaded.fc_batch_norm());
  CHECK(VggFace(loaded)->named_parameters().find("fc6_bn.weight") == nullptr);
}

TEST_CASE("vggface: unknown labels add no loss and no gradient", "[vggface]") {
  const std::vector<std::int64_t> classes{2, 3};
  auto logits = torch::randn({4, 5}, torch::requires_grad());
  const auto labels = torch::tensor({{1, 2}, {-1, 0}, {0, -1}, {-1, -1}}, torch::kInt64);
  auto loss = vggface::masked_heads_loss(logits, labels, classes);
  loss.backward();
  // By hand: head 0 over rows 0 and 2, head 1 over rows 0 and 1.
  namespace F = torch::nn::functional;
  const auto l = logits.detach();
  const auto expected =
      F::cross_entropy(torch::stack({l[0].slice(0, 0, 2), l[2].slice(0, 0, 2)}), torch::tensor({1, 0})) +
      F::cross_entropy(torch::stack({l[0].slice(0, 2, 5), l[1].slice(0, 2, 5)}), torch::tensor({2, 0}));
  CHECK(loss.item<float>() == Approx(expected.item<float>()).epsilon(1e-5));
  const auto g = logits.grad();
  CHECK(g[3].abs().sum().item<float>() == 0.0f);                 // a row with no known label
  CHECK(g[1].slice(0, 0, 2).abs().sum().item<float>() == 0.0f);  // unknown for head 0
  CHECK(g[2].slice(0, 2, 5).abs().sum().item<float>() == 0.0f);  // unknown for head 1
  CHECK(g[0].abs().sum().item<float>() > 0.0f);
}

TEST_CASE("vggface: balanced class weights are n / (k n_c)", "[vggface]") {
  const auto labels = torch::tensor({{0}, {0}, {0}, {1}, {-1}}, torch::kInt64);
  const auto w = vggface::balanced_class_weights(labels, {2});
  CHECK(w[0].item<float>() == Approx(4.0 / (2 * 3)));
  CHECK(w[1].item<float>() == Approx(4.0 / (2 * 1)));
}

TEST_CASE("vggface: heads no better than their majority class on validation become constant", "[vggface]") {
  const auto x = torch::linspace(-1, 1, 40).view({40, 1});
  // Head 0 is perfect (the sign of x); head 1 always says 1 where 0 is the majority (30 of 40).
  const auto labels =
      torch::stack({(x.squeeze(1) > 0).to(torch::kInt64), (torch::arange(40) % 4 == 0).to(torch::kInt64)}, 1);
  vggface::AttributeHeads heads(vggface::AttributeHeadsOptions().in_features(1).num_classes({2, 2}).dropout(0.0));
  {
    torch::NoGradGuard no_grad;
    auto params = heads->named_parameters();
    params["heads.weight"].copy_(torch::tensor({{-10.0f}, {10.0f}, {0.0f}, {0.0f}}));
    params["heads.bias"].copy_(torch::tensor({0.0f, 0.0f, 0.0f, 5.0f}));
  }
  heads->eval();
  facet::Artifact data;
  data.set("features", x);
  std::vector<std::int64_t> train_rows, val_rows;
  for (std::int64_t i = 0; i < 40; ++i) (i % 2 == 0 ? train_rows : val_rows).push_back(i);
  facet::RowBatches train(data, "features", train_rows), val(data, "features", val_rows);
  vggface::Forward forward = [&](const torch::Tensor& raw, bool, const facet::Share& rows) {
    return heads->forward(raw.slice(0, rows.begin, rows.end));
  };
  std::mt19937_64 rng(1);
  const std::vector<std::int64_t> num_classes = {2, 2};
  const auto replaced = vggface::apply_majority_fallback(*heads, {forward, train, val, labels, num_classes}, 8, rng);
  CHECK(replaced == std::vector<std::int64_t>{1});
  const auto predicted = vggface::predict_classes(heads->forward(x), {2, 2});
  CHECK(torch::equal(predicted.select(1, 0), labels.select(1, 0)));  // kept
  CHECK((predicted.select(1, 1) == 0).all().item<bool>());           // now the majority class
}

TEST_CASE("vggface: trained in bf16 the weights stay float32; bf16 and fp32 models load in either precision",
          "[vggface][precision]") {
  test::StandInCpu cpu(true);  // bf16 passes validation whatever this machine is
  const auto inputs = test::generator_inputs(32);
  const auto labels =
      test::run_step("binarize", {{"attributes", inputs.at("attributes")}}, "{mode: grouped}").at("labels");
  const std::string net = "input_size: 32, width: 0.0625, batch_norm: true, epochs: 1, batch_size: 16";
  auto train = [&](const std::string& precision) {
    return test::run_step("vggface",
                          {{"images", inputs.at("images")}, {"labels", labels}, {"split", inputs.at("split")}},
                          "{" + net + ", precision: " + precision + "}")
        .at("model");
  };
  const auto fp32 = train("fp32"), bf16 = train("bf16");
  for (const auto& name : bf16.tensor_names()) {
    INFO(name);
    CHECK(bf16.get(name).scalar_type() == fp32.get(name).scalar_type());
  }
  // The same numbers through the first forward pass differ in bf16: it was applied.
  CHECK_FALSE(torch::equal(bf16.get("backbone.conv1_1.weight"), fp32.get("backbone.conv1_1.weight")));

  auto features = [&](const Artifact& model, const std::string& precision) {
    return test::run_step("extract", {{"model", model}, {"images", inputs.at("images")}},
                          "{layer: fc7, precision: " + precision + "}")
        .at("features")
        .get("features");
  };
  for (const auto* model : {&fp32, &bf16}) {
    const auto exact = features(*model, "fp32"), rounded = features(*model, "bf16");
    CHECK(rounded.scalar_type() == torch::kFloat32);
    CHECK_FALSE(torch::equal(exact, rounded));
    // bfloat16 keeps 8 significant bits: a few layers in, within a few percent of the activations' scale.
    const double scale = exact.abs().max().item<double>();
    CHECK((exact - rounded).abs().max().item<double>() < 0.05 * scale);
  }
}

TEST_CASE("vggface: with batch norm, a last batch of one image is left out instead of failing", "[vggface]") {
  const auto inputs = test::generator_inputs(32);  // 73 training images: 3 batches of 24 and one of 1
  REQUIRE(inputs.at("split").get("train").numel() == 73);
  const auto labels =
      test::run_step("binarize", {{"attributes", inputs.at("attributes")}}, "{mode: grouped}").at("labels");
  const auto out =
      test::run_step("vggface", {{"images", inputs.at("images")}, {"labels", labels}, {"split", inputs.at("split")}},
                     "{input_size: 32, width: 0.0625, batch_norm: true, epochs: 2, batch_size: 24, precision: fp32}");
  const auto loss = out.at("history").get("train_loss");
  CHECK(std::isfinite(loss[0].item<double>()));
  CHECK(std::isfinite(loss[1].item<double>()));
}

TEST_CASE("vggface: channels-last convolutions give NCHW's outputs and gradients within float rounding", "[vggface]") {
  torch::manual_seed(3);
  const auto options = VggFaceOptions().input_size(64).width(0.125).batch_norm(true).dropout(0.0);
  VggFace nchw(VggFaceOptions(options).channels_last(false)), nhwc(VggFaceOptions(options).channels_last(true));
  {
    torch::NoGradGuard no_grad;
    auto target = nhwc->named_parameters();
    for (const auto& p : nchw->named_parameters()) target[p.key()].copy_(p.value());
  }
  CHECK(nhwc->named_parameters()["conv2_1.weight"].is_contiguous(at::MemoryFormat::ChannelsLast));
  CHECK_FALSE(nchw->named_parameters()["conv2_1.weight"].is_contiguous(at::MemoryFormat::ChannelsLast));
  const auto x = torch::randn({6, 3, 64, 64});
  for (const char* layer : {"conv3_1", "fc7"}) {
    INFO(layer);
    const auto a = nchw->forward(x, layer), b = nhwc->forward(x, layer);
    const auto scale = a.abs().max().item<double>();
    INFO("max difference " << (a - b).abs().max().item<double>() << " of " << scale);
    CHECK(torch::allclose(a, b, 1e-4, 1e-5 * scale));
  }
  nchw->forward(x, "fc7").square().sum().backward();
  nhwc->forward(x, "fc7").square().sum().backward();
  auto other = nhwc->named_parameters();
  for (const auto& p : nchw->named_parameters()) {
    INFO(p.key());
    const auto scale = p.value().grad().abs().max().item<double>();
    CHECK(torch::allclose(p.value().grad(), other[p.key()].grad(), 1e-3, 1e-4 * std::max(scale, 1.0)));
  }
}

TEST_CASE("vggface: train_subset: judge trains on the persons split sets aside, and needs them", "[vggface]") {
  auto inputs = test::generator_inputs(32);
  const auto labels =
      test::run_step("binarize", {{"attributes", inputs.at("attributes")}}, "{mode: grouped}").at("labels");
  const std::string small = "{input_size: 32, width: 0.0625, epochs: 1, batch_size: 16, train_subset: judge}";
  CHECK_THROWS_WITH(
      test::run_step("vggface", {{"images", inputs.at("images")}, {"labels", labels}, {"split", inputs.at("split")}},
                     small),
      Catch::Contains("train_subset: judge but the split has no 'judge' rows; give the split step a judge fraction"));
  const auto split =
      test::run_step("split", {{"people", inputs.at("attributes")}}, "{train: 0.5, judge: 0.25, val: 0.0, test: 0.25}")
          .at("split");
  REQUIRE(split.num_rows("judge") > 0);
  std::map<std::string, double> metrics;
  const auto out = test::run_step("vggface", {{"images", inputs.at("images")}, {"labels", labels}, {"split", split}},
                                  small, 1, &metrics);
  CHECK(out.at("history").num_rows("train_loss") == 1);
  CHECK(metrics.count("final_train_accuracy") == 1);
  // Same seed and settings on the split's train rows: other rows, other weights.
  std::string on_train = small;
  on_train.replace(on_train.find("judge"), 5, "train");
  const auto other =
      test::run_step("vggface", {{"images", inputs.at("images")}, {"labels", labels}, {"split", split}}, on_train, 1);
  bool differs = false;
  for (const auto& name : out.at("model").tensor_names()) {
    const auto a = out.at("model").get(name), b = other.at("model").get(name);
    differs = differs || a.sizes() != b.sizes() || !torch::equal(a, b);
  }
  CHECK(differs);
}

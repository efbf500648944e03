#include <hdf5.h>

#include <torch/torch.h>
#include <catch2/catch.hpp>

#include <vggface/attribute_net.hpp>
#include <vggface/preprocessing.hpp>
#include <vggface/vgg_face.hpp>
#include "facet/module_artifact.hpp"
#include "keras_fixture.hpp"
#include "keras_weights.hpp"
#include "test_support.hpp"

using namespace facet;
namespace fs = std::filesystem;
using vggface::VggFace;
using vggface::VggFaceOptions;

namespace facet::vggface::test {

KerasLayers random_vggface(std::int64_t size, std::int64_t base, std::int64_t fc, std::int64_t identities) {
  torch::manual_seed(5);
  KerasLayers layers;
  const std::vector<std::pair<int, std::int64_t>> blocks = {
      {2, base}, {2, 2 * base}, {3, 4 * base}, {3, 8 * base}, {3, 8 * base}};
  std::int64_t in = 3;
  for (size_t b = 0; b < blocks.size(); ++b) {
    for (int c = 1; c <= blocks[b].first; ++c) {
      const auto out = blocks[b].second;
      layers.push_back({fmt::format("conv{}_{}", b + 1, c),
                        {torch::randn({3, 3, in, out}) * std::sqrt(2.0 / (9.0 * in)), torch::randn({out}) * 0.1}});
      in = out;
    }
  }
  const auto spatial = size / 32;
  layers.push_back(
      {"fc6",
       {torch::randn({spatial * spatial * in, fc}) / std::sqrt(spatial * spatial * in), torch::randn({fc}) * 0.1}});
  layers.push_back({"fc7", {torch::randn({fc, fc}) / std::sqrt(fc), torch::randn({fc}) * 0.1}});
  layers.push_back({"fc8", {torch::randn({fc, identities}) / std::sqrt(fc), torch::randn({identities}) * 0.1}});
  return layers;
}

namespace {
void write_strings(hid_t object, const std::string& name, const std::vector<std::string>& values) {
  size_t width = 1;
  for (const auto& v : values) width = std::max(width, v.size());
  std::vector<char> buffer(values.size() * width, '\0');
  for (size_t i = 0; i < values.size(); ++i) std::copy(values[i].begin(), values[i].end(), buffer.begin() + i * width);
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, width);
  H5Tset_strpad(type, H5T_STR_NULLPAD);  // numpy's 'S' arrays, as Keras writes them
  const hsize_t dims[1] = {values.size()};
  const hid_t space = H5Screate_simple(1, dims, nullptr);
  const hid_t attr = H5Acreate2(object, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (!values.empty()) H5Awrite(attr, type, buffer.data());
  H5Aclose(attr);
  H5Sclose(space);
  H5Tclose(type);
}

}  // namespace

void write_keras(const fs::path& path, const KerasLayers& layers, KerasStyle style) {
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t root = style.whole_model ? H5Gcreate2(file, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                                       : H5Gopen2(file, "/", H5P_DEFAULT);
  std::vector<std::string> names = {"input_1"};
  for (const auto& [name, arrays] : layers) {
    names.push_back(name);
    if (name.rfind("conv", 0) == 0 && name.back() == (name[4] <= '2' ? '2' : '3'))
      names.push_back("pool" + name.substr(4, 1));
  }
  names.insert(names.end() - 3, "flatten");
  if (style.split_names) {
    const auto half = static_cast<std::ptrdiff_t>(names.size() / 2);
    write_strings(root, "layer_names0", {names.begin(), names.begin() + half});
    write_strings(root, "layer_names1", {names.begin() + half, names.end()});
  } else {
    write_strings(root, "layer_names", names);
  }
  const hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  for (const auto& name : names) {
    const hid_t group = H5Gcreate2(root, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    std::vector<std::string> weight_names;
    for (const auto& [layer, arrays] : layers) {
      if (layer != name) continue;
      weight_names = style.keras1 ? std::vector<std::string>{name + "_W", name + "_b"}
                                  : std::vector<std::string>{name + "/kernel:0", name + "/bias:0"};
      for (size_t k = 0; k < 2; ++k) {
        const auto t = arrays[k].contiguous();
        const std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
        const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
        const hid_t ds =
            H5Dcreate2(group, weight_names[k].c_str(), H5T_IEEE_F32LE, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr());
        H5Dclose(ds);
        H5Sclose(space);
      }
    }
    write_strings(group, "weight_names", weight_names);
    H5Gclose(group);
  }
  H5Pclose(lcpl);
  H5Gclose(root);
  H5Fclose(file);
}

}  // namespace facet::vggface::test

namespace {
using vggface::test::KerasLayers;
using vggface::test::KerasStyle;
using vggface::test::random_vggface;
using vggface::test::write_keras;

/// VGG-Face computed straight from the Keras arrays, channels-last as Keras
/// does: no LibTorch module, no layout conversion.
torch::Tensor keras_forward(const KerasLayers& layers, torch::Tensor x_nchw) {
  auto x = x_nchw.permute({0, 2, 3, 1});  // NHWC
  for (const auto& [name, arrays] : layers) {
    const auto& kernel = arrays[0];
    const auto& bias = arrays[1];
    if (kernel.dim() == 4) {
      const auto h = x.size(1), w = x.size(2);
      const auto padded = torch::constant_pad_nd(x, {0, 0, 1, 1, 1, 1});
      auto out = torch::zeros({x.size(0), h, w, kernel.size(3)});
      for (int dy = 0; dy < 3; ++dy) {
        for (int dx = 0; dx < 3; ++dx)
          out += torch::matmul(padded.slice(1, dy, dy + h).slice(2, dx, dx + w), kernel[dy][dx]);
      }
      x = torch::relu(out + bias);
      const bool last_in_block =
          name == "conv1_2" || name == "conv2_2" || name == "conv3_3" || name == "conv4_3" || name == "conv5_3";
      if (last_in_block) x = x.reshape({x.size(0), x.size(1) / 2, 2, x.size(2) / 2, 2, x.size(3)}).amax({2, 4});
    } else {
      if (x.dim() == 4) x = x.reshape({x.size(0), -1});  // Keras' Flatten: height, width, channel
      x = torch::matmul(x, kernel) + bias;
      if (name != "fc8") x = torch::relu(x);
    }
  }
  return x;
}

}  // namespace

TEST_CASE("vggface_import: a Keras VGG-Face file gives the network Keras' own outputs", "[vggface][keras]") {
  const auto dir = test::temp_dir("keras");
  const auto layers = random_vggface(64, 8, 512, 10);
  const auto x = torch::randn({2, 3, 64, 64}) * 50;
  const auto expected = keras_forward(layers, x);
  for (const auto& style :
       {KerasStyle{false, false, false}, KerasStyle{true, false, false}, KerasStyle{false, true, true}}) {
    INFO("keras1 " << style.keras1 << " whole model " << style.whole_model << " split names " << style.split_names);
    const auto file = dir / "vggface.h5";
    write_keras(file, layers, style);
    const auto options = vggface::keras_architecture(file);
    CHECK(options.input_size() == 64);
    CHECK(options.width() == 0.125);
    CHECK(options.identities() == 10);
    VggFace net(options);
    vggface::load_keras_weights(*net, file);
    net->eval();
    torch::NoGradGuard no_grad;
    CHECK(torch::allclose(net->forward(x, "fc8"), expected, 1e-4, 1e-3));
  }
  // The step: the same numbers as a model artifact.
  const auto model =
      test::run_step("vggface_import", {}, fmt::format("{{file: '{}'}}", (dir / "vggface.h5").string())).at("model");
  CHECK(model.attr_string("preprocessing") == "vggface");
  CHECK(model.attr_int("identities") == 10);
  VggFace net(VggFaceOptions::load(model));
  Artifact weights;
  for (const auto& name : model.tensor_names()) weights.set(name.substr(9), model.get(name));
  facet::load_module(*net, weights, "test");
  net->eval();
  torch::NoGradGuard no_grad;
  CHECK(torch::allclose(net->forward(x, "fc8"), expected, 1e-4, 1e-3));
}

TEST_CASE("vggface_import: a missing layer or a wrong shape names the layer and both shapes", "[vggface][keras]") {
  const auto dir = test::temp_dir("keras-errors");
  auto layers = random_vggface(64, 8, 512, 10);
  write_keras(dir / "ok.h5", layers, {});
  VggFace wider(VggFaceOptions().input_size(64).width(0.25).identities(10));
  CHECK_THROWS_WITH(
      vggface::load_keras_weights(*wider, dir / "ok.h5"),
      Catch::Contains("layer 'conv1_1' has kernel [8, 3, 3, 3]") && Catch::Contains("expects [16, 3, 3, 3]"));
  layers.erase(layers.begin() + 5);  // conv3_2
  write_keras(dir / "gap.h5", layers, {});
  VggFace net(VggFaceOptions().input_size(64).width(0.125).identities(10));
  CHECK_THROWS_WITH(vggface::load_keras_weights(*net, dir / "gap.h5"), Catch::Contains("layer 'conv3_2' is missing"));
  test::write_text(dir / "not.h5", "hello");
  CHECK_THROWS_WITH(vggface::keras_architecture(dir / "not.h5"), Catch::Contains("not an HDF5 file"));
}

TEST_CASE("extract: the features of an imported VGG-Face backbone, without heads or predictions", "[vggface][keras]") {
  const auto dir = test::temp_dir("keras-extract");
  write_keras(dir / "vggface.h5", random_vggface(64, 8, 512, 10), KerasStyle{false, false, false});
  const auto model =
      test::run_step("vggface_import", {}, fmt::format("{{file: '{}', fc8: false}}", (dir / "vggface.h5").string()))
          .at("model");
  torch::manual_seed(5);
  Artifact images;
  images.set("images", torch::randint(0, 256, {5, 3, 64, 64}, torch::kUInt8));
  const auto out =
      test::run_step("extract", {{"model", model}, {"images", images}}, "{layer: fc7, batch_size: 2, precision: fp32}");
  const auto features = out.at("features").get("features");
  CHECK(out.at("predictions").get("classes").sizes() == torch::IntArrayRef({5, 0}));

  VggFace net(VggFaceOptions::load(model));
  vggface::load_backbone(*net, model, "test");
  net->eval();
  torch::NoGradGuard no_grad;
  std::mt19937_64 rng(1);
  const auto x = vggface::preprocess(images.get("images"), {"vggface", 64, false}, rng);
  CHECK(torch::allclose(features, net->forward(x, "fc7"), 1e-4, 1e-4));
}

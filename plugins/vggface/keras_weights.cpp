#include "keras_weights.hpp"

#include <hdf5.h>

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facet/artifact_file.hpp"
#include "facet/errors.hpp"

namespace facet::vggface {
namespace fs = std::filesystem;

namespace {

/// Closes an HDF5 identifier with the given function.
struct Id {
  hid_t id;
  herr_t (*close)(hid_t);
  explicit Id(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  ~Id() {
    if (id >= 0) close(id);
  }
};

/// A string-array attribute (numpy 'S' fixed-length or variable-length).
std::vector<std::string> read_strings(hid_t object, const std::string& name, const std::string& where) {
  Id attr(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose);
  if (attr.id < 0) throw facet::Error(fmt::format("{}: cannot read attribute '{}'", where, name));
  Id type(H5Aget_type(attr.id), H5Tclose);
  Id space(H5Aget_space(attr.id), H5Sclose);
  const auto count = static_cast<size_t>(H5Sget_simple_extent_npoints(space.id));
  std::vector<std::string> out;
  if (H5Tget_class(type.id) != H5T_STRING)
    throw facet::Error(fmt::format("{}: attribute '{}' is not text", where, name));
  if (H5Tis_variable_str(type.id) > 0) {
    std::vector<char*> ptrs(count, nullptr);
    Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.id, H5T_VARIABLE);
    H5Aread(attr.id, mem.id, ptrs.data());
    for (char* p : ptrs) out.emplace_back(p != nullptr ? p : "");
    H5Dvlen_reclaim(mem.id, space.id, H5P_DEFAULT, ptrs.data());
  } else {
    const size_t size = H5Tget_size(type.id);
    std::vector<char> buffer(count * size);
    H5Aread(attr.id, type.id, buffer.data());
    for (size_t i = 0; i < count; ++i) {
      const char* s = buffer.data() + i * size;
      out.emplace_back(s, strnlen(s, size));
    }
  }
  return out;
}

/// `name` or its chunks name0, name1, ... (Keras splits attributes over 64 KB).
std::vector<std::string> read_split_strings(hid_t object, const std::string& name, const std::string& where) {
  if (H5Aexists(object, name.c_str()) > 0) return read_strings(object, name, where);
  std::vector<std::string> out;
  for (int k = 0; H5Aexists(object, fmt::format("{}{}", name, k).c_str()) > 0; ++k) {
    auto part = read_strings(object, fmt::format("{}{}", name, k), where);
    out.insert(out.end(), part.begin(), part.end());
  }
  if (out.empty()) {
    throw facet::Error(
        fmt::format("{}: no attribute '{}': not a Keras weights file (saved with save_weights or save)", where, name));
  }
  return out;
}

torch::Tensor read_dataset(hid_t group, const std::string& name, const std::string& where) {
  Id ds(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (ds.id < 0) throw facet::Error(fmt::format("{}: weight '{}' is listed but missing", where, name));
  Id space(H5Dget_space(ds.id), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.id);
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
  auto t = torch::empty(std::vector<std::int64_t>(dims.begin(), dims.end()), torch::kFloat32);
  if (H5Dread(ds.id, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()) < 0) {
    throw facet::Error(fmt::format("{}: cannot read weight '{}'", where, name));
  }
  return t;
}

std::string shape_text(const torch::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

/// Kernel and bias of one layer, converted to LibTorch's layout.
void copy_layer(const std::string& layer, const std::vector<torch::Tensor>& arrays, torch::Tensor weight,
                torch::Tensor bias, const fs::path& path, std::int64_t fc6_spatial) {
  if (arrays.size() != 2) {
    throw facet::Error(fmt::format("{}: layer '{}' holds {} arrays, expected a kernel and a bias", path.string(), layer,
                                   arrays.size()));
  }
  torch::Tensor kernel = arrays[0], b = arrays[1];
  if (kernel.dim() == 4) {
    kernel = kernel.permute({3, 2, 0, 1});  // (kh, kw, in, out) -> (out, in, kh, kw)
  } else if (kernel.dim() == 2 && fc6_spatial > 0 && weight.dim() == 2 && kernel.size(0) == weight.size(1)) {
    // fc6: rows are (h, w, c) positions in Keras' flatten, (c, h, w) in LibTorch's.
    const auto s = fc6_spatial, c = kernel.size(0) / (s * s);
    kernel = kernel.reshape({s, s, c, kernel.size(1)}).permute({2, 0, 1, 3}).reshape({c * s * s, -1}).t();
  } else if (kernel.dim() == 2) {
    kernel = kernel.t();
  }
  if (kernel.sizes() != weight.sizes() || b.sizes() != bias.sizes()) {
    throw facet::Error(
        fmt::format("{}: layer '{}' has kernel {} and bias {} (in LibTorch's layout); the network expects {} and {}",
                    path.string(), layer, shape_text(kernel), shape_text(b), shape_text(weight), shape_text(bias)));
  }
  torch::NoGradGuard no_grad;
  weight.copy_(kernel);
  bias.copy_(b);
}

}  // namespace

std::map<std::string, std::vector<torch::Tensor>> read_keras_weights(const fs::path& path) {
  if (!fs::exists(path)) throw facet::Error(fmt::format("{}: no such file", path.string()));
  facet::init_hdf5();
  Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (file.id < 0) throw facet::Error(fmt::format("{}: not an HDF5 file", path.string()));
  // A whole-model save keeps the weights under model_weights/.
  const bool nested = H5Lexists(file.id, "model_weights", H5P_DEFAULT) > 0;
  Id root(H5Gopen2(file.id, nested ? "model_weights" : "/", H5P_DEFAULT), H5Gclose);
  const std::string where = path.string();
  std::map<std::string, std::vector<torch::Tensor>> layers;
  for (const auto& layer : read_split_strings(root.id, "layer_names", where)) {
    Id group(H5Gopen2(root.id, layer.c_str(), H5P_DEFAULT), H5Gclose);
    if (group.id < 0) throw facet::Error(fmt::format("{}: layer '{}' is listed but has no group", where, layer));
    std::vector<std::string> weights;
    if (H5Aexists(group.id, "weight_names") > 0) weights = read_strings(group.id, "weight_names", where);
    for (const auto& w : weights) layers[layer].push_back(read_dataset(group.id, w, where + ":" + layer));
  }
  return layers;
}

VggFaceOptions keras_architecture(const fs::path& path) {
  const auto layers = read_keras_weights(path);
  auto need = [&](const char* name) -> const std::vector<torch::Tensor>& {
    const auto it = layers.find(name);
    if (it == layers.end() || it->second.empty()) {
      throw facet::Error(fmt::format("{}: no layer '{}' with weights (VGG-Face has conv1_1 ... conv5_3, fc6, fc7, fc8)",
                                     path.string(), name));
    }
    return it->second;
  };
  const auto conv1 = need("conv1_1")[0], conv5 = need("conv5_3")[0], fc6 = need("fc6")[0];
  const double width = static_cast<double>(conv1.size(3)) / 64.0;
  const auto spatial = static_cast<std::int64_t>(std::lround(std::sqrt(fc6.size(0) / conv5.size(3))));
  auto options = VggFaceOptions().input_size(spatial * 32).width(width).batch_norm(false);
  const auto fc8 = layers.find("fc8");
  if (fc8 != layers.end() && !fc8->second.empty()) options.identities(fc8->second[0].size(1));
  return options;
}

void load_keras_weights(VggFaceImpl& net, const fs::path& path) {
  if (net.options().batch_norm()) {
    throw facet::Error(fmt::format("{}: VGG-Face has no batch normalisation; build the network with batch_norm: false",
                                   path.string()));
  }
  const auto layers = read_keras_weights(path);
  const auto modules = net.named_children();
  const std::int64_t spatial = net.options().input_size() / 32;
  for (const auto& name : layer_names()) {
    if (!modules.contains(name)) continue;  // fc8 when the network has no identities
    const auto it = layers.find(name);
    if (it == layers.end()) {
      std::vector<std::string> present;
      for (const auto& [layer, arrays] : layers) {
        if (!arrays.empty()) present.push_back(layer);
      }
      throw facet::Error(fmt::format("{}: layer '{}' is missing (layers with weights in the file: {})", path.string(),
                                     name, fmt::join(present, ", ")));
    }
    auto params = modules[name]->named_parameters();
    copy_layer(name, it->second, params["weight"], params["bias"], path, name == "fc6" ? spatial : 0);
  }
}

}  // namespace facet::vggface

#pragma once

// Test fixture: VGG-Face weight files in the exact Keras layout, with random
// values (defined in test_keras_weights.cpp).

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace facet::vggface::test {

/// Layer name -> [kernel, bias] in Keras' layout: conv (kh, kw, in, out),
/// dense (in, out), fc6's rows in height-width-channel order.
using KerasLayers = std::vector<std::pair<std::string, std::vector<torch::Tensor>>>;

/// VGG-Face for `size` px input with `base` channels in conv1 and `fc`-wide fc6/fc7.
KerasLayers random_vggface(std::int64_t size, std::int64_t base, std::int64_t fc, std::int64_t identities);

struct KerasStyle {
  bool keras1 = false;       ///< conv1_1_W / conv1_1_b instead of conv1_1/kernel:0
  bool whole_model = false;  ///< under model_weights/
  bool split_names = false;  ///< layer_names0, layer_names1
};

void write_keras(const std::filesystem::path& path, const KerasLayers& layers, KerasStyle style);

}  // namespace facet::vggface::test

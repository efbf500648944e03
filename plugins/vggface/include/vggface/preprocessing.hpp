#pragma once

// How uint8 images become the network's input.

#include <cstdint>
#include <random>
#include <string>

#include <torch/torch.h>

namespace facet::vggface {

/// How uint8 images become network input.
struct Preprocessing {
  std::string mode = "unit";     ///< unit: RGB scaled to [-1, 1]; vggface: BGR minus VGG-Face's mean pixel
  std::int64_t input_size = 64;  ///< images of another size are resized (bilinear)
  bool augment = false;          ///< random crop (4 px padding at 64 px, scaled) and horizontal flip
};

/// uint8 [B, 3, S, S] RGB to float network input.
torch::Tensor preprocess(const torch::Tensor& images, const Preprocessing& p, std::mt19937_64& rng);

}  // namespace facet::vggface

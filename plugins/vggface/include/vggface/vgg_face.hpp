#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "facet/artifact.hpp"

namespace facet::vggface {

/// Architecture of the VGG-Face network (VGG-16 with VGG-Face's layer names).
struct VggFaceOptions {
  /// Input width and height in pixels, at least 32 (224 in VGG-Face). Each
  /// 2x2 pooling rounds down: fc6 sees floor(size / 32) squared positions.
  TORCH_ARG(std::int64_t, input_size) = 224;
  /// Multiplies every layer's width (1.0: 64 ... 512 channels, 4096-wide fc6/fc7).
  TORCH_ARG(double, width) = 1.0;
  /// Batch normalisation after each convolution (not in VGG-Face; helps training from scratch).
  TORCH_ARG(bool, batch_norm) = false;
  /// Batch normalisation after fc6 and fc7 too: trained from scratch without
  /// it, most seeds leave conv5_3 largely silent and stall on shape attributes.
  TORCH_ARG(bool, fc_batch_norm) = false;
  /// Dropout after fc6 and fc7.
  TORCH_ARG(double, dropout) = 0.5;
  /// Outputs of fc8 (2622 identities in VGG-Face); 0 leaves fc8 out.
  TORCH_ARG(std::int64_t, identities) = 0;
  /// Convolutions on channels-last (NHWC) tensors: the same numbers up to
  /// float rounding, faster on the CPU (bench/precision.sh). Not part of the
  /// architecture: not saved, models load either way.
  TORCH_ARG(bool, channels_last) = true;

 public:  // TORCH_ARG leaves the section private
  /// The options as artifact attributes, and back.
  void save(facet::Artifact& artifact) const;
  static VggFaceOptions load(const facet::Artifact& artifact);
};

/// Width of fc6 and fc7 for these options (what the heads receive).
std::int64_t fc7_width(const VggFaceOptions& options);

/// Names of the layers in order: conv1_1 ... conv5_3, fc6, fc7 (and fc8).
const std::vector<std::string>& layer_names();

/// VGG-16 as VGG-Face: thirteen 3x3 convolutions with ReLU in five blocks,
/// each followed by 2x2 max pooling, then fc6 and fc7 (ReLU, dropout) and,
/// when identities > 0, fc8.
class VggFaceImpl : public torch::nn::Module {
 public:
  explicit VggFaceImpl(const VggFaceOptions& options);

  /// Activations of `layer` (after its ReLU; "fc7" by default) for a batch
  /// of preprocessed images [B, 3, input_size, input_size].
  torch::Tensor forward(torch::Tensor x, const std::string& layer = "fc7");

  /// Freezes every layer before `first_trainable` (a layer name, "heads"
  /// for all of them, or "all" for none): no gradients, and batch
  /// statistics kept as they are.
  void set_trainable_from(const std::string& first_trainable);
  /// Puts trainable layers in training mode and keeps frozen ones in eval.
  void train(bool on = true) override;

  /// Width of the activations of `layer` (flattened).
  std::int64_t output_size(const std::string& layer) const;
  const VggFaceOptions& options() const { return options_; }

 private:
  struct Layer {
    std::string name;
    torch::nn::Conv2d conv{nullptr};
    torch::nn::BatchNorm2d bn{nullptr};
    torch::nn::Linear fc{nullptr};
    torch::nn::BatchNorm1d fc_bn{nullptr};
    bool pool_after = false;
    bool frozen = false;
  };
  VggFaceOptions options_;
  std::vector<Layer> layers_;
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(VggFace);

}  // namespace facet::vggface

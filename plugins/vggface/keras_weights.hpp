#pragma once

// Imports VGG-Face weights from a Keras HDF5 file as keras-vggface publishes
// them (rcmalli_vggface_tf_vgg16.h5). Layer and weight names are read from
// the file (root attribute `layer_names`, possibly split into layer_names0,
// layer_names1, ...; each layer's `weight_names`), so Keras 1 (conv1_1_W) and
// Keras 2 (conv1_1/kernel:0) files and whole-model saves (under
// model_weights/) all load. Kernels are converted to LibTorch's layout:
// conv (kh, kw, in, out) -> (out, in, kh, kw); dense (in, out) -> (out, in);
// fc6's input is reordered from Keras' height-width-channel flatten to
// LibTorch's channel-height-width one.

#include <filesystem>
#include <map>
#include <string>

#include <torch/torch.h>

#include <vggface/vgg_face.hpp>

namespace facet::vggface {

/// Every layer's arrays as stored: layer -> [kernel, bias].
std::map<std::string, std::vector<torch::Tensor>> read_keras_weights(const std::filesystem::path& path);

/// Copies a Keras VGG-Face file into `net` (conv1_1 ... fc7, and fc8 when the
/// network has identities). A missing layer or a shape mismatch is an error
/// naming the layer and both shapes.
void load_keras_weights(VggFaceImpl& net, const std::filesystem::path& path);

/// The architecture a Keras file holds: input size from fc6, width from
/// conv1_1, identities from fc8.
VggFaceOptions keras_architecture(const std::filesystem::path& path);

}  // namespace facet::vggface

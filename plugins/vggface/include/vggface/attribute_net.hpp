#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include <vggface/attribute_heads.hpp>
#include <vggface/vgg_face.hpp>
#include "facet/artifact.hpp"

namespace facet::vggface {

/// The attribute classifier: the VGG-Face backbone up to fc7, with fc8
/// replaced by attribute heads.
class AttributeNetImpl : public torch::nn::Module {
 public:
  AttributeNetImpl(const VggFaceOptions& backbone, const AttributeHeadsOptions& heads);
  /// Head logits [B, sum(num_classes)] of preprocessed images.
  torch::Tensor forward(const torch::Tensor& x) { return heads->forward(backbone->forward(x, "fc7")); }

  VggFace backbone{nullptr};
  AttributeHeads heads{nullptr};
};
TORCH_MODULE(AttributeNet);

/// The model as an artifact: weights plus every option needed to rebuild it.
facet::Artifact save_attribute_net(AttributeNet& net, const std::string& preprocessing,
                                   const std::vector<std::string>& head_names);
/// Rebuilds the network of a model artifact and loads its weights.
AttributeNet load_attribute_net(const facet::Artifact& model, const std::string& what);

/// True for a model with attribute heads (vggface); false for a backbone
/// alone (vggface_import).
bool has_attribute_heads(const facet::Artifact& model);

/// Loads the backbone.* weights of a model artifact (vggface or
/// vggface_import) into `backbone`, of the same architecture.
void load_backbone(VggFaceImpl& backbone, const facet::Artifact& model, const std::string& what);

}  // namespace facet::vggface

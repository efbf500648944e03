#include <vggface/attribute_net.hpp>

#include "facet/module_artifact.hpp"

namespace facet::vggface {

AttributeNetImpl::AttributeNetImpl(const VggFaceOptions& backbone_options, const AttributeHeadsOptions& heads_options) {
  backbone = register_module("backbone", VggFace(backbone_options));
  heads = register_module("heads", AttributeHeads(heads_options));
}

facet::Artifact save_attribute_net(AttributeNet& net, const std::string& preprocessing,
                                   const std::vector<std::string>& head_names) {
  auto model = facet::module_to_artifact(*net);
  net->backbone->options().save(model);
  net->heads->options().save(model);
  model.set_attr("preprocessing", preprocessing);
  model.set_attr("head_names", head_names);
  return model;
}

AttributeNet load_attribute_net(const facet::Artifact& model, const std::string& what) {
  AttributeNet net(VggFaceOptions::load(model), AttributeHeadsOptions::load(model));
  facet::load_module(*net, model, what);
  net->eval();
  return net;
}

bool has_attribute_heads(const facet::Artifact& model) { return model.has_attr("heads_in_features"); }

void load_backbone(VggFaceImpl& backbone, const facet::Artifact& model, const std::string& what) {
  facet::Artifact prefixed;  // the model artifact names them backbone.*
  for (const auto& name : model.tensor_names()) {
    if (name.rfind("backbone.", 0) == 0) prefixed.set(name.substr(9), model.get(name));
  }
  facet::load_module(backbone, prefixed, what);
}

}  // namespace facet::vggface

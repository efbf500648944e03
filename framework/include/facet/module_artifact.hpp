#pragma once

#include <string>

#include <torch/nn/module.h>

#include "facet/artifact.hpp"
#include "facet/export.hpp"

namespace facet {

/// A trained model as an artifact: every parameter and buffer as a tensor
/// named by its path in the module ("features.conv1_1.weight"). The caller
/// adds the architecture config as attributes, so a downstream step can
/// rebuild the module and load the weights (load_module).
FACET_API Artifact module_to_artifact(const torch::nn::Module& module);

/// Copies the artifact's tensors into the module's parameters and buffers.
/// Every parameter and buffer must be present with its exact shape; the
/// error names the first that is missing or mis-shaped and both shapes.
/// `what` names the model in messages ("model from step 'backbone'").
FACET_API void load_module(torch::nn::Module& module, const Artifact& weights, const std::string& what);

}  // namespace facet

#include "facet/module_artifact.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "facet/errors.hpp"

namespace facet {

Artifact module_to_artifact(const torch::nn::Module& module) {
  Artifact out;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) out.set(p.key(), p.value().detach().cpu().clone());
  for (const auto& b : module.named_buffers(/*recurse=*/true)) out.set(b.key(), b.value().detach().cpu().clone());
  return out;
}

void load_module(torch::nn::Module& module, const Artifact& weights, const std::string& what) {
  torch::NoGradGuard no_grad;
  auto copy = [&](const std::string& name, torch::Tensor& target) {
    if (!weights.has(name)) {
      throw Error(
          fmt::format("{}: no tensor '{}' for the module (its tensors: {} in all); was it saved by another "
                      "architecture?",
                      what, name, weights.tensor_names().size()));
    }
    const auto shape = weights.shape(name);
    if (torch::IntArrayRef(shape) != target.sizes()) {
      throw Error(fmt::format("{}: '{}' has shape [{}], the module expects [{}]", what, name, fmt::join(shape, ", "),
                              fmt::join(target.sizes(), ", ")));
    }
    target.copy_(weights.get(name).to(target.dtype()));
  };
  for (auto& p : module.named_parameters(true)) copy(p.key(), p.value());
  for (auto& b : module.named_buffers(true)) copy(b.key(), b.value());
}

}  // namespace facet

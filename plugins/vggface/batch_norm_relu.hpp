#pragma once

// relu(batch_norm(x)) for channels-last activations on the CPU, fused: one
// pass over the data for the statistics and one for the output, two for the
// gradient. LibTorch 1.13's own batch norm on channels-last bfloat16 took
// over a third of the backbone's training step, more than its convolutions.

#include <torch/torch.h>

namespace facet::vggface {

/// relu(bn(x)), with `bn`'s semantics: batch statistics and running averages
/// in training, running statistics in evaluation. Fused where `x` is a 4-D
/// channels-last CPU tensor in float32, float64 or bfloat16 (bfloat16 under
/// autocast, with float32 weights and statistics) and `bn` is affine and
/// tracks running statistics; `relu_(bn(x))` elsewhere.
torch::Tensor batch_norm_relu(const torch::Tensor& x, torch::nn::BatchNorm2dImpl& bn);

}  // namespace facet::vggface

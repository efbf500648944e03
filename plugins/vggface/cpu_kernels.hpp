#pragma once

// VGG-Face's layers between convolutions, for channels-last activations on
// the CPU. LibTorch 1.13's own batch norm on channels-last bfloat16 took over
// a third of the backbone's training step, more than its convolutions; its
// channels-last bfloat16 max pooling takes four times float32's.

#include <torch/torch.h>

namespace facet::vggface {

/// relu(bn(x)), with `bn`'s semantics: batch statistics and running averages
/// in training, running statistics in evaluation. Fused where `x` is a 4-D
/// channels-last CPU tensor in float32, float64 or bfloat16 (bfloat16 under
/// autocast, with float32 weights and statistics) and `bn` is affine and
/// tracks running statistics; `relu_(bn(x))` elsewhere.
/// One pass over the data for the statistics and one for the output, two for the gradient.
torch::Tensor batch_norm_relu(const torch::Tensor& x, torch::nn::BatchNorm2dImpl& bn);

/// max_pool2d(x, 2). Runs its own loops where no gradient is wanted (feature
/// extraction, evaluation) and `x` is a 4-D channels-last CPU tensor in
/// float32, float64 or bfloat16; LibTorch's elsewhere. (Its own gradient,
/// finding each window's maximum again, trained slower than LibTorch's
/// from saved indices.)
torch::Tensor max_pool_2x2(const torch::Tensor& x);

}  // namespace facet::vggface

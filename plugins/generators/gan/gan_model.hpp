#pragma once

// A conditional DCGAN (Radford et al. 2016) conditioned as in Gauthier 2014
// and IcGAN (Perarnau et al. 2016): the condition vector joins the noise at
// the generator's input and the discriminator's feature maps after its first
// layer. Stabilisers: one-sided label smoothing, Adam with beta1 = 0.5, and
// optional spectral normalisation (Miyato et al. 2018) of the discriminator.

#include <torch/torch.h>

#include "facet/group.hpp"

namespace facet::generators::gan {

struct GanOptions {
  TORCH_ARG(std::int64_t, size) = 32;  ///< image width and height: a power of two, at least 16
  TORCH_ARG(std::int64_t, channels) = 3;
  TORCH_ARG(std::int64_t, noise) = 64;      ///< z width
  TORCH_ARG(std::int64_t, width) = 64;      ///< channels at the largest scale; doubled at each smaller one
  TORCH_ARG(std::int64_t, condition) = 0;   ///< condition vector width (0: unconditioned)
  TORCH_ARG(std::int64_t, embedding) = 32;  ///< condition maps the discriminator sees after its first layer
  TORCH_ARG(bool, spectral_norm) = true;    ///< discriminator weights divided by their largest singular value
};

/// A convolution whose weight is divided by its spectral norm, estimated by
/// one power iteration per training forward pass (a persistent vector u).
class SNConv2dImpl : public torch::nn::Module {
 public:
  SNConv2dImpl(const torch::nn::Conv2dOptions& options, bool normalise);
  torch::Tensor forward(const torch::Tensor& x);
  /// The weight actually applied.
  torch::Tensor effective_weight();

 private:
  torch::nn::Conv2d conv_{nullptr};
  bool normalise_;
  torch::Tensor u_;
};
TORCH_MODULE(SNConv2d);

/// torch::nn::ConvTranspose2d (same parameters, "weight" [in, out, k, k] and
/// "bias", same result) computed as the adjoint of a convolution: the forward
/// pass is a convolution's input gradient, the backward pass a convolution and
/// a convolution's weight gradient. On a CPU LibTorch 1.13 runs these on
/// oneDNN but a transposed convolution on its slower im2col path (1.3 to 2.3
/// times as long forward at the generator's sizes). Dilation, groups and
/// output padding are not supported.
class TransposedConv2dImpl : public torch::nn::Module {
 public:
  explicit TransposedConv2dImpl(const torch::nn::ConvTranspose2dOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;  ///< bias undefined when options.bias() is false

 private:
  std::int64_t stride_, padding_;
};
TORCH_MODULE(TransposedConv2d);

/// z [B, noise] and condition [B, condition] -> images [B, C, S, S] in [-1, 1].
class GeneratorImpl : public torch::nn::Module {
 public:
  explicit GeneratorImpl(const GanOptions& options);
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& condition);

 private:
  GanOptions options_;
  torch::nn::Linear project_{nullptr};
  torch::nn::BatchNorm1d project_norm_{nullptr};
  torch::nn::Sequential upsample_{nullptr};
};
TORCH_MODULE(Generator);

/// images [B, C, S, S] in [-1, 1] and condition -> real/fake logits [B].
class DiscriminatorImpl : public torch::nn::Module {
 public:
  explicit DiscriminatorImpl(const GanOptions& options);
  torch::Tensor forward(const torch::Tensor& images, const torch::Tensor& condition);

 private:
  GanOptions options_;
  SNConv2d first_{nullptr};
  torch::nn::Linear embed_{nullptr};
  torch::nn::Sequential rest_{nullptr};
};
TORCH_MODULE(Discriminator);

/// Both networks, so one artifact holds the whole model.
class GanImpl : public torch::nn::Module {
 public:
  explicit GanImpl(const GanOptions& options);
  Generator generator{nullptr};
  Discriminator discriminator{nullptr};
  const GanOptions& options() const { return options_; }
  /// `count` faces in [0, 1] for condition vectors [count, condition] (undefined when unconditioned).
  torch::Tensor sample(const torch::Tensor& condition, std::int64_t count);

 private:
  GanOptions options_;
};
TORCH_MODULE(Gan);

struct TrainingOptions {
  TORCH_ARG(double, lr) = 2e-4;
  TORCH_ARG(double, beta1) = 0.5;
  TORCH_ARG(double, real_label) = 0.9;  ///< one-sided label smoothing: real targets, fakes stay 0
  /// Matching-aware discriminator (Reed et al., 2016): real faces shown with
  /// another face's condition are fakes too, so D checks the condition.
  TORCH_ARG(bool, mismatch) = true;
  /// fp32 or bf16: the forward passes under facet::Autocast, one scope each
  /// (a scope's cached bfloat16 weights must not outlive an update).
  TORCH_ARG(std::string, precision) = "fp32";
};

/// One step's losses as 0-d tensors on the model's device (read them when
/// needed: reading waits for the device). In a data-parallel step, each
/// rank's share of the batch's values: their sum over the ranks is the batch's.
struct StepLosses {
  torch::Tensor discriminator, generator;
  torch::Tensor real_score, fake_score;  ///< mean D(x) and D(G(z)) as probabilities, before the updates
};

/// Adam for each network and one training step: a discriminator update on
/// real faces and fresh fakes, then a generator update through it.
class Trainer {
 public:
  /// Data-parallel over `group`: both networks start from rank 0's weights.
  Trainer(Gan gan, const TrainingOptions& options, facet::Group& group = facet::single_process());
  /// `real` [B, C, S, S] in [0, 1]; `condition` [B, condition] or undefined.
  /// `batch_rows`: the rows of the whole batch over every rank (0: B); each
  /// rank's losses are weighted by its share so the gradients sum to the batch's.
  StepLosses step(const torch::Tensor& real, const torch::Tensor& condition, std::int64_t batch_rows = 0);
  /// Every rank gets rank 0's batch statistics (call before sampling).
  void share_buffers();
  torch::Tensor discriminator_loss(const torch::Tensor& real, const torch::Tensor& fake,
                                   const torch::Tensor& condition);
  torch::Tensor generator_loss(const torch::Tensor& fake, const torch::Tensor& condition);
  torch::optim::Adam& discriminator_optimizer() { return d_opt_; }
  torch::optim::Adam& generator_optimizer() { return g_opt_; }

 private:
  struct Verdicts {
    torch::Tensor loss, d_real, d_fake;
  };
  /// D's loss on real faces (images in [-1, 1]) and fakes under `condition`.
  Verdicts discriminate(const torch::Tensor& real, const torch::Tensor& fake, const torch::Tensor& condition);

  Gan gan_;
  TrainingOptions options_;
  torch::optim::Adam d_opt_, g_opt_;
  facet::GradientSum d_sum_, g_sum_;
};

}  // namespace facet::generators::gan

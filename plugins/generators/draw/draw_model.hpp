#pragma once

// DRAW (Gregor, Danihelka, Graves, Rezende, Wierstra 2015): a recurrent VAE
// that builds an image on a canvas over T glimpses, reading and writing
// through N x N grids of Gaussian filters, conditioned as the DeepFace seed
// proposes: the LSTM states start from a learned projection of a
// conditioning vector (fc7 features or attributes).

#include <vector>

#include <torch/torch.h>

namespace facet::generators::draw {

/// Gaussian filterbanks along one image axis, [B, N, size]: row i is a
/// Gaussian centred at mu_i = g + (i - N/2 - 0.5) delta over pixel positions
/// a = 1 ... size, with exponent -(a - mu_i)^2 / (2 sigma^2), normalised to
/// sum to one over a. `centre`, `delta` and `sigma2` are [B].
torch::Tensor filterbank(const torch::Tensor& centre, const torch::Tensor& delta, const torch::Tensor& sigma2,
                         std::int64_t n, std::int64_t size);

/// The five attention parameters of the paper, already transformed: grid
/// centre (gx, gy) in pixels, stride delta, variance sigma^2, intensity gamma.
struct Attention {
  torch::Tensor gx, gy, delta, sigma2, gamma;  ///< each [B]
  /// From the raw linear outputs [B, 5] (g~x, g~y, log sigma^2, log delta~, log gamma),
  /// in float32 even where autocast gave those in bfloat16.
  static Attention from_raw(const torch::Tensor& raw, std::int64_t width, std::int64_t height, std::int64_t n);
};

/// glimpse = gamma Fy x Fx^T per channel: images [B, C, H, W] -> [B, C, N, N].
torch::Tensor read_glimpse(const torch::Tensor& images, const Attention& a, std::int64_t n);
/// canvas update = (1 / gamma) Fy^T w Fx per channel: patches [B, C, N, N] -> [B, C, H, W].
torch::Tensor write_patch(const torch::Tensor& patches, const Attention& a, std::int64_t height, std::int64_t width);

/// KL(N(mu, sigma^2) || N(0, 1)) summed over latent dimensions: [B].
torch::Tensor gaussian_kl(const torch::Tensor& mu, const torch::Tensor& log_sigma);

/// Negative log-likelihood in nats of `count` pixel values under Gaussians
/// around their reconstructions, with the one standard deviation that fits
/// the errors best (sigma^2 = squared_error_sum / count, Rybkin et al. 2021,
/// "calibrated decoders"), held constant for the gradient. A fixed sigma
/// would weigh reconstruction against the KL terms arbitrarily.
/// `fitted_to` (optional): the sum sigma is fitted to, when it is not
/// `squared_error_sum` itself (every rank's, where each holds part of a batch).
torch::Tensor fitted_gaussian_nll(const torch::Tensor& squared_error_sum, double count,
                                  const torch::Tensor& fitted_to = {});

/// Scales the gradients of `parameters` so that their joint L2 norm is at
/// most `max_norm`, on the device: unlike LibTorch 1.13's clip_grad_norm_,
/// it never waits for the device to read the norm back.
void clip_gradient_norm(const std::vector<torch::Tensor>& parameters, double max_norm);

struct DrawOptions {
  TORCH_ARG(std::int64_t, size) = 32;  ///< image width and height
  TORCH_ARG(std::int64_t, channels) = 3;
  TORCH_ARG(std::int64_t, glimpses) = 16;  ///< T
  TORCH_ARG(bool, attention) = true;       ///< false: read the whole image, write the whole canvas
  TORCH_ARG(std::int64_t, read_n) = 6;     ///< read grid N x N
  TORCH_ARG(std::int64_t, write_n) = 12;   ///< write grid N x N
  TORCH_ARG(std::int64_t, encoder) = 256;  ///< encoder LSTM width
  TORCH_ARG(std::int64_t, decoder) = 256;  ///< decoder LSTM width
  TORCH_ARG(std::int64_t, latent) = 32;    ///< z per glimpse
  TORCH_ARG(std::int64_t, condition) = 0;  ///< width of the conditioning vector (0: unconditioned)
  TORCH_ARG(double, temperature) = 1.0;    ///< scale of the latent noise when sampling (1: the prior)
};

/// One pass over a batch: the final canvas (logits) and the KL term of each glimpse.
struct DrawOutput {
  torch::Tensor canvas;           ///< [B, C, H, W], pre-sigmoid
  std::vector<torch::Tensor> kl;  ///< T of [B]
};

class DrawImpl : public torch::nn::Module {
 public:
  explicit DrawImpl(const DrawOptions& options);

  /// Encodes and reconstructs `images` in [0, 1] under `condition` [B, condition] (undefined when unconditioned).
  DrawOutput forward(const torch::Tensor& images, const torch::Tensor& condition);
  /// Draws samples: the canvas after every glimpse, T of [B, C, H, W] in [0, 1].
  std::vector<torch::Tensor> sample(const torch::Tensor& condition, std::int64_t count);

  /// Initial (h, c) of the encoder and the decoder: zeros, or the learned projection of the condition.
  struct States {
    torch::Tensor h_enc, c_enc, h_dec, c_dec;
  };
  States initial_states(const torch::Tensor& condition, std::int64_t batch);

  const DrawOptions& options() const { return options_; }

 private:
  torch::Tensor read(const torch::Tensor& x, const torch::Tensor& error, const torch::Tensor& h_dec);
  torch::Tensor write(const torch::Tensor& h_dec);

  DrawOptions options_;
  torch::nn::LSTMCell encoder_{nullptr}, decoder_{nullptr};
  torch::nn::Linear read_attention_{nullptr}, write_attention_{nullptr}, write_{nullptr};
  torch::nn::Linear mu_{nullptr}, log_sigma_{nullptr}, init_{nullptr};
};
TORCH_MODULE(Draw);

}  // namespace facet::generators::draw

#include "draw_model.hpp"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "facet/errors.hpp"

namespace facet::generators::draw {

torch::Tensor filterbank(const torch::Tensor& centre, const torch::Tensor& delta, const torch::Tensor& sigma2,
                         std::int64_t n, std::int64_t size) {
  const auto opts = centre.options();
  const auto i = torch::arange(1, n + 1, opts).view({1, n});
  const auto mu = centre.view({-1, 1}) + (i - static_cast<double>(n) / 2.0 - 0.5) * delta.view({-1, 1});  // [B, N]
  const auto a = torch::arange(1, size + 1, opts).view({1, 1, size});
  const auto f = torch::exp(-(a - mu.unsqueeze(2)).pow(2) / (2.0 * sigma2.view({-1, 1, 1})));
  return f / f.sum(2, /*keepdim=*/true).clamp_min(1e-8);
}

namespace {

/// `t` in float32 where autocast gave it in a 16-bit type. Pixel positions
/// and the KL need float32: bfloat16 spaces values 1/8 apart between 16 and
/// 32, and the KL is part of the loss.
torch::Tensor widened(const torch::Tensor& t) {
  const auto type = t.scalar_type();
  return type == torch::kBFloat16 || type == torch::kHalf ? t.to(torch::kFloat32) : t;
}

}  // namespace

Attention Attention::from_raw(const torch::Tensor& raw_outputs, std::int64_t width, std::int64_t height,
                              std::int64_t n) {
  const auto raw = widened(raw_outputs);
  Attention a;
  a.gx = 0.5 * static_cast<double>(width + 1) * (raw.select(1, 0) + 1.0);
  a.gy = 0.5 * static_cast<double>(height + 1) * (raw.select(1, 1) + 1.0);
  a.sigma2 = raw.select(1, 2).exp();
  a.delta = static_cast<double>(std::max(width, height) - 1) / static_cast<double>(n - 1) * raw.select(1, 3).exp();
  a.gamma = raw.select(1, 4).exp();
  return a;
}

namespace {

/// fy x fx^T for each image and channel: fy [B, M, H], x [B, C, H, W], fx
/// [B, K, W] give [B, C, M, K]. The channels ride along in the rows and
/// columns of two batched products over B, rather than being B x C products
/// of their own: CPU batched products pay per matrix, and these are small.
torch::Tensor separable_filter(const torch::Tensor& fy, const torch::Tensor& x, const torch::Tensor& fx) {
  const auto b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), m = fy.size(1), k = fx.size(1);
  const auto rows = torch::bmm(x.reshape({b, c * h, w}), fx.transpose(1, 2));                // [B, C*H, K]
  const auto by_row = rows.view({b, c, h, k}).permute({0, 2, 1, 3}).reshape({b, h, c * k});  // [B, H, C*K]
  return torch::bmm(fy, by_row).view({b, m, c, k}).permute({0, 2, 1, 3});                    // [B, C, M, K]
}

}  // namespace

torch::Tensor read_glimpse(const torch::Tensor& images, const Attention& a, std::int64_t n) {
  const auto fx = filterbank(a.gx, a.delta, a.sigma2, n, images.size(3));  // [B, N, W]
  const auto fy = filterbank(a.gy, a.delta, a.sigma2, n, images.size(2));  // [B, N, H]
  return a.gamma.view({-1, 1, 1, 1}) * separable_filter(fy, images, fx);
}

torch::Tensor write_patch(const torch::Tensor& patches, const Attention& a, std::int64_t height, std::int64_t width) {
  const auto n = patches.size(2);
  const auto fx = filterbank(a.gx, a.delta, a.sigma2, n, width);   // [B, N, W]
  const auto fy = filterbank(a.gy, a.delta, a.sigma2, n, height);  // [B, N, H]
  return separable_filter(fy.transpose(1, 2), patches, fx.transpose(1, 2)) / a.gamma.view({-1, 1, 1, 1});
}

torch::Tensor gaussian_kl(const torch::Tensor& mu, const torch::Tensor& log_sigma) {
  return 0.5 * (mu.pow(2) + (2.0 * log_sigma).exp() - 2.0 * log_sigma - 1.0).sum(1);
}

torch::Tensor fitted_gaussian_nll(const torch::Tensor& squared_error_sum, double count,
                                  const torch::Tensor& fitted_to) {
  constexpr double kMinVariance = 1e-6;  // sigma = 0.001
  const auto variance =
      ((fitted_to.defined() ? fitted_to : squared_error_sum).detach() / count).clamp_min(kMinVariance);
  return 0.5 * squared_error_sum / variance + 0.5 * count * (variance.log() + std::log(2.0 * M_PI));
}

void clip_gradient_norm(const std::vector<torch::Tensor>& parameters, double max_norm) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return;
  std::vector<torch::Tensor> squares;
  for (const auto& g : grads) squares.push_back(g.detach().pow(2).sum());
  const auto norm = torch::stack(squares).sum().sqrt();
  const auto factor = (max_norm / (norm + 1e-6)).clamp_max(1.0);  // as clip_grad_norm_
  torch::NoGradGuard no_grad;
  for (auto& g : grads) g.mul_(factor);
}

DrawImpl::DrawImpl(const DrawOptions& o) : options_(o) {
  if (o.attention() && (o.read_n() < 2 || o.write_n() < 2)) {
    throw facet::Error("draw: attention grids need read_n and write_n of at least 2");
  }
  const auto pixels = o.channels() * o.size() * o.size();
  const auto read_size = o.attention() ? 2 * o.channels() * o.read_n() * o.read_n() : 2 * pixels;
  encoder_ = register_module("encoder", torch::nn::LSTMCell(read_size + o.decoder(), o.encoder()));
  decoder_ = register_module("decoder", torch::nn::LSTMCell(o.latent() + o.condition(), o.decoder()));
  mu_ = register_module("mu", torch::nn::Linear(o.encoder(), o.latent()));
  log_sigma_ = register_module("log_sigma", torch::nn::Linear(o.encoder(), o.latent()));
  write_ = register_module(
      "write", torch::nn::Linear(o.decoder(), o.attention() ? o.channels() * o.write_n() * o.write_n() : pixels));
  if (o.attention()) {
    read_attention_ = register_module("read_attention", torch::nn::Linear(o.decoder(), 5));
    write_attention_ = register_module("write_attention", torch::nn::Linear(o.decoder(), 5));
  }
  if (o.condition() > 0) {
    init_ = register_module("init", torch::nn::Linear(o.condition(), 2 * o.encoder() + 2 * o.decoder()));
  }
}

DrawImpl::States DrawImpl::initial_states(const torch::Tensor& condition, std::int64_t batch) {
  const auto& o = options_;
  if (o.condition() == 0 || !condition.defined()) {
    if (o.condition() > 0) throw facet::Error("draw: this model is conditioned; give it a condition vector");
    const auto opts = write_->weight.options();
    return {torch::zeros({batch, o.encoder()}, opts), torch::zeros({batch, o.encoder()}, opts),
            torch::zeros({batch, o.decoder()}, opts), torch::zeros({batch, o.decoder()}, opts)};
  }
  if (condition.dim() != 2 || condition.size(1) != o.condition()) {
    throw facet::Error(fmt::format("draw: condition vectors must be [B, {}], got [{}]", o.condition(),
                                   fmt::join(condition.sizes(), ", ")));
  }
  const auto parts =
      init_->forward(condition).split_with_sizes({o.encoder(), o.encoder(), o.decoder(), o.decoder()}, 1);
  return {torch::tanh(parts[0]), parts[1], torch::tanh(parts[2]), parts[3]};
}

torch::Tensor DrawImpl::read(const torch::Tensor& x, const torch::Tensor& error, const torch::Tensor& h_dec) {
  if (!options_.attention()) return torch::cat({x.flatten(1), error.flatten(1)}, 1);
  const auto n = options_.read_n();
  const auto a = Attention::from_raw(read_attention_->forward(h_dec), x.size(3), x.size(2), n);
  // One glimpse over the image and error channels together: the filterbanks are built once.
  return read_glimpse(torch::cat({x, error}, 1), a, n).flatten(1);
}

torch::Tensor DrawImpl::write(const torch::Tensor& h_dec) {
  const auto& o = options_;
  const auto w = write_->forward(h_dec);
  if (!o.attention()) return w.view({-1, o.channels(), o.size(), o.size()});
  const auto a = Attention::from_raw(write_attention_->forward(h_dec), o.size(), o.size(), o.write_n());
  return write_patch(w.view({-1, o.channels(), o.write_n(), o.write_n()}), a, o.size(), o.size());
}

DrawOutput DrawImpl::forward(const torch::Tensor& images, const torch::Tensor& condition) {
  const auto batch = images.size(0);
  auto s = initial_states(condition, batch);
  DrawOutput out;
  out.canvas = torch::zeros_like(images);
  for (std::int64_t t = 0; t < options_.glimpses(); ++t) {
    const auto error = images - torch::sigmoid(out.canvas);
    const auto r = read(images, error, s.h_dec);
    std::tie(s.h_enc, s.c_enc) = encoder_->forward(torch::cat({r, s.h_dec}, 1), std::make_tuple(s.h_enc, s.c_enc));
    const auto mu = widened(mu_->forward(s.h_enc));
    const auto log_sigma = widened(log_sigma_->forward(s.h_enc));
    const auto z = mu + log_sigma.exp() * torch::randn_like(mu);
    const auto input = condition.defined() && options_.condition() > 0 ? torch::cat({z, condition}, 1) : z;
    std::tie(s.h_dec, s.c_dec) = decoder_->forward(input, std::make_tuple(s.h_dec, s.c_dec));
    out.canvas = out.canvas + write(s.h_dec);
    out.kl.push_back(gaussian_kl(mu, log_sigma));
  }
  return out;
}

std::vector<torch::Tensor> DrawImpl::sample(const torch::Tensor& condition, std::int64_t count) {
  auto s = initial_states(condition, count);
  const auto& o = options_;
  auto canvas = torch::zeros({count, o.channels(), o.size(), o.size()}, write_->weight.options());
  std::vector<torch::Tensor> steps;
  for (std::int64_t t = 0; t < o.glimpses(); ++t) {
    const auto z = o.temperature() * torch::randn({count, o.latent()}, canvas.options());
    const auto input = condition.defined() && o.condition() > 0 ? torch::cat({z, condition}, 1) : z;
    std::tie(s.h_dec, s.c_dec) = decoder_->forward(input, std::make_tuple(s.h_dec, s.c_dec));
    canvas = canvas + write(s.h_dec);
    steps.push_back(torch::sigmoid(canvas));
  }
  return steps;
}

}  // namespace facet::generators::draw

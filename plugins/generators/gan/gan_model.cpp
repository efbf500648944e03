#include "gan_model.hpp"

#include <facet/precision.hpp>

#include <stdexcept>

namespace facet::generators::gan {

namespace F = torch::nn::functional;

namespace {

/// Scales between 4x4 and the image: size = 4 * 2^levels.
std::int64_t levels(std::int64_t size) {
  std::int64_t l = 0;
  while ((std::int64_t{4} << l) < size) ++l;
  // At 8x8 the discriminator would have no layer between the condition and
  // its logit, so it could not tell whether a face matches its condition.
  if ((std::int64_t{4} << l) != size || size < 16) {
    throw std::invalid_argument("the GAN's size must be a power of two of at least 16, got " + std::to_string(size));
  }
  return l;
}

torch::Tensor join(const torch::Tensor& z, const torch::Tensor& condition) {
  return condition.defined() && condition.numel() > 0 ? torch::cat({z, condition}, 1) : z;
}

/// conv_transpose2d(x, weight) without bias, as the input gradient of
/// conv2d(., weight): the two are adjoint.
struct AdjointConv : torch::autograd::Function<AdjointConv> {
  static std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> conv_backward(
      const torch::Tensor& grad_output, const torch::Tensor& input, const torch::Tensor& weight, std::int64_t stride,
      std::int64_t padding, std::array<bool, 3> mask) {
    return at::convolution_backward(grad_output.contiguous(), input, weight, c10::nullopt, {stride, stride},
                                    {padding, padding}, {1, 1}, false, {0, 0}, 1, mask);
  }

  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, std::int64_t stride, std::int64_t padding) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    const auto side = [&](std::int64_t in, std::int64_t k) { return (in - 1) * stride - 2 * padding + k; };
    // Only its shape is read: the convolution's input whose gradient this is.
    const auto shape = torch::empty(
        {x.size(0), weight.size(1), side(x.size(2), weight.size(2)), side(x.size(3), weight.size(3))}, x.options());
    return std::get<0>(conv_backward(x, shape, weight, stride, padding, {true, false, false}));
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& weight = saved[1];
    const auto stride = ctx->saved_data["stride"].toInt(), padding = ctx->saved_data["padding"].toInt();
    const auto grad = grads[0].contiguous();
    torch::Tensor grad_x, grad_weight;
    if (ctx->needs_input_grad(0)) {
      grad_x = F::conv2d(grad, weight, F::Conv2dFuncOptions().stride(stride).padding(padding));
    }
    if (ctx->needs_input_grad(1)) {
      grad_weight = std::get<1>(conv_backward(x, grad, weight, stride, padding, {false, true, false}));
    }
    return {grad_x, grad_weight, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

TransposedConv2dImpl::TransposedConv2dImpl(const torch::nn::ConvTranspose2dOptions& options) {
  const auto& s = options.stride();
  const auto& p = options.padding();
  if (s->at(0) != s->at(1) || p->at(0) != p->at(1) || options.groups() != 1 || options.dilation()->at(0) != 1 ||
      options.dilation()->at(1) != 1 || options.output_padding()->at(0) != 0 || options.output_padding()->at(1) != 0) {
    throw std::invalid_argument(
        "TransposedConv2d supports equal strides and paddings only, without dilation, groups or output padding");
  }
  stride_ = s->at(0);
  padding_ = p->at(0);
  torch::nn::ConvTranspose2d reference(options);  // for its initialisation
  weight = register_parameter("weight", reference->weight.detach().clone());
  if (options.bias()) bias = register_parameter("bias", reference->bias.detach().clone());
}

torch::Tensor TransposedConv2dImpl::forward(const torch::Tensor& x) {
  // Autocast knows convolutions, not this function: under it, input, weight
  // and bias take its lower precision here, as a convolution's would.
  const auto dtype = facet::active_autocast_dtype(x.device());
  const auto cast = [&](const torch::Tensor& t) { return dtype ? t.to(*dtype) : t; };
  const auto out = AdjointConv::apply(cast(x), cast(weight), stride_, padding_);
  return bias.defined() ? out + cast(bias).view({1, -1, 1, 1}) : out;
}

SNConv2dImpl::SNConv2dImpl(const torch::nn::Conv2dOptions& options, bool normalise) : normalise_(normalise) {
  conv_ = register_module("conv", torch::nn::Conv2d(options));
  if (normalise_) {
    u_ = register_buffer("u", F::normalize(torch::randn({options.out_channels()}), F::NormalizeFuncOptions().dim(0)));
  }
}

torch::Tensor SNConv2dImpl::effective_weight() {
  if (!normalise_) return conv_->weight;
  const auto w = conv_->weight.flatten(1);
  torch::Tensor u = u_, v;
  {
    torch::NoGradGuard no_grad;
    v = F::normalize(w.t().mv(u), F::NormalizeFuncOptions().dim(0).eps(1e-12));
    if (is_training()) {
      u = F::normalize(w.mv(v), F::NormalizeFuncOptions().dim(0).eps(1e-12));
      u_.copy_(u);
      v = F::normalize(w.t().mv(u), F::NormalizeFuncOptions().dim(0).eps(1e-12));
    }
  }
  const auto sigma = torch::dot(u, w.mv(v));  // differentiable in w, as in the paper
  return conv_->weight / sigma;
}

torch::Tensor SNConv2dImpl::forward(const torch::Tensor& x) {
  const auto& o = conv_->options;
  return F::conv2d(x, effective_weight(),
                   F::Conv2dFuncOptions().bias(conv_->bias).stride(o.stride()).padding(o.padding()));
}

GeneratorImpl::GeneratorImpl(const GanOptions& o) : options_(o) {
  const auto l = levels(o.size());
  const std::int64_t top = o.width() << (l - 1);  // channels at 4x4
  project_ = register_module("project", torch::nn::Linear(o.noise() + o.condition(), top * 16));
  project_norm_ = register_module("project_norm", torch::nn::BatchNorm1d(top * 16));
  upsample_ = register_module("upsample", torch::nn::Sequential());
  for (std::int64_t k = 0; k < l; ++k) {
    const std::int64_t in = top >> k;
    const bool last = k == l - 1;
    const std::int64_t out = last ? o.channels() : in / 2;
    upsample_->push_back(
        TransposedConv2d(torch::nn::ConvTranspose2dOptions(in, out, 4).stride(2).padding(1).bias(last)));
    if (!last) {
      upsample_->push_back(torch::nn::BatchNorm2d(out));
      upsample_->push_back(torch::nn::ReLU());
    }
  }
}

torch::Tensor GeneratorImpl::forward(const torch::Tensor& z, const torch::Tensor& condition) {
  const auto top = options_.width() << (levels(options_.size()) - 1);
  auto h = torch::relu(project_norm_(project_(join(z, condition))));
  return torch::tanh(upsample_->forward(h.view({-1, top, 4, 4})));
}

DiscriminatorImpl::DiscriminatorImpl(const GanOptions& o) : options_(o) {
  const auto l = levels(o.size());
  const bool sn = o.spectral_norm();
  first_ =
      register_module("first", SNConv2d(torch::nn::Conv2dOptions(o.channels(), o.width(), 4).stride(2).padding(1), sn));
  const std::int64_t maps = o.condition() > 0 ? o.embedding() : 0;
  if (maps > 0) embed_ = register_module("embed", torch::nn::Linear(o.condition(), maps));
  rest_ = register_module("rest", torch::nn::Sequential());
  std::int64_t channels = o.width() + maps;
  for (std::int64_t k = 1; k < l; ++k) {  // S/2 -> 4x4
    const std::int64_t out = o.width() << k;
    rest_->push_back(SNConv2d(torch::nn::Conv2dOptions(channels, out, 4).stride(2).padding(1).bias(sn), sn));
    if (!sn) rest_->push_back(torch::nn::BatchNorm2d(out));
    rest_->push_back(torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)));
    channels = out;
  }
  rest_->push_back(SNConv2d(torch::nn::Conv2dOptions(channels, 1, 4), sn));  // 4x4 -> one logit
}

torch::Tensor DiscriminatorImpl::forward(const torch::Tensor& images, const torch::Tensor& condition) {
  auto h = F::leaky_relu(first_(images), F::LeakyReLUFuncOptions().negative_slope(0.2));
  if (!embed_.is_empty()) {
    const auto maps = embed_(condition).unsqueeze(-1).unsqueeze(-1).expand({-1, -1, h.size(2), h.size(3)});
    h = torch::cat({h, maps}, 1);
  }
  return rest_->forward(h).flatten();
}

GanImpl::GanImpl(const GanOptions& options) : options_(options) {
  generator = register_module("generator", Generator(options));
  discriminator = register_module("discriminator", Discriminator(options));
}

torch::Tensor GanImpl::sample(const torch::Tensor& condition, std::int64_t count) {
  const auto z = torch::randn({count, options_.noise()});
  return (generator(z, condition) + 1) / 2;
}

Trainer::Trainer(Gan gan, const TrainingOptions& options, facet::Group& group)
    : gan_(std::move(gan)),
      options_(options),
      d_opt_(gan_->discriminator->parameters(),
             torch::optim::AdamOptions(options.lr()).betas({options.beta1(), 0.999})),
      g_opt_(gan_->generator->parameters(), torch::optim::AdamOptions(options.lr()).betas({options.beta1(), 0.999})),
      d_sum_(group, *gan_->discriminator),
      g_sum_(group, *gan_->generator) {}

void Trainer::share_buffers() {
  d_sum_.share_buffers();
  g_sum_.share_buffers();
}

Trainer::Verdicts Trainer::discriminate(const torch::Tensor& real, const torch::Tensor& fake,
                                        const torch::Tensor& condition) {
  facet::Autocast autocast(options_.precision(), real.device());
  const auto judge = [&](const torch::Tensor& x, const torch::Tensor& c) {
    return gan_->discriminator(x, c).to(torch::kFloat32);  // losses in float32
  };
  Verdicts v;
  v.d_real = judge(real, condition);
  v.d_fake = judge(fake, condition);
  const auto fakes_loss = [](const torch::Tensor& d) {
    return F::binary_cross_entropy_with_logits(d, torch::zeros_like(d));
  };
  v.loss = F::binary_cross_entropy_with_logits(v.d_real, torch::full_like(v.d_real, options_.real_label()));
  if (options_.mismatch() && condition.defined() && real.size(0) > 1) {
    const auto d_wrong = judge(real, condition.roll(1, 0));  // each face with its neighbour's condition
    v.loss = v.loss + 0.5 * (fakes_loss(v.d_fake) + fakes_loss(d_wrong));
  } else {
    v.loss = v.loss + fakes_loss(v.d_fake);
  }
  return v;
}

torch::Tensor Trainer::discriminator_loss(const torch::Tensor& real, const torch::Tensor& fake,
                                          const torch::Tensor& condition) {
  return discriminate(real * 2 - 1, fake, condition).loss;
}

torch::Tensor Trainer::generator_loss(const torch::Tensor& fake, const torch::Tensor& condition) {
  facet::Autocast autocast(options_.precision(), fake.device());
  const auto d_fake = gan_->discriminator(fake, condition).to(torch::kFloat32);
  return F::binary_cross_entropy_with_logits(d_fake, torch::ones_like(d_fake));  // the non-saturating loss
}

StepLosses Trainer::step(const torch::Tensor& real, const torch::Tensor& condition, std::int64_t batch_rows) {
  const double share = batch_rows > 0 ? static_cast<double>(real.size(0)) / static_cast<double>(batch_rows) : 1.0;
  const auto z = torch::randn({real.size(0), gan_->options().noise()});
  const auto fake = [&] {
    facet::Autocast autocast(options_.precision(), real.device());
    return gan_->generator(z, condition).to(torch::kFloat32);
  }();

  d_opt_.zero_grad();
  const auto verdicts = discriminate(real * 2 - 1, fake.detach(), condition);
  (verdicts.loss * share).backward();
  d_sum_.finish();
  d_opt_.step();

  // The generator's update needs gradients through D, not for D's weights.
  for (auto& p : gan_->discriminator->parameters()) p.requires_grad_(false);
  g_opt_.zero_grad();
  const auto g_loss = generator_loss(fake, condition);
  (g_loss * share).backward();
  g_sum_.finish();
  g_opt_.step();
  for (auto& p : gan_->discriminator->parameters()) p.requires_grad_(true);

  torch::NoGradGuard no_grad;
  StepLosses out;
  out.discriminator = verdicts.loss.detach() * share;
  out.generator = g_loss.detach() * share;
  out.real_score = torch::sigmoid(verdicts.d_real.detach()).mean() * share;
  out.fake_score = torch::sigmoid(verdicts.d_fake.detach()).mean() * share;
  return out;
}

}  // namespace facet::generators::gan

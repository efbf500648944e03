#include <vggface/vgg_face.hpp>

#include <cmath>

#include <fmt/format.h>

#include "cpu_kernels.hpp"
#include "facet/errors.hpp"

namespace facet::vggface {

namespace {
// (block, convolutions in it, channels at width 1.0)
struct Block {
  int index, convs;
  std::int64_t channels;
};
constexpr Block kBlocks[] = {{1, 2, 64}, {2, 2, 128}, {3, 3, 256}, {4, 3, 512}, {5, 3, 512}};
constexpr std::int64_t kFcWidth = 4096;  // fc6 and fc7 at width 1.0

std::int64_t scaled(std::int64_t n, double width) {
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::lround(static_cast<double>(n) * width)));
}
}  // namespace

void VggFaceOptions::save(facet::Artifact& a) const {
  a.set_attr("architecture", std::string("vggface"));
  a.set_attr("input_size", input_size());
  a.set_attr("width", width());
  a.set_attr("batch_norm", std::int64_t{batch_norm() ? 1 : 0});
  a.set_attr("fc_batch_norm", std::int64_t{fc_batch_norm() ? 1 : 0});
  a.set_attr("dropout", dropout());
  a.set_attr("identities", identities());
}

VggFaceOptions VggFaceOptions::load(const facet::Artifact& a) {
  if (!a.has_attr("architecture") || a.attr_string("architecture") != "vggface") {
    throw facet::Error("the model artifact is not a vggface model (attribute architecture != vggface)");
  }
  return VggFaceOptions()
      .input_size(a.attr_int("input_size"))
      .width(a.attr_float("width"))
      .batch_norm(a.attr_int("batch_norm") != 0)
      .fc_batch_norm(a.has_attr("fc_batch_norm") &&
                     a.attr_int("fc_batch_norm") != 0)  // absent in models of vggface 1.1
      .dropout(a.attr_float("dropout"))
      .identities(a.attr_int("identities"));
}

std::int64_t fc7_width(const VggFaceOptions& options) { return scaled(kFcWidth, options.width()); }

const std::vector<std::string>& layer_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& b : kBlocks) {
      for (int c = 1; c <= b.convs; ++c) n.push_back(fmt::format("conv{}_{}", b.index, c));
    }
    n.insert(n.end(), {"fc6", "fc7", "fc8"});
    return n;
  }();
  return names;
}

VggFaceImpl::VggFaceImpl(const VggFaceOptions& options) : options_(options) {
  if (options.input_size() < 32) {
    throw facet::Error(
        fmt::format("vggface: input_size must be at least 32 (five 2x2 poolings leave at least one pixel), got {}",
                    options.input_size()));
  }
  std::int64_t in = 3;
  for (const auto& b : kBlocks) {
    const std::int64_t out = scaled(b.channels, options.width());
    for (int c = 1; c <= b.convs; ++c) {
      Layer layer;
      layer.name = fmt::format("conv{}_{}", b.index, c);
      layer.conv = register_module(layer.name,
                                   torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, /*kernel_size=*/3).padding(1)));
      if (options.batch_norm()) layer.bn = register_module(layer.name + "_bn", torch::nn::BatchNorm2d(out));
      layer.pool_after = c == b.convs;
      layers_.push_back(std::move(layer));
      in = out;
    }
  }
  // Each pooling rounds down, as VGG's: 112 px leave 7 x 7 after conv5_3 and 3 x 3 after the last pooling.
  const std::int64_t spatial = options.input_size() / 32;
  const std::int64_t fc = fc7_width(options);
  std::int64_t fc_in = in * spatial * spatial;
  for (const char* name : {"fc6", "fc7"}) {
    Layer layer;
    layer.name = name;
    layer.fc = register_module(name, torch::nn::Linear(fc_in, fc));
    if (options.fc_batch_norm()) layer.fc_bn = register_module(std::string(name) + "_bn", torch::nn::BatchNorm1d(fc));
    layers_.push_back(std::move(layer));
    fc_in = fc;
  }
  if (options.identities() > 0) {
    Layer layer;
    layer.name = "fc8";
    layer.fc = register_module("fc8", torch::nn::Linear(fc_in, options.identities()));
    layers_.push_back(std::move(layer));
  }
  dropout_ = register_module("dropout", torch::nn::Dropout(options.dropout()));
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      torch::nn::init::zeros_(conv->bias);
      // Loading weights copies into these tensors, which keeps their layout.
      if (options.channels_last()) conv->weight.set_data(conv->weight.contiguous(at::MemoryFormat::ChannelsLast));
    } else if (auto* linear = module->as<torch::nn::Linear>()) {
      torch::nn::init::normal_(linear->weight, 0.0, 0.01);
      torch::nn::init::zeros_(linear->bias);
    }
  }
}

torch::Tensor VggFaceImpl::forward(torch::Tensor x, const std::string& layer) {
  if (options_.channels_last() && x.dim() == 4) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  for (auto& l : layers_) {
    if (l.conv) {
      x = l.conv->forward(x);
      // relu_ in place: a convolution does not keep its output for backward.
      x = l.bn ? batch_norm_relu(x, *l.bn) : torch::relu_(x);
      if (l.name == layer) return x;
      if (l.pool_after) x = max_pool_2x2(x);
      continue;
    }
    if (x.dim() > 2) x = x.flatten(1);
    x = l.fc->forward(x);
    if (l.fc_bn) x = l.fc_bn->forward(x);
    if (l.name == "fc8") return x;  // identity logits: no ReLU
    x = torch::relu_(x);
    if (l.name == layer) return dropout_->forward(x);
    x = dropout_->forward(x);
  }
  throw facet::Error(fmt::format("vggface: no layer '{}' (layers: {})", layer, fmt::join(layer_names(), ", ")));
}

void VggFaceImpl::set_trainable_from(const std::string& first_trainable) {
  bool frozen = first_trainable != "all";
  bool found = first_trainable == "all" || first_trainable == "heads";
  for (auto& l : layers_) {
    if (l.name == first_trainable) {
      frozen = false;
      found = true;
    }
    l.frozen = frozen;
    auto set = [&](const std::shared_ptr<torch::nn::Module>& m) {
      if (!m) return;
      for (auto& p : m->parameters()) p.set_requires_grad(!frozen);
    };
    if (l.conv) set(l.conv.ptr());
    if (l.bn) set(l.bn.ptr());
    if (l.fc) set(l.fc.ptr());
    if (l.fc_bn) set(l.fc_bn.ptr());
  }
  if (!found) {
    throw facet::Error(fmt::format("vggface: trainable_from '{}' names no layer (layers: {}, or heads, all)",
                                   first_trainable, fmt::join(layer_names(), ", ")));
  }
  train(is_training());
}

void VggFaceImpl::train(bool on) {
  torch::nn::Module::train(on);
  for (auto& l : layers_) {
    if (l.frozen && l.bn) l.bn->eval();  // frozen layers keep their batch statistics
    if (l.frozen && l.fc_bn) l.fc_bn->eval();
  }
}

std::int64_t VggFaceImpl::output_size(const std::string& layer) const {
  torch::NoGradGuard no_grad;
  auto* self = const_cast<VggFaceImpl*>(this);
  const bool was_training = is_training();
  self->eval();
  const auto size = options_.input_size();
  const auto out = self->forward(torch::zeros({1, 3, size, size}), layer);
  self->train(was_training);
  return out.numel();
}

}  // namespace facet::vggface

#include "models.hpp"

#include <functional>

#include <facet/errors.hpp>
#include <facet/module_artifact.hpp>

#include "generator_io.hpp"

namespace facet::generators {

Artifact draw_artifact(draw::Draw& net) {
  const auto& o = net->options();
  Artifact model = module_to_artifact(*net);
  model.set_attr("architecture", std::string("draw"));
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::int64_t>>{
           {"size", o.size()}, {"channels", o.channels()}, {"glimpses", o.glimpses()}, {"attention", o.attention() ? 1 : 0},
           {"read_n", o.read_n()}, {"write_n", o.write_n()}, {"encoder", o.encoder()}, {"decoder", o.decoder()},
           {"latent", o.latent()}, {"condition_width", o.condition()}}) {
    model.set_attr(name, value);
  }
  return model;
}

draw::Draw load_draw(const Artifact& model) {
  draw::Draw net(draw::DrawOptions()
                     .size(model.attr_int("size"))
                     .channels(model.attr_int("channels"))
                     .glimpses(model.attr_int("glimpses"))
                     .attention(model.attr_int("attention") != 0)
                     .read_n(model.attr_int("read_n"))
                     .write_n(model.attr_int("write_n"))
                     .encoder(model.attr_int("encoder"))
                     .decoder(model.attr_int("decoder"))
                     .latent(model.attr_int("latent"))
                     .condition(model.attr_int("condition_width")));
  load_module(*net, model, "the DRAW model");
  net->eval();
  return net;
}

Artifact gan_artifact(gan::Gan& net) {
  const auto& o = net->options();
  Artifact model = module_to_artifact(*net);
  model.set_attr("architecture", std::string("gan"));
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::int64_t>>{
           {"size", o.size()}, {"channels", o.channels()}, {"noise", o.noise()}, {"width", o.width()},
           {"condition_width", o.condition()}, {"embedding", o.embedding()}, {"spectral_norm", o.spectral_norm() ? 1 : 0}}) {
    model.set_attr(name, value);
  }
  return model;
}

gan::Gan load_gan(const Artifact& model) {
  gan::Gan net(gan::GanOptions()
                   .size(model.attr_int("size"))
                   .channels(model.attr_int("channels"))
                   .noise(model.attr_int("noise"))
                   .width(model.attr_int("width"))
                   .condition(model.attr_int("condition_width"))
                   .embedding(model.attr_int("embedding"))
                   .spectral_norm(model.attr_int("spectral_norm") != 0));
  load_module(*net, model, "the GAN model");
  net->eval();
  return net;
}

torch::Tensor sample_faces(const Artifact& model, const std::vector<std::vector<int>>& requests, std::int64_t per_request,
                           std::uint64_t seed) {
  const auto conditions = ConditionModel::load(model);
  const auto architecture = model.attr_string("architecture");
  std::mt19937_64 rng(seed);
  torch::manual_seed(seed & 0x7fffffffffffffffULL);
  torch::NoGradGuard no_grad;
  std::function<torch::Tensor(const torch::Tensor&, std::int64_t)> draw_faces;
  if (architecture == "draw") {
    auto net = load_draw(model);
    draw_faces = [net](const torch::Tensor& c, std::int64_t n) mutable { return net->sample(c, n).back(); };
  } else if (architecture == "gan") {
    auto net = load_gan(model);
    draw_faces = [net](const torch::Tensor& c, std::int64_t n) mutable { return net->sample(c, n); };
  } else {
    throw Error(fmt::format("the model's architecture '{}' is not one the 'sample' step knows (draw, gan)", architecture));
  }
  std::vector<torch::Tensor> faces;
  for (const auto& request : requests) {
    faces.push_back(draw_faces(conditions.request(request, per_request, rng), per_request));
  }
  return torch::stack(faces);
}

}  // namespace facet::generators

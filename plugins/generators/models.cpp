#include "models.hpp"

#include <functional>

#include <facet/errors.hpp>
#include <facet/module_artifact.hpp>

#include "generator_io.hpp"

namespace facet::generators {

namespace {

/// One option of a model, saved as an attribute of its artifact and loaded
/// back: each model's options are listed once, and both directions follow
/// the list.
template <typename Options>
struct OptionField {
  const char* attr;
  void (*save)(const Options&, const char*, Artifact&);
  void (*load)(Options&, const char*, const Artifact&);
};

#define FACET_INT_OPTION(Options, attr, option)                                                                       \
  OptionField<Options> {                                                                                              \
    attr, [](const Options& o, const char* a, Artifact& m) { m.set_attr(a, static_cast<std::int64_t>(o.option())); }, \
        [](Options& o, const char* a, const Artifact& m) { o.option(m.attr_int(a)); }                                 \
  }
#define FACET_BOOL_OPTION(Options, attr, option)                                           \
  OptionField<Options> {                                                                   \
    attr,                                                                                  \
        [](const Options& o, const char* a, Artifact& m) {                                 \
          m.set_attr(a, static_cast<std::int64_t>(o.option() ? 1 : 0));                    \
        },                                                                                 \
        [](Options& o, const char* a, const Artifact& m) { o.option(m.attr_int(a) != 0); } \
  }
#define FACET_FLOAT_OPTION(Options, attr, option)                                                               \
  OptionField<Options> {                                                                                        \
    attr, [](const Options& o, const char* a, Artifact& m) { m.set_attr(a, static_cast<double>(o.option())); }, \
        [](Options& o, const char* a, const Artifact& m) { o.option(m.attr_float(a)); }                         \
  }

const std::vector<OptionField<draw::DrawOptions>>& draw_fields() {
  using O = draw::DrawOptions;
  static const std::vector<OptionField<O>> fields = {FACET_INT_OPTION(O, "size", size),
                                                     FACET_INT_OPTION(O, "channels", channels),
                                                     FACET_INT_OPTION(O, "glimpses", glimpses),
                                                     FACET_BOOL_OPTION(O, "attention", attention),
                                                     FACET_INT_OPTION(O, "read_n", read_n),
                                                     FACET_INT_OPTION(O, "write_n", write_n),
                                                     FACET_INT_OPTION(O, "encoder", encoder),
                                                     FACET_INT_OPTION(O, "decoder", decoder),
                                                     FACET_INT_OPTION(O, "latent", latent),
                                                     FACET_INT_OPTION(O, "condition_width", condition),
                                                     FACET_FLOAT_OPTION(O, "temperature", temperature)};
  return fields;
}

const std::vector<OptionField<gan::GanOptions>>& gan_fields() {
  using O = gan::GanOptions;
  static const std::vector<OptionField<O>> fields = {FACET_INT_OPTION(O, "size", size),
                                                     FACET_INT_OPTION(O, "channels", channels),
                                                     FACET_INT_OPTION(O, "noise", noise),
                                                     FACET_INT_OPTION(O, "width", width),
                                                     FACET_INT_OPTION(O, "condition_width", condition),
                                                     FACET_INT_OPTION(O, "embedding", embedding),
                                                     FACET_BOOL_OPTION(O, "spectral_norm", spectral_norm)};
  return fields;
}

#undef FACET_INT_OPTION
#undef FACET_BOOL_OPTION
#undef FACET_FLOAT_OPTION

template <typename Options>
void save_options(const Options& options, const std::vector<OptionField<Options>>& fields, Artifact& model) {
  for (const auto& f : fields) f.save(options, f.attr, model);
}

template <typename Options>
Options load_options(const Artifact& model, const std::vector<OptionField<Options>>& fields) {
  Options options;
  for (const auto& f : fields) f.load(options, f.attr, model);
  return options;
}

}  // namespace

Artifact draw_artifact(draw::Draw& net) {
  Artifact model = module_to_artifact(*net);
  model.set_attr("architecture", std::string("draw"));
  save_options(net->options(), draw_fields(), model);
  return model;
}

draw::Draw load_draw(const Artifact& model) {
  draw::Draw net(load_options(model, draw_fields()));
  load_module(*net, model, "the DRAW model");
  net->eval();
  return net;
}

Artifact gan_artifact(gan::Gan& net) {
  Artifact model = module_to_artifact(*net);
  model.set_attr("architecture", std::string("gan"));
  save_options(net->options(), gan_fields(), model);
  return model;
}

gan::Gan load_gan(const Artifact& model) {
  gan::Gan net(load_options(model, gan_fields()));
  load_module(*net, model, "the GAN model");
  net->eval();
  return net;
}

namespace {
const std::string kClassifier = "classifier.";  // where the inversion model keeps its classifier
}  // namespace

Artifact invert_artifact(const Artifact& classifier, const invert::InvertOptions& o, const invert::LayerGaussians& g) {
  Artifact model;
  for (const auto& name : classifier.tensor_names()) model.set(kClassifier + name, classifier.get(name));
  for (const auto& [name, value] : classifier.attrs()) model.set_attr(kClassifier + name, value);
  model.set("gaussians.mean", g.mean);
  model.set("gaussians.std", g.std);
  model.set("gaussians.count", g.count);
  model.set("gaussians.spread", g.spread);
  model.set("gaussians.mean_face", g.mean_face);
  model.set("gaussians.faces", g.faces);
  model.set("gaussians.face_signs", g.face_signs);
  model.set_attr("architecture", std::string("invert"));
  model.set_attr("layer", o.layer());
  model.set_attr("start", o.start());
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::int64_t>>{{"size", o.size()},
                                                                                     {"iterations", o.iterations()},
                                                                                     {"jitter", o.jitter()},
                                                                                     {"blur_every", o.blur_every()}}) {
    model.set_attr(name, value);
  }
  for (const auto& [name, value] : std::vector<std::pair<std::string, double>>{{"lr", o.lr()},
                                                                               {"tv_weight", o.tv_weight()},
                                                                               {"blur_sigma", o.blur_sigma()},
                                                                               {"start_noise", o.start_noise()}}) {
    model.set_attr(name, value);
  }
  return model;
}

Inversion load_invert(const Artifact& model) {
  Artifact classifier;
  for (const auto& name : model.tensor_names()) {
    if (name.rfind(kClassifier, 0) == 0) classifier.set(name.substr(kClassifier.size()), model.get(name));
  }
  for (const auto& [name, value] : model.attrs()) {
    if (name.rfind(kClassifier, 0) == 0) classifier.set_attr(name.substr(kClassifier.size()), value);
  }
  Inversion inversion{vggface::load_attribute_net(classifier, "the inversion model's classifier"),
                      classifier.attr_string("preprocessing"),
                      invert::InvertOptions()
                          .layer(model.attr_string("layer"))
                          .size(model.attr_int("size"))
                          .iterations(model.attr_int("iterations"))
                          .lr(model.attr_float("lr"))
                          .tv_weight(model.attr_float("tv_weight"))
                          .jitter(model.attr_int("jitter"))
                          .blur_every(model.attr_int("blur_every"))
                          .blur_sigma(model.attr_float("blur_sigma"))
                          .start(model.attr_string("start"))
                          .start_noise(model.attr_float("start_noise")),
                      {}};
  inversion.gaussians.mean = model.get("gaussians.mean").to(torch::kFloat32);
  inversion.gaussians.std = model.get("gaussians.std").to(torch::kFloat32);
  inversion.gaussians.count = model.get("gaussians.count").to(torch::kInt64);
  inversion.gaussians.spread = model.get("gaussians.spread").to(torch::kFloat32);
  inversion.gaussians.mean_face = model.get("gaussians.mean_face").to(torch::kFloat32);
  inversion.gaussians.faces = model.get("gaussians.faces");
  // Models made before the signs were kept start from any of their faces, as they did.
  inversion.gaussians.face_signs =
      model.has("gaussians.face_signs")
          ? model.get("gaussians.face_signs")
          : torch::zeros({inversion.gaussians.faces.size(0), inversion.gaussians.mean.size(0)}, torch::kInt8);
  return inversion;
}

Artifact nearest_artifact(const torch::Tensor& faces) {
  Artifact model;
  model.set("faces", faces);
  model.set_attr("architecture", std::string("nearest"));
  return model;
}

FaceSampler::FaceSampler(const Artifact& model) : conditions_(ConditionModel::load(model)) {
  const auto architecture = model.attr_string("architecture");
  if (architecture == "draw") {
    auto net = load_draw(model);
    draw_ = [net, this](const std::vector<int>& request, std::int64_t n, std::mt19937_64& rng) mutable {
      torch::NoGradGuard no_grad;
      return net->sample(conditions_.request(request, n, rng), n).back();
    };
  } else if (architecture == "gan") {
    auto net = load_gan(model);
    draw_ = [net, this](const std::vector<int>& request, std::int64_t n, std::mt19937_64& rng) mutable {
      torch::NoGradGuard no_grad;
      return net->sample(conditions_.request(request, n, rng), n);
    };
  } else if (architecture == "invert") {
    auto inversion = load_invert(model);
    draw_ = [inversion, this](const std::vector<int>& request, std::int64_t n, std::mt19937_64& rng) mutable {
      return invert::invert_faces(inversion.net, inversion.preprocessing, inversion.options, inversion.gaussians,
                                  request, conditions_.attribute_names, n, rng);
    };
  } else if (architecture == "nearest") {
    const auto faces = model.get("faces");
    draw_ = [faces, this](const std::vector<int>& request, std::int64_t n, std::mt19937_64& rng) {
      const auto rows = pick_closest(conditions_.base_signs, request, conditions_.attribute_names, n, rng);
      return faces.index_select(0, rows).to(torch::kFloat32) / 255.0f;
    };
  } else {
    throw Error(
        fmt::format("the model's architecture '{}' is not one the 'sample' step knows (draw, gan, invert, "
                    "nearest)",
                    architecture));
  }
}

torch::Tensor FaceSampler::faces(const std::vector<int>& request, std::int64_t n, std::mt19937_64& rng) {
  return draw_(request, n, rng);
}

torch::Tensor sample_faces(const Artifact& model, const std::vector<std::vector<int>>& requests,
                           std::int64_t per_request, std::uint64_t seed, Group& group) {
  FaceSampler sampler(model);
  std::vector<torch::Tensor> faces;
  for_each_chunk_in_order(
      group, static_cast<std::int64_t>(requests.size()), 1,
      [&](std::int64_t request, std::int64_t) -> std::vector<torch::Tensor> {
        const std::uint64_t own_seed = seed ^ (0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(request + 1));
        std::mt19937_64 rng(own_seed);
        torch::manual_seed(own_seed & 0x7fffffffffffffffULL);
        return {sampler.faces(requests[static_cast<size_t>(request)], per_request, rng).unsqueeze(0)};
      },
      [&](const std::vector<torch::Tensor>& out) { faces.push_back(out[0]); });
  return faces.empty() ? torch::Tensor() : torch::cat(faces);
}

}  // namespace facet::generators

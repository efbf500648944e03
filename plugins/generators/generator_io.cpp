#include "generator_io.hpp"

#include <algorithm>
#include <set>

#include <torch/torch.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <facet/errors.hpp>
#include <facet/names.hpp>
#include <facet/pubfig.hpp>

#include <facet/row_batches.hpp>

namespace facet::generators {

namespace {
constexpr std::int64_t kSlice = 2048;  // rows read at a time
}  // namespace

ParamSpec requests_spec() {
  return ParamSpec::text_list("requests",
                              {"Male, Black Hair, Smiling", "Blond Hair, Eyeglasses", "Gray Hair, Mustache",
                               "Sunglasses, Wearing Hat", "Bald, Goatee", "Wearing Lipstick, Wearing Earrings"},
                              "attribute requests the faces are drawn for, one comma-separated list each");
}

ParamSpec per_request_spec() {
  return ParamSpec::integer("per_request", 8, "faces drawn for each request").range(1, 4096);
}

ParamSpec emphasis_spec() {
  return ParamSpec::real("emphasis", 1.5,
                         "how far past the training faces with it a request's condition moves along each requested "
                         "attribute's direction, in units of that direction (0: not at all; more: the attribute drawn "
                         "more surely, faces less varied)")
      .range(0.0, 10.0);
}

std::vector<PortSpec> output_ports() {
  return {{"model", "the trained generator and what it needs to turn requests into conditions"},
          {"samples",
           "images [R*K, 3, S, S] uint8 (K per request), request [R*K]; requested [R, A] (1 = asked for); "
           "requests, attribute_names"}};
}

std::vector<std::vector<int>> parse_requests(const std::vector<std::string>& requests,
                                             const std::vector<std::string>& names) {
  std::vector<std::vector<int>> out;
  for (const auto& r : requests) {
    try {
      out.push_back(parse_attribute_request(r, names));
    } catch (const Error& e) {
      throw Error(fmt::format("request \"{}\": {}", r, e.what()));
    }
  }
  return out;
}

std::vector<std::string> held_out_requests(const Artifact& attributes, const torch::Tensor& rows_in, std::int64_t count,
                                           std::int64_t per_request, std::uint64_t seed) {
  const auto names = attributes.attr_strings("attribute_names");
  std::vector<bool> allowed(names.size(), true);
  if (attributes.has_attr("rendered_attributes")) {
    const auto rendered = attributes.attr_strings("rendered_attributes");
    for (size_t a = 0; a < names.size(); ++a)
      allowed[a] = std::find(rendered.begin(), rendered.end(), names[a]) != rendered.end();
  }
  const auto scores = attributes.get("scores").to(torch::kFloat32).contiguous();
  const auto score = scores.accessor<float, 2>();
  const auto rows = rows_in.to(torch::kInt64).contiguous();
  if (rows.numel() == 0) throw Error("no real faces to draw held-out requests from (the subset is empty)");
  std::mt19937_64 rng(seed);
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (std::int64_t tries = 0; static_cast<std::int64_t>(out.size()) < count; ++tries) {
    if (tries > 100 * count + 1000) {
      throw Error(fmt::format("only {} distinct held-out requests of {} could be drawn from {} real faces", out.size(),
                              count, rows.numel()));
    }
    const auto row =
        rows[static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(rows.numel()))].item<std::int64_t>();
    std::vector<int> present;
    for (size_t a = 0; a < names.size(); ++a) {
      if (allowed[a] && score[row][static_cast<std::int64_t>(a)] > 0) present.push_back(static_cast<int>(a));
    }
    std::shuffle(present.begin(), present.end(), rng);
    std::set<int> groups_used;
    std::vector<int> picked;
    for (int a : present) {
      if (static_cast<std::int64_t>(picked.size()) == per_request) break;
      const int p = pubfig::index_of(names[static_cast<size_t>(a)]);
      const int group = p < 0 ? -1 - a : pubfig::group_position(p).group;
      if (!groups_used.insert(group).second) continue;
      picked.push_back(a);
    }
    if (picked.empty()) continue;
    std::sort(picked.begin(), picked.end());
    std::string text;
    for (int a : picked) text += (text.empty() ? "" : ", ") + names[static_cast<size_t>(a)];
    if (seen.insert(text).second) out.push_back(text);
  }
  return out;
}

std::vector<PortSpec> input_ports() {
  return {{"images", "images [N, 3, S, S] uint8"},
          {"attributes", "scores [N, A] with attribute_names (the dataset's attributes output)"},
          {"split", "train/val/test rows (generators train on train)", true},
          {"features", "features [N, D] of the same rows (from extract), for condition: features", true},
          {"classifier", "the trained vggface model, for generators that optimise faces through it", true}};
}

namespace {

/// Indices (in `names`) of the attributes that exclude `a`: the others of its PubFig group.
std::vector<std::int64_t> exclusive_siblings(int a, const std::vector<std::string>& names) {
  std::vector<std::int64_t> out;
  const int p = pubfig::index_of(names[static_cast<size_t>(a)]);
  if (p < 0) return out;
  for (int sibling : pubfig::groups()[static_cast<size_t>(pubfig::group_position(p).group)]) {
    const auto it = std::find(names.begin(), names.end(), pubfig::kAttributeNames[static_cast<size_t>(sibling)]);
    if (it != names.end() && it - names.begin() != a) out.push_back(it - names.begin());
  }
  return out;
}

}  // namespace

std::vector<std::int64_t> closest_rows(const torch::Tensor& signs, const std::vector<int>& attributes,
                                       const std::vector<std::string>& attribute_names) {
  const auto all = signs.to(torch::kInt64);
  auto agreement = torch::zeros({signs.size(0)}, torch::kInt64);
  for (int a : attributes) {
    agreement += all.select(1, a).gt(0).to(torch::kInt64);
    for (auto sibling : exclusive_siblings(a, attribute_names))
      agreement -= all.select(1, sibling).gt(0).to(torch::kInt64);
  }
  return facet::to_rows(torch::nonzero(agreement == agreement.max()).flatten());
}

torch::Tensor pick_closest(const torch::Tensor& signs, const std::vector<int>& attributes,
                           const std::vector<std::string>& attribute_names, std::int64_t count, std::mt19937_64& rng) {
  const auto closest = closest_rows(signs, attributes, attribute_names);
  std::uniform_int_distribution<size_t> pick(0, closest.size() - 1);
  std::vector<std::int64_t> picked;
  for (std::int64_t i = 0; i < count; ++i) picked.push_back(closest[pick(rng)]);
  return torch::tensor(picked, torch::kInt64);
}

torch::Tensor ConditionModel::request(const std::vector<int>& attributes, std::int64_t count,
                                      std::mt19937_64& rng) const {
  if (mode == "none") return {};
  // Every request starts from the training faces that already have the most
  // of it, and changes only what they lack.
  const auto rows = pick_closest(base_signs, attributes, attribute_names, count, rng);
  const auto signs = base_signs.index_select(0, rows).to(torch::kFloat32);
  if (mode == "attributes") {
    auto c = signs.clone();
    for (int a : attributes) {
      for (auto sibling : exclusive_siblings(a, attribute_names)) c.select(1, sibling).fill_(-1.0f);
    }
    for (int a : attributes) c.select(1, a).fill_(static_cast<float>(1.0 + 2.0 * emphasis));
    return c;
  }
  // features: a face without a requested attribute moves by the difference
  // between the means of the faces with and without it; one with an
  // excluded sibling (Blond Hair, when Black Hair is asked for) moves back
  // by that sibling's difference.
  auto c = base_features.index_select(0, rows).clone();
  auto direction = [&](std::int64_t a) { return (positive_mean[a] - negative_mean[a]).unsqueeze(0); };  // [1, W]
  auto shift = [&](std::int64_t a, const torch::Tensor& faces, double sign) {
    c += sign * faces.to(torch::kFloat32).unsqueeze(1) * direction(a);
  };
  for (int a : attributes) {
    shift(a, signs.select(1, a) <= 0, 1.0);
    for (auto sibling : exclusive_siblings(a, attribute_names)) shift(sibling, signs.select(1, sibling) > 0, -1.0);
    c += emphasis * direction(a);
  }
  return c;
}

std::int64_t ConditionModel::width() const {
  if (mode == "features") return positive_mean.size(1);
  if (mode == "attributes") return static_cast<std::int64_t>(attribute_names.size());
  return 0;
}

void ConditionModel::save(Artifact& model) const {
  model.set_attr("condition", mode);
  model.set_attr("attribute_names", attribute_names);
  model.set_attr("condition.emphasis", emphasis);
  if (mode == "features") {
    model.set("condition.positive_mean", positive_mean);
    model.set("condition.negative_mean", negative_mean);
    model.set("condition.base_features", base_features);
  }
  if (mode != "none") model.set("condition.base_signs", base_signs);
}

ConditionModel ConditionModel::load(const Artifact& model) {
  ConditionModel m;
  m.mode = model.attr_string("condition");
  m.attribute_names = model.attr_strings("attribute_names");
  if (model.has_attr("condition.emphasis")) m.emphasis = model.attr_float("condition.emphasis");
  if ((m.mode == "features" || m.mode == "attributes") && !model.has("condition.base_signs")) {
    throw Error(
        "this generator model was made before requests started from kept training faces (it has no "
        "condition.base_signs): train it again, e.g. runner PIPELINE --rerun generator");
  }
  if (m.mode == "features") {
    m.positive_mean = model.get("condition.positive_mean").to(torch::kFloat32);
    m.negative_mean = model.get("condition.negative_mean").to(torch::kFloat32);
    m.base_features = model.get("condition.base_features").to(torch::kFloat32);
  }
  if (m.mode == "features" || m.mode == "attributes") {
    m.base_signs = model.get("condition.base_signs");
  } else if (m.mode != "none") {
    throw Error(fmt::format("the model's condition '{}' is none of features, attributes, none", m.mode));
  }
  return m;
}

torch::Tensor attribute_signs(const Artifact& attributes) {
  const auto scores = attributes.get("scores").to(torch::kFloat32);
  return torch::where(scores.isnan(), torch::zeros_like(scores), scores.sign());
}

std::int64_t dataset_rows(const Artifacts& inputs) {
  const auto n = inputs.at("images").num_rows("images");
  const auto scored = inputs.at("attributes").num_rows("scores");
  if (scored != n) {
    throw Error(
        fmt::format("images has {} rows but attributes has {}: connect outputs of one dataset step", n, scored));
  }
  return n;
}

torch::Tensor split_rows(const Artifacts& inputs, const std::string& subset, std::int64_t n) {
  torch::Tensor rows;
  if (inputs.count("split") != 0) {
    rows = inputs.at("split").get(subset).to(torch::kInt64).contiguous();
  } else {
    rows = subset == "train" ? torch::arange(n, torch::kInt64) : torch::empty({0}, torch::kInt64);
  }
  if (subset == "train" && rows.numel() == 0) throw Error("the training split is empty");
  return rows;
}

torch::Tensor evenly_spaced_rows(const torch::Tensor& rows, std::int64_t count) {
  const auto picks = torch::linspace(0, static_cast<double>(rows.numel() - 1), std::min(count, rows.numel()));
  return rows.index_select(0, picks.round().to(torch::kInt64));
}

TrainingData::TrainingData(const Artifacts& inputs, const std::string& mode, std::int64_t size, Context& ctx) {
  const Artifact& images = inputs.at("images");
  const Artifact& attributes = inputs.at("attributes");
  conditions.attribute_names = attributes.attr_strings("attribute_names");
  const auto n = dataset_rows(inputs);
  // Faces at the generator's size, kept in memory as uint8.
  images_ = torch::empty({n, 3, size, size}, torch::kUInt8);
  for (std::int64_t begin = 0; begin < n; begin += kSlice) {
    const auto end = std::min(n, begin + kSlice);
    auto x = images.rows("images", begin, end).to(torch::kFloat32);
    if (x.size(2) != size || x.size(3) != size) {
      x = torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                    .size(std::vector<std::int64_t>{size, size})
                                                    .mode(torch::kArea));
    }
    images_.slice(0, begin, end).copy_(x.round().clamp(0, 255).to(torch::kUInt8));
  }
  const auto signs = attribute_signs(attributes);
  train_rows = split_rows(inputs, "train", n);
  test_rows = split_rows(inputs, "test", n);

  conditions.mode = mode;
  // The faces requests start from: training faces evenly spaced.
  starting_rows = evenly_spaced_rows(train_rows, kStartingFaces);
  if (mode != "none") conditions.base_signs = signs.index_select(0, starting_rows).to(torch::kInt8);
  if (mode == "attributes") {
    condition_ = signs;
  } else if (mode == "features") {
    if (inputs.count("features") == 0) {
      throw Error(
          "condition: features needs the 'features' input (fc7 from an extract step); or use condition: attributes");
    }
    const Artifact& features = inputs.at("features");
    if (features.num_rows("features") != n) {
      throw Error(fmt::format("features has {} rows, images {}: extract them from the same images",
                              features.num_rows("features"), n));
    }
    auto f = features.get("features").to(torch::kFloat32);
    const auto train = f.index_select(0, train_rows);
    condition_ = (f - train.mean(0)) / train.std(0).clamp_min(1e-6);
    conditions.base_features = condition_.index_select(0, starting_rows);
    // Per attribute, the mean of the training faces that have it and of those
    // that do not (zeros where either has fewer than two faces).
    const auto a = signs.size(1), width = condition_.size(1);
    conditions.positive_mean = torch::zeros({a, width});
    conditions.negative_mean = torch::zeros({a, width});
    const auto cond_train = condition_.index_select(0, train_rows);
    const auto signs_train = signs.index_select(0, train_rows);
    for (std::int64_t k = 0; k < a; ++k) {
      const auto positive = cond_train.index({signs_train.select(1, k) > 0});
      const auto negative = cond_train.index({signs_train.select(1, k) < 0});
      if (positive.size(0) >= 2 && negative.size(0) >= 2) {
        conditions.positive_mean[k] = positive.mean(0);
        conditions.negative_mean[k] = negative.mean(0);
      }
    }
  }
  ctx.info("{} faces at {}x{} ({} train, {} test), condition: {} ({} wide)", n, size, size, train_rows.numel(),
           test_rows.numel(), mode, condition_width());
}

torch::Tensor TrainingData::pixels(const torch::Tensor& rows) const {
  return images_.index_select(0, rows).to(torch::kFloat32) / 255.0f;
}

torch::Tensor TrainingData::condition(const torch::Tensor& rows) const {
  return condition_.defined() ? condition_.index_select(0, rows) : torch::Tensor();
}

torch::Tensor TrainingData::shuffled_train_rows(std::mt19937_64& rng) const {
  std::vector<std::int64_t> order(train_rows.data_ptr<std::int64_t>(),
                                  train_rows.data_ptr<std::int64_t>() + train_rows.numel());
  std::shuffle(order.begin(), order.end(), rng);
  return torch::tensor(order, torch::kInt64);
}

std::string grid_png(const torch::Tensor& images, int scale) {
  const auto r = images.size(0), k = images.size(1), h = images.size(3), w = images.size(4);
  auto grid = images.clamp(0, 1)
                  .mul(255)
                  .round()
                  .to(torch::kUInt8)         // [R, K, 3, H, W]
                  .permute({0, 3, 1, 4, 2})  // [R, H, K, W, 3]
                  .reshape({r * h, k * w, 3})
                  .flip(2)  // RGB -> BGR for OpenCV
                  .contiguous();
  cv::Mat mat(static_cast<int>(r * h), static_cast<int>(k * w), CV_8UC3, grid.data_ptr());
  cv::Mat big;
  cv::resize(mat, big, cv::Size(), scale, scale, cv::INTER_NEAREST);
  std::vector<uchar> png;
  cv::imencode(".png", big, png);
  return {png.begin(), png.end()};
}

Artifact samples_artifact(const std::vector<std::string>& names, const std::vector<std::vector<int>>& requests,
                          const std::vector<std::string>& texts, const torch::Tensor& faces, Context& ctx) {
  ctx.save_file("samples.png", grid_png(faces, 2));
  const auto r = faces.size(0), k = faces.size(1);
  auto requested = torch::zeros({r, static_cast<std::int64_t>(names.size())}, torch::kInt64);
  for (std::int64_t i = 0; i < r; ++i) {
    for (int a : requests[static_cast<size_t>(i)]) requested[i][a] = 1;
  }
  Artifact samples;
  samples.set("images", faces.flatten(0, 1).clamp(0, 1).mul(255).round().to(torch::kUInt8));
  samples.set("request", torch::arange(r, torch::kInt64).repeat_interleave(k));
  samples.set("requested", requested);
  samples.set_attr("requests", texts);
  samples.set_attr("attribute_names", names);
  return samples;
}

Artifacts finish(Artifact model, const ConditionModel& conditions, const Params& params, Context& ctx) {
  conditions.save(model);
  model.set_attr("sampler", std::string("sample"));
  const auto texts = params.get_string_list("requests");
  const auto requests = parse_requests(texts, conditions.attribute_names);
  const auto faces = sample_faces(model, requests, params.get_int("per_request"), ctx.seed(), ctx.group());
  if (!faces.defined()) return {{"model", model}, {"samples", Artifact()}};  // a rank other than 0: not kept
  return {{"model", model}, {"samples", samples_artifact(conditions.attribute_names, requests, texts, faces, ctx)}};
}

void seed_noise_per_rank(Context& ctx) {
  const auto rank = static_cast<std::uint64_t>(ctx.group().rank());
  if (rank == 0) return;
  torch::manual_seed((ctx.seed() + 0x9E3779B97F4A7C15ULL * rank) & 0x7fffffffffffffffULL);
}

}  // namespace facet::generators

#include "generator_io.hpp"

#include <torch/torch.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <facet/errors.hpp>

#include "models.hpp"

namespace facet::generators {

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

std::vector<PortSpec> input_ports() {
  return {{"images", "images [N, 3, S, S] uint8"},
          {"attributes", "scores [N, A] with attribute_names (the dataset's attributes output)"},
          {"split", "train/val/test rows (generators train on train)", true},
          {"features", "features [N, D] of the same rows (from extract), for condition: features", true},
          {"classifier", "the trained vggface model, for generators that optimise faces through it", true}};
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

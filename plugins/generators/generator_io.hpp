#pragma once

// What every generator step shares (draw, gan, invert): the inputs, the
// training data and its condition vectors, attribute requests, and the
// outputs `model` and `samples`, so swapping generators is a one-line
// `uses:` edit.

#include <functional>
#include <random>
#include <string>
#include <vector>

#include <facet/artifact.hpp>
#include <facet/context.hpp>
#include <facet/params.hpp>
#include <facet/step.hpp>

namespace facet::generators {

/// Training faces kept in a generator's model: requests start from them.
constexpr std::int64_t kStartingFaces = 4096;

/// The `requests` parameter: attribute requests, one comma-separated string each.
ParamSpec requests_spec();
/// The `per_request` parameter: faces drawn for each request.
ParamSpec per_request_spec();
/// The `emphasis` parameter of generators that turn requests into condition vectors (draw, gan).
ParamSpec emphasis_spec();
/// The outputs every generator declares.
std::vector<PortSpec> output_ports();

/// Attribute indices of each request; errors name the request.
std::vector<std::vector<int>> parse_requests(const std::vector<std::string>& requests,
                                             const std::vector<std::string>& attribute_names);

/// `count` requests drawn (from `seed`) from the attribute combinations of
/// real faces: each takes a random face of `rows` and up to `per_request` of
/// its present attributes at random, at most one per PubFig group and only
/// among `allowed` (the dataset's rendered attributes where it names them,
/// else every attribute). No request repeats; texts list the attributes in
/// the dataset's order.
std::vector<std::string> held_out_requests(const Artifact& attributes, const torch::Tensor& rows, std::int64_t count,
                                           std::int64_t per_request, std::uint64_t seed);

/// The inputs every generator declares (each uses what it needs).
std::vector<PortSpec> input_ports();

/// Rows of `signs` [K, A] (+1, -1, 0) that have the most of a request: its
/// attributes present and their exclusive siblings absent (one point each).
std::vector<std::int64_t> closest_rows(const torch::Tensor& signs, const std::vector<int>& attributes,
                                       const std::vector<std::string>& attribute_names);
/// `count` rows [count] drawn at random among the closest_rows.
torch::Tensor pick_closest(const torch::Tensor& signs, const std::vector<int>& attributes,
                           const std::vector<std::string>& attribute_names, std::int64_t count, std::mt19937_64& rng);

/// Turns attribute requests into condition vectors. Built from the training
/// data, saved into the model artifact and loaded back by the sampler.
struct ConditionModel {
  std::string mode = "none";  ///< features, attributes or none
  std::vector<std::string> attribute_names;
  torch::Tensor
      positive_mean;  ///< features: [A, W], normalised fc7 averaged over the training faces with each attribute
  torch::Tensor negative_mean;  ///< features: [A, W], the same over those without it
  torch::Tensor base_features;  ///< features: [K, W] of K training faces
  torch::Tensor base_signs;     ///< [K, A] int8 attribute signs of the same faces
  double emphasis = 0.0;        ///< extra moves along each requested attribute's direction (0 in models made before it)

  /// `count` condition vectors for a request (undefined when unconditioned),
  /// each from one of the K training faces that already have the most of the
  /// request (drawn at random among them), changed to have the requested
  /// attributes and none of their exclusive siblings. attributes:
  /// those set to +1, the siblings to -1; features: a face moves by
  /// mean(with) - mean(without) for each requested attribute it lacks, and
  /// back by that of each sibling it has. Then each requested attribute
  /// moves `emphasis` times further along its direction: features, by
  /// emphasis x (mean(with) - mean(without)); attributes, to 1 + 2 emphasis
  /// (the move from -1 to +1, emphasis times more).
  torch::Tensor request(const std::vector<int>& attributes, std::int64_t count, std::mt19937_64& rng) const;
  std::int64_t width() const;
  void save(Artifact& model) const;
  static ConditionModel load(const Artifact& model);
};

/// The attributes input's scores as signs [N, A]: +1, -1, 0 where unknown.
torch::Tensor attribute_signs(const Artifact& attributes);
/// At most `count` of `rows` [K], evenly spaced (the first and the last included).
torch::Tensor evenly_spaced_rows(const torch::Tensor& rows, std::int64_t count);
/// Rows of the images and attributes inputs; an error when they differ.
std::int64_t dataset_rows(const Artifacts& inputs);
/// Rows of `subset` (train or test) from the split input; without one, every
/// row trains and none tests. An empty training split is an error.
torch::Tensor split_rows(const Artifacts& inputs, const std::string& subset, std::int64_t n);

/// Faces (resized to the generator's size) and their condition vectors.
class TrainingData {
 public:
  /// `mode`: features, attributes or none.
  TrainingData(const Artifacts& inputs, const std::string& mode, std::int64_t size, Context& ctx);

  std::int64_t condition_width() const { return condition_.defined() ? condition_.size(1) : 0; }
  /// Images of `rows` as float [B, 3, size, size] in [0, 1].
  torch::Tensor pixels(const torch::Tensor& rows) const;
  /// Condition vectors of `rows` (undefined when unconditioned).
  torch::Tensor condition(const torch::Tensor& rows) const;
  torch::Tensor shuffled_train_rows(std::mt19937_64& rng) const;

  torch::Tensor train_rows, test_rows;
  /// The kStartingFaces training rows (evenly spaced) whose faces requests start from.
  torch::Tensor starting_rows;
  ConditionModel conditions;  ///< also holds the dataset's attribute names

 private:
  torch::Tensor images_;     ///< uint8 [N, 3, size, size]
  torch::Tensor condition_;  ///< [N, W] (normalised features, or signs)
};

/// The generator behind a model artifact (its `architecture` attribute),
/// rebuilt once to draw faces for requests.
class FaceSampler {
 public:
  explicit FaceSampler(const Artifact& model);
  FaceSampler(const FaceSampler&) = delete;  // its generator refers to it
  FaceSampler& operator=(const FaceSampler&) = delete;
  /// `n` faces [n, 3, S, S] in [0, 1] for `request`, drawing from `rng` and torch's generator.
  torch::Tensor faces(const std::vector<int>& request, std::int64_t n, std::mt19937_64& rng);

 private:
  ConditionModel conditions_;
  std::function<torch::Tensor(const std::vector<int>&, std::int64_t, std::mt19937_64&)> draw_;
};

/// `per_request` faces for each request, [R, K, 3, S, S] in [0, 1]. Each
/// request draws from a seed of its own (`seed` and its position), so the
/// ranks of `group` share the requests out and rank 0 gets what one process
/// draws; the other ranks get an undefined tensor. Every generator step and
/// `sample` draw through this.
torch::Tensor sample_faces(const Artifact& model, const std::vector<std::vector<int>>& requests,
                           std::int64_t per_request, std::uint64_t seed, Group& group);

/// A grid of images [R, K, 3, H, W] in [0, 1] as PNG, each pixel `scale` x `scale`.
std::string grid_png(const torch::Tensor& images, int scale);

/// The `samples` artifact from faces [R, K, 3, S, S] in [0, 1]; also saves samples.png.
Artifact samples_artifact(const std::vector<std::string>& attribute_names,
                          const std::vector<std::vector<int>>& requests, const std::vector<std::string>& texts,
                          const torch::Tensor& faces, Context& ctx);

/// A generator step's outputs: its model (with `sampler: sample` and the
/// condition model added) and the samples for the `requests` parameter,
/// drawn by the ranks together (on ranks other than 0 the samples are empty).
Artifacts finish(Artifact model, const ConditionModel& conditions, const Params& params, Context& ctx);

/// On ranks other than 0 of a data-parallel step, a torch seed of their own
/// (after the model is built from the step's seed): their noise must not
/// repeat rank 0's. Rank 0 keeps the stream one process would draw.
void seed_noise_per_rank(Context& ctx);

}  // namespace facet::generators

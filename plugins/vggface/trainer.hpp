#pragma once

#include <functional>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include <facet/row_batches.hpp>
#include <vggface/attribute_heads.hpp>
#include "facet/artifact.hpp"
#include "facet/context.hpp"
#include "facet/group.hpp"
#include "facet/params.hpp"

namespace facet::vggface {

/// Solver settings shared by the steps that train heads.
struct TrainOptions {
  std::string optimizer = "sgd";  ///< sgd (with momentum) or adam
  double lr = 0.01, momentum = 0.9, weight_decay = 5e-4;
  std::int64_t epochs = 10, batch_size = 64;
  std::string schedule = "cosine";  ///< constant, step or cosine
  std::int64_t step_epochs = 10;    ///< step: multiply by gamma every this many epochs
  double gamma = 0.1;
  bool balanced = false;          ///< per-class loss weights n / (k n_c), for imbalanced attributes
  bool majority_fallback = true;  ///< heads not clearly better than their majority class on validation predict it

  /// The parameter table entries of these settings, and reading them back.
  static std::vector<facet::ParamSpec> specs(const TrainOptions& defaults);
  static TrainOptions from(const facet::Params& params);
};

/// One epoch of training history.
struct EpochRecord {
  double train_loss = 0, train_accuracy = 0, val_loss = 0, val_accuracy = 0, lr = 0, seconds = 0;
};

/// Network output for rows [rows.begin, rows.end) of one batch: raw stored
/// rows in, head logits out. Random augmentation draws for the whole batch
/// before keeping `rows`, so every rank of a data-parallel step draws the
/// same numbers as one process would.
using Forward = std::function<torch::Tensor(const torch::Tensor& raw, bool training, const facet::Share& rows)>;

/// What head training reads, travelling together: the network's output,
/// the training and validation rows, every row's labels [N, H] (-1 unknown)
/// and each head's number of classes.
struct HeadData {
  const Forward& forward;
  const RowBatches& train;
  const RowBatches& val;
  const torch::Tensor& labels;
  const std::vector<std::int64_t>& num_classes;
};

/// Trains the trainable parameters of `model` with the masked sum of head
/// cross-entropies, keeps the weights of the epoch with the best validation
/// accuracy (mean over heads) and restores them at the end. Data-parallel
/// over ctx.group(): every rank walks the same shuffled batches and computes
/// its share of each (facet::share_of), gradients are summed (GradientSum)
/// and the losses divided by the whole batch's label counts, so the ranks
/// together take the steps one process would.
std::vector<EpochRecord> train_heads(torch::nn::Module& model, const HeadData& data, const TrainOptions& options,
                                     std::mt19937_64& rng, facet::Context& ctx);

/// Per-head model selection on validation: a head whose validation accuracy
/// does not beat always predicting its most common training class by more
/// than two standard errors becomes that constant predictor. Returns the
/// indices of the heads replaced.
std::vector<std::int64_t> apply_majority_fallback(AttributeHeadsImpl& heads, const HeadData& data,
                                                  std::int64_t batch_size, std::mt19937_64& rng);

/// apply_majority_fallback, reported: the heads replaced are logged by name
/// and counted in the metric majority_fallback_heads.
void select_heads_on_validation(AttributeHeadsImpl& heads, const HeadData& data,
                                const std::vector<std::string>& head_names, std::int64_t batch_size,
                                std::mt19937_64& rng, facet::Context& ctx);

/// The `history` artifact: one tensor per column of the records.
facet::Artifact history_artifact(const std::vector<EpochRecord>& history);

/// Training curves as a PNG: loss and mean head accuracy per epoch, train and validation.
std::string plot_history(const std::vector<EpochRecord>& history, const std::string& title);

/// Mean over heads of the accuracy on known labels, and the loss, of `rows`
/// (data.train or data.val); each rank of `group` evaluates its share of every batch.
std::pair<double, double> evaluate_heads(const HeadData& data, const RowBatches& rows, std::int64_t batch_size,
                                         std::mt19937_64& rng, facet::Group& group = facet::single_process());

}  // namespace facet::vggface

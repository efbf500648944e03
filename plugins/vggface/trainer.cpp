#include "trainer.hpp"

#include <chrono>
#include <cmath>

#include <fmt/ranges.h>

#include <facet/row_batches.hpp>
#include <vggface/attribute_heads.hpp>
#include "facet/errors.hpp"
#include "facet/plot.hpp"

namespace facet::vggface {

using facet::ParamSpec;

std::vector<ParamSpec> TrainOptions::specs(const TrainOptions& d) {
  return {
      ParamSpec::choice("optimizer", d.optimizer, {"sgd", "adam"}, "sgd with momentum (the original solver) or adam"),
      ParamSpec::real("lr", d.lr, "initial learning rate").range(0.0, 10.0),
      ParamSpec::real("momentum", d.momentum, "SGD momentum").range(0.0, 1.0),
      ParamSpec::real("weight_decay", d.weight_decay, "L2 weight decay on trainable parameters").range(0.0, 1.0),
      ParamSpec::integer("epochs", d.epochs, "passes over the training split").range(1, 100000),
      ParamSpec::integer("batch_size", d.batch_size, "images per step").range(1, 65536),
      ParamSpec::choice("schedule", d.schedule, {"constant", "step", "cosine"}, "learning-rate schedule over epochs"),
      ParamSpec::integer("step_epochs", d.step_epochs, "schedule step: epochs between decays").range(1, 100000),
      ParamSpec::real("gamma", d.gamma, "schedule step: decay factor").range(0.0, 1.0),
      ParamSpec::flag("balanced", d.balanced, "weight each class by n / (k n_c) in the loss (imbalanced attributes)"),
      ParamSpec::flag(
          "majority_fallback", d.majority_fallback,
          "a head not better than its majority class on validation (by two standard errors) predicts that class")};
}

TrainOptions TrainOptions::from(const facet::Params& p) {
  TrainOptions o;
  o.optimizer = p.get_string("optimizer");
  o.lr = p.get_float("lr");
  o.momentum = p.get_float("momentum");
  o.weight_decay = p.get_float("weight_decay");
  o.epochs = p.get_int("epochs");
  o.batch_size = p.get_int("batch_size");
  o.schedule = p.get_string("schedule");
  o.step_epochs = p.get_int("step_epochs");
  o.gamma = p.get_float("gamma");
  o.balanced = p.get_bool("balanced");
  o.majority_fallback = p.get_bool("majority_fallback");
  return o;
}

namespace {

double lr_at(const TrainOptions& o, std::int64_t epoch) {
  if (o.schedule == "step") return o.lr * std::pow(o.gamma, static_cast<double>(epoch / o.step_epochs));
  if (o.schedule == "cosine")
    return 0.5 * o.lr * (1.0 + std::cos(M_PI * static_cast<double>(epoch) / static_cast<double>(o.epochs)));
  return o.lr;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::vector<torch::Tensor>& params,
                                                        const TrainOptions& o) {
  if (o.optimizer == "adam") {
    return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
  }
  return std::make_unique<torch::optim::SGD>(
      params, torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay));
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

/// Correct and known label counts per head, accumulated over batches.
struct HeadCounts {
  torch::Tensor correct, known;
  /// Adds the other ranks' counts (every rank calls it; a rank without rows counts zeros).
  void sum_over(facet::Group& group, std::int64_t heads) {
    if (group.size() == 1) return;
    auto both = torch::zeros({2, heads}, torch::kFloat64);
    if (known.defined()) {
      both[0].copy_(correct.cpu());
      both[1].copy_(known.cpu());
    }
    group.sum(both);
    if (both[1].sum().item<double>() == 0) {
      *this = {};  // no rank had a row
      return;
    }
    correct = both[0];
    known = both[1];
  }
  void add(const torch::Tensor& predicted, const torch::Tensor& labels) {
    const auto mask = labels >= 0;
    const auto c = ((predicted == labels) & mask).sum(0).to(torch::kFloat64);
    const auto k = mask.sum(0).to(torch::kFloat64);
    correct = correct.defined() ? correct + c : c;
    known = known.defined() ? known + k : k;
  }
  double mean_accuracy() const {
    if (!known.defined()) return std::nan("");  // no rows at all (an empty validation split)
    const auto has = known > 0;
    return has.any().item<bool>() ? (correct.index({has}) / known.index({has})).mean().item<double>() : 0.0;
  }
};

std::vector<torch::Tensor> snapshot(torch::nn::Module& model) {
  std::vector<torch::Tensor> state;
  for (const auto& p : model.parameters()) state.push_back(p.detach().clone());
  for (const auto& b : model.buffers()) state.push_back(b.detach().clone());
  return state;
}

void restore(torch::nn::Module& model, const std::vector<torch::Tensor>& state) {
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& p : model.parameters()) p.copy_(state[i++]);
  for (auto& b : model.buffers()) b.copy_(state[i++]);
}

}  // namespace

std::vector<std::int64_t> apply_majority_fallback(AttributeHeadsImpl& heads, const HeadData& data,
                                                  std::int64_t batch_size, std::mt19937_64& rng) {
  const auto& forward = data.forward;
  const auto& train = data.train;
  const auto& val = data.val;
  const auto& labels = data.labels;
  const auto& num_classes = data.num_classes;
  if (val.size() == 0) return {};
  torch::NoGradGuard no_grad;
  HeadCounts model;
  std::vector<torch::Tensor> val_labels;
  val.for_each(batch_size, /*shuffle=*/false, rng, [&](const torch::Tensor& raw, const torch::Tensor& index) {
    const auto y = labels.index_select(0, index);
    model.add(predict_classes(forward(raw, false, {0, raw.size(0)}), num_classes).cpu(), y);
    val_labels.push_back(y);
  });
  const auto train_labels = labels.index_select(0, torch::tensor(train.rows(), torch::kInt64));
  const auto y_val = torch::cat(val_labels);
  std::vector<std::int64_t> replaced;
  for (size_t h = 0; h < num_classes.size(); ++h) {
    const auto column = train_labels.select(1, static_cast<std::int64_t>(h));
    const auto known = column.index({column >= 0});
    if (known.numel() == 0) continue;
    const auto majority = torch::bincount(known, {}, num_classes[h]).argmax().item<std::int64_t>();
    const auto v = y_val.select(1, static_cast<std::int64_t>(h));
    const auto v_known = v >= 0;
    const double n = v_known.sum().item<double>();
    if (n == 0) continue;
    const double constant = (v.index({v_known}) == majority).sum().item<double>() / n;
    const double trained = model.correct[static_cast<std::int64_t>(h)].item<double>() / n;
    // Keep the head only when it beats the constant by more than two standard
    // errors of the constant's accuracy: luck on a small validation split
    // must not decide for a head that learned nothing.
    const double margin = 2.0 * std::sqrt(constant * (1.0 - constant) / n);
    if (trained <= constant + margin) {
      heads.set_constant(static_cast<std::int64_t>(h), majority);
      replaced.push_back(static_cast<std::int64_t>(h));
    }
  }
  return replaced;
}

void select_heads_on_validation(AttributeHeadsImpl& heads, const HeadData& data,
                                const std::vector<std::string>& head_names, std::int64_t batch_size,
                                std::mt19937_64& rng, facet::Context& ctx) {
  const auto replaced = apply_majority_fallback(heads, data, batch_size, rng);
  const auto& num_classes = data.num_classes;
  std::vector<std::string> names;
  for (auto h : replaced) names.push_back(head_names.at(static_cast<size_t>(h)));
  ctx.info("{} of {} heads not clearly better than their majority class on validation now predict it{}{}",
           replaced.size(), num_classes.size(), replaced.empty() ? "" : ": ", fmt::join(names, ", "));
  ctx.metric("majority_fallback_heads", static_cast<double>(replaced.size()));
}

facet::Artifact history_artifact(const std::vector<EpochRecord>& history) {
  facet::Artifact out;
  auto column = [&](double EpochRecord::*field) {
    std::vector<double> v;
    for (const auto& r : history) v.push_back(r.*field);
    return torch::tensor(v, torch::kFloat64);
  };
  out.set("train_loss", column(&EpochRecord::train_loss));
  out.set("train_accuracy", column(&EpochRecord::train_accuracy));
  out.set("val_loss", column(&EpochRecord::val_loss));
  out.set("val_accuracy", column(&EpochRecord::val_accuracy));
  out.set("lr", column(&EpochRecord::lr));
  return out;
}

std::string plot_history(const std::vector<EpochRecord>& history, const std::string& title) {
  std::string data;
  for (size_t e = 0; e < history.size(); ++e) {
    const auto& r = history[e];
    data += fmt::format("{} {} {} {} {}\n", e + 1, r.train_loss, r.val_loss, r.train_accuracy, r.val_accuracy);
  }
  const std::string script = fmt::format(
      "set multiplot layout 1,2 title '{}' noenhanced\nset xlabel 'epoch'\nset grid\nset key top right\n"
      "set ylabel 'loss (sum over heads)'\nplot 'h.dat' using 1:2 with linespoints pt 7 ps 0.6 title 'train', "
      "'' using 1:3 with linespoints pt 7 ps 0.6 title 'validation'\nset key bottom right\n"
      "set ylabel 'mean head accuracy'\nplot 'h.dat' using 1:4 with linespoints pt 7 ps 0.6 title 'train', "
      "'' using 1:5 with linespoints pt 7 ps 0.6 title 'validation'\nunset multiplot",
      title);
  return facet::gnuplot_png(script, {{"h.dat", data}}, 1000, 420);
}

std::pair<double, double> evaluate_heads(const HeadData& data, const RowBatches& rows, std::int64_t batch_size,
                                         std::mt19937_64& rng, facet::Group& group) {
  const auto& forward = data.forward;
  const auto& labels = data.labels;
  const auto& num_classes = data.num_classes;
  torch::NoGradGuard no_grad;
  HeadCounts counts;
  auto loss = torch::zeros({1}, torch::kFloat64);
  std::int64_t batches = 0;
  rows.for_each(batch_size, /*shuffle=*/false, rng, [&](const torch::Tensor& raw, const torch::Tensor& index) {
    ++batches;
    const auto share = facet::share_of(raw.size(0), group.rank(), group.size());
    if (share.size() == 0) return;
    const auto logits = forward(raw, false, share);
    const auto batch_labels = labels.index_select(0, index);
    const auto y = batch_labels.slice(0, share.begin, share.end).to(logits.device());
    const auto denominators = head_loss_denominators(batch_labels, num_classes);
    loss += masked_heads_loss(logits, y, num_classes, {}, denominators).detach().to(torch::kCPU, torch::kFloat64);
    counts.add(predict_classes(logits, num_classes), y);
  });
  counts.sum_over(group, static_cast<std::int64_t>(num_classes.size()));
  group.sum(loss);
  return {counts.mean_accuracy(), batches > 0 ? loss.item<double>() / static_cast<double>(batches) : std::nan("")};
}

namespace {

/// The largest batch left out: batch norm after fc6/fc7 needs two rows on
/// every rank, so a last batch with fewer is skipped (every rank sees the
/// whole batch's size, so all agree). Fails when the training rows cannot
/// fill one batch.
std::int64_t smallest_batch_for(torch::nn::Module& model, const RowBatches& train, const facet::Group& group) {
  std::int64_t smallest = 1;
  for (const auto& m : model.modules()) {
    if (dynamic_cast<const torch::nn::BatchNorm1dImpl*>(m.get()) != nullptr) smallest = 2 * group.size();
  }
  if (train.size() < smallest) {
    throw facet::Error(fmt::format("the training split has {} image{}: batch normalisation needs at least {}",
                                   train.size(), train.size() == 1 ? "" : "s", smallest));
  }
  return smallest;
}

/// The epochs' shared state: optimiser, gradient sums, class weights.
struct HeadTraining {
  torch::nn::Module& model;
  const HeadData& data;
  const TrainOptions& options;
  facet::Context& ctx;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  facet::GradientSum gradients;
  torch::Tensor weights, device_weights;  ///< balanced class weights (undefined when not balanced)
  std::int64_t smallest_batch = 1;

  /// One pass over the shuffled training rows: fills the record's train loss and accuracy.
  void train_epoch(std::int64_t epoch, EpochRecord& record, std::mt19937_64& rng) {
    auto& group = ctx.group();
    const auto& forward = data.forward;
    const auto& train = data.train;
    const auto& labels = data.labels;
    const auto& num_classes = data.num_classes;
    const auto device = model.parameters().front().device();
    model.train();
    HeadCounts counts;
    // Summed on the device and read once per epoch: no host sync per batch.
    auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
    const auto batches = (train.size() + options.batch_size - 1) / options.batch_size;
    auto progress = ctx.progress(fmt::format("epoch {}/{}", epoch + 1, options.epochs), batches, "batches");
    std::int64_t trained = 0;
    train.for_each(
        options.batch_size, /*shuffle=*/true, rng, [&](const torch::Tensor& raw, const torch::Tensor& index) {
          progress->advance(1);
          if (raw.size(0) < smallest_batch) {
            if (epoch == 0) {
              ctx.warn(
                  "the last batch of each epoch ({} of {} training images) is left out: batch normalisation needs 2 "
                  "images on each of {} rank{}",
                  raw.size(0), train.size(), group.size(), group.size() == 1 ? "" : "s");
            }
            return;
          }
          ++trained;
          optimizer->zero_grad();
          const auto share = facet::share_of(raw.size(0), group.rank(), group.size());
          if (share.size() > 0) {
            const auto logits = forward(raw, true, share);
            const auto batch_labels = labels.index_select(0, index);
            const auto y = batch_labels.slice(0, share.begin, share.end).to(logits.device());
            const auto denominators = head_loss_denominators(batch_labels, num_classes, weights);
            auto loss = masked_heads_loss(logits, y, num_classes, device_weights, denominators);
            loss.backward();
            loss_sum += loss.detach().to(torch::kFloat64);
            counts.add(predict_classes(logits.detach(), num_classes), y);
          }
          gradients.finish();
          optimizer->step();
        });
    progress.reset();
    auto loss_total = loss_sum.cpu().reshape({1});
    group.sum(loss_total);
    counts.sum_over(group, static_cast<std::int64_t>(num_classes.size()));
    gradients.share_buffers();
    record.train_loss = loss_total.item<double>() / static_cast<double>(trained);
    record.train_accuracy = counts.mean_accuracy();
  }

  void report(std::int64_t epoch, const EpochRecord& record) {
    ctx.info("epoch {}/{}: train loss {:.4f} acc {:.4f} | val loss {:.4f} acc {:.4f} | lr {:.2e} | {:.1f} s", epoch + 1,
             options.epochs, record.train_loss, record.train_accuracy, record.val_loss, record.val_accuracy, record.lr,
             record.seconds);
    ctx.scalar("train/loss", epoch + 1, record.train_loss);
    ctx.scalar("train/accuracy", epoch + 1, record.train_accuracy);
    if (data.val.size() > 0) {
      ctx.scalar("val/loss", epoch + 1, record.val_loss);
      ctx.scalar("val/accuracy", epoch + 1, record.val_accuracy);
    }
    ctx.scalar("lr", epoch + 1, record.lr);
  }
};

}  // namespace

std::vector<EpochRecord> train_heads(torch::nn::Module& model, const HeadData& data, const TrainOptions& options,
                                     std::mt19937_64& rng, facet::Context& ctx) {
  std::vector<torch::Tensor> trainable;
  for (const auto& p : model.parameters()) {
    if (p.requires_grad()) trainable.push_back(p);
  }
  if (trainable.empty()) throw facet::Error("nothing to train: every parameter is frozen");
  if (data.train.size() == 0) throw facet::Error("the training split is empty");
  if (data.val.size() == 0)
    ctx.warn("the validation split is empty: the last epoch is kept and no head falls back to its majority class");
  HeadTraining training{model, data, options, ctx, make_optimizer(trainable, options), {ctx.group(), model}};
  if (options.balanced) {
    std::vector<std::int64_t> all;  // class weights from the training rows' labels
    data.train.for_each(65536, false, rng, [&](const torch::Tensor&, const torch::Tensor& rows) {
      for (std::int64_t i = 0; i < rows.numel(); ++i) all.push_back(rows[i].item<std::int64_t>());
    });
    training.weights =
        balanced_class_weights(data.labels.index_select(0, torch::tensor(all, torch::kInt64)), data.num_classes);
  }
  auto& group = ctx.group();
  training.smallest_batch = smallest_batch_for(model, data.train, group);
  const auto device = model.parameters().front().device();
  training.device_weights = training.weights.defined() ? training.weights.to(device) : training.weights;

  std::vector<EpochRecord> history;
  std::vector<torch::Tensor> best;
  double best_accuracy = -1;
  for (std::int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    const auto started = std::chrono::steady_clock::now();
    EpochRecord record;
    record.lr = lr_at(options, epoch);
    set_lr(*training.optimizer, record.lr);
    training.train_epoch(epoch, record, rng);
    model.eval();
    std::tie(record.val_accuracy, record.val_loss) = evaluate_heads(data, data.val, options.batch_size, rng, group);
    record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    training.report(epoch, record);
    if (data.val.size() == 0 || record.val_accuracy > best_accuracy) {
      best_accuracy = record.val_accuracy;
      best = snapshot(model);
    }
    history.push_back(record);
  }
  if (group.size() > 1) {
    double seconds = 0;
    for (const auto& r : history) seconds += r.seconds;
    ctx.info("{} ranks: {:.2f} s of {:.1f} s waiting for gradient sums (the part not hidden behind the backward pass)",
             group.size(), training.gradients.wait_seconds(), seconds);
    ctx.metric("gradient_sum_wait_seconds", training.gradients.wait_seconds());
  }
  restore(model, best);
  model.eval();
  return history;
}

}  // namespace facet::vggface

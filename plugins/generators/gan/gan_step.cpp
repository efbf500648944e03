// gan: trains a conditional DCGAN on a dataset's faces, conditioned on the
// attribute vector (or fc7 features), and draws faces for attribute requests.
#include <array>

#include <facet/plugin.hpp>
#include <facet/precision.hpp>

#include "gan_model.hpp"
#include "generator_io.hpp"
#include "models.hpp"

namespace gan = facet::generators::gan;

namespace {

using facet::Artifacts;
using facet::ParamSpec;
namespace gen = facet::generators;

class GanStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {
        "gan",
        "1.7",
        "Conditional DCGAN: attributes (or fc7 features) join the generator's noise and the discriminator's first "
        "layer",
        "generator",
        {ParamSpec::choice("condition", "attributes", {"attributes", "features", "none"},
                           "attributes: the +1/-1 attribute vector; features: the image's fc7 (training) / a target "
                           "fc7 from per-attribute Gaussians (generation); none: unconditioned"),
         ParamSpec::integer("size", 32, "image width and height (a power of two)").range(16, 256),
         ParamSpec::integer("noise", 64, "z width").range(1, 4096),
         ParamSpec::integer("width", 32,
                            "channels at full scale, doubled at each halving (DCGAN: 64; 32 trains 2.5x faster here)")
             .range(1, 1024),
         ParamSpec::integer("embedding", 32, "condition maps joined to the discriminator after its first layer")
             .range(1, 1024),
         ParamSpec::flag("spectral_norm", true,
                         "spectral normalisation of the discriminator (false: batch norm, as DCGAN)"),
         ParamSpec::integer("epochs", 10,
                            "passes over the training images (about 30 s each at 32 px on 14K faces, 2 cores)")
             .range(1, 100000),
         ParamSpec::integer("batch_size", 64, "images per step").range(2, 65536),
         ParamSpec::real("lr", 2e-4, "Adam learning rate of both networks").range(0.0, 1.0),
         ParamSpec::real("beta1", 0.5, "Adam beta1 (DCGAN: 0.5)").range(0.0, 1.0),
         ParamSpec::real("real_label", 0.9, "one-sided label smoothing: the real target (1 = none)").range(0.5, 1.0),
         ParamSpec::flag("mismatch", true,
                         "matching-aware discriminator: real faces with another face's condition "
                         "count as fakes (Reed et al. 2016)"),
         facet::precision_spec(), gen::emphasis_spec(), gen::requests_spec(), gen::per_request_spec()},
        gen::input_ports(),
        gen::output_ports(),
        facet::Parallelism::DataParallel};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const std::int64_t size = params.get_int("size");
    if ((size & (size - 1)) != 0) {
      throw facet::Error(
          fmt::format("size {} is not a power of two: the GAN doubles 4x4 up to the image (try 16, 32, 64)", size));
    }
    gen::TrainingData data(inputs, params.get_string("condition"), size, ctx);
    data.conditions.emphasis = params.get_float("emphasis");
    gen::parse_requests(params.get_string_list("requests"), data.conditions.attribute_names);  // fail before training
    torch::manual_seed(static_cast<std::uint64_t>(ctx.seed() & 0x7fffffffffffffffULL));
    gan::Gan net(gan::GanOptions()
                     .size(size)
                     .channels(3)
                     .noise(params.get_int("noise"))
                     .width(params.get_int("width"))
                     .embedding(params.get_int("embedding"))
                     .condition(data.condition_width())
                     .spectral_norm(params.get_bool("spectral_norm")));
    auto& group = ctx.group();
    gan::Trainer trainer(net,
                         gan::TrainingOptions()
                             .lr(params.get_float("lr"))
                             .beta1(params.get_float("beta1"))
                             .real_label(params.get_float("real_label"))
                             .mismatch(params.get_bool("mismatch"))
                             .precision(params.get_string("precision")),
                         group);
    gen::seed_noise_per_rank(ctx);
    const std::int64_t epochs = params.get_int("epochs"), batch = params.get_int("batch_size");
    check_batch(batch, data.train_rows.numel(), group.size());
    std::mt19937_64 rng(ctx.seed());
    net->train();
    std::array<double, 4> last{};  // D loss, G loss, D(real), D(fake): the last epoch's means
    for (std::int64_t epoch = 0; epoch < epochs; ++epoch) {
      last = train_epoch(trainer, data, batch, rng, fmt::format("epoch {}/{}", epoch + 1, epochs), ctx);
      ctx.info("epoch {}/{}: D loss {:.3f}, G loss {:.3f}, D(real) {:.2f}, D(fake) {:.2f}", epoch + 1, epochs, last[0],
               last[1], last[2], last[3]);
      ctx.scalar("discriminator/loss", epoch + 1, last[0]);
      ctx.scalar("generator/loss", epoch + 1, last[1]);
      ctx.scalar("real/D", epoch + 1, last[2]);
      ctx.scalar("fake/D", epoch + 1, last[3]);
    }
    trainer.share_buffers();
    ctx.metric("final_discriminator_loss", last[0]);
    ctx.metric("final_generator_loss", last[1]);
    net->eval();
    return gen::finish(gen::gan_artifact(net), data.conditions, params, ctx);
  }

 private:
  /// Batch norm needs 2 faces on every rank, and training a whole batch.
  static void check_batch(std::int64_t batch, std::int64_t train_faces, std::int64_t ranks) {
    if (train_faces < batch) {
      throw facet::Error(fmt::format("the training split has {} faces, fewer than one batch of {}: lower batch_size",
                                     train_faces, batch));
    }
    if (batch < 2 * ranks) {
      throw facet::Error(
          fmt::format("batch_size {} over {} ranks leaves a rank fewer than 2 faces, and batch norm "
                      "needs 2: raise batch_size to at least {}",
                      batch, ranks, 2 * ranks));
    }
  }

  /// One pass over the shuffled training faces in whole batches (batch norm
  /// needs more than one face), each rank taking its share of every batch.
  /// Returns the epoch's mean D loss, G loss, D(real) and D(fake).
  static std::array<double, 4> train_epoch(gan::Trainer& trainer, const gen::TrainingData& data, std::int64_t batch,
                                           std::mt19937_64& rng, const std::string& label, facet::Context& ctx) {
    auto& group = ctx.group();
    const auto order = data.shuffled_train_rows(rng);
    const std::int64_t steps = order.numel() / batch;
    auto progress = ctx.progress(label, steps, "batches");
    // Summed where they are computed and read once per epoch: no wait for the device per batch.
    auto sums = torch::zeros({4}, torch::TensorOptions().dtype(torch::kFloat64).device(ctx.device()));
    for (std::int64_t k = 0; k < steps; ++k) {
      const auto batch_rows = order.slice(0, k * batch, (k + 1) * batch);
      const auto share = facet::share_of(batch, group.rank(), group.size());
      const auto rows = batch_rows.slice(0, share.begin, share.end);
      const auto losses = trainer.step(data.pixels(rows), data.condition(rows), batch);
      sums += torch::stack({losses.discriminator, losses.generator, losses.real_score, losses.fake_score})
                  .to(torch::kFloat64);
      if (k % 20 == 0) {
        progress->note(fmt::format("D {:.3f} G {:.3f}", losses.discriminator.item<double>() * group.size(),
                                   losses.generator.item<double>() * group.size()));
      }
      progress->advance();
    }
    progress.reset();
    auto means = (sums / static_cast<double>(steps)).cpu();
    group.sum(means);
    std::array<double, 4> out{};
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = means[static_cast<std::int64_t>(i)].item<double>();
    return out;
  }
};

}  // namespace

FACET_REGISTER_STEP(GanStep);

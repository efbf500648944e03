// draw: trains DRAW on a dataset's faces, conditioned on the attribute vector
// or on the classifier's fc7 features (the DeepFace seed's proposal), and
// draws faces for attribute requests.
#include <facet/plugin.hpp>
#include <facet/precision.hpp>

#include "draw_model.hpp"
#include "generator_io.hpp"
#include "models.hpp"

namespace draw = facet::generators::draw;

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;
namespace gen = facet::generators;

constexpr std::int64_t kSigmaFaces = 4096;  // training faces the test bound's fixed sigma is fitted to

class DrawStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {
        "draw",
        "1.13",
        "DRAW recurrent VAE with Gaussian attention, its states initialised from attributes or fc7 features",
        "generator",
        {ParamSpec::choice("condition", "attributes", {"attributes", "features", "none"},
                           "attributes: the +1/-1 attribute vector; features: the image's fc7 (training) / a target "
                           "fc7 from per-attribute Gaussians (generation), as the DeepFace seed proposes; none: "
                           "unconditioned"),
         ParamSpec::choice("likelihood", "gaussian", {"gaussian", "bernoulli"},
                           "pixel likelihood: gaussian (colour; one standard deviation fitted to the errors) or "
                           "bernoulli (binary images, as the DRAW paper's MNIST)"),
         ParamSpec::integer("size", 32, "image width and height the model draws").range(8, 256),
         ParamSpec::integer("glimpses", 12, "T: reads and writes per image").range(1, 256),
         ParamSpec::flag("attention", true, "Gaussian read/write attention (false: whole image each glimpse)"),
         ParamSpec::integer("read_n", 6, "read grid N x N").range(2, 64),
         ParamSpec::integer("write_n", 12, "write grid N x N (12 draws finer detail than 8 at 32 px, in the same time)")
             .range(2, 64),
         ParamSpec::integer("encoder", 256, "encoder LSTM width").range(1, 8192),
         ParamSpec::integer("decoder", 256, "decoder LSTM width").range(1, 8192),
         ParamSpec::integer("latent", 32, "latent size per glimpse").range(1, 4096),
         ParamSpec::real("temperature", 0.5,
                         "scale of the latent noise when drawing faces (1: the prior; lower: "
                         "faces closer to what the condition asks for, less varied)")
             .range(0.0, 10.0),
         ParamSpec::integer("epochs", 5,
                            "passes over the training images (about 17 s each at 32 px on 11K faces, 2 cores, bf16)")
             .range(1, 100000),
         ParamSpec::integer("batch_size", 64, "images per step").range(1, 65536),
         ParamSpec::real("lr", 2e-3,
                         "Adam learning rate (in five epochs 2e-3 reaches a better bound than 1e-3 or 4e-3)")
             .range(0.0, 1.0),
         ParamSpec::real("clip", 10.0, "gradient norm clipping").range(0.0, 1e6),
         ParamSpec::real("kl_weight", 4.0,
                         "beta: weight of the KL terms while training (above 1: less in the latents, "
                         "more left to the condition; 1: the ELBO itself)")
             .range(0.0, 1000.0),
         facet::precision_spec(),
         gen::emphasis_spec(),
         gen::requests_spec(),
         gen::per_request_spec()},
        gen::input_ports(),
        gen::output_ports(),
        facet::Parallelism::DataParallel};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const std::int64_t size = params.get_int("size");
    gen::TrainingData data(inputs, params.get_string("condition"), size, ctx);
    data.conditions.emphasis = params.get_float("emphasis");
    const auto requests =
        gen::parse_requests(params.get_string_list("requests"), data.conditions.attribute_names);  // before training
    const auto options = draw::DrawOptions()
                             .size(size)
                             .channels(3)
                             .glimpses(params.get_int("glimpses"))
                             .attention(params.get_bool("attention"))
                             .read_n(params.get_int("read_n"))
                             .write_n(params.get_int("write_n"))
                             .encoder(params.get_int("encoder"))
                             .decoder(params.get_int("decoder"))
                             .latent(params.get_int("latent"))
                             .condition(data.condition_width())
                             .temperature(params.get_float("temperature"));
    torch::manual_seed(static_cast<std::uint64_t>(ctx.seed() & 0x7fffffffffffffffULL));
    draw::Draw net(options);
    Training training(net, data, params, ctx);
    training.train();
    net->eval();
    torch::NoGradGuard no_grad;
    if (data.test_rows.numel() > 0) training.report_test_bounds();
    ctx.save_file("glimpses.png", glimpses_png(net, data, requests, training.rng()));
    return gen::finish(gen::draw_artifact(net), data.conditions, params, ctx);
  }

 private:
  /// Training DRAW on the training faces and measuring its bound on the
  /// test faces: the terms of the objective, the epochs, the test bounds.
  class Training {
   public:
    Training(draw::Draw& net, const gen::TrainingData& data, const facet::Params& params, facet::Context& ctx)
        : net_(net),
          data_(data),
          ctx_(ctx),
          gradients_(ctx.group(), *net),  // every rank starts from rank 0's weights
          optimizer_(net->parameters(), torch::optim::AdamOptions(params.get_float("lr"))),
          epochs_(params.get_int("epochs")),
          batch_(params.get_int("batch_size")),
          clip_(params.get_float("clip")),
          kl_weight_(params.get_float("kl_weight")),
          gaussian_(params.get_string("likelihood") == "gaussian"),
          precision_(params.get_string("precision")),
          pixels_(static_cast<double>(3 * params.get_int("size") * params.get_int("size"))),
          rng_(ctx.seed()) {
      gen::seed_noise_per_rank(ctx);
    }

    std::mt19937_64& rng() { return rng_; }

    void train() {
      for (std::int64_t epoch = 0; epoch < epochs_; ++epoch) {
        const auto [nats_per_image, kl_per_image] = train_epoch(epoch);
        ctx_.info("epoch {}/{}: training -ELBO {:.2f} nats per image (KL {:.1f})", epoch + 1, epochs_, nats_per_image,
                  kl_per_image);
        ctx_.scalar("train/-ELBO", epoch + 1, nats_per_image);
        ctx_.scalar("train/KL", epoch + 1, kl_per_image);
      }
      gradients_.share_buffers();
    }

    /// The test -ELBO (KL weight 1) with sigma refitted to the test faces and,
    /// for the Gaussian, with sigma fixed on training faces.
    void report_test_bounds() {
      const auto [reconstruction_sum, kl_sum] = summed(data_.test_rows);
      const auto images = static_cast<double>(data_.test_rows.numel());
      const double test_nats = nats(reconstruction_sum, kl_sum, images).item<double>() / images;
      const double test_kl = kl_sum.item<double>() / images;
      ctx_.metric("test_negative_elbo_nats", test_nats);
      ctx_.metric("test_kl_nats", test_kl);
      ctx_.info("test -ELBO {:.2f} nats per image, KL {:.1f} of it ({} images)", test_nats, test_kl,
                data_.test_rows.numel());
      if (!gaussian_) return;
      // The bound as the DRAW paper states one: KL weight 1 and a likelihood
      // fixed before the test data is seen, its sigma fitted to training
      // faces (up to kSigmaFaces of them, evenly spaced). The figure above
      // refits sigma to the test faces themselves, which can only lower it.
      const auto picked = gen::evenly_spaced_rows(data_.train_rows, kSigmaFaces);
      const auto train_squared_error = summed(picked).first;
      const double train_pixels = pixels_ * static_cast<double>(picked.numel());
      const auto fixed = draw::fitted_gaussian_nll(reconstruction_sum, pixels_ * images,
                                                   train_squared_error * (pixels_ * images / train_pixels)) +
                         kl_sum;
      const double fixed_nats = fixed.item<double>() / images;
      const double sigma = std::sqrt(train_squared_error.item<double>() / train_pixels);
      ctx_.metric("test_negative_elbo_train_sigma_nats", fixed_nats);
      ctx_.metric("train_sigma", sigma);
      ctx_.info("test -ELBO {:.2f} nats per image with sigma fixed on training faces ({:.4f}), KL weight 1", fixed_nats,
                sigma);
    }

   private:
    /// Per image [B]: the reconstruction term (squared error for the
    /// Gaussian, cross-entropy in nats for the Bernoulli) and the summed KL of the glimpses.
    std::pair<torch::Tensor, torch::Tensor> terms(const torch::Tensor& rows) {
      const auto x = data_.pixels(rows);
      draw::DrawOutput out;
      {
        facet::Autocast autocast(precision_, x.device());
        out = net_->forward(x, data_.condition(rows));
      }
      const auto canvas = out.canvas.to(torch::kFloat32);  // the terms in float32
      auto reconstruction =
          gaussian_ ? (torch::sigmoid(canvas) - x).pow(2).sum({1, 2, 3})
                    : torch::binary_cross_entropy_with_logits(canvas, x, {}, {}, torch::Reduction::None).sum({1, 2, 3});
      auto kl = torch::zeros_like(reconstruction);
      for (const auto& k : out.kl) kl = kl + k.to(torch::kFloat32);
      return {reconstruction, kl};
    }

    /// Summed terms over `rows`, 256 at a time: (reconstruction, KL).
    std::pair<torch::Tensor, torch::Tensor> summed(const torch::Tensor& rows) {
      auto reconstruction_sum = torch::zeros({}, torch::kFloat64), kl_sum = torch::zeros({}, torch::kFloat64);
      for (std::int64_t begin = 0; begin < rows.numel(); begin += 256) {
        const auto [reconstruction, kl] = terms(rows.slice(0, begin, std::min(rows.numel(), begin + 256)));
        reconstruction_sum += reconstruction.sum().to(torch::kFloat64);
        kl_sum += kl.sum().to(torch::kFloat64);
      }
      return {reconstruction_sum, kl_sum};
    }

    /// nats for `images` images from their summed terms; the Gaussian's
    /// sigma is fitted to `fitted_to` (the whole batch's squared errors).
    torch::Tensor nats(const torch::Tensor& reconstruction_sum, const torch::Tensor& kl_sum, double images,
                       const torch::Tensor& fitted_to = {}) const {
      return (gaussian_ ? draw::fitted_gaussian_nll(reconstruction_sum, pixels_ * images, fitted_to)
                        : reconstruction_sum) +
             kl_sum;
    }

    /// One pass over the shuffled training rows; each rank takes its share of
    /// every batch. Returns the -ELBO and the KL per image.
    std::pair<double, double> train_epoch(std::int64_t epoch) {
      auto& group = ctx_.group();
      net_->train();
      const auto order = data_.shuffled_train_rows(rng_);
      const auto batches = (order.numel() + batch_ - 1) / batch_;
      auto progress = ctx_.progress(fmt::format("epoch {}/{}", epoch + 1, epochs_), batches, "batches");
      // Summed where they are computed and read once per epoch: no wait for the device per batch.
      const auto on_device = torch::TensorOptions().dtype(torch::kFloat64).device(ctx_.device());
      auto total = torch::zeros({}, on_device), total_kl = torch::zeros({}, on_device);
      for (std::int64_t begin = 0, b = 0; begin < order.numel(); begin += batch_, ++b) {
        const auto rows = order.slice(0, begin, std::min(order.numel(), begin + batch_));
        const auto share = facet::share_of(rows.numel(), group.rank(), group.size());
        optimizer_.zero_grad();
        const auto images = static_cast<double>(rows.numel());  // every rank's rows
        torch::Tensor reconstruction, kl;
        if (share.size() > 0) std::tie(reconstruction, kl) = terms(rows.slice(0, share.begin, share.end));
        // The whole batch's sums (a sum over ranks): sigma is fitted to them and the -ELBO reported from them.
        auto sums = share.size() > 0 ? torch::stack({reconstruction.sum(), kl.sum()}).detach()
                                     : torch::zeros({2}, torch::TensorOptions().device(ctx_.device()));
        group.sum(sums);
        if (share.size() > 0) {
          // This rank's part of the batch's objective: the ranks' gradients sum to the batch's.
          const auto objective = (nats(reconstruction.sum(), kl_weight_ * kl.sum(), images, sums[0])) / images;
          objective.backward();
        }
        gradients_.finish();
        if (clip_ > 0) draw::clip_gradient_norm(net_->parameters(), clip_);
        optimizer_.step();
        const auto loss = nats(sums[0], sums[1], images).detach() / images;
        total += loss.to(torch::kFloat64) * images;
        total_kl += sums[1].to(torch::kFloat64);
        if (b % 20 == 0) progress->note(fmt::format("-ELBO {:.1f} nats", loss.item<double>()));
        progress->advance();
      }
      progress.reset();
      const double images = static_cast<double>(order.numel());
      return {total.item<double>() / images, total_kl.item<double>() / images};
    }

    draw::Draw& net_;
    const gen::TrainingData& data_;
    facet::Context& ctx_;
    facet::GradientSum gradients_;
    torch::optim::Adam optimizer_;
    const std::int64_t epochs_, batch_;
    const double clip_, kl_weight_;
    const bool gaussian_;
    const std::string precision_;  ///< of the forward passes: fp32 or bf16
    const double pixels_;
    std::mt19937_64 rng_;
  };

  /// DRAW's hallmark: the canvas glimpse by glimpse, for one face per request.
  static std::string glimpses_png(draw::Draw& net, const gen::TrainingData& data,
                                  const std::vector<std::vector<int>>& requests, std::mt19937_64& rng) {
    std::vector<torch::Tensor> strips;
    for (const auto& request : requests) {
      const auto steps = net->sample(data.conditions.request(request, 1, rng), 1);
      std::vector<torch::Tensor> first;
      for (const auto& s : steps) first.push_back(s[0]);
      strips.push_back(torch::stack(first));
    }
    return gen::grid_png(torch::stack(strips), 2);
  }
};

}  // namespace

FACET_REGISTER_STEP(DrawStep);

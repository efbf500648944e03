// draw: trains DRAW on a dataset's faces, conditioned on the attribute vector
// or on the classifier's fc7 features (the DeepFace seed's proposal), and
// draws faces for attribute requests.
#include <facet/plugin.hpp>

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
        "1.11",
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
                            "passes over the training images (about 55 s each at 32 px on 14K faces, 2 cores)")
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
         gen::emphasis_spec(), gen::requests_spec(), gen::per_request_spec()},
        gen::input_ports(),
        gen::output_ports(),
        facet::Parallelism::DataParallel};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const std::string mode = params.get_string("condition");
    const std::int64_t size = params.get_int("size");
    gen::TrainingData data(inputs, mode, size, ctx);
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
    auto& group = ctx.group();
    facet::GradientSum gradients(group, *net);  // every rank starts from rank 0's weights
    gen::seed_noise_per_rank(ctx);
    torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(params.get_float("lr")));
    const std::int64_t epochs = params.get_int("epochs"), batch = params.get_int("batch_size");
    const double clip = params.get_float("clip"), kl_weight = params.get_float("kl_weight");
    std::mt19937_64 rng(ctx.seed());

    const bool gaussian = params.get_string("likelihood") == "gaussian";
    // Per image [B]: the reconstruction term (squared error for the Gaussian,
    // cross-entropy in nats for the Bernoulli) and the summed KL of the glimpses.
    auto terms = [&](const torch::Tensor& rows) {
      const auto x = data.pixels(rows);
      const auto out = net->forward(x, data.condition(rows));
      auto reconstruction =
          gaussian
              ? (torch::sigmoid(out.canvas) - x).pow(2).sum({1, 2, 3})
              : torch::binary_cross_entropy_with_logits(out.canvas, x, {}, {}, torch::Reduction::None).sum({1, 2, 3});
      auto kl = torch::zeros_like(reconstruction);
      for (const auto& k : out.kl) kl = kl + k;
      return std::make_pair(reconstruction, kl);
    };
    // nats for `images` images from their summed terms; the Gaussian's sigma
    // is fitted to `fitted_to` (the whole batch's squared errors).
    const double pixels = static_cast<double>(3 * size * size);
    auto nats = [&](const torch::Tensor& reconstruction_sum, const torch::Tensor& kl_sum, double images,
                    const torch::Tensor& fitted_to = {}) {
      return (gaussian ? draw::fitted_gaussian_nll(reconstruction_sum, pixels * images, fitted_to)
                       : reconstruction_sum) +
             kl_sum;
    };
    for (std::int64_t epoch = 0; epoch < epochs; ++epoch) {
      net->train();
      const auto order = data.shuffled_train_rows(rng);
      const auto batches = (order.numel() + batch - 1) / batch;
      auto progress = ctx.progress(fmt::format("epoch {}/{}", epoch + 1, epochs), batches, "batches");
      // Summed where they are computed and read once per epoch: no wait for the device per batch.
      const auto on_device = torch::TensorOptions().dtype(torch::kFloat64).device(ctx.device());
      auto total = torch::zeros({}, on_device), total_kl = torch::zeros({}, on_device);
      for (std::int64_t begin = 0, b = 0; begin < order.numel(); begin += batch, ++b) {
        const auto rows = order.slice(0, begin, std::min(order.numel(), begin + batch));
        const auto share = facet::share_of(rows.numel(), group.rank(), group.size());
        optimizer.zero_grad();
        const auto images = static_cast<double>(rows.numel());  // every rank's rows
        torch::Tensor reconstruction, kl;
        if (share.size() > 0) std::tie(reconstruction, kl) = terms(rows.slice(0, share.begin, share.end));
        // The whole batch's sums (a sum over ranks): sigma is fitted to them and the -ELBO reported from them.
        auto sums = share.size() > 0 ? torch::stack({reconstruction.sum(), kl.sum()}).detach()
                                     : torch::zeros({2}, torch::TensorOptions().device(ctx.device()));
        group.sum(sums);
        if (share.size() > 0) {
          // This rank's part of the batch's objective: the ranks' gradients sum to the batch's.
          const auto objective = (nats(reconstruction.sum(), kl_weight * kl.sum(), images, sums[0])) / images;
          objective.backward();
        }
        gradients.finish();
        if (clip > 0) draw::clip_gradient_norm(net->parameters(), clip);
        optimizer.step();
        const auto loss = nats(sums[0], sums[1], images).detach() / images;
        total += loss.to(torch::kFloat64) * images;
        total_kl += sums[1].to(torch::kFloat64);
        if (b % 20 == 0) progress->note(fmt::format("-ELBO {:.1f} nats", loss.item<double>()));
        progress->advance();
      }
      progress.reset();
      const double images = static_cast<double>(order.numel());
      const double epoch_nats = total.item<double>() / images, epoch_kl = total_kl.item<double>() / images;
      ctx.info("epoch {}/{}: training -ELBO {:.2f} nats per image (KL {:.1f})", epoch + 1, epochs, epoch_nats,
               epoch_kl);
      ctx.scalar("train/-ELBO", epoch + 1, epoch_nats);
      ctx.scalar("train/KL", epoch + 1, epoch_kl);
    }
    gradients.share_buffers();

    net->eval();
    torch::NoGradGuard no_grad;
    if (data.test_rows.numel() > 0) {
      // Summed terms over `rows`, 256 at a time: (reconstruction, KL).
      auto summed = [&](const torch::Tensor& rows) {
        auto reconstruction_sum = torch::zeros({}, torch::kFloat64), kl_sum = torch::zeros({}, torch::kFloat64);
        for (std::int64_t begin = 0; begin < rows.numel(); begin += 256) {
          const auto [reconstruction, kl] = terms(rows.slice(0, begin, std::min(rows.numel(), begin + 256)));
          reconstruction_sum += reconstruction.sum().to(torch::kFloat64);
          kl_sum += kl.sum().to(torch::kFloat64);
        }
        return std::make_pair(reconstruction_sum, kl_sum);
      };
      const auto [reconstruction_sum, kl_sum] = summed(data.test_rows);
      const auto images = static_cast<double>(data.test_rows.numel());
      const double test_nats = nats(reconstruction_sum, kl_sum, images).item<double>() / images;
      const double test_kl = kl_sum.item<double>() / images;
      ctx.metric("test_negative_elbo_nats", test_nats);
      ctx.metric("test_kl_nats", test_kl);
      ctx.info("test -ELBO {:.2f} nats per image, KL {:.1f} of it ({} images)", test_nats, test_kl,
               data.test_rows.numel());
      if (gaussian) {
        // The bound as the DRAW paper states one: KL weight 1 and a likelihood
        // fixed before the test data is seen, its sigma fitted to training
        // faces (up to kSigmaFaces of them, evenly spaced). The figure above
        // refits sigma to the test faces themselves, which can only lower it.
        const auto train = data.train_rows;
        const auto picked = train.index_select(
            0, torch::linspace(0, static_cast<double>(train.numel() - 1), std::min(kSigmaFaces, train.numel()))
                   .round()
                   .to(torch::kInt64));
        const auto train_squared_error = summed(picked).first;
        const double train_pixels = pixels * static_cast<double>(picked.numel());
        const auto fixed = draw::fitted_gaussian_nll(reconstruction_sum, pixels * images,
                                                     train_squared_error * (pixels * images / train_pixels)) +
                           kl_sum;
        const double fixed_nats = fixed.item<double>() / images;
        const double sigma = std::sqrt(train_squared_error.item<double>() / train_pixels);
        ctx.metric("test_negative_elbo_train_sigma_nats", fixed_nats);
        ctx.metric("train_sigma", sigma);
        ctx.info("test -ELBO {:.2f} nats per image with sigma fixed on training faces ({:.4f}), KL weight 1",
                 fixed_nats, sigma);
      }
    }

    // DRAW's hallmark: the canvas glimpse by glimpse, for one face per request.
    std::vector<torch::Tensor> strips;
    for (const auto& request : requests) {
      const auto steps = net->sample(data.conditions.request(request, 1, rng), 1);
      std::vector<torch::Tensor> first;
      for (const auto& s : steps) first.push_back(s[0]);
      strips.push_back(torch::stack(first));
    }
    ctx.save_file("glimpses.png", gen::grid_png(torch::stack(strips), 2));
    return gen::finish(gen::draw_artifact(net), data.conditions, params, ctx);
  }
};

}  // namespace

FACET_REGISTER_STEP(DrawStep);

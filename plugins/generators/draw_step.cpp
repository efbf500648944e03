// draw: trains DRAW on a dataset's faces, conditioned on the classifier's fc7
// features (the DeepFace seed's proposal) or on the attribute vector, and
// draws faces for attribute requests.
#include <facet/plugin.hpp>

#include "draw_model.hpp"
#include "generator_io.hpp"
#include "models.hpp"

namespace {

using facet::Artifact;
using facet::Artifacts;
using facet::ParamSpec;
namespace gen = facet::generators;

class DrawStep final : public facet::Step {
 public:
  facet::StepInfo info() const override {
    return {"draw",
            "1.2",
            "DRAW recurrent VAE with Gaussian attention, its states initialised from fc7 features or attributes",
            "generator",
            {ParamSpec::choice("condition", "features", {"features", "attributes", "none"},
                               "features: the image's fc7 (training) / a target fc7 from per-attribute Gaussians "
                               "(generation); attributes: the +1/-1 attribute vector; none: unconditioned"),
             ParamSpec::integer("size", 32, "image width and height the model draws").range(8, 256),
             ParamSpec::integer("glimpses", 12, "T: reads and writes per image").range(1, 256),
             ParamSpec::flag("attention", true, "Gaussian read/write attention (false: whole image each glimpse)"),
             ParamSpec::integer("read_n", 6, "read grid N x N").range(2, 64),
             ParamSpec::integer("write_n", 8, "write grid N x N").range(2, 64),
             ParamSpec::integer("encoder", 256, "encoder LSTM width").range(1, 8192),
             ParamSpec::integer("decoder", 256, "decoder LSTM width").range(1, 8192),
             ParamSpec::integer("latent", 32, "latent size per glimpse").range(1, 4096),
             ParamSpec::integer("epochs", 4, "passes over the training images (about 100 s each at 32 px on 14K faces, 2 cores)").range(1, 100000),
             ParamSpec::integer("batch_size", 64, "images per step").range(1, 65536),
             ParamSpec::real("lr", 1e-3, "Adam learning rate").range(0.0, 1.0),
             ParamSpec::real("clip", 10.0, "gradient norm clipping").range(0.0, 1e6),
             gen::requests_spec(),
             gen::per_request_spec()},
            gen::input_ports(),
            gen::output_ports()};
  }

  Artifacts run(const Artifacts& inputs, const facet::Params& params, facet::Context& ctx) override {
    const std::string mode = params.get_string("condition");
    const std::int64_t size = params.get_int("size");
    gen::TrainingData data(inputs, mode, size, ctx);
    const auto requests = gen::parse_requests(params.get_string_list("requests"), data.conditions.attribute_names);  // before training
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
                             .condition(data.condition_width());
    torch::manual_seed(static_cast<std::uint64_t>(ctx.seed() & 0x7fffffffffffffffULL));
    draw::Draw net(options);
    torch::optim::Adam optimizer(net->parameters(), torch::optim::AdamOptions(params.get_float("lr")));
    const std::int64_t epochs = params.get_int("epochs"), batch = params.get_int("batch_size");
    const double clip = params.get_float("clip");
    std::mt19937_64 rng(ctx.seed());

    auto negative_elbo = [&](const torch::Tensor& rows) {  // nats per image, [B]
      const auto x = data.pixels(rows);
      const auto out = net->forward(x, data.condition(rows));
      auto loss = torch::binary_cross_entropy_with_logits(out.canvas, x, {}, {}, torch::Reduction::None).sum({1, 2, 3});
      for (const auto& kl : out.kl) loss = loss + kl;
      return loss;
    };
    for (std::int64_t epoch = 0; epoch < epochs; ++epoch) {
      net->train();
      const auto order = data.shuffled_train_rows(rng);
      auto progress = ctx.progress(fmt::format("epoch {}/{}", epoch + 1, epochs), (order.numel() + batch - 1) / batch,
                                   "batches");
      double total = 0;
      for (std::int64_t begin = 0; begin < order.numel(); begin += batch) {
        const auto rows = order.slice(0, begin, std::min(order.numel(), begin + batch));
        optimizer.zero_grad();
        const auto loss = negative_elbo(rows).mean();
        loss.backward();
        if (clip > 0) torch::nn::utils::clip_grad_norm_(net->parameters(), clip);
        optimizer.step();
        total += loss.item<double>() * static_cast<double>(rows.numel());
        progress->note(fmt::format("-ELBO {:.1f} nats", loss.item<double>()));
        progress->advance();
      }
      progress.reset();
      ctx.info("epoch {}/{}: training -ELBO {:.2f} nats per image", epoch + 1, epochs,
               total / static_cast<double>(order.numel()));
    }

    net->eval();
    torch::NoGradGuard no_grad;
    if (data.test_rows.numel() > 0) {
      double sum = 0;
      for (std::int64_t begin = 0; begin < data.test_rows.numel(); begin += 256) {
        sum += negative_elbo(data.test_rows.slice(0, begin, std::min(data.test_rows.numel(), begin + 256))).sum().item<double>();
      }
      const double nats = sum / static_cast<double>(data.test_rows.numel());
      ctx.metric("test_negative_elbo_nats", nats);
      ctx.info("test -ELBO {:.2f} nats per image ({} images)", nats, data.test_rows.numel());
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
